"""Segmenting a loaded case: one implementation for validation and ``livianet segment``."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from livianet.data import Case
from livianet.inference.postprocess import remove_stray_components
from livianet.inference.tiling import Network, Segmentation, segment_volume
from livianet.networks import LiviaNet
from livianet.networks.folded import FusedLiviaNet
from livianet.runtime import autocast_dtype, memory_format

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class InferenceSettings:
    device: torch.device = torch.device("cpu")
    precision: str = "float32"
    tile: int | None = None
    batch_size: int = 1
    largest_component: bool = False


def prepare_for_inference(model: LiviaNet, settings: InferenceSettings) -> FusedLiviaNet:
    """The network's inference form (batch norm folded), on its device, in its fastest memory layout."""
    from livianet.networks import fuse

    if settings.device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # tiles share one shape: autotuning pays off
    inference = fuse(model).to(settings.device)
    dtype = autocast_dtype(settings.precision)
    if dtype is not None:
        inference = inference.to(dtype)  # weights already in bf16/fp16: no casts per tile
    layout = memory_format(settings.device)
    # torch's stubs lack the memory_format keyword that Module.to documents and takes
    return inference.to(memory_format=layout).eval()  # type: ignore[call-overload]


def predict_case(
    model: Network, case: Case, settings: InferenceSettings, probabilities: bool = False
) -> Segmentation:
    """The case segmented as its settings say: tiles, precision, stray pieces removed or kept."""
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
        cleaned = remove_stray_components(
            result.labels, model.config.num_classes, result.probabilities, result.box
        )
        result = Segmentation(cleaned, result.probabilities, result.box)
    return result
