"""Post-processing of label maps (numpy/scipy only).

:func:`remove_stray_components` is the one clean-up of every segmentation
(validation during training and ``livianet segment`` alike): the rule that
decides which of a structure's pieces stay lives there only.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from livianet.data import largest_component
from livianet.data.geometry import Box
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


def remove_stray_components(
    labels: np.ndarray,
    num_classes: int,
    probabilities: np.ndarray | None = None,
    box: Box | None = None,
) -> np.ndarray:
    """``labels`` with each structure's stray pieces made background; its probabilities to match.

    Only each class's largest 26-connected component stays
    (:func:`keep_largest_component`). Where ``probabilities`` ``(K, ...)`` are
    given, over ``box`` of the label map (``None``: all of it), the removed
    voxels become background with probability 1. They are changed in place:
    a scan's maps are large, and every caller drops the uncleaned ones.

    >>> a = np.zeros((5, 1, 1), dtype=np.uint8); a[0] = a[2:4] = 1
    >>> p = np.full((2, 3, 1, 1), 0.5, np.float32)  # over voxels 0..2 only
    >>> remove_stray_components(a, 2, p, ((0, 0, 0), (3, 1, 1))).ravel().tolist()
    [0, 0, 1, 1, 0]
    >>> p[:, :, 0, 0].tolist()
    [[1.0, 0.5, 0.5], [0.0, 0.5, 0.5]]
    """
    cleaned = keep_largest_component(labels, num_classes)
    if probabilities is not None:
        removed = cleaned != labels
        if box is not None:
            removed = removed[tuple(slice(a, b) for a, b in zip(*box, strict=True))]
        if removed.any():
            probabilities[:, removed] = 0.0
            probabilities[0, removed] = 1.0
    return cleaned


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
