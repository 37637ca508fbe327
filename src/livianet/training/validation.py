"""Validation after an epoch: full-volume segmentation of held-out cases, Dice per class."""

from __future__ import annotations

import copy
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from livianet.data.cases import Case
from livianet.inference.predictor import InferenceSettings, case_dice, predict_case, prepare_for_inference
from livianet.io.volumes import save_volume
from livianet.networks.livianet import LiviaNet
from livianet.io.naming import segmentation_path


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


def update_best(best: dict[str, Any], row: dict[str, Any], epoch: int) -> bool:
    """Track the best validation Dice and the epochs since; True when ``row`` is a new best."""
    score = row.get("val_dice_mean")
    if score is None or not math.isfinite(score):
        return False
    if score > best["dice"]:
        best.update(dice=score, epoch=epoch, stale=0)
        return True
    best["stale"] = best.get("stale", 0) + 1
    return False


def epoch_line(row: dict[str, Any], num_epochs: int) -> str:
    """The one log line per epoch."""
    parts = [
        f"epoch {row['epoch']}/{num_epochs}",
        f"loss {row['train_loss']:.4f}",
        f"lr {row['lr']:.3g}",
        f"{row['samples_per_s']:.1f} samples/s",
    ]
    if "val_dice_mean" in row:
        keys = sorted(
            (k for k in row if k.startswith("val_dice_") and k != "val_dice_mean"),
            key=lambda k: int(k.rsplit("_", 1)[1]),
        )
        parts.append(
            f"val Dice {row['val_dice_mean']:.4f} [{' '.join(f'{row[k]:.3f}' for k in keys)}]"
        )
    parts.append(f"{row['seconds']:.1f} s")
    return ", ".join(parts)
