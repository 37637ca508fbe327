"""The fault suite: broken and hostile inputs end with one clear line and a non-zero exit.

Each case runs the real command line in-process and checks the exit code, that
stderr is a single ``livianet: error:`` line naming the culprit, and that no
traceback escaped.
"""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from conftest import write_nifti, write_tiny_ini

from livianet.cli import main


def _fails(capsys, argv: list[str], *fragments: str) -> str:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert code == 1, captured.err
    errors = [line for line in lines if line.startswith("livianet: error:")]
    assert len(errors) == 1, captured.err
    assert "Traceback" not in captured.err
    for fragment in fragments:
        assert fragment in errors[0], (fragment, errors[0])
    return errors[0]


def _train(ini: Path) -> list[str]:
    return ["-q", "train", ini, "--device", "cpu"]


def _replace_case_file(
    folder: Path, name: str, data: np.ndarray, affine: np.ndarray | None = None
) -> Path:
    path = folder / name
    image = nib.load(str(path))
    nib.save(nib.Nifti1Image(data, image.affine if affine is None else affine), str(path))
    return path


@pytest.fixture
def trained(tmp_path, tiny_dataset):
    ini = write_tiny_ini(tmp_path / "run", tiny_dataset, epochs=1)
    assert main([str(a) for a in _train(ini)]) == 0
    return ini, tmp_path / "run" / "out" / "TinyRun" / "Networks" / "tiny_Epoch1.pt"


def test_truncated_image(capsys, tmp_path, tiny_dataset):
    path = tiny_dataset / "MR" / "MR_Img1.nii.gz"
    path.write_bytes(path.read_bytes()[:200])
    _fails(capsys, _train(write_tiny_ini(tmp_path, tiny_dataset)), "MR_Img1.nii.gz", "cannot read")


def test_corrupt_mat(capsys, tmp_path):
    data = tmp_path / "data"
    from conftest import write_dataset

    write_dataset(data, fmt="mat")
    (data / "Label" / "GT_Img2.mat").write_bytes(b"MATLAB 5.0 MAT-file" + bytes(range(256)) * 4)
    _fails(capsys, _train(write_tiny_ini(tmp_path, data)), "GT_Img2.mat")


def test_image_and_label_shapes_differ(capsys, tmp_path, tiny_dataset):
    write_nifti(tiny_dataset / "Label" / "GT_Img1.nii.gz", np.zeros((24, 24, 20), np.uint8))
    _fails(
        capsys,
        _train(write_tiny_ini(tmp_path, tiny_dataset)),
        "GT_Img1.nii.gz",
        "shape (24, 24, 20)",
        "(24, 24, 24)",
    )


def test_affines_disagree(capsys, tmp_path, tiny_dataset):
    path = tiny_dataset / "Label" / "GT_Img2.nii.gz"
    image = nib.load(str(path))
    shifted = image.affine.copy()
    shifted[0, 3] += 3.0
    _replace_case_file(tiny_dataset / "Label", "GT_Img2.nii.gz", np.asarray(image.dataobj), shifted)
    _fails(
        capsys,
        _train(write_tiny_ini(tmp_path, tiny_dataset)),
        "GT_Img2.nii.gz",
        "affine differs",
        "3 mm",
    )


def test_nan_voxels(capsys, tmp_path, tiny_dataset):
    path = tiny_dataset / "MR" / "MR_Img1.nii.gz"
    data = np.asarray(nib.load(str(path)).dataobj).astype(np.float32)
    data[3, 4, 5] = np.nan
    data[6, 7, 8] = np.inf
    _replace_case_file(tiny_dataset / "MR", "MR_Img1.nii.gz", data)
    _fails(
        capsys,
        _train(write_tiny_ini(tmp_path, tiny_dataset)),
        "MR_Img1.nii.gz",
        "2 voxels are NaN or Inf",
    )


def test_label_value_too_large(capsys, tmp_path, tiny_dataset):
    path = tiny_dataset / "Label" / "GT_Img1.nii.gz"
    data = np.asarray(nib.load(str(path)).dataobj).copy()
    data[0, 0, 0] = 7
    _replace_case_file(tiny_dataset / "Label", "GT_Img1.nii.gz", data)
    _fails(
        capsys,
        _train(write_tiny_ini(tmp_path, tiny_dataset)),
        "GT_Img1.nii.gz",
        "[7]",
        "n_classes = 4",
        "livianet labels",
    )


