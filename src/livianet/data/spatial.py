"""Voxel grids: bounding boxes and resampling between grids tied to world space by affines.

One resampler serves every caller: it maps each target voxel through the two
4x4 voxel-to-world matrices into the source and interpolates there (linear for
images and probabilities, nearest for label maps and masks).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from scipy import ndimage

if TYPE_CHECKING:
    from livianet.data.cases import Case

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


def _corner_aligned(array: np.ndarray, shape: Size3, order: int) -> np.ndarray:
    """Resample to ``shape`` with the voxel centres of the corners aligned."""
    factors = [
        (s_in - 1) / max(s_out - 1, 1) for s_in, s_out in zip(array.shape, shape, strict=True)
    ]
    scaling = np.diag([*factors, 1.0])
    return resample_to_grid(array, np.eye(4), scaling, shape, order, mode="nearest")


def target_shape(shape: Size3, spacing: tuple[float, ...], new_spacing: tuple[float, ...]) -> Size3:
    """Voxels needed to cover the same extent at ``new_spacing``.

    >>> target_shape((100, 100, 50), (1.0, 1.0, 2.0), (1.0, 1.0, 1.0))
    (100, 100, 99)
    """
    return tuple(
        max(1, int(round((s - 1) * sp / nsp)) + 1)
        for s, sp, nsp in zip(shape, spacing, new_spacing, strict=True)
    )  # type: ignore[return-value]


def resample_case(case: Case, new_spacing: tuple[float, ...]) -> Case:
    """The case on a grid of ``new_spacing`` (linear for images, nearest for masks)."""
    shape = target_shape(case.shape, case.reference.spacing, new_spacing)
    image = np.stack([_corner_aligned(channel, shape, 1) for channel in case.image])
    roi = (
        _corner_aligned(case.roi.astype(np.uint8), shape, 0).astype(bool)
        if case.roi is not None
        else None
    )
    return replace(case, image=image.astype(np.float32), roi=roi, label=None)


def resample_labels(labels: np.ndarray, shape: Size3) -> np.ndarray:
    return _corner_aligned(labels, shape, 0)


def resample_probabilities(probabilities: np.ndarray, shape: Size3) -> np.ndarray:
    return np.stack([_corner_aligned(p, shape, 1) for p in probabilities]).astype(np.float32)


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

    Axis directions and the world position of the centre are kept (nibabel's
    ``rescale_affine``); each axis gets as many voxels as cover its extent.

    >>> grid_for_spacing(np.eye(4), (10, 10, 10), (2.0, 1.0, 0.5))[1]
    (5, 10, 20)
    """
    from nibabel.affines import rescale_affine

    old = np.asarray(voxel_sizes(affine))
    spatial = np.asarray(shape[-3:], dtype=np.float64)
    new_shape = tuple(
        max(1, int(round(n * z / s))) for n, z, s in zip(spatial, old, spacing, strict=True)
    )
    new_affine = rescale_affine(np.asarray(affine, np.float64), spatial, spacing, new_shape)
    return np.asarray(new_affine, dtype=np.float64), new_shape  # type: ignore[return-value]
