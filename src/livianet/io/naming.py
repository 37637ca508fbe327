"""Output file names, as the original named them."""

from __future__ import annotations

from pathlib import Path

from livianet.io.volumes import strip_volume_suffix, volume_format


def output_name(prefix: str, input_path: Path) -> str:
    """``<prefix><input name>`` in the input's format: ``.nii.gz`` for NIfTI, the input's for the rest.

    >>> output_name("Segmentation_", Path("T1.nii")), output_name("Segmentation_", Path("T1.mgz"))
    ('Segmentation_T1.nii.gz', 'Segmentation_T1.mgz')
    """
    if volume_format(input_path) == "nifti":
        return f"{prefix}{strip_volume_suffix(input_path.name)}.nii.gz"
    return f"{prefix}{input_path.name}"


def segmentation_path(folder: Path, input_path: Path) -> Path:
    return folder / output_name("Segmentation_", input_path)


def probability_path(folder: Path, input_path: Path, label: int) -> Path:
    return folder / output_name(f"ProbMap_class_{label}_", input_path)
