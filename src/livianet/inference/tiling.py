"""Whole-volume inference by exact tiling.

The network has only valid convolutions: output voxel ``v`` depends on the
padded input window ``[v, v + RF)``. Output tiles stitched without overlap
therefore equal one pass over the whole padded volume, with no blending. Work
follows the ROI's shape: slabs of its bounding box, rows of each slab and tiles
of each row are cut to the ROI's extent there (a brain fills about 40 % of its
bounding box), tiles without ROI voxels are skipped, and tiles are sized for
speed within a memory budget.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch

from livianet.data import bounding_box
from livianet.data.spatial import Size3
from livianet.networks import LiviaNet
from livianet.networks.folded import FusedLiviaNet
from livianet.runtime import autocast, memory_format

logger = logging.getLogger(__name__)

T = TypeVar("T")
Network = LiviaNet | FusedLiviaNet  # what segments: a network, or its inference form (fuse)
# Bytes of activations per batch of tiles. Tiles that follow the ROI's shape compute about the
# same arithmetic whatever their side (a 256^3 brain: 4.99 T FLOPs at side 71, 4.91 T at 53),
# and half a GiB (side 53 for the paper network in float32) ran as fast as 1 GiB (71) while
# the process peaked 0.4 GiB lower.
DEFAULT_MEMORY_BUDGET = 1 << 29
MAX_TILE = 128  # output side; beyond it the halo saved no longer pays for the memory


@dataclass
class Segmentation:
    """Labels ``(X, Y, Z)``; class probabilities when asked for, over ``box`` only.

    Outside ``box`` (the ROI's bounding box, or the whole volume without ROI)
    every voxel is background with probability 1, so only the box is stored:
    ``probabilities`` is ``(K, *box size)`` float32.
    """

    labels: np.ndarray
    probabilities: np.ndarray | None
    box: tuple[Size3, Size3] = ((0, 0, 0), (0, 0, 0))

    def dense_probabilities(self) -> np.ndarray | None:
        """Probabilities ``(K, X, Y, Z)`` over the whole volume."""
        if self.probabilities is None:
            return None
        dense = np.zeros((self.probabilities.shape[0], *self.labels.shape), dtype=np.float32)
        dense[0] = 1.0
        (x0, y0, z0), (x1, y1, z1) = self.box
        dense[:, x0:x1, y0:y1, z0:z1] = self.probabilities
        return dense


def triple(values: Iterable[T]) -> tuple[T, T, T]:
    """Three values, one per axis, as a typed triple (another count fails here, not in numpy).

    >>> triple(int(s) for s in (4.0, 5.0, 6.0))
    (4, 5, 6)
    """
    x, y, z = values
    return x, y, z


def split_axis(start: int, stop: int, tile: int) -> tuple[list[int], int]:
    """Even tile starts covering ``[start, stop)`` with tiles no larger than ``tile``.

    The span is cut into ``n = ceil(len / tile)`` near-equal tiles, so little
    work is repeated; all tiles share one size (the last may overlap its
    neighbour by under ``n`` voxels) so they can be batched.

    >>> split_axis(0, 140, 64)
    ([0, 47, 93], 47)
    >>> split_axis(5, 10, 64)
    ([5], 5)
    """
    length = stop - start
    count = max(1, math.ceil(length / tile))
    size = math.ceil(length / count)
    starts = [min(start + i * size, stop - size) for i in range(count)]
    return starts, size


def roi_box(roi: np.ndarray | None, shape: Size3) -> tuple[Size3, Size3] | None:
    """The region to segment: the ROI's bounding box, the whole volume without ROI, None if empty.

    >>> roi_box(None, (4, 5, 6))
    ((0, 0, 0), (4, 5, 6))
    """
    if roi is None:
        return (0, 0, 0), triple(shape)
    if not roi.any():
        return None
    return bounding_box(roi)


def auto_tile(
    model: Network,
    batch: int,
    budget: int = DEFAULT_MEMORY_BUDGET,
    bytes_per_value: int = 4,
) -> int:
    """Largest cubic output tile whose live activations fit ``budget``.

    Alive at once, at most: the widest conv layer's input and output, the
    outputs kept for the multi-scale connection, and their concatenation (the
    1x1x1 layers run in small chunks and add little).
    """
    config = model.config
    rf = max(model.receptive_field)
    kept = sum(config.conv_channels[i] for i in config.intermediate_layers)
    channels = 2 * max(config.conv_channels) + kept + config.fc_in_channels
    for side in range(MAX_TILE, 8, -1):
        if batch * channels * (side + rf - 1) ** 3 * bytes_per_value <= budget:
            return side
    return 9


def pad_region(image: np.ndarray, lo: Size3, hi: Size3, rf: Size3) -> np.ndarray:
    """The input window for outputs ``[lo, hi)``: reflect-padded only where it leaves the volume.

    Reflecting a crop that touches the volume edge equals cropping the
    reflected volume, so the whole volume is never padded.
    """
    before = [(r - 1) // 2 for r in rf]
    after = [r - 1 - b for r, b in zip(rf, before, strict=True)]
    shape = image.shape[1:]
    src_lo = [max(low - b, 0) for low, b in zip(lo, before, strict=True)]
    src_hi = [min(high + a, s) for high, a, s in zip(hi, after, shape, strict=True)]
    crop = image[:, src_lo[0] : src_hi[0], src_lo[1] : src_hi[1], src_lo[2] : src_hi[2]]
    pads = [(0, 0)] + [
        (s_lo - (low - b), (high + a) - s_hi)
        for low, high, b, a, s_lo, s_hi in zip(lo, hi, before, after, src_lo, src_hi, strict=True)
    ]
    if any(p != (0, 0) for p in pads):
        crop = np.pad(crop, pads, mode="reflect")
    return np.ascontiguousarray(crop, dtype=np.float32)


@dataclass(frozen=True)
class Tile:
    """One output window: ``origin`` and ``size`` in voxels of the volume."""

    origin: Size3
    size: Size3

    @property
    def stop(self) -> Size3:
        return triple(o + s for o, s in zip(self.origin, self.size, strict=True))

    @property
    def window(self) -> tuple[slice, slice, slice]:
        (x0, y0, z0), (x1, y1, z1) = self.origin, self.stop
        return slice(x0, x1), slice(y0, y1), slice(z0, z1)


def tile_plan(
    model: Network,
    roi: np.ndarray | None,
    shape: Size3,
    precision: str = "float32",
    tile: int | None = None,
    batch_size: int = 1,
) -> list[Tile]:
    """The output tiles that cover the ROI (the whole volume without one), none without ROI voxels.

    With an ROI, the plan that costs least among the six axis orders of
    :func:`shaped_tiles` (cost: each tile's input volume, halo included).
    """
    box = roi_box(roi, shape)
    if box is None:
        return []
    side = tile or auto_tile(
        model, batch_size, bytes_per_value=2 if precision in ("bf16", "fp16") else 4
    )
    if roi is None:
        return shaped_tiles(np.ones(shape, bool), box, side, (0, 1, 2))
    halo = model.receptive_field
    orders = itertools.permutations(range(3), 3)
    plans = [shaped_tiles(roi, box, side, order) for order in orders]
    return min(plans, key=lambda plan: sum(_input_voxels(t, halo) for t in plan))


def shaped_tiles(
    roi: np.ndarray, box: tuple[Size3, Size3], side: int, order: tuple[int, int, int]
) -> list[Tile]:
    """Tiles of at most ``side`` per axis: slabs along ``order[0]``, then rows, then tiles.

    Each slab spans the ROI's extent within the box on the next axis, each row
    the ROI's extent within its slab on the last; within that extent tiles are
    near-equal (:func:`split_axis`). Tiles without ROI voxels are left out.

    >>> roi = np.zeros((8, 8, 8), bool); roi[:4, :2, :] = True; roi[4:, :, :3] = True
    >>> [(t.origin, t.size) for t in shaped_tiles(roi, ((0, 0, 0), (8, 8, 8)), 4, (0, 1, 2))]
    [((0, 0, 0), (4, 2, 4)), ((0, 0, 4), (4, 2, 4)), ((4, 0, 0), (4, 4, 3)), ((4, 4, 0), (4, 4, 3))]
    """
    first, second, third = order
    lo, hi = box
    tiles = []
    starts, width = split_axis(lo[first], hi[first], side)
    for start in starts:
        slab = _extent(roi, {first: (start, start + width)}, second, (lo, hi))
        if slab is None:
            continue
        rows, height = split_axis(*slab, side)
        for row in rows:
            fixed = {first: (start, start + width), second: (row, row + height)}
            run = _extent(roi, fixed, third, (lo, hi))
            if run is None:
                continue
            columns, depth = split_axis(*run, side)
            for column in columns:
                origin, size = [0, 0, 0], [0, 0, 0]
                for axis, (a, n) in zip(
                    order, ((start, width), (row, height), (column, depth)), strict=True
                ):
                    origin[axis], size[axis] = a, n
                candidate = Tile(triple(origin), triple(size))
                if roi[candidate.window].any():
                    tiles.append(candidate)
    return tiles


def _extent(
    roi: np.ndarray, fixed: dict[int, tuple[int, int]], axis: int, box: tuple[Size3, Size3]
) -> tuple[int, int] | None:
    """``[first, last + 1)`` of the ROI along ``axis`` inside the box restricted to ``fixed``."""
    window = [slice(box[0][a], box[1][a]) for a in range(3)]
    for a, (start, stop) in fixed.items():
        window[a] = slice(start, stop)
    part = roi[tuple(window)]
    others = tuple(a for a in range(3) if a != axis)
    present = np.flatnonzero(part.any(axis=others))
    if present.size == 0:
        return None
    offset = window[axis].start
    return offset + int(present[0]), offset + int(present[-1]) + 1


def _input_voxels(tile: Tile, rf: Size3) -> int:
    return math.prod(s + r - 1 for s, r in zip(tile.size, rf, strict=True))


def segment_volume(
    model: Network,
    image: np.ndarray,
    roi: np.ndarray | None = None,
    *,
    device: torch.device | str = "cpu",
    precision: str = "float32",
    tile: int | None = None,
    batch_size: int = 1,
    probabilities: bool = False,
) -> Segmentation:
    """Segment a normalised ``(C, X, Y, Z)`` image.

    Voxels outside ``roi`` are background (probability 1 for class 0).

    Args:
        tile: output tile side (``None``: the largest that fits the memory budget).
        precision: ``float32``, ``bf16`` or ``fp16`` autocast.
    """
    device = torch.device(device)
    shape = triple(image.shape[1:])
    num_classes = model.config.num_classes
    rf = model.receptive_field
    labels = np.zeros(shape, dtype=np.uint8 if num_classes <= 256 else np.int32)
    box = roi_box(roi, shape) or ((0, 0, 0), (0, 0, 0))
    probs = None
    if probabilities:
        probs = np.zeros((num_classes, *(b - a for a, b in zip(*box, strict=True))), np.float32)
        probs[0] = 1.0
    tiles = tile_plan(model, roi, shape, precision, tile, batch_size)
    if not tiles:
        return Segmentation(labels, probs, box)
    # Tiles of one size batch together, the largest first: each later tile's tensors then fit
    # in blocks the earlier ones freed, so a heap that keeps freed memory does not grow.
    groups = [
        list(g)
        for _, g in itertools.groupby(
            sorted(tiles, key=lambda t: (-math.prod(t.size), t.size)), key=lambda t: t.size
        )
    ]
    batches = [g[i : i + batch_size] for g in groups for i in range(0, len(g), batch_size)]
    was_training = model.training
    model.eval()
    fmt = memory_format(device)
    dtype = next(model.parameters()).dtype  # a network already cast to bf16/fp16 takes that input
    try:
        with torch.inference_mode(), autocast(device, precision):
            for chunk in batches:
                windows = np.stack([pad_region(image, t.origin, t.stop, rf) for t in chunk])
                inputs = torch.from_numpy(windows).to(device, dtype).contiguous(memory_format=fmt)
                logits = _logits(model, inputs, chunk, roi, device)
                _store(logits, chunk, labels, probs, roi, box[0])
    finally:
        model.train(was_training)
    return Segmentation(labels, probs, box)


def _logits(
    model: Network,
    inputs: torch.Tensor,
    tiles: list[Tile],
    roi: np.ndarray | None,
    device: torch.device,
) -> torch.Tensor:
    """The tiles' logits; a folded network computes its 1x1x1 layers on ROI voxels only.

    Only ROI voxels are stored (:func:`_store`), and a brain fills about half
    of the tiles that cover it: the rest need not pass the widest layers.
    """
    if roi is None or not isinstance(model, FusedLiviaNet):
        return model(inputs).float()
    keep = torch.from_numpy(np.stack([roi[t.window] for t in tiles])).to(device)
    return model(inputs, keep).float()


def _store(
    logits: torch.Tensor,
    tiles: list[Tile],
    labels: np.ndarray,
    probs: np.ndarray | None,
    roi: np.ndarray | None,
    box_start: Size3,
) -> None:
    tile_labels = logits.argmax(dim=1).cpu().numpy()
    tile_probs = torch.softmax(logits, dim=1).cpu().numpy() if probs is not None else None
    for n, tile in enumerate(tiles):
        window = tile.window
        inside = roi[window] if roi is not None else None
        if inside is None:
            labels[window] = tile_labels[n]
        else:
            labels[window] = np.where(inside, tile_labels[n], labels[window])
        if probs is not None and tile_probs is not None:
            local = (slice(None),) + tuple(
                slice(o - b, o - b + s)
                for o, b, s in zip(tile.origin, box_start, tile.size, strict=True)
            )
            region = probs[local]
            if inside is None:
                region[...] = tile_probs[n]
            else:
                region[:, inside] = tile_probs[n][:, inside]
