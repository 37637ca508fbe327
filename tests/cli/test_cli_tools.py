"""`livianet labels`, `livianet roi` and the command's own behaviour, run in-process."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import scipy.io
from conftest import ExampleData, write_dataset, write_nifti

from livianet.cli import main
from livianet.io import list_volume_files, load_volume

REAL_CASES = ("Img1", "Img2")  # 2 of the 5 256^3 cases keep these tests to a few seconds


@pytest.fixture(autouse=True)
def restore_livianet_logger():
    """`main` installs a handler on the 'livianet' logger; leave the logger as we found it."""
    logger = logging.getLogger("livianet")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.level, logger.propagate = saved


def run(*args: object) -> int:
    return main([str(a) for a in args])


def assert_one_line_error(capsys, code: int, *words: str) -> str:
    err = capsys.readouterr().err
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("livianet: error: ")
    assert "Traceback" not in err
    for word in words:
        assert word in lines[0]
    return lines[0]


# --- the command itself -------------------------------------------------------------------


def test_help(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for command in ("train", "segment", "labels", "roi", "evaluate"):
        assert command in out
    assert main([]) == 0  # no command: help, exit 0


@pytest.mark.parametrize("command", ["labels", "roi"])
def test_subcommand_help(capsys, command):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    assert "in_dir" in capsys.readouterr().out


def test_python_dash_m_help_answers_quickly():
    began = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "livianet", "--help"], capture_output=True, text=True, timeout=60
    )
    elapsed = time.perf_counter() - began
    assert result.returncode == 0, result.stderr
    assert "labels" in result.stdout and "usage: livianet" in result.stdout
    assert elapsed < 10, f"python -m livianet --help took {elapsed:.1f} s"


def test_importing_the_cli_does_not_import_torch():
    result = subprocess.run(
        [sys.executable, "-c", "import sys, livianet.cli; print('torch' in sys.modules)"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


# --- labels on synthetic data -------------------------------------------------------------


def synthetic_labels(folder: Path) -> Path:
    """Three maps with values {0, 10, 20, 30}; the second lacks 20."""
    for index, values in enumerate(([0, 10, 20, 30], [0, 10, 30], [0, 20, 30]), start=1):
        data = np.zeros((6, 6, 6), np.int16)
        data.flat[: len(values)] = values
        write_nifti(folder / f"GT_{index}.nii.gz", data)
    return folder


def test_labels_command(tmp_path, capsys):
    in_dir = synthetic_labels(tmp_path / "in")
    assert run("labels", in_dir, tmp_path / "out", 4) == 0
    assert "4 label values mapped" in capsys.readouterr().out
    assert json.loads((tmp_path / "out" / "label_mapping.json").read_text()) == {
        "0": 0,
        "10": 1,
        "20": 2,
        "30": 3,
    }
    second = load_volume(tmp_path / "out" / "GT_2.nii.gz").data
    assert second.flat[:3].tolist() == [0, 1, 3]
    assert [p.name for p in list_volume_files(tmp_path / "out")] == [
        "GT_1.nii.gz",
        "GT_2.nii.gz",
        "GT_3.nii.gz",
    ]


@pytest.mark.parametrize(
    ("extra", "suffix"),
    [(["1"], ".mat"), (["0"], ".nii.gz"), (["--format", "mat"], ".mat"), ([], ".nii.gz")],
)
def test_labels_format_code_and_flag(tmp_path, extra, suffix):
    in_dir = synthetic_labels(tmp_path / "in")
    assert run("labels", in_dir, tmp_path / "out", 4, *extra) == 0
    outputs = list_volume_files(tmp_path / "out")
    assert [p.name for p in outputs] == [f"GT_{i}{suffix}" for i in (1, 2, 3)]
    assert load_volume(outputs[1]).data.flat[:3].tolist() == [0, 1, 3]


def test_labels_too_many_values(tmp_path, capsys):
    in_dir = synthetic_labels(tmp_path / "in")
    code = run("labels", in_dir, tmp_path / "out", 3)
    assert_one_line_error(capsys, code, "4 distinct label values", "NUM_CLASSES = 3", str(in_dir))
    assert not (tmp_path / "out").exists()


def test_labels_bad_inputs(tmp_path, capsys):
    code = run("labels", tmp_path / "nowhere", tmp_path / "out", 4)
    assert_one_line_error(capsys, code, "nowhere")

    in_dir = synthetic_labels(tmp_path / "in")
    code = run("labels", in_dir, tmp_path / "out", 4, "0", "--format", "mat")
    assert_one_line_error(capsys, code, "contradicts")

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "GT_1.nii.gz").write_bytes(b"\x1f\x8b not really gzip")
    code = run("labels", broken, tmp_path / "out", 4)
    assert_one_line_error(capsys, code, "GT_1.nii.gz", "NIfTI")


def test_labels_argument_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["labels", "in", "out", "four"])
    assert info.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


# --- roi on synthetic data ----------------------------------------------------------------


def test_roi_command_on_nifti_and_mat(tmp_path, capsys):
    root = write_dataset(tmp_path / "nii", num_cases=2, shape=(16, 16, 16))
    assert (
        run(
            "roi",
            root / "MR",
            tmp_path / "roi_nii",
            "--threshold",
            "5",
            "--fill-holes",
            "--largest",
        )
        == 0
    )
    assert "2 ROI masks written" in capsys.readouterr().out
    assert [p.name for p in list_volume_files(tmp_path / "roi_nii")] == [
        "ROI_MR_Img1.nii.gz",
        "ROI_MR_Img2.nii.gz",
    ]
    image = load_volume(root / "MR" / "MR_Img1.nii.gz")
    roi = load_volume(tmp_path / "roi_nii" / "ROI_MR_Img1.nii.gz")
    np.testing.assert_allclose(roi.affine, image.affine)
    reference = load_volume(root / "ROI" / "ROI_Img1.nii.gz").data
    assert (roi.data.astype(bool) == reference.astype(bool)).mean() > 0.97

    mat_root = write_dataset(tmp_path / "mat", num_cases=2, shape=(16, 16, 16), fmt="mat")
    assert run("roi", mat_root / "MR", tmp_path / "roi_mat", "1") == 0
    names = [p.name for p in list_volume_files(tmp_path / "roi_mat")]
    assert names == ["ROI_MR_Img1.mat", "ROI_MR_Img2.mat"]

    assert run("roi", mat_root / "MR", tmp_path / "roi_conv", "--format", "nifti") == 0
    assert [p.name for p in list_volume_files(tmp_path / "roi_conv")] == [
        "ROI_MR_Img1.nii.gz",
        "ROI_MR_Img2.nii.gz",
    ]


def test_roi_bad_inputs(tmp_path, capsys):
    code = run("roi", tmp_path / "nowhere", tmp_path / "out")
    assert_one_line_error(capsys, code, "nowhere")

    folder = tmp_path / "MR"
    folder.mkdir()
    (folder / "MR_1.mat").write_bytes(b"MATLAB 5.0 MAT-file" + bytes(200))
    code = run("roi", folder, tmp_path / "out")
    assert_one_line_error(capsys, code, "MR_1.mat")

    (folder / "MR_1.mat").unlink()
    scipy.io.savemat(str(folder / "MR_1.mat"), {"vol": np.zeros((4, 4))})
    code = run("roi", folder, tmp_path / "out")
    assert_one_line_error(capsys, code, "MR_1.mat", "2 dimensions")
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_roi_brain_refuses_what_extraction_cannot_use(tmp_path, capsys):
    """Refused before deepbet's networks load: a tiny scan, a .mat without axis codes."""
    folder = tmp_path / "MR"
    folder.mkdir()
    rng = np.random.default_rng(0)
    write_nifti(folder / "MR_1.nii.gz", rng.random((20, 20, 20), np.float32))
    scipy.io.savemat(
        str(folder / "MR_2.mat"), {"vol": rng.integers(0, 9, (100, 100, 100), np.uint8)}
    )
    code = run("roi", folder, tmp_path / "ROI", "--brain")
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert "2 of 2 images got no ROI" in err and "field of view 20x20x20 mm" in err
    assert "MR_2.mat: a .mat array stores no orientation" in err
    code = run("roi", folder, tmp_path / "ROI", "--brain", "--largest")
    assert_one_line_error(capsys, code, "--threshold, --fill-holes and --largest")
    code = run("roi", folder, tmp_path / "ROI", "--brain", "--brain-threshold", "2")
    assert_one_line_error(capsys, code, "--brain-threshold 2: expected a probability")


