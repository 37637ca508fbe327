"""Validation after an epoch: full-volume segmentation of held-out cases, Dice per class."""

from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from livianet.data import Case
from livianet.evaluation import case_dice
from livianet.inference import InferenceSettings, predict_case, prepare_for_inference
from livianet.io import save_volume, segmentation_path
from livianet.networks import LiviaNet


def validate(
    model: LiviaNet, cases: list[Case], settings: InferenceSettings, save_to: Path | None
) -> dict[str, Any]:
    """``val_dice_mean`` and ``val_dice_<k>`` over ``cases`` (segmented as ``livianet segment`` does)."""
    model = prepare_for_inference(
        copy.deepcopy(model), settings
    )  # inference layout; training copy untouched
    num_classes = model.config.num_classes
    per_case = []
    for case in cases:
        result = predict_case(model, case, settings)
        assert case.label is not None
        per_case.append(case_dice(result.labels, case.label, num_classes))
        if save_to is not None:
            save_volume(
                result.labels,
                segmentation_path(save_to, case.files.images[0]),
                case.reference,
                kind="label",
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
