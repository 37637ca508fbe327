"""``livianet segment`` on files: outputs on the input's grid, formats, batches that survive."""

from __future__ import annotations

import csv
import json
import os

import nibabel as nib
import numpy as np
import pytest
import scipy.io
from conftest import synthetic_case
from ideal_model import write_intensity_checkpoint
from nibabel import orientations

from livianet.cli import main

SHAPE = (32, 30, 28)


@pytest.fixture
def checkpoint(tmp_path):
    return write_intensity_checkpoint(tmp_path / "ideal.pt", label_pairs=((1, 2),))


@pytest.fixture
def scan():
    image, labels, roi = synthetic_case(np.random.default_rng(5), SHAPE)
    return image, labels, roi.astype(np.uint8)


def _oblique_affine() -> np.ndarray:
    """An LIA grid at 1 mm with a small rotation, as scanners write them."""
    angle = np.deg2rad(8)
    rotation = np.array(
        [[1, 0, 0], [0, np.cos(angle), -np.sin(angle)], [0, np.sin(angle), np.cos(angle)]]
    )
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.array([[-1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])
    affine[:3, 3] = [20.0, -30.0, 15.0]
    return affine


def _save(path, data, affine, sform_code=1, qform_code=1):
    image = nib.Nifti1Image(data, affine)
    image.set_sform(affine, sform_code)
    image.set_qform(affine, qform_code)
    image.header["descrip"] = b"a T1"
    image.header["cal_max"] = 250.0
    nib.save(image, str(path))
    return path


def _segment(*argv) -> int:
    return main(["segment", *map(str, argv), "--device", "cpu", "--precision", "float32"])


def test_outputs_keep_the_input_grid_and_codes_and_carry_label_headers(tmp_path, checkpoint, scan):
    image, labels, roi = scan
    affine = _oblique_affine()
    t1 = _save(tmp_path / "t1.nii.gz", image, affine, sform_code=4, qform_code=1)
    mask = _save(tmp_path / "mask.nii.gz", roi, affine, sform_code=4, qform_code=1)
    out = tmp_path / "out"
    assert _segment(checkpoint, t1, "--roi", mask, "--out", out, "--probabilities") == 0
    result = nib.load(str(out / "Segmentation_t1.nii.gz"))
    header = result.header
    assert result.shape == SHAPE and np.allclose(result.affine, affine)
    assert (int(header["sform_code"]), int(header["qform_code"])) == (4, 1)
    assert header.get_intent()[0] == "label" and result.get_data_dtype() == np.uint8
    assert (float(header["cal_min"]), float(header["cal_max"])) == (0.0, 3.0)
    assert header["descrip"].tobytes().rstrip(b"\0") == b"livianet label map"
    np.testing.assert_array_equal(np.asarray(result.dataobj), labels)  # the ideal model, reoriented
    probability = nib.load(str(out / "ProbMap_class_1_t1.nii.gz"))
    assert probability.get_data_dtype() == np.float32 and np.allclose(probability.affine, affine)
    volume_files = sorted(p.name for p in out.iterdir() if p.name.endswith(".nii.gz"))
    assert volume_files == ["ProbMap_class_1_t1.nii.gz", "ProbMap_class_2_t1.nii.gz",
                            "ProbMap_class_3_t1.nii.gz", "Segmentation_t1.nii.gz"]  # fmt: skip
    assert (out / "dseg.tsv").read_text().splitlines()[:2] == ["index\tname", "0\tBackground"]
    manifest = json.loads((out / "segmentation.json").read_text())
    geometry = manifest["scans"][0]["geometry"]
    assert geometry["orientation"] == "LIA" and geometry["reoriented"] and not geometry["resampled"]


def test_mgz_in_mgz_out(tmp_path, checkpoint, scan):
    image, labels, _ = scan
    affine = _oblique_affine()
    nib.save(nib.MGHImage(image, affine), str(tmp_path / "T1.mgz"))
    assert _segment(checkpoint, tmp_path / "T1.mgz", "--out", tmp_path / "out") == 0
    result = nib.load(str(tmp_path / "out" / "Segmentation_T1.mgz"))
    assert isinstance(result, nib.MGHImage) and result.shape == SHAPE
    assert np.allclose(result.affine, affine, atol=1e-5)
    np.testing.assert_array_equal(np.asarray(result.dataobj), labels)


def test_four_storages_of_one_scan_give_one_segmentation(tmp_path, checkpoint, scan):
    image, _, roi = scan
    ras = nib.Nifti1Image(image, np.eye(4))
    files = {"RAS": _save(tmp_path / "ras.nii.gz", image, np.eye(4))}
    for codes, name in (("LIA", "lia.mgz"), ("PSR", "psr.nii.gz")):
        turned = ras.as_reoriented(
            orientations.ornt_transform(
                orientations.axcodes2ornt("RAS"), orientations.axcodes2ornt(codes)
            )
        )
        path = tmp_path / name
        nib.save(
            turned
            if name.endswith(".nii.gz")
            else nib.MGHImage(np.asarray(turned.dataobj), turned.affine),
            str(path),
        )
        files[codes] = path
    ila = orientations.apply_orientation(
        image,
        orientations.ornt_transform(
            orientations.axcodes2ornt("RAS"), orientations.axcodes2ornt("ILA")
        ),
    )
    scipy.io.savemat(str(tmp_path / "ila.mat"), {"vol": ila})
    results = {}
    for codes, path in files.items():
        assert _segment(checkpoint, path, "--out", tmp_path / codes) == 0
        out = next((tmp_path / codes).glob("Segmentation_*"))
        results[codes] = np.asarray(nib.as_closest_canonical(nib.load(str(out))).dataobj)
    assert (
        _segment(
            checkpoint, tmp_path / "ila.mat", "--orientation", "ILA", "--out", tmp_path / "ILA"
        )
        == 0
    )
    stored = scipy.io.loadmat(str(tmp_path / "ILA" / "Segmentation_ila.mat"))["vol"]
    results["ILA"] = orientations.apply_orientation(
        stored,
        orientations.ornt_transform(
            orientations.axcodes2ornt("ILA"), orientations.axcodes2ornt("RAS")
        ),
    )
    for codes, labels in results.items():
        np.testing.assert_array_equal(labels, results["RAS"], err_msg=codes)


def test_a_bad_scan_does_not_stop_the_batch(tmp_path, checkpoint, scan, capsys):
    image, _, _ = scan
    good = [_save(tmp_path / f"good{i}.nii.gz", image, np.eye(4)) for i in (1, 2)]
    broken = tmp_path / "broken.nii.gz"
    broken.write_bytes(b"not a nifti at all")
    out = tmp_path / "out"
    assert _segment(checkpoint, good[0], broken, good[1], "--out", out) == 1
    err = capsys.readouterr().err
    assert "1 of 3 scans failed" in err and "broken.nii.gz" in err and "Traceback" not in err
    assert (out / "Segmentation_good1.nii.gz").exists() and (
        out / "Segmentation_good2.nii.gz"
    ).exists()
    rows = list(csv.DictReader(open(out / "failures.csv")))
    assert [r["input"] for r in rows] == [str(broken)] and "cannot read as NIfTI" in rows[0][
        "error"
    ]
    assert len((out / "volumes.csv").read_text().splitlines()) == 3


def test_a_scan_that_cannot_be_written_does_not_stop_the_batch(tmp_path, checkpoint, scan, capsys):
    """Writing runs behind the next scan's compute: its failure still names the scan."""
    image, _, _ = scan
    inputs = [_save(tmp_path / f"s{i}.nii.gz", image, np.eye(4)) for i in (1, 2, 3)]
    out = tmp_path / "out"
    (out / "Segmentation_s2.nii.gz").mkdir(parents=True)  # in the way of scan 2's label map
    assert _segment(checkpoint, *inputs, "--out", out) == 1
    err = capsys.readouterr().err
    assert "1 of 3 scans failed" in err and "s2.nii.gz" in err and "Traceback" not in err
    assert (out / "Segmentation_s1.nii.gz").is_file() and (out / "Segmentation_s3.nii.gz").is_file()
    rows = list(csv.DictReader(open(out / "failures.csv")))
    assert [r["input"] for r in rows] == [str(inputs[1])]
    volumes = list(csv.DictReader(open(out / "volumes.csv")))
    assert [r["image"] for r in volumes] == ["s1.nii.gz", "s3.nii.gz"]


def test_skip_existing_keeps_what_a_previous_run_wrote(tmp_path, checkpoint, scan):
    image, _, _ = scan
    first = _save(tmp_path / "a.nii.gz", image, np.eye(4))
    out = tmp_path / "out"
    assert _segment(checkpoint, first, "--out", out) == 0
    written = out / "Segmentation_a.nii.gz"
    before = written.stat().st_mtime_ns
    os.utime(written, ns=(before - 10**9, before - 10**9))
    second = _save(tmp_path / "b.nii.gz", image[::-1].copy(), np.eye(4))
    assert _segment(checkpoint, first, second, "--out", out, "--skip-existing") == 0
    assert written.stat().st_mtime_ns == before - 10**9  # kept, not recomputed
    rows = list(csv.DictReader(open(out / "volumes.csv")))
    assert [r["image"] for r in rows] == ["a.nii.gz", "b.nii.gz"]


def test_outputs_of_inputs_with_one_name_do_not_collide(tmp_path, checkpoint, scan):
    image, _, _ = scan
    inputs = []
    for subject in ("sub-01", "sub-02"):
        folder = tmp_path / "bids" / subject / "anat"
        folder.mkdir(parents=True)
        inputs.append(_save(folder / "T1w.nii.gz", image, np.eye(4)))
    out = tmp_path / "out"
    assert _segment(checkpoint, *inputs, "--out", out) == 0
    for subject in ("sub-01", "sub-02"):
        assert (out / subject / "anat" / "Segmentation_T1w.nii.gz").exists()
    rows = list(csv.DictReader(open(out / "volumes.csv")))
    assert [r["image"] for r in rows] == ["sub-01/anat/T1w.nii.gz", "sub-02/anat/T1w.nii.gz"]


def test_folders_and_glob_patterns_as_inputs(tmp_path, checkpoint, scan):
    image, _, _ = scan
    folder = tmp_path / "scans"
    folder.mkdir()
    for name in ("x.nii.gz", "y.nii.gz"):
        _save(folder / name, image, np.eye(4))
    (folder / "notes.txt").write_text("not a scan")
    assert _segment(checkpoint, folder, "--out", tmp_path / "a") == 0
    assert sorted(p.name for p in (tmp_path / "a").glob("Segmentation_*")) == [
        "Segmentation_x.nii.gz", "Segmentation_y.nii.gz"]  # fmt: skip
    assert _segment(checkpoint, str(folder / "y*.nii.gz"), "--out", tmp_path / "b") == 0
    assert [p.name for p in (tmp_path / "b").glob("Segmentation_*")] == ["Segmentation_y.nii.gz"]
    assert _segment(checkpoint, str(folder / "z*.nii.gz"), "--out", tmp_path / "c") == 1


def test_tta_and_an_ensemble_through_the_command_line(tmp_path, checkpoint, scan):
    image, _, _ = scan
    t1 = _save(tmp_path / "t1.nii.gz", image, np.eye(4))
    other = write_intensity_checkpoint(
        tmp_path / "other.pt", spacing=(1.1, 1.1, 1.1), label_pairs=((1, 2),)
    )
    assert _segment(checkpoint, other, t1, "--out", tmp_path / "ens", "--tta") == 0
    result = np.asarray(nib.load(str(tmp_path / "ens" / "Segmentation_t1.nii.gz")).dataobj)
    from livianet import Segmenter

    both = Segmenter.from_checkpoint([checkpoint, other], device="cpu", precision="float32")
    np.testing.assert_array_equal(result, both.segment(t1, tta=True).labels)
    assert not np.array_equal(result, both.segment(t1).labels)  # the mirror changed something
    assert _segment(checkpoint, t1, "--out", tmp_path / "bad", "--orientation", "XYZ") == 1


def test_original_label_codes_round_trip(tmp_path):
    """``livianet labels`` writes its mapping; training picks it up; --original-labels writes the codes."""
    from conftest import write_dataset, write_tiny_ini

    data = write_dataset(tmp_path / "data", num_cases=3)
    codes = {0: 0, 1: 10, 2: 11, 3: 49}
    for path in (data / "Label").iterdir():
        image = nib.load(str(path))
        original = np.vectorize(codes.get)(np.asarray(image.dataobj)).astype(np.int16)
        nib.save(nib.Nifti1Image(original, image.affine), str(path))
    assert main(["labels", str(data / "Label"), str(data / "Consecutive"), "4"]) == 0
    assert json.loads((data / "Consecutive" / "label_mapping.json").read_text()) == {
        "0": 0, "10": 1, "11": 2, "49": 3}  # fmt: skip
    (data / "Label").rename(data / "Original")
    (data / "Consecutive").rename(data / "Label")
    ini = write_tiny_ini(tmp_path, data, epochs=2)
    assert main(["-q", "train", str(ini), "--device", "cpu"]) == 0
    checkpoint = tmp_path / "out" / "TinyRun" / "Networks" / "tiny_Epoch2.pt"
    image = data / "MR" / "MR_Img3.nii.gz"
    assert _segment(checkpoint, image, "--out", tmp_path / "plain") == 0
    assert _segment(checkpoint, image, "--out", tmp_path / "codes", "--original-labels") == 0
    plain = np.asarray(nib.load(str(tmp_path / "plain" / "Segmentation_MR_Img3.nii.gz")).dataobj)
    coded = np.asarray(nib.load(str(tmp_path / "codes" / "Segmentation_MR_Img3.nii.gz")).dataobj)
    np.testing.assert_array_equal(coded, np.vectorize(codes.get)(plain))
    assert plain.max() > 0 and coded.max() >= 10  # structures found, and written as codes
    assert "49\t" in (tmp_path / "codes" / "dseg.tsv").read_text()
    no_mapping = write_intensity_checkpoint(tmp_path / "none.pt")
    assert _segment(no_mapping, image, "--out", tmp_path / "x", "--original-labels") == 1
