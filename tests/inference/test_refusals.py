"""What cannot be segmented is refused with one line, naming the file and the remedy (issue 31).

Each case here was "segmented" before: an all-zero image, an 8^3 noise image (446 mm3 of
thalamus), a ``.mat`` without ``--orientation`` (mean Dice 0.03) and a scan whose background
of -300 made "nonzero voxels" the whole image.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import scipy.io

from livianet.cli import main


def _segment(capsys, *args: object) -> tuple[int, str, list[str]]:
    code = main(["segment", *(str(a) for a in args), "--no-report", "--device", "cpu"])
    err = capsys.readouterr().err
    return code, err, [line for line in err.splitlines() if line.startswith("livianet: error: ")]


def _ball(shape: tuple[int, int, int], background: float = 0.0) -> np.ndarray:
    grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, s) for s in shape], indexing="ij"))
    return np.where((grid**2).sum(0) < 0.6, 100.0, background).astype(np.float32)


@pytest.mark.parametrize(
    "name, image, words",
    [
        ("empty.nii.gz", np.zeros((32, 32, 32), np.float32), "empty (every voxel is 0)"),
        ("flat.nii.gz", np.full((32, 32, 32), 7.0, np.float32), "constant (every voxel is 7)"),
        (
            "noise.nii.gz",
            np.random.default_rng(0).random((8, 8, 8)).astype(np.float32),
            "smaller than the network's receptive field (19 mm)",
        ),
    ],
)
def test_images_with_nothing_to_segment_are_refused(tmp_path, capsys, name, image, words):
    path = tmp_path / name
    nib.save(nib.Nifti1Image(image, np.eye(4)), path)
    code, err, errors = _segment(capsys, path, "--out", tmp_path / "out", "--no-brain-extraction")
    assert code == 1 and "Traceback" not in err
    assert errors and str(path) in errors[-1] and words in errors[-1]
    assert not list((tmp_path / "out").glob("Segmentation_*"))  # no label map of nothing


def test_a_mat_without_orientation_names_the_flag_and_as_stored_still_works(tmp_path, capsys):
    path = tmp_path / "MR_1.mat"
    scipy.io.savemat(str(path), {"vol": _ball((24, 26, 22))})
    code, err, errors = _segment(capsys, path, "--roi", path, "--out", tmp_path / "a")
    assert code == 1 and "Traceback" not in err
    assert "stores no orientation: pass --orientation CODES" in errors[-1]
    assert "--orientation as-stored" in errors[-1]
    code, err, _ = _segment(
        capsys, path, "--roi", path, "--orientation", "as-stored", "--out", tmp_path / "b"
    )
    assert code == 0, err
    assert (tmp_path / "b" / "Segmentation_MR_1.mat").is_file()


def test_a_background_that_is_not_zero_is_never_z_scored_over_everything(tmp_path, capsys):
    path = tmp_path / "int16.nii.gz"
    nib.save(nib.Nifti1Image(_ball((24, 24, 24), background=-300.0), np.eye(4)), path)
    code, err, errors = _segment(capsys, path, "--out", tmp_path / "out", "--no-brain-extraction")
    assert code == 1 and "Traceback" not in err
    assert "background is not zero" in errors[-1] and "most common value -300" in errors[-1]
    assert "pass --roi" in errors[-1]
    roi = tmp_path / "roi.nii.gz"
    nib.save(nib.Nifti1Image((_ball((24, 24, 24)) > 0).astype(np.uint8), np.eye(4)), roi)
    code, err, _ = _segment(capsys, path, "--roi", roi, "--out", tmp_path / "with_roi")
    assert code == 0, err  # on a mask, the background does not matter
    assert Path(tmp_path / "with_roi" / "Segmentation_int16.nii.gz").is_file()
