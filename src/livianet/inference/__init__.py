"""Segmentation: the Segmenter API, exact tiling, the predictor, batches of files, post-processing."""

from livianet.inference.batch import SegmentOptions, segment_files
from livianet.inference.jobs import Job, expand_inputs, jobs_from_config, jobs_from_files
from livianet.inference.postprocess import (
    keep_largest_component,
    remove_stray_components,
    structure_components,
)
from livianet.inference.predictor import InferenceSettings, predict_case, prepare_for_inference
from livianet.inference.result import SegmentReport
from livianet.inference.segmenter import Geometry, SegmentationResult, Segmenter, segment
from livianet.inference.tiling import Segmentation, segment_volume, tile_plan

__all__ = [
    "Geometry",
    "InferenceSettings",
    "Job",
    "SegmentOptions",
    "SegmentReport",
    "Segmentation",
    "SegmentationResult",
    "Segmenter",
    "expand_inputs",
    "jobs_from_config",
    "jobs_from_files",
    "keep_largest_component",
    "predict_case",
    "prepare_for_inference",
    "remove_stray_components",
    "segment",
    "segment_files",
    "segment_volume",
    "structure_components",
    "tile_plan",
]
