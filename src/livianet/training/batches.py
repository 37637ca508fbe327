"""The stream of training batches: cases prepared once, patches cut per sub-epoch.

Volumes are prepared once, padded and kept (in memory, or memory-mapped from the
cache: :mod:`livianet.training.patch_source`); the original reloaded every volume
every sub-epoch. Each sub-epoch's patches come from a generator
seeded by ``(seed, epoch, sub_epoch)``, so any sub-epoch can be reproduced on its
own: that is what makes resume exact and lets ``N`` processes share one stream
(process ``r`` takes slice ``r`` of every global batch). With ``[Label Maps]``, a
share of each sub-epoch's rows is drawn from the maps instead (:func:`synthetic_rows`,
from a stream of its own, so a share of 0 leaves the real stream as it was).
"""

from __future__ import annotations

import concurrent.futures
import logging
from collections.abc import Generator, Sequence
from typing import Protocol

import numpy as np

from livianet.cache.window import patch_pads
from livianet.config import ModelConfig, TrainConfig
from livianet.data import Case
from livianet.errors import TrainingError
from livianet.synthesis.source import SYNTHESIS_STREAM, row_seeds
from livianet.training.augment import augment_batch, spatial_matrix
from livianet.training.patch_source import PatchSource, PreparedCase
from livianet.training.sampling import (
    centres_to_corners,
    index_case,
    sample_class_balanced,
    sample_foreground_background,
)

logger = logging.getLogger(__name__)


class SyntheticPatches(Protocol):
    """Patches drawn on request (:class:`livianet.synthesis.LabelMapSource`), one per seed."""

    @property
    def share(self) -> float: ...

    def patches(self, seeds: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]: ...


def prepare_cases(cases: list[Case], train: TrainConfig, model: ModelConfig) -> list[PreparedCase]:
    """Pad each training case once so that a patch fits around every voxel."""
    prepared = []
    for case in cases:
        assert case.label is not None
        check_patch_fits(case.name, case.shape, train)
        index = index_case(case.label, case.roi, model.num_classes)
        image, label = case.image, case.label
        if train.apply_padding:
            pads = patch_pads(train.patch_size)
            image = np.pad(image, ((0, 0), *pads), mode="reflect")
            label = np.pad(label, pads, mode="reflect")
        prepared.append(
            PreparedCase(
                case.name,
                np.ascontiguousarray(image),
                np.ascontiguousarray(label),
                index,
                train.apply_padding,
            )
        )
    check_foreground(prepared)
    return prepared


def check_patch_fits(name: str, shape: tuple[int, ...], train: TrainConfig) -> None:
    """Without padding, a patch must fit inside the case."""
    if not train.apply_padding and any(s < p for s, p in zip(shape, train.patch_size, strict=True)):
        raise TrainingError(
            f"case {name}: shape {tuple(shape)} is smaller than the patch {train.patch_size} and applyPadding = 0"
        )


def check_foreground(sources: Sequence[PatchSource]) -> None:
    if not any(p.index.foreground.size for p in sources):
        raise TrainingError(
            "the training label maps hold no foreground voxel (label > 0): nothing to learn"
        )


def subepoch_rng(seed: int, epoch: int, sub_epoch: int) -> np.random.Generator:
    return np.random.default_rng([seed, epoch, sub_epoch])


def torch_seed(seed: int, epoch: int, sub_epoch: int) -> int:
    """Seed for dropout in one sub-epoch, derived like the sampling stream."""
    return int(
        np.random.SeedSequence([seed, epoch, sub_epoch, 7]).generate_state(1, dtype=np.uint64)[0]
        >> 1
    )


def steps_per_subepoch(train: TrainConfig, world_size: int) -> int:
    return train.samples_per_subepoch // (train.batch_size * world_size)


