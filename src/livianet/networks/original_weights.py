"""The original's per-layer weight files: ``.npy`` kernels read and written in its convention.

Theano's ``conv3d2d`` computed a true convolution (kernels flipped), PyTorch a
cross-correlation, so a kernel ``W`` stored by the original loads as
``W[:, :, ::-1, ::-1, ::-1]``; exported files are flipped back so that both
programs read them alike. Files are read with ``allow_pickle=False``: an array
of Python objects is refused, never unpickled.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import torch

from livianet.atomic import atomic_path, write_text_atomic
from livianet.errors import DataError, describe_exception
from livianet.networks.livianet import LiviaNet

logger = logging.getLogger(__name__)

_NPY_MAGIC = b"\x93NUMPY"


def load_npy(path: str | os.PathLike[str]) -> np.ndarray:
    """Load a numeric ``.npy`` array without ever unpickling objects."""
    file = Path(path)
    if not file.is_file():
        raise DataError(f"{file}: file not found")
    try:
        with open(file, "rb") as handle:
            magic = handle.read(len(_NPY_MAGIC))
    except OSError as exc:
        raise DataError(f"{file}: cannot read ({exc.strerror or exc})") from None
    if magic != _NPY_MAGIC:
        # np.load would try to unpickle anything that is not .npy/.npz; refuse first.
        raise DataError(f"{file}: not a .npy array file (it does not start with the .npy header)")
    try:
        array = np.load(file, allow_pickle=False)
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
            raise DataError(
                f"{file}: holds Python objects, refused (only numeric arrays are loaded)"
            ) from None
        raise DataError(f"{file}: cannot read as .npy ({describe_exception(exc)})") from None
    except (OSError, EOFError) as exc:
        raise DataError(f"{file}: cannot read as .npy ({describe_exception(exc)})") from None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "biuf":
        raise DataError(f"{file}: expected a numeric array, found {type(array).__name__}")
    return array


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
    for layer, position in zip(model.conv_names, indexes, strict=False):
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
