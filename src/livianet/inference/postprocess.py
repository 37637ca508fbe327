"""Post-processing of label maps (numpy/scipy only)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from livianet.data import largest_component


def keep_largest_component(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Keep, for each class, only its largest 26-connected component; the rest becomes background.

    The paper did this in MATLAB after segmentation (#3); subcortical structures
    are single blobs, so stray islands are errors.

    >>> a = np.zeros((5, 1, 1), dtype=np.uint8); a[0] = a[2:4] = 1
    >>> keep_largest_component(a, 2).ravel().tolist()
    [0, 0, 1, 1, 0]
    """
    out = labels.copy()
    objects = ndimage.find_objects(labels.astype(np.int64, copy=False), max_label=num_classes - 1)
    for value, box in enumerate(objects, start=1):
        if box is None:
            continue
        region = labels[box] == value
        out[box][region & ~largest_component(region)] = 0
    return out
