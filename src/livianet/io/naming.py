"""Output file names, as the original named them."""

from __future__ import annotations

from pathlib import Path

from livianet.io.volumes import strip_volume_suffix, volume_format


def output_name(prefix: str, input_path: Path) -> str:
    """``<prefix><input name>``, as ``.nii.gz`` for NIfTI inputs and ``.mat`` for ``.mat``."""
    if volume_format(input_path) == "mat":
        return f"{prefix}{input_path.name}"
    return f"{prefix}{strip_volume_suffix(input_path.name)}.nii.gz"


def segmentation_path(folder: Path, input_path: Path) -> Path:
    return folder / output_name("Segmentation_", input_path)


def probability_path(folder: Path, input_path: Path, label: int) -> Path:
    return folder / output_name(f"ProbMap_class_{label}_", input_path)
