"""A run's data when the INI has ``[Label Maps]``: real cases (if any) and the label maps beside them.

The real cases come as without the maps (:func:`livianet.training.cached_data.training_data`);
the maps become a :class:`~livianet.synthesis.LabelMapSource` on the same grid, with T1-like
priors estimated from the real training scans when ``t1Share`` asks for them. A run on maps
alone works in RAS at the maps' median voxel size and validates on fixed-seed renders of
the held-out maps; real validation scans, when given, are validated on as well.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from livianet.config import TrainingConfig
from livianet.data.geometry import ModelGrid
from livianet.data.orientation import CANONICAL
from livianet.errors import DataError
from livianet.runtime import DistInfo
from livianet.synthesis import LabelMap, LabelMapSource, training_priors
from livianet.training.cached_data import TrainingData, training_data
from livianet.training.training_data import CaseSummary
from livianet.training.validation import ValidationCase

logger = logging.getLogger(__name__)


def run_data(
    config: TrainingConfig, info: DistInfo, cache: Path | None = None, jobs: int = 1
) -> tuple[TrainingData, LabelMapSource | None]:
    """What the run samples from and validates on, and its label maps (None without them)."""
    if config.synthesis is None:
        return training_data(config, info, cache, jobs), None
    real = training_data(config, info, cache, jobs) if config.data.image_folders else None
    spacing = real.grid.spacing if real is not None else None
    source = LabelMapSource.from_config(config, spacing=spacing, priors=training_priors(config))
    grid = real.grid if real is not None else ModelGrid(_orientation(source), source.plan.spacing)
    _check_orientation(source.maps + source.held_out, grid)
    renders = source.validation_cases(config.train.seed) if info.is_main else []
    maps = [map_summary(item) for item in source.maps]
    _log_mix(source, real)
    if real is None:
        return TrainingData([], [ValidationCase(case) for case in renders], grid, maps), source
    data = TrainingData(
        real.sources,
        real.validation + [ValidationCase(case) for case in renders],
        grid,
        real.summaries + maps,
        real.watch,
        real.cache,
    )
    return data, source


def _orientation(source: LabelMapSource) -> str | None:
    """RAS when the maps' orientation is known (NIfTI, MGZ), None for ``.mat`` arrays."""
    return CANONICAL if all(item.orientation_known for item in source.maps) else None


def _check_orientation(maps: list[LabelMap], grid: ModelGrid) -> None:
    """Every map must be in the model's space: RAS beside RAS scans, as stored beside arrays."""
    for item in maps:
        if item.orientation_known != (grid.orientation is not None):
            have = "RAS" if item.orientation_known else "of unknown orientation (.mat)"
            want = grid.orientation or "of unknown orientation (arrays as stored)"
            raise DataError(
                f"{item.path}: this label map is {have} but the model's grid is {want}; "
                "give maps and scans of known orientation (NIfTI, MGZ), or declare the "
                "scans' `orientation` in [Training Images]"
            )


def map_summary(item: LabelMap) -> CaseSummary:
    """What the checkpoint records of a training map: its class volumes (ROI voxels as background)."""
    classes = np.diff(item.class_starts)
    background = int(item.roi_counts.sum()) - int(classes.sum())
    counts = (max(background, 0), *(int(c) for c in classes))
    return CaseSummary(True, float(np.prod(item.spacing)), counts)


def _log_mix(source: LabelMapSource, real: TrainingData | None) -> None:
    synthesis = source.config
    logger.info(
        "label maps: %d for training, %d held out; %.0f%% of each sub-epoch's patches drawn "
        "from them (%.0f%% of those T1-like), the rest from %d real cases",
        len(source.maps),
        len(source.held_out),
        100 * synthesis.share,
        100 * synthesis.t1_share,
        len(real.sources) if real is not None else 0,
    )
    if real is not None and synthesis.share >= 1:
        logger.info("syntheticShare = 1: the real training scans set the grid and draw no patch")
