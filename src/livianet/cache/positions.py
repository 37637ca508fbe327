"""Where patch centres may go in one case, stored once with the case instead of found every epoch.

Class-balanced and foreground/background sampling draw centres among the voxels of each
class: the background inside the ROI (everywhere without one) and each label anywhere.
They are kept as one array of flat indices (into the model grid, unpadded) sorted by
class, each class ascending, with the class bounds: every class, and the foreground
(all labels > 0), is then a slice of that array, a view even when it is memory-mapped.
"""

from __future__ import annotations

import numpy as np


def position_dtype(voxels: int) -> type[np.signedinteger]:
    """int32 while flat indices fit it (any grid below 2^31 voxels), else int64."""
    return np.int32 if voxels < 2**31 else np.int64


def class_positions(
    label: np.ndarray, roi: np.ndarray | None, num_classes: int
) -> tuple[np.ndarray, tuple[int, ...]]:
    """Candidate centres sorted by class, and the ``num_classes + 1`` bounds of each class.

    >>> label = np.array([[[0, 2, 1, 0]]], dtype=np.uint8)
    >>> roi = np.array([[[True, True, False, False]]])
    >>> positions, bounds = class_positions(label, roi, 3)
    >>> positions.tolist(), bounds
    ([0, 2, 1], (0, 1, 2, 3))
    """
    flat = label.ravel()
    dtype = position_dtype(flat.size)
    if roi is None:
        candidates = np.arange(flat.size, dtype=dtype)
    else:
        candidates = np.flatnonzero(roi.ravel() | (flat > 0)).astype(dtype)
    classes = flat[candidates]
    order = np.argsort(classes, kind="stable")
    counts = np.bincount(classes, minlength=num_classes)[:num_classes]
    bounds = (0, *(int(b) for b in np.cumsum(counts)))
    return candidates[order], bounds
