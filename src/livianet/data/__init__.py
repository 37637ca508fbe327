"""Cases as arrays: pairing files, loading and checking them, grids, relabelling, ROI masks."""

from livianet.data.cases import (
    Case,
    CaseFiles,
    all_cases,
    check_channels,
    folder_listing,
    folder_problems,
    index_problem,
    list_cases,
    load_case,
    load_label,
    normalise_intensities,
)
from livianet.data.relabel import (
    consecutive_mapping,
    distinct_values,
    output_file,
    process_label_folder,
    relabel,
)
from livianet.data.roi import largest_component, process_roi_folder, roi_from_image
from livianet.data.spatial import (
    bounding_box,
    resample_case,
    resample_labels,
    resample_probabilities,
    resample_to_grid,
    target_shape,
)

__all__ = [
    "Case",
    "CaseFiles",
    "all_cases",
    "bounding_box",
    "check_channels",
    "consecutive_mapping",
    "distinct_values",
    "folder_listing",
    "folder_problems",
    "index_problem",
    "largest_component",
    "list_cases",
    "load_case",
    "load_label",
    "normalise_intensities",
    "output_file",
    "process_label_folder",
    "process_roi_folder",
    "relabel",
    "resample_case",
    "resample_labels",
    "resample_probabilities",
    "resample_to_grid",
    "roi_from_image",
    "target_shape",
]
