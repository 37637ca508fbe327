"""One network of a segmenter on one scan: its input on the model grid, its probabilities."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from livianet.data import normalise_intensities
from livianet.data.geometry import Box, GridPlan
from livianet.data.orientation import left_right_axis
from livianet.data.spatial import Size3
from livianet.inference.averaging import mirrored_back
from livianet.inference.predictor import InferenceSettings
from livianet.inference.tiling import Segmentation, segment_volume, triple
from livianet.networks import Checkpoint, ModelMeta


@dataclass(frozen=True)
class Member:
    """One network of an ensemble, ready to run."""

    checkpoint: Checkpoint
    network: Any
    meta: ModelMeta
    num_classes: int
    in_channels: int


def model_input(
    member: Member, plan: GridPlan, data: np.ndarray, roi: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray | None, Size3]:
    """The normalised image and ROI on the model grid, and where they start in it.

    A resampled scan with an ROI is resampled only over the ROI's box and
    the network's context around it: the tiles read nothing else, and the
    z-score statistics come from the ROI alone, so the result is the same.
    """
    region = None
    if roi is not None:
        context = tuple((r - 1) // 2 + 1 for r in member.network.receptive_field)
        region = plan.mask_region(roi, triple(context))
    roi_m = plan.to_model(roi, order=0, region=region) if roi is not None else None
    image = normalise_intensities(
        plan.to_model(data, order=1, region=region), roi_m, member.meta.normalization
    )
    return image, roi_m, region[0] if region is not None else (0, 0, 0)


def run_member(
    member: Member,
    settings: InferenceSettings,
    image: np.ndarray,
    roi: np.ndarray | None,
    probabilities: bool,
) -> Segmentation:
    return segment_volume(
        member.network, image, roi, device=settings.device, precision=settings.precision,
        tile=settings.tile, batch_size=settings.batch_size, probabilities=probabilities,
    )  # fmt: skip


def member_probabilities(
    member: Member,
    settings: InferenceSettings,
    image: np.ndarray,
    roi: np.ndarray | None,
    mirrored: bool,
) -> tuple[np.ndarray, Box]:
    """Probabilities over a model-grid box, of the scan or of its left-right mirror."""
    if not mirrored:
        result = run_member(member, settings, image, roi, probabilities=True)
        assert result.probabilities is not None  # asked for
        return result.probabilities, result.box
    axis = left_right_axis(member.meta.orientation or "RAS")
    flipped = np.ascontiguousarray(np.flip(image, axis=axis + 1))
    flipped_roi = np.ascontiguousarray(np.flip(roi, axis=axis)) if roi is not None else None
    result = run_member(member, settings, flipped, flipped_roi, probabilities=True)
    assert result.probabilities is not None  # asked for
    return mirrored_back(
        result.probabilities,
        result.box,
        axis,
        image.shape[axis + 1],
        member.meta.label_pairs,
    )
