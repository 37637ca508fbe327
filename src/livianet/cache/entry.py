"""Opening an entry: its metadata checked, its arrays memory-mapped, its files' digests verified.

Anything wrong (a missing or truncated file, a digest that differs, metadata of
another cache format or key) is an :class:`EntryProblem`: the caller writes the entry
again from its inputs rather than train on what the folder holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from livianet.cache import layout
from livianet.cache.fingerprint import file_digest
from livianet.cache.layout import EntryMeta
from livianet.cache.spec import FORMAT_VERSION


class EntryProblem(Exception):
    """An entry that cannot be used as it is (internal: it is rebuilt, never shown as is)."""


@dataclass(frozen=True)
class CachedEntry:
    """One case's entry, its arrays read through memory maps (file pages, not process memory)."""

    folder: Path
    meta: EntryMeta
    image: np.ndarray  # (C, *box shape), float32 or float16
    label: np.ndarray  # (*box shape)
    positions: np.ndarray  # flat indices into the model grid, sorted by class
    roi: np.ndarray | None  # (*box shape) bool, validation entries only


def read_meta(folder: Path, key: str | None = None) -> EntryMeta:
    try:
        meta = EntryMeta.from_json((folder / layout.META).read_text())
    except FileNotFoundError:
        raise EntryProblem(f"{folder}: no {layout.META}") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EntryProblem(f"{folder / layout.META}: unreadable ({exc})") from None
    if meta.format != FORMAT_VERSION:
        raise EntryProblem(
            f"{folder}: cache format {meta.format}, this livianet reads {FORMAT_VERSION}"
        )
    if key is not None and meta.key != key:
        raise EntryProblem(f"{folder}: holds key {meta.key}, expected {key}")
    return meta


def open_entry(folder: Path, key: str, verify: bool = True) -> CachedEntry:
    """The entry in ``folder``; ``verify`` re-hashes its files against their recorded digests.

    Raises:
        EntryProblem: the entry cannot be trusted as it is.
    """
    meta = read_meta(folder, key)
    for name, record in meta.files.items():
        path = folder / name
        try:
            size = path.stat().st_size
        except OSError:
            raise EntryProblem(f"{path}: missing") from None
        if size != record.size:
            raise EntryProblem(f"{path}: {size} bytes, {record.size} recorded")
        if verify and file_digest(path) != record.sha256:
            raise EntryProblem(f"{path}: contents differ from when it was written")
    image = _load(folder, layout.IMAGE, (meta.channels, *meta.box_shape), meta.image_dtype)
    label = _load(folder, layout.LABEL, meta.box_shape, meta.label_dtype)
    positions = _load(folder, layout.POSITIONS, (meta.position_bounds[-1],), None)
    roi = None
    if layout.ROI in meta.files:
        roi = _load(folder, layout.ROI, meta.box_shape, "uint8").view(bool)
    return CachedEntry(folder, meta, image, label, positions, roi)


def _load(folder: Path, name: str, shape: tuple[int, ...], dtype: str | None) -> np.ndarray:
    path = folder / name
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise EntryProblem(f"{path}: unreadable ({exc})") from None
    if tuple(array.shape) != tuple(shape) or (dtype is not None and array.dtype != np.dtype(dtype)):
        raise EntryProblem(f"{path}: {array.dtype} {array.shape}, expected {dtype} {shape}")
    return array
