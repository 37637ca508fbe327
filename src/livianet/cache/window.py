"""The box of a case that training or validation reads: what a cache entry keeps of the model grid.

Training reads patches around candidate centres (and, with rotations and scalings,
a little around them); validation segments the ROI's box, reading the network's
context around it, and scores against the labels. An entry keeps only that box, so
patches cut from it are the patches cut from the whole (padded) volume, voxel for
voxel: a box edge is either the volume's own edge or lies beyond every voxel read.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from livianet.data.spatial import Size3

Box = tuple[Size3, Size3]  # (start, stop) per axis
Pads = tuple[tuple[int, int], tuple[int, int], tuple[int, int]]
REACH_STEP = 4  # warped reaches are rounded up to this, so that close settings share entries

NO_PADS: Pads = ((0, 0), (0, 0), (0, 0))


def patch_pads(patch: Size3) -> Pads:
    """Padding so that a patch fits around every voxel (low side ``s//2``), as training pads."""
    x, y, z = ((s // 2, s - 1 - s // 2) for s in patch)
    return x, y, z


def warp_reach(patch: Size3, scaling: float) -> int:
    """Voxels a rotated and scaled patch reaches from its centre, rounded up to :data:`REACH_STEP`.

    A rotation keeps lengths and a scaling stretches them at most ``1 + scaling``, so no
    sample lies further than that times the patch's half diagonal.

    >>> warp_reach((13, 13, 13), 0.1)
    16
    """
    half = math.sqrt(sum(((s - 1) / 2) ** 2 for s in patch))
    reach = math.ceil((1.0 + scaling) * half) + 2  # + the linear interpolation's neighbours
    return -(-reach // REACH_STEP) * REACH_STEP


def training_box(
    first: Sequence[int],
    last: Sequence[int],
    shape: Size3,
    patch: Size3,
    padded: bool,
    reach: int,
) -> Box:
    """The box of the (padded) volume that patches centred on ``[first, last]`` read.

    Args:
        first, last: the lowest and highest candidate centre per axis (unpadded voxels).
        shape: the model grid's shape (unpadded).
        padded: patches are cut from the volume padded by :func:`patch_pads` (their
            corner is then the centre itself); otherwise centres are clipped so that the
            patch stays inside.
        reach: how far a warped patch reaches from its centre (0: no warping).
    """
    start, stop = [], []
    for low, high, size, side in zip(first, last, shape, patch, strict=True):
        extent = size + side - 1 if padded else size
        if padded:
            corners = (low, high)
        else:
            top = max(size - side, 0)
            corners = (min(max(low - side // 2, 0), top), min(max(high - side // 2, 0), top))
        begin, end = corners[0], corners[1] + side
        if reach:
            middle = (side - 1) / 2
            begin = min(begin, math.floor(corners[0] + middle) - reach)
            end = max(end, math.ceil(corners[1] + middle) + reach + 1)
        start.append(max(begin, 0))
        stop.append(min(end, extent))
    return tuple(start), tuple(stop)  # type: ignore[return-value]


def validation_box(boxes: Sequence[Box], shape: Size3, context: Size3) -> Box:
    """The union of ``boxes`` (the ROI's, the labels'), grown by the network's ``context``."""
    start = tuple(max(min(b[0][a] for b in boxes) - context[a], 0) for a in range(3))
    stop = tuple(min(max(b[1][a] for b in boxes) + context[a], shape[a]) for a in range(3))
    return start, stop  # type: ignore[return-value]


def reflect_index(index: np.ndarray, size: int) -> np.ndarray:
    """Where ``np.pad(..., mode="reflect")`` reads index ``index`` of an axis of ``size``.

    >>> reflect_index(np.arange(-3, 7), 4).tolist()
    [3, 2, 1, 0, 1, 2, 3, 2, 1, 0]
    """
    if size == 1:
        return np.zeros_like(index)
    period = 2 * size - 2
    folded = np.mod(index, period)
    return np.where(folded < size, folded, period - folded)


def padded_box(volume: np.ndarray, box: Box, pads: Pads) -> np.ndarray:
    """``box`` of ``np.pad(volume, pads, mode="reflect")`` (last three axes), padding nothing else."""
    axes = [
        reflect_index(np.arange(begin - low, end - low), size)
        for begin, end, (low, _), size in zip(*box, pads, volume.shape[-3:], strict=True)
    ]
    if all(np.array_equal(a, np.arange(a[0], a[0] + a.size)) for a in axes):  # inside: slices
        key: tuple = (Ellipsis, *(slice(int(a[0]), int(a[-1]) + 1) for a in axes))
    else:
        key = (Ellipsis, *np.ix_(*axes))
    return np.ascontiguousarray(volume[key])
