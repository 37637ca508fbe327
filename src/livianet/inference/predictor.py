"""Segmenting a loaded case: one implementation for validation and ``livianet segment``."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from livianet.data import Case
from livianet.inference.postprocess import keep_largest_component
from livianet.inference.tiling import Segmentation, segment_volume
from livianet.networks import LiviaNet
from livianet.runtime import autocast_dtype, memory_format

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class InferenceSettings:
    device: torch.device = torch.device("cpu")
    precision: str = "float32"
    tile: int | None = None
    batch_size: int = 1
    largest_component: bool = False


def prepare_for_inference(model: LiviaNet, settings: InferenceSettings) -> torch.nn.Module:
    """The network's inference form (batch norm folded), on its device, in its fastest memory layout."""
    from livianet.networks import fuse

    if settings.device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # tiles share one shape: autotuning pays off
    inference = fuse(model).to(settings.device)
    dtype = autocast_dtype(settings.precision)
    if dtype is not None:
        inference = inference.to(dtype)  # weights already in bf16/fp16: no casts per tile
    return inference.to(memory_format=memory_format(settings.device)).eval()


def predict_case(
    model: torch.nn.Module, case: Case, settings: InferenceSettings, probabilities: bool = False
) -> Segmentation:
    result = segment_volume(
        model,
        case.image,
        case.roi,
        device=settings.device,
        precision=settings.precision,
        tile=settings.tile,
        batch_size=settings.batch_size,
        probabilities=probabilities,
    )
    if settings.largest_component:
        cleaned = keep_largest_component(result.labels, model.config.num_classes)
        if result.probabilities is not None:
            (x0, y0, z0), (x1, y1, z1) = result.box
            removed = (cleaned != result.labels)[x0:x1, y0:y1, z0:z1]
            if removed.any():
                result.probabilities[:, removed] = 0.0
                result.probabilities[0, removed] = 1.0
        result = Segmentation(cleaned, result.probabilities, result.box)
    return result
