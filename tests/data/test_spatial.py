"""Scans whose voxel grid differs from the training data's: a warning, and --resample."""

from __future__ import annotations

import logging

import nibabel as nib
import numpy as np
from conftest import write_nifti, write_tiny_ini

from livianet.cli import main
from livianet.data import resample_labels, target_shape


def test_target_shape_and_round_trip():
    assert target_shape((10, 20, 30), (2.0, 1.0, 1.5), (1.0, 1.0, 1.0)) == (19, 20, 45)
    labels = np.zeros((10, 12, 14), np.uint8)
    labels[3:7, 4:9, 5:10] = 2
    up = resample_labels(labels, (19, 23, 27))
    back = resample_labels(up, labels.shape)
    assert np.array_equal(back, labels)


def test_spacing_mismatch_is_reported_and_resampled(caplog, capsys, tmp_path, tiny_dataset):
    ini = write_tiny_ini(tmp_path, tiny_dataset, epochs=1)
    assert main(["-q", "train", str(ini), "--device", "cpu"]) == 0
    checkpoint = tmp_path / "out" / "TinyRun" / "Networks" / "tiny_Epoch1.pt"
    source = nib.load(str(tiny_dataset / "MR" / "MR_Img1.nii.gz"))
    coarse = write_nifti(
        tmp_path / "coarse.nii.gz", np.asarray(source.dataobj)[::2, ::2, :], spacing=(2.0, 2.0, 1.0)
    )
    with caplog.at_level(logging.WARNING, logger="livianet"):
        assert (
            main(
                [
                    "segment",
                    str(checkpoint),
                    str(coarse),
                    "--out",
                    str(tmp_path / "plain"),
                    "--device",
                    "cpu",
                ]
            )
            == 0
        )
    assert any(
        "voxel spacing (2.0, 2.0, 1.0) mm differs from the training data's (1.0, 1.0, 1.0) mm"
        in r.message
        for r in caplog.records
    )
    assert any("--resample" in r.message for r in caplog.records)
    assert (
        main(
            [
                "segment",
                str(checkpoint),
                str(coarse),
                "--out",
                str(tmp_path / "resampled"),
                "--resample",
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    result = nib.load(str(tmp_path / "resampled" / "Segmentation_coarse.nii.gz"))
    assert result.shape == (12, 12, 24)
    assert np.allclose(result.affine, nib.load(str(coarse)).affine)
