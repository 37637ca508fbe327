"""ROI masks from images (the original generateROI.py), with optional clean-up."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io
from conftest import write_nifti

from livianet.data import process_roi_folder, roi_from_image
from livianet.errors import DataError
from livianet.io import load_volume


def blob_image() -> np.ndarray:
    """A hollow 7^3 cube (a 1-voxel cavity inside), a 2-voxel speck, and dim noise of 1."""
    image = np.zeros((12, 12, 12), np.float32)
    image[1:8, 1:8, 1:8] = 50
    image[4, 4, 4] = 0  # hole
    image[10, 10, 9:11] = 40  # small separate component
    image[0, 11, 0] = 1  # below a threshold of 1
    return image


def test_threshold_by_hand():
    image = np.array([[[0, 3, 1, -2, 1.5]]])
    np.testing.assert_array_equal(roi_from_image(image), [[[0, 1, 1, 0, 1]]])
    np.testing.assert_array_equal(roi_from_image(image, threshold=1), [[[0, 1, 0, 0, 1]]])
    assert roi_from_image(image).dtype == bool


def test_fill_holes_and_largest_component():
    image = blob_image()
    plain = roi_from_image(image, threshold=1)
    assert plain.sum() == 7**3 - 1 + 2 and not plain[4, 4, 4]

    filled = roi_from_image(image, threshold=1, fill_holes=True)
    assert filled[4, 4, 4] and filled.sum() == 7**3 + 2

    largest = roi_from_image(image, threshold=1, largest=True)
    assert largest.sum() == 7**3 - 1 and not largest[10, 10, 9]

    both = roi_from_image(image, threshold=1, fill_holes=True, largest=True)
    expected = np.zeros_like(both)
    expected[1:8, 1:8, 1:8] = True
    np.testing.assert_array_equal(both, expected)


def test_empty_image_gives_empty_mask():
    mask = roi_from_image(np.zeros((3, 3, 3)), fill_holes=True, largest=True)
    assert mask.shape == (3, 3, 3) and not mask.any()


def test_nifti_folder_keeps_geometry_and_names(tmp_path):
    write_nifti(tmp_path / "MR" / "MR_Img1.nii.gz", blob_image(), spacing=(1.0, 1.5, 2.0))
    (tmp_path / "MR" / "Readme.txt").write_text("scans")

    written = process_roi_folder(tmp_path / "MR", tmp_path / "ROI", threshold=1, fill_holes=True)

    assert written == [tmp_path / "ROI" / "ROI_MR_Img1.nii.gz"]
    source = load_volume(tmp_path / "MR" / "MR_Img1.nii.gz")
    roi = load_volume(written[0])
    np.testing.assert_allclose(roi.affine, source.affine)
    assert roi.data.dtype.kind in "iu"
    np.testing.assert_array_equal(roi.data, roi_from_image(source.data, 1, fill_holes=True))


def test_mat_folder_works(tmp_path):
    """The original crashed with a NameError on .mat input."""
    (tmp_path / "MR").mkdir()
    scipy.io.savemat(str(tmp_path / "MR" / "MR_Img1.mat"), {"vol": blob_image()})

    written = process_roi_folder(tmp_path / "MR", tmp_path / "ROI", largest=True)

    assert [p.name for p in written] == ["ROI_MR_Img1.mat"]
    roi = load_volume(written[0]).data
    np.testing.assert_array_equal(roi, roi_from_image(blob_image(), largest=True))
    assert "vol" in scipy.io.loadmat(str(written[0]))


@pytest.mark.parametrize(("fmt", "name"), [("mat", "ROI_MR_1.mat"), ("nifti", "ROI_MR_1.nii.gz")])
def test_output_format(tmp_path, fmt, name):
    write_nifti(tmp_path / "MR" / "MR_1.nii", blob_image())
    written = process_roi_folder(tmp_path / "MR", tmp_path / "ROI", fmt=fmt)
    assert [p.name for p in written] == [name]
    assert load_volume(written[0]).data.sum() == roi_from_image(blob_image()).sum()


def test_four_d_image_uses_the_first_channel(tmp_path):
    image = np.stack([blob_image(), np.ones((12, 12, 12), np.float32)], axis=-1)
    write_nifti(tmp_path / "MR" / "MR_1.nii.gz", image)
    written = process_roi_folder(tmp_path / "MR", tmp_path / "ROI")
    np.testing.assert_array_equal(load_volume(written[0]).data, roi_from_image(blob_image()))


def test_bad_folders_and_images(tmp_path, caplog):
    with pytest.raises(DataError, match="no .nii, .nii.gz or .mat images"):
        process_roi_folder(tmp_path / "missing", tmp_path / "ROI")

    nan = blob_image()
    nan[0, 0, 0] = np.nan
    write_nifti(tmp_path / "nan" / "MR_1.nii.gz", nan)
    with pytest.raises(DataError, match="NaN"):
        process_roi_folder(tmp_path / "nan", tmp_path / "ROI")

    write_nifti(tmp_path / "dark" / "MR_1.nii.gz", np.zeros((3, 3, 3), np.float32))
    with caplog.at_level("WARNING", logger="livianet"):
        process_roi_folder(tmp_path / "dark", tmp_path / "ROI_dark")
    assert "the ROI is empty" in caplog.text