def test_empty_roi(capsys, tmp_path, tiny_dataset):
    _replace_case_file(tiny_dataset / "ROI", "ROI_Img2.nii.gz", np.zeros((24, 24, 24), np.uint8))
    _fails(
        capsys, _train(write_tiny_ini(tmp_path, tiny_dataset)), "ROI_Img2.nii.gz", "ROI is empty"
    )


def test_no_foreground_to_sample(capsys, tmp_path, tiny_dataset):
    for name in ("GT_Img1.nii.gz", "GT_Img2.nii.gz"):
        _replace_case_file(tiny_dataset / "Label", name, np.zeros((24, 24, 24), np.uint8))
    _fails(capsys, _train(write_tiny_ini(tmp_path, tiny_dataset)), "no foreground")


@pytest.mark.parametrize("shape", [(24, 24), (24, 24, 24, 2, 2)])
def test_wrong_dimensionality(capsys, tmp_path, tiny_dataset, shape):
    write_nifti(tiny_dataset / "MR" / "MR_Img1.nii.gz", np.zeros(shape, np.float32))
    _fails(capsys, _train(write_tiny_ini(tmp_path, tiny_dataset)), "MR_Img1.nii.gz", "dimensions")


def test_patch_smaller_than_receptive_field(capsys, tmp_path, tiny_dataset):
    ini = write_tiny_ini(tmp_path, tiny_dataset)
    ini.write_text(
        ini.read_text().replace("sampleSize_Train = [13, 13, 13]", "sampleSize_Train = [5, 13, 13]")
    )
    _fails(capsys, _train(ini), "tiny.ini", "sampleSize_Train", "receptive field [7, 7, 7]")


def test_missing_and_empty_folders(capsys, tmp_path, tiny_dataset):
    shutil.rmtree(tiny_dataset / "ROI")
    (tiny_dataset / "ROI").mkdir()
    _fails(capsys, _train(write_tiny_ini(tmp_path, tiny_dataset)), "ROI", "no .nii", "--brain")
    shutil.rmtree(tiny_dataset / "Label")
    _fails(capsys, _train(write_tiny_ini(tmp_path, tiny_dataset)), "Label", "not found")


def test_unequal_folder_counts(capsys, tmp_path, tiny_dataset):
    (tiny_dataset / "ROI" / "ROI_Img3.nii.gz").unlink()
    _fails(capsys, _train(write_tiny_ini(tmp_path, tiny_dataset)), "different numbers of files")


def test_a_label_of_another_subject(capsys, tmp_path, tiny_dataset):
    """MR_Img1..3 beside GT_Img1, GT_Img2, GT_Img4: case 2 would train on another subject's label."""
    (tiny_dataset / "Label" / "GT_Img3.nii.gz").rename(tiny_dataset / "Label" / "GT_Img4.nii.gz")
    _fails(
        capsys,
        _train(write_tiny_ini(tmp_path, tiny_dataset)),
        "MR_Img3.nii.gz and ",
        "GT_Img4.nii.gz pair by sorted position",
        "different subjects",
    )


def test_missing_checkpoint(capsys, tmp_path, tiny_dataset):
    _fails(
        capsys,
        [
            "segment",
            tmp_path / "nothing.pt",
            tiny_dataset / "MR" / "MR_Img1.nii.gz",
            "--out",
            tmp_path / "o",
        ],
        "nothing.pt",
        "not found",
    )
    _fails(
        capsys,
        _train(write_tiny_ini(tmp_path, tiny_dataset)) + ["--resume", tmp_path / "gone.pt"],
        "gone.pt",
        "not found",
    )


