"""The model's grid from the cases' headers: no volume is loaded to decide it.

Every training case's key holds the model grid (orientation and voxel size), and
that grid is the median voxel size of all training cases: so the grid is decided
first, from what each first image's header says (NIfTI and MGH headers are read
without their voxels; a ``.mat`` file, which has no header, is read once per version
of the file and its shape kept in the memo), and then every case is keyed with it.
A new case that moves the median changes every key, as it changes every case's
arrays; one that does not leaves the other entries as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from livianet.cache.fingerprint import FingerprintMemo
from livianet.data import declared_geometry
from livianet.data.geometry import ModelGrid
from livianet.data.orientation import CANONICAL, reorientation
from livianet.data.spatial import voxel_sizes
from livianet.errors import DataError, describe_exception
from livianet.io import Volume, load_volume
from livianet.io.volumes import volume_format

ORIENTATION_KEY = "orientation"  # the [Training Images] key that declares .mat axis codes


class StoredGrid(Protocol):
    """A case's first image as stored (a :class:`~livianet.data.Case` is one)."""

    @property
    def reference(self) -> Volume: ...

    @property
    def orientation_known(self) -> bool: ...


def common_orientation(cases: Sequence[StoredGrid]) -> str | None:
    """RAS when every case's orientation is known, None when none is.

    Raises:
        DataError: some cases have a known orientation and others not.
    """
    known = [case for case in cases if case.orientation_known]
    if known and len(known) != len(cases):
        unknown = next(case for case in cases if not case.orientation_known)
        raise DataError(
            f"{unknown.reference.path}: a .mat array of unknown orientation among scans whose "
            f"orientation is known ({known[0].reference.path}); declare the .mat axis codes with "
            f"'{ORIENTATION_KEY} = ILA' (for example) in [Training Images]"
        )
    return CANONICAL if known else None


def training_grid(cases: Sequence[StoredGrid], orientation: str | None) -> ModelGrid:
    """The model's grid: ``orientation`` at the median voxel size of ``cases`` (in its axes)."""
    spacings = []
    for case in cases:
        affine = case.reference.affine
        if orientation is not None:
            affine = reorientation(affine, case.reference.spatial_shape, orientation).affine
        spacings.append(voxel_sizes(affine))
    median = tuple(float(np.median([s[axis] for s in spacings])) for axis in range(3))
    return ModelGrid(orientation, median)  # type: ignore[arg-type]


class HeaderCase:
    """A case known by its first image's header: what the grid needs, no voxels."""

    def __init__(self, reference: Volume, orientation_known: bool) -> None:
        self.reference = reference
        self.orientation_known = orientation_known


def no_voxels(shape: Sequence[int]) -> np.ndarray:
    """An array of ``shape`` that takes no memory (a broadcast zero): a grid without its data."""
    return np.broadcast_to(np.zeros((), np.uint8), tuple(int(s) for s in shape))


def stored_reference(path: Path, orientation: str | None, memo: FingerprintMemo) -> HeaderCase:
    """The first image's grid as ``read_case`` sees it (declared ``.mat`` axes included), voxel-free."""
    if volume_format(path) == "mat":
        shape = memo.fact(path, "shape", lambda file: list(load_volume(file).spatial_shape))
        volume = declared_geometry(Volume(no_voxels(shape), np.eye(4), None, path), orientation)
        return HeaderCase(volume, orientation is not None)
    header, shape, affine = _header(path)
    return HeaderCase(Volume(no_voxels(shape[:3]), affine, header, path), True)


def voxel_free_reference(path: Path, affine: np.ndarray, shape: Sequence[int]) -> Volume:
    """The grid ``read_case`` gave ``path`` (``affine``, ``shape``), with its header, no voxels."""
    header = None if volume_format(path) == "mat" else _header(path)[0]
    return Volume(no_voxels(shape), np.asarray(affine, dtype=np.float64), header, path)


def _header(path: Path) -> tuple[Any, tuple[int, ...], np.ndarray]:
    """A NIfTI or MGH file's header, shape and affine; its voxels are not read."""
    import nibabel as nib

    try:
        image = nib.load(str(path))
        shape = tuple(int(s) for s in image.shape)  # type: ignore[attr-defined]
        affine = np.asarray(image.affine, dtype=np.float64)  # type: ignore[attr-defined]
        header = image.header.copy()
    except Exception as exc:  # noqa: BLE001 - nibabel raises many types
        load_volume(path)  # its own one-line error, where it has one
        raise DataError(f"{path}: cannot read its header ({describe_exception(exc)})") from None
    if len(shape) not in (3, 4, 5):
        load_volume(path)  # its own one-line error
        raise DataError(f"{path}: array of shape {shape}, expected a 3-D volume")
    return header, shape, affine
