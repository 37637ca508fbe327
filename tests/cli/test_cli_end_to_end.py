"""End to end through the command line: dry run, train, resume, segment (both forms), evaluate, export."""

from __future__ import annotations

import csv
import math
import shutil

import nibabel as nib
import numpy as np
import scipy.io
from conftest import ExampleData, write_tiny_ini
from original_format import DEFAULT, NEURO_PAPER

from livianet.cli import main


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_dry_run_of_the_paper_config(capsys, tmp_path, original_configs, example_data):
    paper = original_configs / NEURO_PAPER
    code, out, _ = _run(capsys, "train", paper, "--dry-run", "--data-root", example_data.root)
    assert code == 1
    for expected in (
        "receptive field: 19^3",
        "training patches: 27^3 -> 9^3",
        "sampleSize_Test): 35^3 -> 17^3",
        "first 1x1x1 layer: 150",
        "0: image MR_Img1.mat | label GT_Img1.mat | ROI ROI_Img1.mat",
        "training index 5 points past the 5 images",
        "validation index 6 points past the 5 images",
    ):
        assert expected in out, expected
    fitted = tmp_path / "paper.ini"
    text = paper.read_text().replace(
        "indexesForTraining = [0,1,2,3,4,5]", "indexesForTraining = [0,1,2,3]"
    )
    fitted.write_text(text.replace("indexesForValidation = [6]", "indexesForValidation = [4]"))
    code, out, _ = _run(capsys, "train", fitted, "--dry-run", "--data-root", example_data.root)
    assert code == 0 and "Ready" in out


def test_dry_run_lists_missing_folders_after_the_network(capsys, tmp_path, original_configs):
    code, out, _ = _run(capsys, "train", original_configs / DEFAULT, "--dry-run")
    assert code == 1
    assert out.index("receptive field: 7^3") < out.index("Problems:")
    assert "/~yourpath/Dataset/MR: image folder not found" in out


def _geometry(path):
    image = nib.load(str(path))
    return image.shape, image.affine


def test_train_resume_segment_evaluate(capsys, tmp_path, tiny_dataset):
    ini = write_tiny_ini(tmp_path, tiny_dataset, epochs=2)
    code, out, err = _run(capsys, "train", ini, "--device", "cpu")
    assert code == 0, err
    networks = tmp_path / "out" / "TinyRun" / "Networks"
    assert "tiny_Epoch2.pt" in out
    # The original's positional resume form, after raising the epoch total.
    ini.write_text(ini.read_text().replace("number Of Epochs = 2", "number Of Epochs = 3"))
    code, _, err = _run(capsys, "train", ini, "1", networks / "tiny_Epoch2.pt", "--device", "cpu")
    assert code == 0, err
    assert (networks / "tiny_Epoch3.pt").exists()
    checkpoint = networks / "tiny_Epoch3.pt"

    # The original's INI form writes to <output root>/<folderName>/Pred/Testing.
    seg_ini = tmp_path / "segment.ini"
    seg_ini.write_text(
        f"[Segmentation Images]\nimagesFolder = {tiny_dataset / 'MR'}\nGroundTruthFolder = {tiny_dataset / 'Label'}\n"
        f"ROIFolder = {tiny_dataset / 'ROI'}\nimageTypes = 0\nindexesToSegment = [2]\napplyPadding = 1\n"
    )
    code, out, err = _run(
        capsys,
        "segment",
        seg_ini,
        checkpoint,
        "--output-root",
        tmp_path / "outputFiles",
        "--device",
        "cpu",
    )
    assert code == 0, err
    testing = tmp_path / "outputFiles" / "TinyRun" / "Pred" / "Testing"
    prediction = testing / "Segmentation_MR_Img3.nii.gz"
    source = tiny_dataset / "MR" / "MR_Img3.nii.gz"
    shape, affine = _geometry(prediction)
    assert shape == _geometry(source)[0] and np.allclose(affine, _geometry(source)[1])
    assert (
        "dice" in out and (testing / "metrics.csv").exists() and (testing / "volumes.csv").exists()
    )

    # The file form, without ROI or reference, then with both, names and pictures.
    out_dir = tmp_path / "files"
    code, _, err = _run(capsys, "segment", checkpoint, source, "--out", out_dir, "--device", "cpu")
    assert code == 0, err
    names = tmp_path / "names.json"
    names.write_text('{"1": "Sphere-A", "2": "Sphere-B", "3": "Sphere-C"}')
    code, out, err = _run(
        capsys,
        "segment",
        checkpoint,
        source,
        "--roi",
        tiny_dataset / "ROI" / "ROI_Img3.nii.gz",
        "--gt",
        tiny_dataset / "Label" / "GT_Img3.nii.gz",
        "--out",
        out_dir,
        "--names",
        names,
        "--snapshot",
        "--probabilities",
        "--largest-component",
        "on",
        "--precision",
        "float32",
        "--device",
        "cpu",
    )
    assert code == 0, err
    for name in (
        "Segmentation_MR_Img3.nii.gz",
        "ProbMap_class_1_MR_Img3.nii.gz",
        "ProbMap_class_3_MR_Img3.nii.gz",
        "Snapshot_MR_Img3.png",
        "volumes.csv",
        "metrics.csv",
    ):
        assert (out_dir / name).exists(), name
    probs = nib.load(str(out_dir / "ProbMap_class_1_MR_Img3.nii.gz"))
    assert probs.get_data_dtype() == np.float32
    rows = list(csv.DictReader(open(out_dir / "metrics.csv")))
    assert [r["name"] for r in rows] == ["Sphere-A", "Sphere-B", "Sphere-C"]
    volumes = next(csv.DictReader(open(out_dir / "volumes.csv")))
    assert set(volumes) == {"image", "Sphere-A_mm3", "Sphere-B_mm3", "Sphere-C_mm3"}

    # Evaluate the file against its reference: same numbers as segment --gt reported.
    table = tmp_path / "evaluation.csv"
    code, out, err = _run(
        capsys,
        "evaluate",
        out_dir / "Segmentation_MR_Img3.nii.gz",
        tiny_dataset / "Label" / "GT_Img3.nii.gz",
        "--names",
        names,
        "--csv",
        table,
    )
    assert code == 0, err
    evaluated = list(csv.DictReader(open(table)))
    assert list(evaluated[0]) == [
        "image",
        "label",
        "name",
        "dice",
        "jaccard",
        "hd95_mm",
        "assd_mm",
        "volume_pred_mm3",
        "volume_gt_mm3",
        "volume_diff_pct",
    ]
    for a, b in zip(evaluated, rows, strict=True):
        assert math.isclose(float(a["dice"]), float(b["dice"]), rel_tol=1e-9)

    # Export, in both of the original's weight format and ONNX.
    code, _, err = _run(capsys, "export-weights", checkpoint, tmp_path / "npy")
    assert code == 0, err
    assert (tmp_path / "npy" / "weights_ConvLayer_0.npy").exists()