def test_checkpoint_of_another_architecture(capsys, tmp_path, tiny_dataset, trained):
    _, checkpoint = trained
    other = write_tiny_ini(tmp_path / "other", tiny_dataset, epochs=2)
    other.write_text(
        other.read_text().replace(
            "numkernelsperlayer = [6, 8, 8, 12]", "numkernelsperlayer = [6, 8, 10, 12]"
        )
    )
    _fails(
        capsys,
        _train(other) + ["--resume", checkpoint],
        "tiny_Epoch1.pt",
        "another network",
        "conv_channels",
    )
    classes = write_tiny_ini(tmp_path / "classes", tiny_dataset, epochs=2)
    classes.write_text(classes.read_text().replace("n_classes = 4", "n_classes = 5"))
    _fails(
        capsys,
        _train(classes) + ["--resume", checkpoint],
        "num_classes 4 (checkpoint) vs 5 (config)",
    )


def test_segmenting_with_the_wrong_number_of_channels(capsys, tmp_path, tiny_dataset, trained):
    _, checkpoint = trained
    image = tiny_dataset / "MR" / "MR_Img1.nii.gz"
    write_nifti(tmp_path / "two.nii.gz", np.zeros((24, 24, 24, 2), np.float32))
    _fails(
        capsys, ["segment", checkpoint, tmp_path / "two.nii.gz", "--out", tmp_path / "o"], "channel"
    )
    assert image.exists()


class _Payload:
    """Unpickling this would create a file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_pickle_with_code_is_refused_and_never_run(capsys, tmp_path, tiny_dataset):
    marker = tmp_path / "payload-ran"
    evil = tmp_path / "evil.pt"
    torch.save({"kind": "livianet-checkpoint", "payload": _Payload(marker)}, evil)
    plain = tmp_path / "plain.pkl"
    plain.write_bytes(pickle.dumps(_Payload(marker)))
    image = tiny_dataset / "MR" / "MR_Img1.nii.gz"
    for path in (evil, plain):
        _fails(capsys, ["segment", path, image, "--out", tmp_path / "o"], path.name, "refused")
        _fails(
            capsys, _train(write_tiny_ini(tmp_path, tiny_dataset)) + ["--resume", path], path.name
        )
        _fails(capsys, ["export", path, tmp_path / "m.onnx"], path.name)
    assert not marker.exists()


def test_npy_with_objects_is_refused(capsys, tmp_path, tiny_dataset):
    weights = tmp_path / "weights"
    weights.mkdir()
    np.save(
        weights / "weights_ConvLayer_0.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True
    )
    ini = write_tiny_ini(tmp_path, tiny_dataset)
    ini.write_text(
        ini.read_text().replace(
            "weight_Initialization_CNN = 1",
            f"weight_Initialization_CNN = 2\nweights folderName = {weights}",
        )
    )
    _fails(capsys, _train(ini), "weights_ConvLayer_0.npy", "objects")


def test_unwritable_output_is_caught_before_work(capsys, tmp_path, tiny_dataset, trained):
    _, checkpoint = trained
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    ini = write_tiny_ini(tmp_path, tiny_dataset)
    ini.write_text(
        ini.read_text().replace(
            f"outputRoot = {tmp_path / 'out'}", f"outputRoot = {blocker / 'sub'}"
        )
    )
    _fails(capsys, _train(ini), "not writable")
    image = tiny_dataset / "MR" / "MR_Img1.nii.gz"
    _fails(capsys, ["segment", checkpoint, image, "--out", blocker / "sub"], "not writable")
    assert not any(blocker.parent.glob("Segmentation_*"))


def test_full_disk_is_caught_before_training(capsys, tmp_path, tiny_dataset, monkeypatch):
    import os
    from types import SimpleNamespace

    monkeypatch.setattr(os, "statvfs", lambda path: SimpleNamespace(f_bavail=10, f_frsize=4096))
    _fails(capsys, _train(write_tiny_ini(tmp_path, tiny_dataset)), "MiB free")


def test_image_with_extra_channels(capsys, tmp_path, tiny_dataset):
    write_nifti(tiny_dataset / "MR" / "MR_Img1.nii.gz", np.zeros((24, 24, 24, 2), np.float32))
    _fails(
        capsys,
        _train(write_tiny_ini(tmp_path, tiny_dataset)),
        "MR_Img1.nii.gz",
        "2 channels",
        "expects 1",
    )