def test_train_says_how_to_make_a_missing_roi_folder(tmp_path, tiny_ini, tiny_dataset, capsys):
    shutil.rmtree(tiny_dataset / "ROI")
    line = assert_one_line_error(capsys, run("train", tiny_ini), "ROI folder not found")
    assert f"livianet roi {tiny_dataset / 'MR'} {tiny_dataset / 'ROI'} --brain" in line
    (tiny_dataset / "ROI").mkdir()
    assert_one_line_error(capsys, run("train", tiny_ini), "ROI folder is empty", "--brain")


# --- the example data: small .mat stand-ins in the original's layout (tests/test_shared_data.py
# reads the real scans)


@pytest.fixture(scope="module")
def real_mat(example_data: ExampleData, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("real_mat")
    for folder, prefix in (("MR", "MR_"), ("Label", "GT_")):
        (root / folder).mkdir()
        for case in REAL_CASES:
            shutil.copyfile(
                example_data.root / folder / f"{prefix}{case}.mat",
                root / folder / f"{prefix}{case}.mat",
            )
    return root


@pytest.fixture(scope="module")
def real_nifti(real_mat, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("real_nifti")
    affine = np.diag([-1.0, 1.0, 1.0, 1.0])
    affine[:3, 3] = [128.0, -128.0, -100.0]
    for folder in ("MR", "Label"):
        (root / folder).mkdir()
        for path in sorted((real_mat / folder).glob("*.mat")):
            data = scipy.io.loadmat(str(path))["vol"]
            nib.save(nib.Nifti1Image(data, affine), str(root / folder / f"{path.stem}.nii.gz"))
    return root


@pytest.mark.parametrize("kind", ["mat", "nifti"])
def test_real_labels(kind, example_data, real_mat, real_nifti, tmp_path, capsys):
    root = real_mat if kind == "mat" else real_nifti
    suffix = ".mat" if kind == "mat" else ".nii.gz"
    assert run("labels", root / "Label", tmp_path / "out", 9) == 0
    assert "9 label values mapped" in capsys.readouterr().out
    mapping = json.loads((tmp_path / "out" / "label_mapping.json").read_text())
    assert mapping == {str(v): v for v in range(9)}  # the example is already 0..8
    for case in REAL_CASES:
        source = load_volume(root / "Label" / f"GT_{case}{suffix}")
        result = load_volume(tmp_path / "out" / f"GT_{case}{suffix}")
        assert result.data.shape == example_data.shape and result.data.dtype.kind in "iu"
        np.testing.assert_array_equal(result.data, source.data)
        np.testing.assert_allclose(result.affine, source.affine)

    code = run("labels", root / "Label", tmp_path / "too_few", 8)
    assert_one_line_error(capsys, code, "9 distinct label values", "NUM_CLASSES = 8")


@pytest.mark.parametrize("kind", ["mat", "nifti"])
def test_real_roi(kind, example_data, real_mat, real_nifti, tmp_path, capsys):
    root = real_mat if kind == "mat" else real_nifti
    suffix = ".mat" if kind == "mat" else ".nii.gz"
    assert run("roi", root / "MR", tmp_path / "out") == 0
    assert f"{len(REAL_CASES)} ROI masks written" in capsys.readouterr().out
    for case in REAL_CASES:
        image = load_volume(root / "MR" / f"MR_{case}{suffix}")
        roi = load_volume(tmp_path / "out" / f"ROI_MR_{case}{suffix}")
        assert roi.data.shape == example_data.shape and roi.data.dtype.kind in "iu"
        np.testing.assert_array_equal(roi.data.astype(bool), image.data > 0)
        np.testing.assert_allclose(roi.affine, image.affine)
        if kind == "mat":  # the shipped masks are close to MR > 0
            shipped = load_volume(example_data.root / "ROI" / f"ROI_{case}.mat").data.astype(bool)
            assert (roi.data.astype(bool) == shipped).mean() > 0.95


def test_real_mat_to_nifti_conversion(real_mat, tmp_path):
    assert run("labels", real_mat / "Label", tmp_path / "out", 9, "0") == 0
    result = load_volume(tmp_path / "out" / f"GT_{REAL_CASES[0]}.nii.gz")
    source = load_volume(real_mat / "Label" / f"GT_{REAL_CASES[0]}.mat")
    np.testing.assert_array_equal(result.data, source.data)
    np.testing.assert_array_equal(result.affine, np.eye(4))
