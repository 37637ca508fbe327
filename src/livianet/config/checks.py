"""Rules that span several INI keys, checked on the parsed values before dataclasses are built.

Each check raises a :class:`ConfigError` whose message starts with ``where``
(``file [section]``) and names the keys and values involved. Rules within the
architecture alone live in :func:`livianet.config.schema.model_problems`.
"""

from __future__ import annotations

import logging
from typing import Any

from livianet.config.schema import ModelConfig
from livianet.config.values import LEFT_RIGHT_AXIS
from livianet.errors import ConfigError

logger = logging.getLogger(__name__)


def count_conv_layers(where: str, arch: dict[str, Any]) -> int:
    """Conv layers (``[k, k, k]`` kernels) come first, then 1x1x1 layers (``[1]``)."""
    shapes, channels = arch["kernel_shapes"], arch["channels"]
    if len(shapes) != len(channels):
        raise ConfigError(
            f"{where} numkernelsperlayer has {len(channels)} entries but kernelshapes has {len(shapes)}: expected one per layer"
        )
    num_conv = sum(1 for s in shapes if len(s) == 3)
    if any(len(s) == 3 for s in shapes[num_conv:]):
        raise ConfigError(
            f"{where} kernelshapes = {[list(s) for s in shapes]}: conv layers ([k, k, k]) must come before 1x1x1 layers ([1])"
        )
    return num_conv


def check_pretrained(where: str, arch: dict[str, Any], num_conv: int) -> None:
    """Pre-trained conv weights need their folder and at most one index per conv layer."""
    if arch["conv_init"] != "pretrained":
        return
    if arch["weights_folder"] is None:
        raise ConfigError(
            f"{where} weight_Initialization_CNN = 2: expected 'weights folderName' to name the .npy folder"
        )
    if len(arch["weights_indexes"]) > num_conv:
        raise ConfigError(
            f"{where} weights trained indexes = {list(arch['weights_indexes'])}: "
            f"{len(arch['weights_indexes'])} entries but there are {num_conv} conv layers"
        )


def check_training(where: str, training: dict[str, Any], model: ModelConfig) -> None:
    """Training values against each other and against the network they train."""
    rates = training["learning_rate"]
    if not rates:
        raise ConfigError(f"{where} Leraning Rate: expected at least one value")
    if len(set(rates)) > 1:
        logger.warning(
            "%s Leraning Rate: per-layer rates are not supported (nor were they in the original); using %g",
            where,
            rates[0],
        )
    rf = model.receptive_field
    for key, size in (
        ("sampleSize_Train", training["patch_size"]),
        ("sampleSize_Test", training["segment_patch_size"]),
    ):
        if any(s < r for s, r in zip(size, rf, strict=True)):
            raise ConfigError(
                f"{where} {key} = {list(size)}: expected at least the receptive field {list(rf)} on every axis"
            )
    weights = training["class_weights"]
    if weights is not None and len(weights) != model.num_classes:
        raise ConfigError(
            f"{where} classWeights: {len(weights)} values, expected n_classes = {model.num_classes}"
        )
    pairs = training["flip_label_pairs"]
    if any(max(p) >= model.num_classes for p in pairs):
        raise ConfigError(
            f"{where} augmentLabelPairs = {[list(p) for p in pairs]}: labels must be < n_classes = {model.num_classes}"
        )
    if pairs and LEFT_RIGHT_AXIS not in training["flip_axes"]:
        raise ConfigError(
            f"{where} augmentLabelPairs: needs augmentFlipAxes to hold axis {LEFT_RIGHT_AXIS}, "
            "the left-right axis of the RAS training space"
        )
    scale_shift = training["intensity_augment"]
    if len(scale_shift) != 2:
        raise ConfigError(
            f"{where} augmentIntensity = {list(scale_shift)}: expected [scale, shift]"
        )
    if training["batch_size"] > training["samples_per_subepoch"]:
        raise ConfigError(
            f"{where} batch_size = {training['batch_size']}: larger than 'number of samples at each SubEpoch Train' "
            f"= {training['samples_per_subepoch']}, so no step would run"
        )
    if training["precision"] == "fp16":
        logger.info("precision fp16 applies on CUDA; CPU runs use bf16 or float32")


def _code_collision(groups: tuple[tuple[int, ...], ...]) -> tuple[int, int, int] | None:
    """``(code, first group, second group)`` (1-based) for the first code given twice."""
    seen: dict[int, int] = {}
    for position, group in enumerate(groups, start=1):
        for code in group:
            if code in seen:
                return code, seen[code], position
            seen[code] = position
    return None


def check_synthesis(where: str, values: dict[str, Any], num_classes: int, has_images: bool) -> None:
    """``[Label Maps]`` against itself, the network's classes and the real images beside it."""
    classes = values["class_codes"]
    if len(classes) != num_classes - 1:
        raise ConfigError(
            f"{where} labelClasses: {len(classes)} entries, expected n_classes - 1 = "
            f"{num_classes - 1} (the codes of classes 1..{num_classes - 1})"
        )
    if any(0 in group for group in classes):
        raise ConfigError(
            f"{where} labelClasses: code 0 is the background, not a class; list the codes of "
            f"classes 1..{num_classes - 1}"
        )
    for key, groups, what in (
        ("labelClasses", classes, "class"),
        ("generationClasses", values["generation_classes"], "group"),
    ):
        collision = _code_collision(groups)
        if collision is not None:
            code, first, second = collision
            raise ConfigError(
                f"{where} {key}: code {code} is in {what} {first} and {what} {second}; "
                "each code may be given once"
            )
    pairs = values["label_pairs"]
    if any(min(p) < 1 or max(p) >= num_classes for p in pairs):
        raise ConfigError(
            f"{where} labelPairs = {[list(p) for p in pairs]}: expected classes 1..{num_classes - 1}"
        )
    if pairs and not values["flip"]:
        raise ConfigError(f"{where} labelPairs: needs flipLeftRight = 1")
    train, held_out = values["train_indexes"], values["validation_indexes"]
    both = sorted(set(train or ()) & set(held_out))
    if both:
        raise ConfigError(
            f"{where}: maps {both} are in both indexesForTraining and indexesForValidation"
        )
    share = values["share"]
    if not has_images and share < 1:
        raise ConfigError(
            f"{where} syntheticShare = {share:g}: there is no [Training Images] to draw the other "
            f"{1 - share:.0%} of each batch from; set syntheticShare = 1"
        )
    if not has_images and values["t1_share"] > 0:
        raise ConfigError(
            f"{where} t1Share = {values['t1_share']:g}: T1-like priors are estimated from the real "
            "training scans of [Training Images], and there are none; set t1Share = 0"
        )
