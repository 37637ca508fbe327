"""Making label values consecutive (the original ``processLabels.py``), one mapping per folder.

The original mapped each image's own sorted values to 0..n-1, so an image that
lacked a structure had every later label shifted. Here the mapping is built from
the values of the whole folder and applied to every image alike.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from .errors import DataError
from .fileutil import write_text_atomic
from .io import Volume, list_volume_files, load_volume, save_volume, strip_volume_suffix

logger = logging.getLogger(__name__)


def consecutive_mapping(values: np.ndarray) -> dict[int, int]:
    """Sorted distinct values -> 0, 1, 2, ...

    >>> consecutive_mapping(np.array([0, 10, 5]))
    {0: 0, 5: 1, 10: 2}
    """
    return {int(v): i for i, v in enumerate(np.unique(values))}


def relabel(labels: np.ndarray, mapping: dict[int, int]) -> np.ndarray:
    """Apply ``mapping`` to every voxel (values outside it are an error).

    >>> relabel(np.array([0, 5, 10]), {0: 0, 5: 1, 10: 2}).tolist()
    [0, 1, 2]
    """
    keys = np.array(sorted(mapping), dtype=np.int64)
    flat = labels.astype(np.int64).ravel()
    positions = np.searchsorted(keys, flat)
    positions = np.clip(positions, 0, len(keys) - 1)
    if not np.array_equal(keys[positions], flat):
        raise ValueError("label map holds values outside the mapping")
    targets = np.array([mapping[int(k)] for k in keys], dtype=np.int64)
    return targets[positions].reshape(labels.shape)


def output_file(folder: Path, source: Path, fmt: str | None, prefix: str = "") -> Path:
    """``folder/<prefix><name>`` in ``fmt`` (``nifti``, ``mat``, or the source's format when None)."""
    stem = strip_volume_suffix(source.name)
    if fmt is None:
        return folder / f"{prefix}{source.name}"
    return folder / f"{prefix}{stem}{'.mat' if fmt == 'mat' else '.nii.gz'}"


def _integer_labels(volume: Volume) -> np.ndarray:
    data = volume.data
    if data.ndim != 3:
        raise DataError(f"{volume.path}: label map has shape {data.shape}, expected 3-D")
    if data.dtype.kind == "f":
        if not np.isfinite(data).all() or not np.array_equal(data, np.rint(data)):
            raise DataError(f"{volume.path}: label map holds non-integer or non-finite values")
    return data.astype(np.int64)


def process_label_folder(
    in_dir: Path, out_dir: Path, num_classes: int, fmt: str | None = None
) -> dict[int, int]:
    """Map the folder's label values to ``0..num_classes-1`` with one shared mapping.

    Writes each map under its own name (geometry kept) and ``label_mapping.json``.

    Raises:
        DataError: the folder holds more distinct values than ``num_classes``.
    """
    files = list_volume_files(in_dir) if in_dir.is_dir() else []
    if not files:
        raise DataError(f"{in_dir}: no .nii, .nii.gz or .mat label files found")
    if num_classes < 1:
        raise DataError(
            f"NUM_CLASSES = {num_classes}: expected a positive number of classes (background included)"
        )
    values: set[int] = set()
    for path in files:
        values.update(int(v) for v in np.unique(_integer_labels(load_volume(path))))
    mapping = consecutive_mapping(np.array(sorted(values)))
    if len(mapping) > num_classes:
        raise DataError(
            f"{in_dir}: {len(mapping)} distinct label values {sorted(values)[:20]} across the folder, "
            f"more than NUM_CLASSES = {num_classes}"
        )
    if len(mapping) < num_classes:
        logger.warning(
            "%s: only %d distinct values for %d classes", in_dir, len(mapping), num_classes
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in files:
        volume = load_volume(path)
        relabelled = relabel(_integer_labels(volume), mapping)
        target = output_file(out_dir, path, fmt)
        save_volume(relabelled, target, volume, kind="label")
        logger.info("%s -> %s", path.name, target)
    write_text_atomic(
        out_dir / "label_mapping.json",
        json.dumps({str(k): v for k, v in mapping.items()}, indent=2) + "\n",
    )
    return mapping