def test_real_scans_mat_and_nifti(capsys, tmp_path, example_data: ExampleData):
    """A model trained on two example scans segments a third, from .mat and from a NIfTI copy.

    The scans are small stand-ins in the original's format (tests/test_shared_data.py reads the real
    ones).
    """
    data = tmp_path / "data"
    for folder, prefix in (("MR", "MR_Img"), ("Label", "GT_Img"), ("ROI", "ROI_Img")):
        (data / folder).mkdir(parents=True)
        for i in (1, 2, 5):
            shutil.copy(example_data.root / folder / f"{prefix}{i}.mat", data / folder)
    ini = write_tiny_ini(tmp_path, data, epochs=1)
    text = (
        ini.read_text()
        .replace("n_classes = 4", "n_classes = 9")
        .replace("indexesForValidation = [2]", "indexesForValidation = []")
    )
    ini.write_text(text)
    code, _, err = _run(capsys, "train", ini, "--device", "cpu")
    assert code == 0, err
    checkpoint = tmp_path / "out" / "TinyRun" / "Networks" / "tiny_Epoch1.pt"
    mat_out = tmp_path / "mat"
    image, roi, label = (
        data / "MR" / "MR_Img5.mat",
        data / "ROI" / "ROI_Img5.mat",
        data / "Label" / "GT_Img5.mat",
    )
    code, _, err = _run(
        capsys,
        "segment",
        checkpoint,
        image,
        "--roi",
        roi,
        "--gt",
        label,
        "--out",
        mat_out,
        "--snapshot",
        "--device",
        "cpu",
    )
    assert code == 0, err
    segmentation = scipy.io.loadmat(str(mat_out / "Segmentation_MR_Img5.mat"))["vol"]
    assert segmentation.shape == example_data.shape
    for name in ("volumes.csv", "metrics.csv", "Snapshot_MR_Img5.png"):
        assert (mat_out / name).exists()
    # The same scan as NIfTI with a 1 mm affine: the output keeps that geometry.
    affine = np.diag([1.0, 1.0, 1.0, 1.0])
    affine[:3, 3] = [-128, -128, -100]
    nii = {}
    for key, path in (("image", image), ("roi", roi), ("label", label)):
        nii[key] = tmp_path / f"{path.stem}.nii.gz"
        nib.save(nib.Nifti1Image(scipy.io.loadmat(str(path))["vol"], affine), str(nii[key]))
    nii_out = tmp_path / "nii"
    code, _, err = _run(
        capsys,
        "segment",
        checkpoint,
        nii["image"],
        "--roi",
        nii["roi"],
        "--gt",
        nii["label"],
        "--out",
        nii_out,
        "--device",
        "cpu",
    )
    assert code == 0, err
    written = nib.load(str(nii_out / "Segmentation_MR_Img5.nii.gz"))
    assert written.shape == example_data.shape and np.allclose(written.affine, affine)
    assert np.array_equal(np.asarray(written.dataobj), segmentation)
