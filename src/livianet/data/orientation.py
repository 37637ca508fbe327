"""Orientation: axis codes, affines for arrays that have none, and lossless reorientation.

A scan's orientation is its axis codes (``RAS``: axis 0 toward Right, axis 1
toward Anterior, axis 2 toward Superior), read from its affine with nibabel.
Bringing a scan to another orientation is a permutation and flips of its axes
(nibabel's ``ornt_transform`` / ``apply_orientation``): no interpolation, and
exactly undone by the inverse transform.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from nibabel import orientations

from livianet.config.values import CANONICAL_ORIENTATION, ValueProblem, check_axis_codes
from livianet.errors import DataError

CANONICAL = CANONICAL_ORIENTATION  # every model of known orientation works in it


def parse_orientation(codes: str, where: str = "orientation") -> str:
    """Upper-case axis codes (``'ila'`` -> ``'ILA'``), or a DataError naming ``where``.

    >>> parse_orientation("ila")
    'ILA'
    """
    try:
        return check_axis_codes(codes)
    except ValueProblem as exc:
        raise DataError(f"{where} {codes!r}: {exc}") from None


def orientation_of(affine: npt.ArrayLike) -> str:
    """Axis codes of a voxel-to-world affine, e.g. ``'LIA'``."""
    return "".join(orientations.aff2axcodes(np.asarray(affine, dtype=np.float64)))


def check_affine(affine: npt.ArrayLike, where: str) -> np.ndarray:
    """The affine as float64 after checking it is finite and invertible.

    Raises:
        DataError: non-finite entries, or a singular 3x3 part (no orientation, no voxel size).
    """
    matrix = np.asarray(affine, dtype=np.float64)
    if matrix.shape != (4, 4) or not np.isfinite(matrix).all():
        raise DataError(f"{where}: the affine is not a finite 4x4 matrix: {matrix.tolist()}")
    linear = matrix[:3, :3]
    scale = float(np.abs(linear).max())
    if scale == 0 or abs(np.linalg.det(linear)) < 1e-6 * scale**3:
        raise DataError(
            f"{where}: the affine is singular (its voxel axes do not span 3-D space): "
            f"{np.round(matrix, 4).tolist()}"
        )
    return matrix


def affine_for_codes(
    codes: str, shape: tuple[int, ...], spacing: tuple[float, ...] = (1.0, 1.0, 1.0)
) -> np.ndarray:
    """A voxel-to-world affine for an array stored with axis ``codes`` (``.mat`` files carry none).

    Each array axis points along the world axis its code names, with the given
    voxel size; the volume is centred on the world origin.

    >>> orientation_of(affine_for_codes("ILA", (4, 5, 6)))
    'ILA'
    """
    ornt = orientations.axcodes2ornt(parse_orientation(codes))
    linear = np.zeros((3, 3))
    for axis, (world_axis, sign) in enumerate(ornt):
        linear[int(world_axis), axis] = sign * spacing[axis]
    affine = np.eye(4)
    affine[:3, :3] = linear
    affine[:3, 3] = -linear @ ((np.asarray(shape[-3:], dtype=np.float64) - 1) / 2)
    return affine


@dataclass(frozen=True)
class Reorientation:
    """A lossless change of axis order and direction between a scan's grid and a target orientation.

    Attributes:
        transform: nibabel orientation transform from the stored axes to the target's.
        inverse: the transform back.
        affine: the voxel-to-world affine of the reoriented array.
        shape: the reoriented spatial shape.
    """

    transform: np.ndarray
    inverse: np.ndarray
    affine: np.ndarray
    shape: tuple[int, int, int]

    @property
    def is_identity(self) -> bool:
        return bool(
            np.array_equal(self.transform[:, 0], np.arange(3)) and (self.transform[:, 1] > 0).all()
        )

    def apply(self, array: np.ndarray) -> np.ndarray:
        """Reorient the last three axes of ``array`` (channels first are kept)."""
        return _apply(array, self.transform)

    def undo(self, array: np.ndarray) -> np.ndarray:
        """Bring the last three axes of a reoriented array back to the stored order."""
        return _apply(array, self.inverse)


def reorientation(affine: npt.ArrayLike, shape: tuple[int, ...], target: str) -> Reorientation:
    """How to bring a grid of ``affine`` and spatial ``shape`` to orientation ``target``."""
    matrix = np.asarray(affine, dtype=np.float64)
    spatial = tuple(int(s) for s in shape[-3:])
    stored = orientations.io_orientation(matrix)
    wanted = orientations.axcodes2ornt(parse_orientation(target))
    transform = orientations.ornt_transform(stored, wanted)
    inverse = orientations.ornt_transform(wanted, stored)
    new_affine = matrix @ orientations.inv_ornt_aff(transform, spatial)
    new_shape = tuple(spatial[int(axis)] for axis in inverse[:, 0])
    return Reorientation(transform, inverse, new_affine, new_shape)  # type: ignore[arg-type]


def _apply(array: np.ndarray, transform: np.ndarray) -> np.ndarray:
    if array.ndim == 3:
        return np.ascontiguousarray(orientations.apply_orientation(array, transform))
    moved = np.moveaxis(array, range(array.ndim - 3), range(3, array.ndim))
    oriented = orientations.apply_orientation(moved, transform)
    return np.ascontiguousarray(np.moveaxis(oriented, range(3, array.ndim), range(array.ndim - 3)))


def left_right_axis(codes: str) -> int:
    """The array axis that runs between left and right in orientation ``codes``.

    >>> left_right_axis("ILA"), left_right_axis("RAS")
    (1, 0)
    """
    return next(i for i, c in enumerate(parse_orientation(codes)) if c in "LR")
