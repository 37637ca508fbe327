"""Segmentation: the Segmenter API, exact tiling, the predictor, files in and out, post-processing."""

from livianet.inference.files import SegmentOptions, SegmentReport, segment_files
from livianet.inference.jobs import Job, expand_inputs, jobs_from_config, jobs_from_files
from livianet.inference.postprocess import keep_largest_component, structure_components
from livianet.inference.predictor import InferenceSettings, predict_case, prepare_for_inference
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
    "segment",
    "segment_files",
    "segment_volume",
    "structure_components",
    "tile_plan",
]
