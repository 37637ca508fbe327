"""The cases a run trains and validates on: memory-mapped from the cache, or held in memory.

With the cache (the default), every case is an entry of :mod:`livianet.cache`; the
batch stream cuts patches from its memory maps, validation segments its box, and
what the checkpoint records of the data comes from the entries' metadata. So the
run's memory does not grow with the number of cases. ``cache = 0`` keeps the path
that holds every case in memory (:mod:`livianet.training.training_data`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from livianet.cache import CachedEntry, CaseInputs, cache_folder, plan_cache, prepare_cache
from livianet.cache.geometry import voxel_free_reference
from livianet.cache.window import NO_PADS, patch_pads
from livianet.config import TrainingConfig
from livianet.data import Case, CaseFiles
from livianet.data.geometry import ModelGrid, plan_grid
from livianet.errors import TrainingError
from livianet.runtime import DistInfo
from livianet.training.batches import check_foreground, check_patch_fits, prepare_cases
from livianet.training.patch_source import PatchSource, PreparedCase
from livianet.training.sampling import CaseIndex
from livianet.training.training_data import CaseSummary, load_training_cases
from livianet.training.validation import ValidationCase

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class InputWatch:
    """The cached cases' input files, checked between epochs: a changed scan stops the run."""

    inputs: tuple[CaseInputs, ...] = ()

    def change(self) -> str | None:
        for case in self.inputs:
            what = case.change()
            if what is not None:
                return (
                    f"{what} while training ran (the cache holds its earlier content); "
                    "run again to preprocess it anew"
                )
        return None


@dataclass(frozen=True)
class TrainingData:
    """What a run samples from, validates on, and records about its data."""

    sources: list[PatchSource]
    validation: list[ValidationCase]
    grid: ModelGrid
    summaries: list[CaseSummary]
    watch: InputWatch = field(default_factory=InputWatch)
    cache: Path | None = None  # None: held in memory


def training_data(
    config: TrainingConfig, info: DistInfo, cache: Path | None = None, jobs: int = 1
) -> TrainingData:
    """The run's cases: from the cache unless ``cache = 0`` (then in memory, as before)."""
    if not config.cache_settings.enabled and cache is None:
        return in_memory(config, info.is_main)
    root = cache_folder(config, cache)
    plan = plan_cache(config, root)
    contents = prepare_cache(plan, jobs=jobs, open_validation=info.is_main)
    sources: list[PatchSource] = [cached_source(entry, config) for entry in contents.training]
    check_foreground(sources)
    held_out = [validation_case(config, plan.grid, entry) for entry in contents.validation]
    return TrainingData(
        sources,
        held_out,
        plan.grid,
        [CaseSummary.of_entry(entry.meta) for entry in contents.training],
        InputWatch(tuple(entry.meta.inputs for entry in contents.training + contents.validation)),
        root,
    )


def in_memory(config: TrainingConfig, with_validation: bool) -> TrainingData:
    """Every case loaded onto the model grid and kept in memory."""
    cases, validation, grid = load_training_cases(config, with_validation=with_validation)
    summaries = [CaseSummary.of_case(case, config.model.num_classes) for case in cases]
    sources: list[PatchSource] = list(prepare_cases(cases, config.train, config.model))
    return TrainingData(sources, [ValidationCase(case) for case in validation], grid, summaries)


def cached_source(entry: CachedEntry, config: TrainingConfig) -> PreparedCase:
    """A training entry as a patch source: its box, memory-mapped, with its centres."""
    meta = entry.meta
    check_patch_fits(meta.name, meta.model_shape, config.train)
    if meta.pads != _expected_pads(config):
        raise TrainingError(f"{entry.folder}: padded by {meta.pads}, not as this run pads")
    index = CaseIndex(meta.model_shape, entry.positions, meta.position_bounds)
    return PreparedCase(
        meta.name, entry.image, entry.label, index, config.train.apply_padding, meta.box[0]
    )


def _expected_pads(config: TrainingConfig) -> tuple[tuple[int, int], ...]:
    return patch_pads(config.train.patch_size) if config.train.apply_padding else NO_PADS


def validation_case(config: TrainingConfig, grid: ModelGrid, entry: CachedEntry) -> ValidationCase:
    """A validation entry as the case ``validate`` segments: its box, on a voxel-free reference."""
    meta = entry.meta
    images = tuple(Path(f.path) for f in meta.inputs.images)
    roi = meta.inputs.roi
    files = CaseFiles(-1, images, Path(meta.inputs.label.path), Path(roi.path) if roi else None)
    reference = voxel_free_reference(images[0], np.array(meta.input_affine), meta.input_shape)
    known = not reference.is_mat or config.data.orientation is not None
    plan = plan_grid(reference.affine, reference.spatial_shape, grid)
    case = Case(files, entry.image, entry.label, entry.roi, reference, plan, known)
    return ValidationCase(case, meta.box[0], meta.model_shape)
