"""Resampling a case to the training voxel spacing and results back to the scan's grid."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy import ndimage

from livianet.data.cases import Case


def _resample(array: np.ndarray, shape: tuple[int, ...], order: int) -> np.ndarray:
    """Resample a 3-D array to ``shape`` with voxel centres of the corners aligned."""
    factors = [(s_in - 1) / max(s_out - 1, 1) for s_in, s_out in zip(array.shape, shape)]
    return ndimage.affine_transform(
        array,
        np.diag(factors),
        output_shape=tuple(shape),
        order=order,
        mode="nearest",
        prefilter=order > 1,
    )


def target_shape(
    shape: tuple[int, int, int], spacing: tuple[float, ...], new_spacing: tuple[float, ...]
) -> tuple[int, int, int]:
    """Voxels needed to cover the same extent at ``new_spacing``.

    >>> target_shape((100, 100, 50), (1.0, 1.0, 2.0), (1.0, 1.0, 1.0))
    (100, 100, 99)
    """
    return tuple(
        max(1, int(round((s - 1) * sp / nsp)) + 1)
        for s, sp, nsp in zip(shape, spacing, new_spacing)
    )  # type: ignore[return-value]


def resample_case(case: Case, new_spacing: tuple[float, ...]) -> Case:
    """The case on a grid of ``new_spacing`` (linear for images, nearest for masks)."""
    shape = target_shape(case.shape, case.reference.spacing, new_spacing)
    image = np.stack([_resample(channel, shape, 1) for channel in case.image]).astype(np.float32)
    roi = (
        _resample(case.roi.astype(np.uint8), shape, 0).astype(bool)
        if case.roi is not None
        else None
    )
    return replace(case, image=image, roi=roi, label=None)


def resample_labels(labels: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    return _resample(labels, shape, 0).astype(labels.dtype)


def resample_probabilities(probabilities: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    return np.stack([_resample(p, shape, 1) for p in probabilities]).astype(np.float32)
