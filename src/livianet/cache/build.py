"""Preprocessing one case into an entry: the model grid, normalised, cut to its box, written whole.

The arrays are those training would hold in memory (``read_case``, ``to_model_grid``,
``normalised``, the patch padding), computed by the same functions, then cut to the
box training or validation reads. They are written into a temporary folder, each file
flushed to disk and hashed, ``meta.json`` last, and the folder renamed to the key: an
interrupted run leaves a ``.tmp-`` folder (cleared by the next writer or ``--prune``),
never a half entry.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import socket
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from livianet.cache import layout
from livianet.cache.fingerprint import file_digest
from livianet.cache.layout import EntryMeta, FileRecord
from livianet.cache.lock import release, try_lock
from livianet.cache.positions import class_positions
from livianet.cache.spec import CaseInputs, EntrySpec
from livianet.cache.window import (
    NO_PADS,
    Box,
    padded_box,
    patch_pads,
    training_box,
    validation_box,
)
from livianet.data import (
    Case,
    CaseFiles,
    bounding_box,
    check_channels,
    label_counts,
    normalised,
    read_case,
    to_model_grid,
)
from livianet.errors import DataError, os_error_message
from livianet.evaluation.placement import case_places
from livianet.version import __version__

logger = logging.getLogger(__name__)

RESERVE_BYTES = 64 << 20  # left free on the cache's disk beyond an entry's own size


@dataclass(frozen=True)
class EntryJob:
    """One entry to make (picklable: ``--jobs`` workers receive it)."""

    root: Path
    files: CaseFiles
    spec: EntrySpec
    inputs: CaseInputs
    key: str


def build_entry(job: EntryJob) -> str:
    """Make the entry unless it exists or another process holds its lock.

    Returns:
        ``"built"``, ``"present"`` or ``"locked"`` (another process is writing it).
    """
    final = layout.entry_folder(job.root, job.key)
    if (final / layout.META).is_file():
        return "present"
    lock = layout.lock_path(job.root, job.key)
    try:
        if not try_lock(lock):
            return "locked"
    except OSError as exc:
        raise DataError(cache_problem(job.root, exc, job.files.name)) from None
    try:
        if (final / layout.META).is_file():  # finished by another process meanwhile
            return "present"
        arrays, meta = preprocess(job)
        changed = job.inputs.change()
        if changed is not None:
            raise DataError(
                f"{changed} while case {job.files.name} was being preprocessed; run again"
            )
        write_entry(job.root, arrays, meta)
        return "built"
    finally:
        release(lock)


def preprocess(job: EntryJob) -> tuple[dict[str, np.ndarray], EntryMeta]:
    """The entry's arrays and its metadata (file records still empty)."""
    spec = job.spec
    case = read_case(job.files, spec.num_classes, True, spec.stored_orientation)
    check_channels(case, spec.channels)
    case = normalised(to_model_grid(case, spec.grid), spec.normalization)
    assert case.label is not None and case.plan is not None
    positions, bounds = class_positions(case.label, case.roi, spec.num_classes)
    box, pads = _box(case, spec)
    arrays = {
        layout.IMAGE: padded_box(case.image, box, pads).astype(spec.image_dtype, copy=False),
        layout.LABEL: padded_box(case.label, box, pads).astype(label_type(spec.num_classes)),
        layout.POSITIONS: positions,
    }
    if spec.role == "validation" and case.roi is not None:
        arrays[layout.ROI] = padded_box(np.ascontiguousarray(case.roi).view(np.uint8), box, pads)
    counts = label_counts(case.label, spec.num_classes)[: spec.num_classes]
    region = None if spec.normalization == "none" else "roi" if case.roi is not None else "nonzero"
    meta = EntryMeta(
        key=job.key,
        name=job.files.name,
        role=spec.role,
        inputs=job.inputs,
        input_affine=_rows(case.reference.affine),
        input_shape=case.reference.spatial_shape,
        model_affine=_rows(case.plan.model_affine),
        model_shape=tuple(int(s) for s in case.plan.model_shape),  # type: ignore[arg-type]
        pads=pads,
        box=box,
        channels=int(case.image.shape[0]),
        image_dtype=spec.image_dtype,
        label_dtype=np.dtype(label_type(spec.num_classes)).name,
        has_roi=case.roi is not None,
        class_counts=tuple(int(c) for c in counts),
        position_bounds=bounds,
        normalization_region=region,
        files={},
        livianet_version=__version__,
        places=_places(case, spec.num_classes),
    )
    return arrays, meta


