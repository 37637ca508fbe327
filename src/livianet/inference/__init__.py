"""Segmentation: exact tiling, the predictor, files in and out, post-processing."""

from livianet.inference.files import (
    SegmentOptions,
    SegmentReport,
    jobs_from_config,
    jobs_from_files,
    segment_files,
)
from livianet.inference.postprocess import keep_largest_component
from livianet.inference.predictor import InferenceSettings, predict_case, prepare_for_inference
from livianet.inference.tiling import Segmentation, segment_volume, tile_plan

__all__ = [
    "InferenceSettings",
    "SegmentOptions",
    "SegmentReport",
    "Segmentation",
    "jobs_from_config",
    "jobs_from_files",
    "keep_largest_component",
    "predict_case",
    "prepare_for_inference",
    "segment_files",
    "segment_volume",
    "tile_plan",
]
