"""A LiviaNet whose weights are set by hand: it labels each voxel by its intensity alone.

For the synthetic scans of ``conftest.synthetic_case`` (background 20 inside the
brain, class ``k`` at ``20 + 25 k``, 0 outside), class ``k`` gets the logit
``-|x - m_k|``: an ideal segmenter of those scans, built in milliseconds, that
leaves geometry (reorientation, resampling, probabilities brought back) as the
only source of error in the tests that use it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from livianet.config import ModelConfig
from livianet.networks import LiviaNet, ModelMeta, save_checkpoint, training_checkpoint
from livianet.networks.livianet import build_model


def intensity_means(num_classes: int) -> list[float]:
    return [20.0 + 25.0 * k for k in range(num_classes)]


def intensity_network(num_classes: int = 4, means: list[float] | None = None) -> LiviaNet:
    config = ModelConfig(
        conv_channels=(1,),
        conv_kernels=((3, 3, 3),),
        fc_channels=(2 * num_classes, 2 * num_classes),
        num_classes=num_classes,
        dropout_rates=(0.0, 0.0, 0.0),
        activation="relu",
        batch_norm=False,
    )
    model = LiviaNet(config).eval()
    means = means or intensity_means(num_classes)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
        model.conv1.conv.weight[0, 0, 1, 1, 1] = 1.0  # the voxel's own intensity
        weight = model.fc1.conv.weight  # (2K, 1, 1, 1, 1): +x and -x for every class
        weight[0::2, 0] = 1.0
        weight[1::2, 0] = -1.0
        bias = model.fc2.norm.bias  # fc2's input: relu(x - m_k) and relu(m_k - x)
        bias[0::2] = -torch.tensor(means)
        bias[1::2] = torch.tensor(means)
        model.fc2.conv.weight[:, :, 0, 0, 0] = torch.eye(2 * num_classes)
        logits = model.classifier.conv.weight  # logit_k = -(relu(x - m_k) + relu(m_k - x))
        for k in range(num_classes):
            logits[k, 2 * k] = -1.0
            logits[k, 2 * k + 1] = -1.0
    return model


def write_intensity_checkpoint(
    path: Path,
    num_classes: int = 4,
    orientation: str | None = "RAS",
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0),
    label_pairs: tuple[tuple[int, int], ...] = (),
    stored_orientation: str | None = None,
    means: list[float] | None = None,
    names: dict[int, str] | None = None,
    normalization_region: str | None = None,
    training_volumes: dict[int, tuple[float, float, float]] | None = None,
    training_places: dict[int, dict] | None = None,
) -> Path:
    """A checkpoint of :func:`intensity_network` that works in ``orientation`` at ``spacing``."""
    model = intensity_network(num_classes, means)
    meta = ModelMeta(
        normalization="none",
        normalization_region=normalization_region,
        label_names=names or {k: f"structure_{k}" for k in range(1, num_classes)},
        orientation=orientation,
        spacing=spacing,
        stored_orientation=stored_orientation,
        label_pairs=label_pairs,
        training_volumes=training_volumes or {},
        training_places=training_places or {},
    )
    return save_network(model, meta, path)


def random_network(num_classes: int = 3, seed: int = 0) -> LiviaNet:
    """A small network of random weights: three 3^3 layers (receptive field 7), z-scored input."""
    config = ModelConfig(
        conv_channels=(4, 4, 4),
        conv_kernels=((3, 3, 3),) * 3,
        fc_channels=(8,),
        num_classes=num_classes,
        dropout_rates=(0.0, 0.0),
        activation="relu",
        batch_norm=False,
    )
    return build_model(config, seed=seed).eval()


def save_network(model: LiviaNet, meta: ModelMeta, path: Path) -> Path:
    """A checkpoint of ``model`` that segmentation reads as it reads a trained one."""
    state = training_checkpoint(
        network_name="intensity",
        epoch=1,
        model_config=model.config,
        model_state=model.state_dict(),
        meta=meta,
        optimizer_state={},
        scaler_state={},
        config={"folder_name": "intensity"},
        metrics=[],
        best={},
        frozen_layers=[],
        seed=0,
    )
    return save_checkpoint(state, path)


def two_structure_scan(shape: tuple[int, int, int], radius: float, seed: int = 0):
    """Image and labels: a dark (20) and a bright (100) ball in a background of 60.

    With the background's intensity between the structures', partial-volume
    mixing at a boundary only ever gives values between the background and that
    one structure: the ideal network then errs by at most half a voxel there,
    as an ideal pipeline would. Use with ``means=TWO_STRUCTURE_MEANS``.
    """
    grid = np.indices(shape).astype(np.float32)
    centre = (np.asarray(shape) - 1) / 2
    labels = np.zeros(shape, np.uint8)
    for label, offset in ((1, (-0.22, 0.0, 0.0)), (2, (0.22, 0.05, 0.0))):
        middle = centre + np.asarray(offset) * np.asarray(shape)
        distance = np.sqrt(((grid - middle[:, None, None, None]) ** 2).sum(axis=0))
        labels[distance < radius] = label
    image = np.choose(labels, TWO_STRUCTURE_MEANS).astype(np.float32)
    image += np.random.default_rng(seed).normal(0.0, 2.0, shape).astype(np.float32)
    return image, labels


TWO_STRUCTURE_MEANS = [60.0, 20.0, 100.0]
