"""Grids in world space: bounding boxes, resampling between affines, grids for a voxel size."""

from __future__ import annotations

import logging

import nibabel as nib
import numpy as np
import pytest
from conftest import write_nifti, write_tiny_ini

from livianet.cli.main import main
from livianet.data import bounding_box, resample_to_grid
from livianet.data.spatial import grid_for_spacing, spacing_differs, voxel_sizes


def test_bounding_box_by_hand():
    mask = np.zeros((10, 10, 10), dtype=bool)
    mask[3:5, 4, 6:9] = True
    assert bounding_box(mask) == ((3, 4, 6), (5, 5, 9))
    assert bounding_box(mask, margin=2) == ((1, 2, 4), (7, 7, 10))
    with pytest.raises(ValueError, match="empty mask"):
        bounding_box(np.zeros((2, 2, 2)))


def test_resample_to_grid_follows_affines():
    source = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)
    flip = np.diag([-1.0, 1.0, 1.0, 1.0])
    flip[0, 3] = 3.0  # world x = 3 - i: the same voxels, axis 0 reversed
    np.testing.assert_array_equal(
        resample_to_grid(source, flip, np.eye(4), (4, 5, 6), 0), source[::-1]
    )
    half = np.diag([0.5, 1.0, 1.0, 1.0])  # twice as many voxels along axis 0
    up = resample_to_grid(source.astype(np.float32), np.eye(4), half, (7, 5, 6), order=1)
    np.testing.assert_allclose(up[::2], source, atol=1e-5)  # voxel centres that coincide
    np.testing.assert_allclose(up[1], (source[0] + source[1]) / 2, atol=1e-5)  # halfway between


def test_grid_for_spacing_keeps_directions_and_centre():
    affine = np.array([[0, 0, -1.2, 90.0], [-1.0, 0, 0, 40.0], [0, 1.1, 0, -60.0], [0, 0, 0, 1.0]])
    shape = (100, 120, 80)
    new_affine, new_shape = grid_for_spacing(affine, shape, (1.0, 1.0, 1.0))
    assert new_shape == (100, 132, 96)  # extent kept: 120 * 1.1 and 80 * 1.2
    assert np.allclose(voxel_sizes(new_affine), (1.0, 1.0, 1.0))
    assert nib.aff2axcodes(new_affine) == nib.aff2axcodes(affine)
    centre = affine @ [*(np.array(shape) - 1) / 2, 1.0]
    new_centre = new_affine @ [*(np.array(new_shape) - 1) / 2, 1.0]
    np.testing.assert_allclose(new_centre, centre, atol=1e-6)


def test_spacing_tolerance():
    assert not spacing_differs((1.0, 1.0, 1.04), (1.0, 1.0, 1.0))
    assert spacing_differs((1.0, 1.3, 1.0), (1.0, 1.0, 1.0))


def test_coarse_scan_is_resampled_by_default_and_kept_with_no_resample(
    caplog, tmp_path, tiny_dataset
):
    ini = write_tiny_ini(tmp_path, tiny_dataset, epochs=1)
    assert main(["-q", "train", str(ini), "--device", "cpu"]) == 0
    checkpoint = tmp_path / "out" / "TinyRun" / "Networks" / "tiny_Epoch1.pt"
    source = nib.load(str(tiny_dataset / "MR" / "MR_Img1.nii.gz"))
    coarse = write_nifti(
        tmp_path / "coarse.nii.gz", np.asarray(source.dataobj)[::2, ::2, :], spacing=(2.0, 2.0, 1.0)
    )
    for folder, extra in (("resampled", []), ("kept", ["--no-resample"])):
        with caplog.at_level(logging.WARNING, logger="livianet"):
            caplog.clear()
            command = ["segment", str(checkpoint), str(coarse), "--out", str(tmp_path / folder)]
            assert main([*command, "--device", "cpu", *extra]) == 0
        result = nib.load(str(tmp_path / folder / "Segmentation_coarse.nii.gz"))
        assert result.shape == (12, 12, 24)
        assert np.allclose(result.affine, nib.load(str(coarse)).affine)
        kept_warning = any("--no-resample keeps it" in r.message for r in caplog.records)
        assert kept_warning == bool(extra)
    manifest = (tmp_path / "resampled" / "segmentation.json").read_text()
    assert '"resampled": true' in manifest
