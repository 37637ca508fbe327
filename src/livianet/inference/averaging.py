"""Averaging class probabilities on a scan's grid: ensemble members, mirrored views, boxes.

Probabilities are kept only over boxes: outside the ROI a model's background
probability is 1, and away from the structures it stays above ``1 -
FOREGROUND_MASS``, so only the boxes where foreground could win are brought
back to the scan's grid and averaged there.
"""

from __future__ import annotations

import numpy as np

from livianet.data.geometry import Box
from livianet.inference.tiling import triple

FOREGROUND_MASS = 0.1  # model voxels with less foreground probability cannot win the argmax


def average_on_grid(
    pieces: list[tuple[np.ndarray, Box]], runs: int, num_classes: int, shape: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray | None, Box | None]:
    """Labels ``shape`` from the mean of ``runs`` probability maps, each given over its box.

    A run without a piece (no foreground anywhere) counts as background
    everywhere. Returns the labels, the mean probabilities over the union of
    the boxes and that union (None when there are no pieces).
    """
    labels = np.zeros(shape, dtype=np.uint8 if num_classes <= 256 else np.int32)
    if not pieces:
        return labels, None, None
    union: Box = (
        triple(min(box[0][a] for _, box in pieces) for a in range(3)),
        triple(max(box[1][a] for _, box in pieces) for a in range(3)),
    )
    total = np.zeros((num_classes, *_box_size(union)), dtype=np.float32)
    total[0] = runs
    for probs, box in pieces:
        local = _window(box, offset=union[0])
        total[(slice(None),) + local] += probs
        total[0][local] -= 1.0
    total /= runs
    labels[_window(union)] = total.argmax(axis=0)
    return labels, total, union


def _box_size(box: Box) -> tuple[int, ...]:
    return tuple(b - a for a, b in zip(*box, strict=True))


def _window(box: Box, offset: tuple[int, ...] = (0, 0, 0)) -> tuple[slice, ...]:
    """The slices of ``box`` in an array whose first voxel is at ``offset``."""
    return tuple(slice(a - o, b - o) for a, b, o in zip(*box, offset, strict=True))


def dense(probabilities: np.ndarray | None, box: Box | None, num_classes: int, shape) -> np.ndarray:
    """Probabilities over the whole grid: background 1 outside ``box``."""
    out = np.zeros((num_classes, *shape), dtype=np.float32)
    out[0] = 1.0
    if probabilities is not None and box is not None:
        out[(slice(None),) + _window(box)] = probabilities
    return out


def mirrored_back(
    probabilities: np.ndarray, box: Box, axis: int, size: int, pairs: tuple[tuple[int, int], ...]
) -> tuple[np.ndarray, Box]:
    """Probabilities of a scan mirrored along ``axis`` (of ``size`` voxels), mirrored back.

    The box is mirrored too, and left/right label pairs exchange their maps.

    >>> p = np.zeros((3, 1, 2, 1), np.float32); p[1, 0, 0] = 1; p[2, 0, 1] = 0.5
    >>> q, box = mirrored_back(p, ((0, 1, 0), (1, 3, 1)), axis=1, size=4, pairs=((1, 2),))
    >>> q[2, 0, :, 0].tolist(), q[1, 0, :, 0].tolist(), box
    ([0.0, 1.0], [0.5, 0.0], ((0, 1, 0), (1, 3, 1)))
    """
    back = np.flip(probabilities, axis=axis + 1)
    swapped = back.copy()
    for left, right in pairs:
        swapped[left], swapped[right] = back[right], back[left]
    start, stop = list(box[0]), list(box[1])
    start[axis], stop[axis] = size - box[1][axis], size - box[0][axis]
    return swapped, (triple(start), triple(stop))


def foreground_box(probabilities: np.ndarray, box: tuple) -> tuple | None:
    """Model-grid box (absolute) of the voxels whose foreground could win, grown by 2; None if none.

    Outside it every voxel has background probability above ``1 - FOREGROUND_MASS``,
    and so does any linear interpolation of such voxels: the argmax there is background.
    """
    foreground = probabilities[0] < 1.0 - FOREGROUND_MASS
    if not foreground.any():
        return None
    coords = [
        np.flatnonzero(foreground.any(axis=tuple(a for a in range(3) if a != i))) for i in range(3)
    ]
    start = tuple(max(int(c[0]) - 2, 0) + o for c, o in zip(coords, box[0], strict=True))
    stop = tuple(
        min(int(c[-1]) + 3, n) + o
        for c, n, o in zip(coords, probabilities.shape[1:], box[0], strict=True)
    )
    return start, stop


def sub_box(probabilities: np.ndarray, box: tuple, region: tuple) -> tuple[np.ndarray, tuple]:
    return probabilities[(slice(None),) + _window(region, offset=box[0])], region
