"""Patch sampling for training: where patch centres go, and cutting the patches.

Pure numpy with an explicit ``np.random.Generator``: the same generator state
gives the same patches, which is what makes resumed and multi-process runs
reproduce a single uninterrupted run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from livianet.cache import class_positions


@dataclass(frozen=True)
class CaseIndex:
    """Flat indices (into the unpadded volume) of each class's candidate centres.

    ``by_class[0]`` holds the background inside the ROI; ``by_class[k]`` the
    voxels labelled ``k`` (anywhere, as the original's foreground ``GT > 0``).
    They are slices of one array sorted by class (:func:`livianet.cache.class_positions`),
    so every class and the foreground are views, also of a memory-mapped array.
    """

    shape: tuple[int, int, int]
    positions: np.ndarray
    bounds: tuple[int, ...]  # class k is positions[bounds[k]:bounds[k + 1]]

    @property
    def by_class(self) -> tuple[np.ndarray, ...]:
        edges = self.bounds
        return tuple(self.positions[edges[k] : edges[k + 1]] for k in range(len(edges) - 1))

    @property
    def foreground(self) -> np.ndarray:
        return self.positions[self.bounds[1] : self.bounds[-1]]

    @property
    def candidates(self) -> np.ndarray:
        """Every class's centres, in class order."""
        return self.positions[: self.bounds[-1]]


def index_case(label: np.ndarray, roi: np.ndarray | None, num_classes: int) -> CaseIndex:
    """Candidate centres of one case, computed once and reused every sub-epoch."""
    positions, bounds = class_positions(label, roi, num_classes)
    return CaseIndex(shape=label.shape, positions=positions, bounds=bounds)


def _spread(total: int, num_cases: int, rng: np.random.Generator) -> np.ndarray:
    """Split ``total`` evenly over cases, the remainder to random cases (the original)."""
    counts = np.full(num_cases, total // num_cases, dtype=np.int64)
    extra: np.ndarray | list[int] = (
        rng.choice(num_cases, size=total % num_cases, replace=False) if total % num_cases else []
    )
    counts[extra] += 1
    return counts


def sample_foreground_background(
    indexes: list[CaseIndex], num_samples: int, foreground_fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The original's scheme: a share of foreground centres, the rest background in the ROI.

    Each share is spread evenly over the cases; centres are drawn with
    replacement, then shuffled.

    Returns:
        ``(case, flat_index)`` arrays of length ``num_samples``.
    """
    num_fg = int(round(num_samples * foreground_fraction))
    cases, flats = [], []
    for count, pool_of in (
        (num_fg, lambda c: c.foreground),
        (num_samples - num_fg, lambda c: c.by_class[0]),
    ):
        pools = [pool_of(c) for c in indexes]
        usable = [i for i, p in enumerate(pools) if p.size]
        if count and not usable:
            continue
        per_case: np.ndarray | list[int] = _spread(count, len(usable), rng) if usable else []
        for case, n in zip(usable, per_case, strict=True):
            picks = rng.integers(0, pools[case].size, size=n)
            cases.append(np.full(n, case, dtype=np.int64))
            flats.append(pools[case][picks])
    case_ids, flat_ids = _shuffle(cases, flats, rng)
    return _top_up(case_ids, flat_ids, num_samples, indexes, rng)


def sample_class_balanced(
    indexes: list[CaseIndex], num_samples: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Each class (background in the ROI included) equally likely as a centre.

    A class is drawn uniformly among the classes present somewhere, then a case
    holding it, then a voxel of it.
    """
    num_classes = len(indexes[0].by_class)
    holders = [[i for i, c in enumerate(indexes) if c.by_class[k].size] for k in range(num_classes)]
    present = [k for k in range(num_classes) if holders[k]]
    classes = rng.choice(present, size=num_samples)
    case_ids = np.empty(num_samples, dtype=np.int64)
    flat_ids = np.empty(num_samples, dtype=np.int64)
    for k in present:
        slots = np.flatnonzero(classes == k)
        chosen_cases = rng.choice(holders[k], size=slots.size)
        for case in np.unique(chosen_cases):
            mine = slots[chosen_cases == case]
            pool = indexes[case].by_class[k]
            case_ids[mine] = case
            flat_ids[mine] = pool[rng.integers(0, pool.size, size=mine.size)]
    return case_ids, flat_ids


def _shuffle(
    cases: list[np.ndarray], flats: list[np.ndarray], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    if not cases:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    case_ids, flat_ids = np.concatenate(cases), np.concatenate(flats)
    order = rng.permutation(case_ids.size)
    return case_ids[order], flat_ids[order]


def _top_up(case_ids, flat_ids, num_samples, indexes, rng):
    """When one pool is empty everywhere (no background in any ROI), use the other."""
    missing = num_samples - case_ids.size
    if missing <= 0:
        return case_ids, flat_ids
    pools = [c.candidates for c in indexes]
    usable = [i for i, p in enumerate(pools) if p.size]
    extra_cases = rng.choice(usable, size=missing)
    extra_flat = np.array(
        [pools[c][rng.integers(0, pools[c].size)] for c in extra_cases], dtype=np.int64
    )
    return _shuffle([case_ids, extra_cases], [flat_ids, extra_flat], rng)


def extract_patches(
    volume: np.ndarray, corners: np.ndarray, size: tuple[int, int, int]
) -> np.ndarray:
    """Cut patches of ``size`` whose low corners (in ``volume``'s last 3 axes) are ``corners``.

    Args:
        volume: ``(C, X, Y, Z)`` or ``(X, Y, Z)``.
        corners: ``(N, 3)`` integer low corners.

    Returns:
        ``(N, C, *size)`` or ``(N, *size)``.
    """
    lead = volume.shape[:-3]
    out = np.empty((len(corners), *lead, *size), dtype=volume.dtype)
    sx, sy, sz = size
    for n, (x, y, z) in enumerate(corners):
        out[n] = volume[..., x : x + sx, y : y + sy, z : z + sz]
    return out


def centres_to_corners(
    flat_ids: np.ndarray,
    shape: tuple[int, int, int],
    patch_size: tuple[int, int, int],
    padded: bool,
) -> np.ndarray:
    """Low corners of patches centred on ``flat_ids``.

    With ``padded`` volumes (padded by :func:`livianet.cache.window.patch_pads`), the corner of
    the patch around voxel ``v`` is ``v`` itself in padded coordinates; without
    padding, centres are clipped so that the patch stays inside the volume.
    """
    centres = np.stack(np.unravel_index(flat_ids, shape), axis=1)
    if padded:
        return centres
    half = np.array([s // 2 for s in patch_size])
    high = np.array(shape) - np.array(patch_size)
    return np.clip(centres - half, 0, np.maximum(high, 0))
