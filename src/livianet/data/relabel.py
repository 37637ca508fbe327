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

from livianet.atomic import write_text_atomic
from livianet.errors import DataError
from livianet.io import Volume, list_volume_files, load_volume, save_volume, strip_volume_suffix

logger = logging.getLogger(__name__)


def consecutive_mapping(values: np.ndarray) -> dict[int, int]:
    """Sorted distinct values -> 0, 1, 2, ...

    >>> consecutive_mapping(np.array([0, 10, 5]))
    {0: 0, 5: 1, 10: 2}
    """
    return {int(v): i for i, v in enumerate(distinct_values(values))}


# Integer maps whose values span at most this many codes use a lookup table, which
# is several times faster than sorting 256^3 voxels.
_TABLE_SPAN = 1 << 16


def _table_index(labels: np.ndarray) -> tuple[np.ndarray, int, int] | None:
    """``(labels - low, low, span)`` for integer maps of small span, else ``None``."""
    if labels.size == 0 or labels.dtype.kind not in "biu":
        return None
    if labels.dtype.kind == "b":
        labels = labels.view(np.uint8)  # a boolean index would act as a mask
    low, high = int(labels.min()), int(labels.max())
    if high - low >= _TABLE_SPAN:
        return None
    if low == 0:
        return labels, low, high + 1
    return labels.astype(np.int64) - low, low, high - low + 1


COUNT_CHUNK = 1 << 22  # voxels per bincount: its index copy (8 bytes a voxel) stays small


def label_counts(labels: np.ndarray, minlength: int = 0) -> np.ndarray:
    """Voxels per value ``0..max`` of a non-negative integer label map, like ``np.bincount``.

    Counted a slab at a time: ``np.bincount`` copies its input to 64-bit
    integers, which for a 256^3 uint8 map is 128 MiB next to a 16 MiB map.

    >>> label_counts(np.array([[0, 2], [2, 2]], dtype=np.uint8), minlength=4).tolist()
    [1, 0, 3, 0]
    """
    flat = np.asarray(labels).ravel(order="K")  # a view of C- or Fortran-ordered maps
    if flat.dtype.kind == "b":
        flat = flat.view(np.uint8)
    counts = np.zeros(minlength, dtype=np.int64)
    for start in range(0, flat.size, COUNT_CHUNK):
        part = np.bincount(flat[start : start + COUNT_CHUNK], minlength=counts.size)
        if part.size > counts.size:
            counts = np.pad(counts, (0, part.size - counts.size))
        counts += part
    return counts


def distinct_values(labels: np.ndarray) -> np.ndarray:
    """Sorted distinct values, like ``np.unique`` but faster on integer label maps.

    >>> distinct_values(np.array([5, 0, 5, 2])).tolist()
    [0, 2, 5]
    """
    array = np.asarray(labels)
    table = _table_index(array)
    if table is None:
        return np.unique(array)
    index, low, span = table
    return np.flatnonzero(label_counts(index, minlength=span)) + low  # any memory order


def relabel(labels: np.ndarray, mapping: dict[int, int]) -> np.ndarray:
    """Apply ``mapping`` to every voxel (values outside it are an error).

    >>> relabel(np.array([0, 5, 10]), {0: 0, 5: 1, 10: 2}).tolist()
    [0, 1, 2]
    """
    keys = np.array(sorted(mapping), dtype=np.int64)
    targets = np.array([mapping[int(k)] for k in keys], dtype=np.int64)
    table = _table_index(np.asarray(labels))
    if table is not None:
        index, low, span = table
        inside = (keys >= low) & (keys < low + span)
        lookup = np.zeros(span, dtype=np.int64)
        known = np.zeros(span, dtype=bool)
        lookup[keys[inside] - low] = targets[inside]
        known[keys[inside] - low] = True
        if not known.all() and not known[index].all():
            raise ValueError("label map holds values outside the mapping")
        return lookup[index]
    flat = labels.astype(np.int64).ravel()
    positions = np.searchsorted(keys, flat)
    positions = np.clip(positions, 0, len(keys) - 1)
    if not np.array_equal(keys[positions], flat):
        raise ValueError("label map holds values outside the mapping")
    return targets[positions].reshape(labels.shape)


MAPPING_FILE = "label_mapping.json"  # written beside relabelled maps; read by training


def read_label_mapping(path: Path, num_classes: int | None = None) -> dict[int, int]:
    """``{consecutive label: original code}`` from a ``label_mapping.json`` (original -> consecutive).

    Raises:
        DataError: unreadable, not an object of integers, two codes on one label,
            or labels outside ``0..num_classes-1``.
    """
    try:
        content = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read the label mapping ({exc})") from None
    if not isinstance(content, dict):
        raise DataError(
            f'{path}: expected an object such as {{"10": 1, "49": 5}} (original: consecutive)'
        )
    inverse: dict[int, int] = {}
    for original, label in content.items():
        if not (str(original).lstrip("-").isdigit() and isinstance(label, int) and label >= 0):
            raise DataError(f"{path}: entry {original!r}: {label!r}: expected integer codes")
        if label in inverse:
            raise DataError(
                f"{path}: label {label} comes from both {inverse[label]} and {original}"
            )
        if num_classes is not None and label >= num_classes:
            raise DataError(f"{path}: label {label} is >= n_classes = {num_classes}")
        inverse[label] = int(original)
    return inverse


def original_codes(labels: np.ndarray, mapping: dict[int, int]) -> np.ndarray:
    """Each label replaced by its original code (labels without one keep their value).

    >>> original_codes(np.array([0, 1, 2]), {0: 0, 1: 10, 2: 49}).tolist()
    [0, 10, 49]
    """
    table = np.arange(max(int(labels.max(initial=0)), max(mapping, default=0)) + 1, dtype=np.int64)
    for label, code in mapping.items():
        table[label] = code
    return table[labels]


def output_file(folder: Path, source: Path, fmt: str | None, prefix: str = "") -> Path:
    """``folder/<prefix><name>`` in ``fmt``: ``nifti``, ``mat``, or the source's when None."""
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
    return data  # already integer (or boolean): no 8-byte copy of a 256^3 volume


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
            f"NUM_CLASSES = {num_classes}: expected a positive number of classes "
            "(background included)"
        )
    values: set[int] = set()
    for path in files:
        values.update(int(v) for v in distinct_values(_integer_labels(load_volume(path))))
    mapping = consecutive_mapping(np.array(sorted(values)))
    if len(mapping) > num_classes:
        raise DataError(
            f"{in_dir}: {len(mapping)} distinct label values {sorted(values)[:20]} across the "
            f"folder, more than NUM_CLASSES = {num_classes}"
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
        out_dir / MAPPING_FILE,
        json.dumps({str(k): v for k, v in mapping.items()}, indent=2) + "\n",
    )
    return mapping