def draw_centres(
    prepared: Sequence[PatchSource], train: TrainConfig, count: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    indexes = [p.index for p in prepared]
    if train.sampling == "class_balanced":
        return sample_class_balanced(indexes, count, rng)
    return sample_foreground_background(indexes, count, train.foreground_fraction, rng)


def make_batch(
    prepared: Sequence[PatchSource],
    case_ids: np.ndarray,
    flat_ids: np.ndarray,
    train: TrainConfig,
    model: ModelConfig,
    sample_seeds: list[list[int]] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Image patches ``(B, C, *patch)`` and target cubes ``(B, *out)`` for the given centres.

    ``sample_seeds`` seed each sample's augmentation (needed when it is on).
    """
    size = train.patch_size
    out = model.output_size(size)
    offset = [(r - 1) // 2 for r in model.receptive_field]
    channels = prepared[0].channels
    images = np.empty((len(case_ids), channels, *size), dtype=np.float32)
    targets = np.empty((len(case_ids), *out), dtype=np.int64)
    seeds = sample_seeds if train.augment.enabled else None
    augment = seeds is not None
    rngs = [np.random.default_rng(seed) for seed in seeds] if seeds is not None else []
    for case in np.unique(case_ids):
        rows = np.flatnonzero(case_ids == case)
        item = prepared[case]
        corners = centres_to_corners(flat_ids[rows], item.index.shape, size, item.padded)
        if augment and train.augment.spatial:
            # Rotated and scaled about the patch centre; the target cube through the same map.
            centre = (np.asarray(size) - 1) / 2
            for row, corner in zip(rows, corners, strict=True):
                matrix = spatial_matrix(rngs[row], train.augment)
                images[row] = item.warped_image(corner + centre, size, matrix)
                targets[row] = item.warped_label(corner + centre, out, matrix)
        else:
            images[rows] = item.image_patches(corners, size)
            targets[rows] = item.label_patches(corners + np.array(offset), out)
    if augment:
        images, targets = augment_batch(images, targets, train.augment, model.num_classes, rngs)
    return images, targets


def synthetic_rows(share: float, total: int, seed: int, epoch: int, sub_epoch: int) -> np.ndarray:
    """Which of a sub-epoch's ``total`` rows are drawn from label maps: ``round(share * total)``.

    Chosen by a stream of their own (``[seed, epoch, sub_epoch, SYNTHESIS_STREAM]``), so
    the real rows keep the centres and augmentation they would have without the maps.
    """
    marked = np.zeros(total, dtype=bool)
    if share >= 1:
        marked[:] = True
    elif share > 0:
        rng = np.random.default_rng([seed, epoch, sub_epoch, SYNTHESIS_STREAM])
        marked[rng.choice(total, int(round(share * total)), replace=False)] = True
    return marked


def _mixed_batch(
    rows: np.ndarray,
    synthetic_at: np.ndarray,
    real: tuple[np.ndarray, np.ndarray] | None,
    sources: tuple[Sequence[PatchSource], SyntheticPatches | None],
    train: TrainConfig,
    model: ModelConfig,
    epoch_sub: tuple[int, int],
) -> tuple[np.ndarray, np.ndarray]:
    """The batch of global ``rows``: real patches where ``synthetic_at`` is False, drawn ones elsewhere.

    Synthetic patches carry their own randomisation; ``augment`` is not applied to them.
    """
    prepared, synthetic = sources
    epoch, sub_epoch = epoch_sub

    def cut(drawn: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        assert real is not None
        seeds = [[train.seed, epoch, sub_epoch, 11, int(n)] for n in drawn]
        return make_batch(prepared, real[0][drawn], real[1][drawn], train, model, seeds)

    if not synthetic_at.any():
        return cut(rows)
    assert synthetic is not None
    images = np.empty((rows.size, model.in_channels, *train.patch_size), dtype=np.float32)
    targets = np.empty((rows.size, *model.output_size(train.patch_size)), dtype=np.int64)
    seeds = row_seeds(train.seed, epoch, sub_epoch, rows[synthetic_at])
    images[synthetic_at], targets[synthetic_at] = synthetic.patches(seeds)
    if not synthetic_at.all():
        images[~synthetic_at], targets[~synthetic_at] = cut(rows[~synthetic_at])
    return images, targets


def subepoch_batches(
    prepared: Sequence[PatchSource],
    train: TrainConfig,
    model: ModelConfig,
    epoch: int,
    sub_epoch: int,
    rank: int = 0,
    world_size: int = 1,
    prefetch: bool = True,
    synthetic: SyntheticPatches | None = None,
) -> Generator[tuple[np.ndarray, np.ndarray], None, None]:
    """Batches of one sub-epoch for process ``rank``; the next is cut while the current trains.

    ``synthetic``: label maps that a share of the rows is drawn from. Close the generator
    when leaving it early (``contextlib.closing``): that stops its prefetch thread then,
    rather than whenever the suspended generator is collected.
    """
    steps = steps_per_subepoch(train, world_size)
    global_batch = train.batch_size * world_size
    share = synthetic.share if synthetic is not None else 0.0
    synthetic_at = synthetic_rows(share, steps * global_batch, train.seed, epoch, sub_epoch)
    real = None
    if not synthetic_at.all():
        rng = subepoch_rng(train.seed, epoch, sub_epoch)
        real = draw_centres(prepared, train, steps * global_batch, rng)

    def build(step: int) -> tuple[np.ndarray, np.ndarray]:
        first = step * global_batch + rank * train.batch_size
        rows = np.arange(first, first + train.batch_size)
        return _mixed_batch(
            rows, synthetic_at[rows], real, (prepared, synthetic), train, model, (epoch, sub_epoch)
        )

    if not prefetch:
        for step in range(steps):
            yield build(step)
        return
    pool = concurrent.futures.ThreadPoolExecutor(
        max_workers=1, thread_name_prefix="livianet-batches"
    )
    try:
        pending = pool.submit(build, 0) if steps else None
        for step in range(steps):
            assert pending is not None
            batch = pending.result()
            pending = pool.submit(build, step + 1) if step + 1 < steps else None
            yield batch
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
