"""Files in and out: volumes (NIfTI, ``.mat``), output names, label names, CSV tables."""

from livianet.io.label_names import label_name, left_right_pairs, load_label_names, write_dseg
from livianet.io.naming import (
    ROLE_PREFIXES,
    output_name,
    probability_path,
    segmentation_path,
    strip_role_prefix,
    subject_id,
)
from livianet.io.tables import csv_cell, write_csv
from livianet.io.volumes import (
    VOLUME_SUFFIXES,
    Volume,
    header_warnings,
    label_dtype,
    list_volume_files,
    load_volume,
    orientation_code,
    save_volume,
    strip_volume_suffix,
    volume_format,
    voxel_spacing,
)

__all__ = [
    "ROLE_PREFIXES",
    "VOLUME_SUFFIXES",
    "Volume",
    "csv_cell",
    "header_warnings",
    "label_dtype",
    "label_name",
    "left_right_pairs",
    "list_volume_files",
    "load_label_names",
    "load_volume",
    "orientation_code",
    "output_name",
    "probability_path",
    "save_volume",
    "segmentation_path",
    "strip_role_prefix",
    "strip_volume_suffix",
    "subject_id",
    "volume_format",
    "voxel_spacing",
    "write_csv",
    "write_dseg",
]
