"""Reusing trained layers: the original's per-layer ``.npy`` files and our checkpoints.

Theano's ``conv3d2d`` computed a true convolution (kernels flipped), PyTorch a
cross-correlation, so a kernel ``W`` stored by the original loads as
``W[:, :, ::-1, ::-1, ::-1]``; exported files are flipped back so that both
programs read them alike.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch

from livianet.errors import DataError
from livianet.atomic import atomic_path, write_text_atomic
from livianet.io.volumes import load_npy
from livianet.networks.livianet import LiviaNet

logger = logging.getLogger(__name__)


def list_npy(folder: Path) -> list[Path]:
    """``.npy`` files of ``folder`` sorted by name, as the original indexed them."""
    if not folder.is_dir():
        raise DataError(f"{folder}: weights folder not found")
    files = sorted(
        (p for p in folder.iterdir() if p.suffix == ".npy" and not p.name.startswith(".")),
        key=lambda p: p.name,
    )
    if not files:
        raise DataError(f"{folder}: weights folder holds no .npy files")
    return files


def load_npy_weights(model: LiviaNet, folder: Path, indexes: tuple[int, ...]) -> list[str]:
    """Load conv layer ``i`` from the file at position ``indexes[i]`` of ``folder``.

    Every problem (index past the files, wrong shape) is reported at once.

    Returns:
        Names of the layers loaded.
    """
    files = list_npy(folder)
    if not indexes:
        indexes = tuple(range(min(len(files), len(model.conv_names))))
    if len(indexes) > len(model.conv_names):
        raise DataError(
            f"weights trained indexes {list(indexes)}: {len(indexes)} entries "
            f"but the network has {len(model.conv_names)} conv layers"
        )
    problems, loaded = [], []
    for layer, position in zip(model.conv_names, indexes):
        if position < 0 or position >= len(files):
            problems.append(
                f"{layer}: index {position} points past the {len(files)} .npy files in {folder}"
            )
            continue
        try:
            array = load_npy(files[position])
        except DataError as exc:
            problems.append(str(exc))
            continue
        weight = getattr(model, layer).conv.weight
        if tuple(array.shape) != tuple(weight.shape):
            problems.append(
                f"{layer} from {files[position].name}: shape {tuple(array.shape)}, "
                f"expected {tuple(weight.shape)}"
            )
            continue
        loaded.append((layer, weight, array))
    if problems:
        raise DataError("cannot load pre-trained weights: " + "; ".join(problems))
    with torch.no_grad():
        for _, weight, array in loaded:
            flipped = np.ascontiguousarray(array[:, :, ::-1, ::-1, ::-1], dtype=np.float32)
            weight.copy_(torch.from_numpy(flipped))
    names = [name for name, _, _ in loaded]
    logger.info("loaded %d conv layers from %s: %s", len(names), folder, ", ".join(names))
    return names


def export_npy_weights(model: LiviaNet, folder: Path) -> list[Path]:
    """Write each layer's kernel as ``.npy`` in the original's (flipped) convention.

    Conv layers come first in name order (``weights_ConvLayer_<i>.npy``), so
    ``weights trained indexes = [0, 1, ...]`` loads them back; 1x1x1 layers and
    the classifier follow, with a ``manifest.json`` naming each file's layer.
    """
    width = max(1, len(str(len(model.conv_names) - 1)))
    entries = []
    written = []
    layer_files = [
        (n, f"weights_ConvLayer_{i:0{width}d}.npy") for i, n in enumerate(model.conv_names)
    ]
    layer_files += [(n, f"weights_FCLayer_{j}.npy") for j, n in enumerate(model.fc_names)]
    layer_files += [("classifier", "weights_classifier.npy")]
    for layer, file_name in layer_files:
        weight = getattr(model, layer).conv.weight.detach().cpu().numpy()
        array = np.ascontiguousarray(weight[:, :, ::-1, ::-1, ::-1])
        target = folder / file_name
        with atomic_path(target) as tmp:
            with open(tmp, "wb") as handle:
                np.save(handle, array, allow_pickle=False)
        written.append(target)
        entries.append({"file": file_name, "layer": layer, "shape": list(array.shape)})
    write_text_atomic(
        folder / "manifest.json",
        json.dumps(
            {"layers": entries, "kernel_convention": "flipped (Theano true convolution)"}, indent=2
        ),
    )
    return written


def transfer_layers(model: LiviaNet, source_state: dict[str, torch.Tensor]) -> list[str]:
    """Copy every layer of ``source_state`` whose tensors all match by name and shape.

    Returns:
        Names of the layers copied (e.g. ``['conv1', 'conv2']``); others keep
        their initialisation and are logged.
    """
    own = model.state_dict()
    copied, skipped = [], []
    for layer in model.layer_names():
        keys = [k for k in own if k.startswith(layer + ".")]
        fits = all(
            k in source_state and tuple(source_state[k].shape) == tuple(own[k].shape) for k in keys
        )
        if fits:
            with torch.no_grad():
                for k in keys:
                    own[k].copy_(source_state[k])
            copied.append(layer)
        else:
            skipped.append(layer)
    if not copied:
        raise DataError("no layer of the source checkpoint matches this network by name and shape")
    if skipped:
        logger.info(
            "layers kept at their initialisation (no match in the source): %s", ", ".join(skipped)
        )
    return copied


def freeze_layers(model: LiviaNet, layers: list[str]) -> None:
    """Stop training ``layers``; their batch norm is kept in eval mode by the trainer.

    Raises:
        ValueError: a name that is not a layer of ``model`` (all such names listed).
    """
    unknown = [layer for layer in layers if layer not in model.layer_names()]
    if unknown:
        raise ValueError(
            f"cannot freeze {unknown}: not layers of this network "
            f"({', '.join(model.layer_names())})"
        )
    for layer in layers:
        for param in getattr(model, layer).parameters():
            param.requires_grad_(False)
