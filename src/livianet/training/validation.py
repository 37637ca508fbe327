"""Validation after an epoch: full-volume segmentation of held-out cases, Dice per class."""

from __future__ import annotations

import copy
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from livianet.data import Case
from livianet.data.spatial import Size3
from livianet.evaluation import case_dice
from livianet.inference import InferenceSettings, predict_case, prepare_for_inference
from livianet.io import Volume, save_volume, segmentation_path
from livianet.networks import LiviaNet


def on_stored_grid(case: Case, labels: np.ndarray) -> tuple[np.ndarray, Volume]:
    """Labels predicted on the model grid, with the grid to write them on.

    A case that was only reoriented goes back to its stored grid voxel for voxel;
    a resampled one is written on the model grid (its affine places it in world
    space all the same).
    """
    plan = case.plan
    if plan is None:
        return labels, case.reference
    if not plan.resampled:
        return plan.labels_to_input(labels), case.reference
    model_grid = replace(case.reference, data=labels, affine=plan.model_affine, header=None)
    return labels, model_grid


@dataclass(frozen=True)
class ValidationCase:
    """A validation case whose arrays may cover only a box of the model grid (a cache entry's).

    The box holds the ROI's box, every labelled voxel and the network's context around
    them, so Dice over it is Dice over the whole grid, and the labels predicted there,
    put back at ``origin`` of a grid of ``model_shape``, are the whole grid's.
    """

    case: Case
    origin: Size3 = (0, 0, 0)
    model_shape: Size3 | None = None  # None: the case's arrays are the whole grid

    def whole_grid(self, labels: np.ndarray) -> np.ndarray:
        if self.model_shape is None:
            return labels
        whole = np.zeros(self.model_shape, dtype=labels.dtype)
        whole[tuple(slice(o, o + s) for o, s in zip(self.origin, labels.shape, strict=True))] = (
            labels
        )
        return whole


def validate(
    model: LiviaNet,
    cases: Sequence[Case | ValidationCase],
    settings: InferenceSettings,
    save_to: Path | None,
) -> dict[str, Any]:
    """``val_dice_mean`` and ``val_dice_<k>`` over ``cases`` (segmented as ``livianet segment`` does)."""
    # The inference form of a copy: the training network is left as it is.
    network = prepare_for_inference(copy.deepcopy(model), settings)
    num_classes = network.config.num_classes
    per_case = []
    for item in cases:
        held_out = item if isinstance(item, ValidationCase) else ValidationCase(item)
        case = held_out.case
        result = predict_case(network, case, settings)
        assert case.label is not None
        per_case.append(case_dice(result.labels, case.label, num_classes))
        if save_to is not None:
            labels, grid = on_stored_grid(case, held_out.whole_grid(result.labels))
            save_volume(
                labels, segmentation_path(save_to, case.files.images[0]), grid, kind="label"
            )
    dice = np.vstack(per_case)
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore", category=RuntimeWarning
        )  # a class absent everywhere has NaN Dice
        per_class = np.nanmean(dice, axis=0)
        row: dict[str, Any] = {"val_dice_mean": float(np.nanmean(per_class))}
    for k, value in enumerate(per_class, start=1):
        row[f"val_dice_{k}"] = float(value)
    return row
