"""Voxel grids: bounding boxes and resampling between grids tied to world space by affines.

One resampler serves every caller: it maps each target voxel through the two
4x4 voxel-to-world matrices into the source and interpolates there (linear for
images and probabilities, nearest for label maps and masks).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import ndimage

Size3 = tuple[int, int, int]


def bounding_box(mask: np.ndarray, margin: int = 0) -> tuple[Size3, Size3]:
    """``start`` and ``stop`` of ``mask``'s nonzero voxels, grown by ``margin`` and clipped.

    >>> bounding_box(np.eye(4, dtype=bool)[None], margin=1)
    ((0, 0, 0), (1, 4, 4))

    Raises:
        ValueError: the mask is empty.
    """
    coords = [np.flatnonzero(np.any(mask, axis=tuple(a for a in range(mask.ndim) if a != axis)))
              for axis in range(mask.ndim)]  # fmt: skip
    if any(c.size == 0 for c in coords):
        raise ValueError(f"empty mask of shape {mask.shape}: no bounding box")
    start = tuple(max(int(c[0]) - margin, 0) for c in coords)
    stop = tuple(min(int(c[-1]) + 1 + margin, n) for c, n in zip(coords, mask.shape, strict=True))
    return start, stop  # type: ignore[return-value]


def resample_to_grid(
    array: np.ndarray,
    source_affine: npt.NDArray[np.float64],
    target_affine: npt.NDArray[np.float64],
    shape: Size3,
    order: int,
    mode: str = "constant",
) -> np.ndarray:
    """``array`` (on the grid of ``source_affine``) sampled on the target grid.

    ``order`` 0 keeps the dtype and never invents values (labels, masks);
    ``order`` 1 gives float32. With ``mode="constant"`` target voxels outside
    the source are 0; ``"nearest"`` repeats the edge.
    """
    voxel_map = np.linalg.inv(np.asarray(source_affine, np.float64)) @ np.asarray(
        target_affine, np.float64
    )
    out = np.zeros(shape, dtype=array.dtype if order == 0 else np.float32)
    ndimage.affine_transform(
        array, voxel_map[:3, :3], offset=voxel_map[:3, 3], output_shape=tuple(shape),
        output=out, order=order, mode=mode, cval=0, prefilter=order > 1,
    )  # fmt: skip
    return out


SPACING_TOLERANCE = 0.05  # relative; voxel sizes closer than this are not resampled


def voxel_sizes(affine: npt.ArrayLike) -> tuple[float, float, float]:
    """Voxel size in mm along each array axis (column norms of the affine)."""
    zooms = np.sqrt((np.asarray(affine, dtype=np.float64)[:3, :3] ** 2).sum(axis=0))
    return tuple(float(z) for z in zooms)  # type: ignore[return-value]


def spacing_differs(
    spacing: tuple[float, ...], target: tuple[float, ...], tolerance: float = SPACING_TOLERANCE
) -> bool:
    """Whether any axis differs from ``target`` by more than ``tolerance`` (relative).

    >>> spacing_differs((1.0, 1.0, 1.04), (1.0, 1.0, 1.0)), spacing_differs((1.3, 1.0, 1.0), (1.0,) * 3)
    (False, True)
    """
    return any(abs(s - t) > tolerance * t for s, t in zip(spacing, target, strict=True))


def grid_for_spacing(
    affine: npt.ArrayLike, shape: tuple[int, ...], spacing: tuple[float, ...]
) -> tuple[np.ndarray, Size3]:
    """A grid of voxel size ``spacing`` over the same field of view as ``(affine, shape)``.

    Axis directions are kept and the centre of the field of view stays where
    it is in world space; each axis gets as many voxels as cover its extent.
    (nibabel's ``rescale_affine`` centres on the integer middle voxel, which
    moves even-sized grids by up to half a voxel.)

    >>> grid_for_spacing(np.eye(4), (10, 10, 10), (2.0, 1.0, 0.5))[1]
    (5, 10, 20)
    """
    matrix = np.asarray(affine, dtype=np.float64)
    old = np.asarray(voxel_sizes(matrix))
    spatial = np.asarray(shape[-3:], dtype=np.float64)
    new_shape = tuple(
        max(1, int(round(n * z / s))) for n, z, s in zip(spatial, old, spacing, strict=True)
    )
    linear = matrix[:3, :3] * (np.asarray(spacing, dtype=np.float64) / old)
    centre = matrix[:3, :3] @ ((spatial - 1) / 2) + matrix[:3, 3]
    new_affine = np.eye(4)
    new_affine[:3, :3] = linear
    new_affine[:3, 3] = centre - linear @ ((np.asarray(new_shape, dtype=np.float64) - 1) / 2)
    return new_affine, new_shape  # type: ignore[return-value]
