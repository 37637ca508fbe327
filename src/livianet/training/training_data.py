"""Training and validation cases in one space: the model's grid, and what the checkpoint says of it.

Every case is brought to the RAS orientation (a lossless reorientation) when its
orientation is known, and resampled to the median voxel size of the training
cases when its own differs; so cases stored in different orientations and voxel
sizes train one network. ``.mat`` arrays carry no affine: the ``orientation``
key of ``[Training Images]`` declares their axis codes, and without it they are
used as stored (the model's orientation is then unknown).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from livianet.cache import (
    EntryMeta,
    check_label_pairs,
    common_orientation,
    training_grid,
)
from livianet.config import TrainingConfig
from livianet.data import (
    Case,
    check_channels,
    label_counts,
    list_cases,
    normalised,
    read_case,
    to_model_grid,
)
from livianet.data.geometry import ModelGrid
from livianet.data.relabel import MAPPING_FILE, read_label_mapping
from livianet.data.spatial import voxel_sizes
from livianet.evaluation.placement import StructurePlace, case_places, place_ranges
from livianet.io import left_right_pairs
from livianet.networks import ModelMeta

logger = logging.getLogger(__name__)


def load_training_cases(
    config: TrainingConfig, with_validation: bool = True
) -> tuple[list[Case], list[Case], ModelGrid]:
    """Training cases and validation cases on the model's grid, normalised, and that grid."""
    raw = _read(config, config.train_indexes, "training")
    held_out = _read(config, config.validation_indexes, "validation") if with_validation else []
    grid = training_grid(raw, common_orientation(raw + held_out))
    check_label_pairs(config, grid)
    normalization = config.train.normalization
    cases = [normalised(to_model_grid(case, grid), normalization) for case in raw]
    validation = [normalised(to_model_grid(case, grid), normalization) for case in held_out]
    del raw, held_out
    resampled = [case.name for case in cases + validation if case.plan and case.plan.resampled]
    logger.info(
        "model grid: %s, %s mm%s",
        grid.orientation or "orientation unknown (arrays as stored)",
        "x".join(f"{s:g}" for s in grid.spacing or ()),
        f"; resampled to it: {', '.join(resampled)}" if resampled else "",
    )
    return cases, validation, grid


def _read(config: TrainingConfig, indexes: tuple[int, ...], role: str) -> list[Case]:
    if not indexes:
        return []
    cases = [
        read_case(files, config.model.num_classes, True, config.data.orientation)
        for files in list_cases(config.data, indexes, role)
    ]
    for case in cases:
        check_channels(case, config.model.in_channels)
    return cases


@dataclass(frozen=True)
class CaseSummary:
    """What the checkpoint's facts need from one training case, without its arrays."""

    has_roi: bool
    voxel_mm3: float  # of the model grid
    label_counts: tuple[int, ...]  # voxels of each label 0..K-1 on the model grid
    # each label's place in the frame of the ROI (else of the nonzero voxels); None: unknown
    places: dict[int, StructurePlace] | None = None

    @classmethod
    def of_case(cls, case: Case, num_classes: int) -> CaseSummary:
        assert case.label is not None
        affine = case.plan.model_affine if case.plan is not None else case.reference.affine
        counts = label_counts(case.label, num_classes)
        places = (
            case_places(case.label, case.roi, case.image, affine, num_classes)
            if case.orientation_known
            else None
        )
        return cls(case.roi is not None, _voxel_mm3(affine), tuple(int(c) for c in counts), places)

    @classmethod
    def of_entry(cls, meta: EntryMeta) -> CaseSummary:
        places = None
        if meta.places is not None:
            read = {int(k): StructurePlace.from_dict(v) for k, v in meta.places.items()}
            places = {k: v for k, v in read.items() if v is not None}
        affine = np.array(meta.model_affine)
        return cls(meta.has_roi, _voxel_mm3(affine), meta.class_counts, places)


def _voxel_mm3(affine: np.ndarray) -> float:
    return float(np.prod(voxel_sizes(affine)))


def model_meta(
    config: TrainingConfig,
    grid: ModelGrid,
    cases: Sequence[Case | CaseSummary],
    label_names: dict[int, str] | None,
) -> ModelMeta:
    """What every checkpoint of this run records about the training data."""
    train = config.train
    names = dict(label_names or {})
    summaries = [_summary(case, config.model.num_classes) for case in cases]
    return ModelMeta(
        normalization=train.normalization,
        normalization_region=_normalization_region(train.normalization, summaries),
        patch_size=train.patch_size,
        segment_patch_size=train.segment_patch_size,
        apply_padding=train.apply_padding,
        largest_component=train.largest_component,
        label_names=names,
        orientation=grid.orientation,
        spacing=grid.spacing,
        stored_orientation=config.data.orientation,
        label_pairs=train.augment.flip_label_pairs or _map_pairs(config) or left_right_pairs(names),
        training_volumes=training_volumes(summaries, config.model.num_classes),
        original_labels=original_labels(config),
        training_places=training_places(summaries),
    )


def _summary(case: Case | CaseSummary, num_classes: int) -> CaseSummary:
    return case if isinstance(case, CaseSummary) else CaseSummary.of_case(case, num_classes)


def _map_pairs(config: TrainingConfig) -> tuple[tuple[int, int], ...]:
    return config.synthesis.label_pairs if config.synthesis is not None else ()


def original_labels(config: TrainingConfig) -> dict[int, int]:
    """The labels' original codes: the ``labelMapping`` file, else the label folder's own.

    Without either, a run with ``[Label Maps]`` records each class's first code there.
    """
    path = config.data.label_mapping
    if path is None and config.data.label_folder is not None:
        candidate = config.data.label_folder / MAPPING_FILE
        path = candidate if candidate.is_file() else None
    if path is None and config.synthesis is not None:
        return {k: codes[0] for k, codes in enumerate(config.synthesis.class_codes, start=1)}
    if path is None:
        return {}
    mapping = read_label_mapping(path, config.model.num_classes)
    logger.info("original label codes from %s: %s", path, mapping)
    return mapping


def training_places(cases: Sequence[CaseSummary]) -> dict[int, dict[str, Any]]:
    """Per label, the range of its place over the cases; none unless every case has places.

    Cases read from the cache carry none, and one case's range alone would flag every scan.
    """
    if len(cases) < 2 or any(case.places is None for case in cases):
        return {}
    ranges = place_ranges(case.places for case in cases if case.places is not None)
    return {label: known.as_dict() for label, known in ranges.items()}


def _normalization_region(normalization: str, cases: Sequence[CaseSummary]) -> str | None:
    """Where z-score statistics were taken: inside the ROI masks, or over nonzero voxels."""
    if normalization == "none":
        return None
    return "roi" if all(case.has_roi for case in cases) else "nonzero"


def training_volumes(
    cases: Sequence[Case | CaseSummary], num_classes: int
) -> dict[int, tuple[float, float, float]]:
    """Per label ``1..K-1``: ``(min, mean, max)`` of its volume in mm3 over the cases' label maps.

    The voxel volume is the model grid's (the cases are on it).
    """
    volumes: dict[int, list[float]] = {k: [] for k in range(1, num_classes)}
    for case in cases:
        if isinstance(case, Case) and case.label is None:
            continue
        summary = _summary(case, num_classes)
        for k in volumes:
            count = summary.label_counts[k] if k < len(summary.label_counts) else 0
            volumes[k].append(float(count) * summary.voxel_mm3)
    return {k: (min(v), float(np.mean(v)), max(v)) for k, v in volumes.items() if v and max(v) > 0}
