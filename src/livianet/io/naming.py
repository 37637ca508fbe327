"""File names: outputs as the original named them, and the subject a file's name gives.

Folders of images, labels and ROIs name one subject's files alike apart from a leading
role: ``MR_Img5``, ``GT_Img5``, ``ROI_Img5`` (the original's layout), ``T1_subj01`` and
``mask_subj01``. :data:`ROLE_PREFIXES` lists the roles recognised, case-insensitively,
followed by ``_`` or ``-``; :func:`subject_id` drops them to compare names across folders.
"""

from __future__ import annotations

import re
from pathlib import Path

from livianet.io.volumes import strip_volume_suffix, volume_format

# What a file holds, never whose it is: image modalities, labels, masks, predictions.
ROLE_PREFIXES = (
    "MR",
    "MRI",
    "T1",
    "T1w",
    "T2",
    "T2w",
    "FLAIR",
    "PD",
    "CT",
    "Img",
    "Image",
    "GT",
    "Label",
    "Labels",
    "Seg",
    "Segmentation",
    "Mask",
    "ROI",
    "Pred",
    "Prediction",
)
_ROLE = re.compile(
    "(?:" + "|".join(sorted(ROLE_PREFIXES, key=len, reverse=True)) + ")[_-]", re.IGNORECASE
)


def strip_role_prefix(stem: str) -> str | None:
    """``stem`` without its leading role prefixes, or None when it starts with none.

    >>> strip_role_prefix("MR_Img5"), strip_role_prefix("seg-MR_Img5"), strip_role_prefix("subj01_scan")
    ('Img5', 'Img5', None)
    """
    rest = stem
    while (match := _ROLE.match(rest)) and match.end() < len(rest):
        rest = rest[match.end() :]
    return rest if rest != stem else None


def subject_id(name: str) -> str:
    """The subject a file's name gives: no volume suffix, no role prefix, case folded.

    >>> subject_id("MR_Img5.nii.gz"), subject_id("gt_img5.mat"), subject_id("subj01.nii")
    ('img5', 'img5', 'subj01')
    """
    stem = strip_volume_suffix(name)
    return (strip_role_prefix(stem) or stem).casefold()


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