def _places(case: Case, num_classes: int) -> dict[str, dict[str, list[float]]] | None:
    """Where the case's structures lie in its ROI (None when its orientation is unknown)."""
    if not case.orientation_known or case.label is None or case.plan is None:
        return None
    found = case_places(case.label, case.roi, case.image, case.plan.model_affine, num_classes)
    return {str(k): v.as_dict() for k, v in sorted(found.items())}


def label_type(num_classes: int) -> type[np.integer]:
    """uint8 where every label fits, else int16, else int32."""
    if num_classes <= 256:
        return np.uint8
    return np.int16 if num_classes <= 2**15 else np.int32


def _rows(affine: np.ndarray) -> tuple[tuple[float, ...], ...]:
    return tuple(tuple(float(v) for v in row) for row in np.asarray(affine, dtype=np.float64))


def _box(case: Case, spec: EntrySpec) -> tuple[Box, layout.Pads]:
    """The box the entry keeps (of the padded volume), and that padding."""
    assert case.label is not None
    shape = case.shape
    if spec.role == "validation":
        assert spec.context is not None
        boxes = [bounding_box(case.roi) if case.roi is not None else ((0, 0, 0), shape)]
        if case.label.any():
            boxes.append(bounding_box(case.label > 0))
        return validation_box(boxes, shape, spec.context), NO_PADS
    assert spec.patch is not None
    if case.roi is None:  # every voxel is a candidate centre
        first, last = (0, 0, 0), tuple(s - 1 for s in shape)
    else:
        start, stop = bounding_box(case.roi | (case.label > 0))
        first, last = start, tuple(s - 1 for s in stop)
    pads = patch_pads(spec.patch) if spec.padded else NO_PADS
    return training_box(first, last, shape, spec.patch, spec.padded, spec.reach), pads


def write_entry(root: Path, arrays: dict[str, np.ndarray], meta: EntryMeta) -> None:
    """Write the entry into a temporary folder and rename it to its key.

    Raises:
        DataError: the disk is full or the folder cannot be written (one line).
    """
    entries = layout.entries_folder(root)
    final = layout.entry_folder(root, meta.key)
    tmp = entries / f"{layout.TMP_PREFIX}{meta.key}-{socket.gethostname()}-{os.getpid()}"
    need = sum(a.nbytes for a in arrays.values()) + (1 << 20)
    try:
        entries.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(entries).free
        if free < need + RESERVE_BYTES:
            raise DataError(
                f"{root}: {free / 2**20:.0f} MiB free, case {meta.name} needs {need / 2**20:.0f} MiB "
                "in the cache: free space or choose another folder (--cache DIR, cacheFolder)"
            )
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        records = {name: _write_array(tmp / name, array) for name, array in arrays.items()}
        _write_synced(tmp / layout.META, replace(meta, files=records).to_json().encode("utf-8"))
        _publish(tmp, final)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DataError(cache_problem(root, exc, meta.name)) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def cache_problem(root: Path, exc: OSError, case: str) -> str:
    """The one line a failed cache write ends with."""
    if exc.errno == errno.ENOSPC:
        return f"{root}: no space left on the cache's disk while writing case {case}: free space or choose another folder (--cache DIR, cacheFolder)"
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return f"{root}: cache folder is not writable ({exc.strerror}): choose another folder (--cache DIR, cacheFolder)"
    return f"{root}: cache entry of case {case} not written ({os_error_message(exc)})"


def _write_array(path: Path, array: np.ndarray) -> FileRecord:
    with open(path, "wb") as handle:
        np.save(handle, np.ascontiguousarray(array), allow_pickle=False)
        handle.flush()
        os.fsync(handle.fileno())
    return FileRecord(path.stat().st_size, file_digest(path))


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _publish(tmp: Path, final: Path) -> None:
    """Rename the finished folder to its key; if another process got there first, keep theirs."""
    try:
        os.rename(tmp, final)
    except OSError as exc:
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST) and (final / layout.META).is_file():
            shutil.rmtree(tmp, ignore_errors=True)
            return
        raise
    with contextlib.suppress(OSError):
        fd = os.open(final.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
