"""Post-processing of label maps (numpy/scipy only)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from livianet.data import largest_component
from livianet.data.roi import CONNECTIVITY


def _boxes(labels: np.ndarray, num_classes: int) -> list[tuple[slice, ...] | None]:
    """Each label's bounding box (``ndimage.find_objects``), without a 64-bit copy of the map."""
    integers = labels if labels.dtype.kind in "iu" else labels.astype(np.int64)
    return ndimage.find_objects(integers, max_label=num_classes - 1)


def keep_largest_component(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Keep, for each class, only its largest 26-connected component; the rest becomes background.

    The paper did this in MATLAB after segmentation (#3); subcortical structures
    are single blobs, so stray islands are errors.

    >>> a = np.zeros((5, 1, 1), dtype=np.uint8); a[0] = a[2:4] = 1
    >>> keep_largest_component(a, 2).ravel().tolist()
    [0, 0, 1, 1, 0]
    """
    out = labels.copy()
    objects = _boxes(labels, num_classes)
    for value, box in enumerate(objects, start=1):
        if box is None:
            continue
        region = labels[box] == value
        out[box][region & ~largest_component(region)] = 0
    return out


def structure_components(labels: np.ndarray, num_classes: int) -> dict[str, dict[str, float]]:
    """Per label ``1..K-1``: its 26-connected pieces and the share of voxels in the largest.

    A subcortical structure is one blob; several large pieces, or none, flag a
    failed segmentation in the quality-control report.

    >>> a = np.zeros((6, 1, 1), dtype=np.uint8); a[0] = 1; a[2:5] = 1
    >>> structure_components(a, 2)
    {'1': {'count': 2, 'largest_fraction': 0.75}}
    """
    found: dict[str, dict[str, float]] = {}
    objects = _boxes(labels, num_classes)
    for value in range(1, num_classes):
        box = objects[value - 1] if value - 1 < len(objects) else None
        if box is None:
            found[str(value)] = {"count": 0, "largest_fraction": 0.0}
            continue
        region = labels[box] == value
        pieces, count = ndimage.label(region, structure=CONNECTIVITY)
        sizes = np.bincount(pieces.ravel())[1:]
        found[str(value)] = {
            "count": int(count),
            "largest_fraction": round(float(sizes.max() / sizes.sum()), 6),
        }
    return found
