"""Case pairing: files pair by sorted position, and the subjects their names give must agree."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from conftest import write_nifti

from livianet.config.schema import DataConfig
from livianet.data import all_cases
from livianet.errors import DataError


def _folders(root: Path, **names: list[str]) -> DataConfig:
    """One folder per keyword (``MR``, ``Label``, ``ROI``), holding tiny volumes of those names."""
    for folder, files in names.items():
        for name in files:
            write_nifti(root / folder / name, np.zeros((2, 2, 2), np.uint8))
    return DataConfig(
        image_folders=(root / "MR",),
        label_folder=root / "Label" if "Label" in names else None,
        roi_folder=root / "ROI" if "ROI" in names else None,
    )


def _names(prefix: str, numbers) -> list[str]:
    return [f"{prefix}{n}.nii.gz" for n in numbers]


def test_a_label_of_another_subject_is_refused(tmp_path):
    data = _folders(
        tmp_path,
        MR=_names("MR_Img", [1, 2, 3, 4, 5]),
        Label=_names("GT_Img", [1, 2, 3, 4, 6]),
        ROI=_names("ROI_Img", [1, 2, 3, 4, 5]),
    )
    with pytest.raises(DataError) as caught:
        all_cases(data)
    message = str(caught.value)
    assert "\n" not in message
    assert "MR_Img5.nii.gz and " in message and "GT_Img6.nii.gz pair by sorted position" in message
    assert "'img5' and 'img6'" in message


def test_subjects_compare_without_role_prefixes_and_case(tmp_path):
    data = _folders(
        tmp_path,
        MR=["T1_Subj01.nii.gz", "T1_Subj02.nii.gz"],
        Label=["seg-subj01.nii.gz", "seg-subj02.nii.gz"],
        ROI=["mask_SUBJ01.nii.gz", "mask_SUBJ02.nii.gz"],
    )
    cases = all_cases(data)
    assert [(c.images[0].name, c.label.name, c.roi.name) for c in cases] == [
        ("T1_Subj01.nii.gz", "seg-subj01.nii.gz", "mask_SUBJ01.nii.gz"),
        ("T1_Subj02.nii.gz", "seg-subj02.nii.gz", "mask_SUBJ02.nii.gz"),
    ]


def test_names_with_no_common_pattern_pair_by_position_with_a_warning(tmp_path, caplog):
    data = _folders(
        tmp_path,
        MR=["scan_a.nii.gz", "scan_b.nii.gz"],
        Label=["labels_01.nii.gz", "labels_02.nii.gz"],
    )
    with caplog.at_level(logging.WARNING, logger="livianet"):
        cases = all_cases(data)
    assert [(c.images[0].name, c.label.name) for c in cases] == [
        ("scan_a.nii.gz", "labels_01.nii.gz"),
        ("scan_b.nii.gz", "labels_02.nii.gz"),
    ]
    assert "share no subject" in caplog.text and "pairing by sorted position" in caplog.text
