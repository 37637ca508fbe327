"""``livianet segment T1 --out DIR`` with nothing trained: the built-in model, end to end."""

from __future__ import annotations

import csv
import json

import nibabel as nib
import numpy as np

from livianet.cli import main
from livianet.data.orientation import affine_for_codes, reorientation
from livianet.networks.pretrained import DEFAULT_MODEL


def _stored(array: np.ndarray, affine: np.ndarray, codes: str) -> nib.Nifti1Image:
    turn = reorientation(affine, array.shape, codes)
    return nib.Nifti1Image(turn.apply(array), turn.affine)


def _brain_like_scan(shape=(40, 44, 36)) -> np.ndarray:
    """A bright ellipsoid with darker blobs: something to segment, not anatomy."""
    grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, s) for s in shape], indexing="ij"))
    inside = (grid**2).sum(0) < 0.8
    image = np.where(inside, 110.0, 0.0) - 40.0 * np.exp(-((grid[1] - 0.3) ** 2 + grid[0] ** 2) * 8)
    return (image * inside).astype(np.float32)


def test_models_prints_the_card(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{DEFAULT_MODEL} (default): ") and "not commercial" in out


def test_segment_with_no_checkpoint_in_any_orientation(capsys, caplog, tmp_path):
    image = _brain_like_scan()
    affine = affine_for_codes("RAS", image.shape)
    ras = nib.Nifti1Image(image, affine)
    psr = _stored(image, affine, "PSR")
    nib.save(ras, tmp_path / "ras_T1w.nii.gz")
    nib.save(psr, tmp_path / "psr_T1w.nii.gz")
    caplog.set_level("INFO")
    out = tmp_path / "out"
    code = main(
        [
            "segment",
            str(tmp_path / "ras_T1w.nii.gz"),
            str(tmp_path / "psr_T1w.nii.gz"),
            "--out",
            str(out),
        ]
    )
    assert code == 0
    assert "not commercial" in caplog.text  # the model's terms are said where it is used
    labels = {}
    for name, source in (("ras", ras), ("psr", psr)):
        written = nib.load(out / f"Segmentation_{name}_T1w.nii.gz")
        assert written.shape == source.shape and np.allclose(written.affine, source.affine)
        labels[name] = np.asarray(written.dataobj)
        assert labels[name].max() <= 8
    back = _stored(labels["psr"], psr.affine, "RAS")
    np.testing.assert_array_equal(np.asarray(back.dataobj), labels["ras"])
    with (out / "dseg.tsv").open() as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    assert [r["name"] for r in rows][1:3] == ["Left-Thalamus", "Left-Caudate"]
    manifest = json.loads((out / "segmentation.json").read_text())
    assert "not commercial" in manifest["model"]["licence"]
    assert "terms of use" in (out / "report.html").read_text()


def test_model_by_name_and_freesurfer_codes(tmp_path):
    image = _brain_like_scan()
    nib.save(nib.Nifti1Image(image, affine_for_codes("LIA", image.shape)), tmp_path / "t1.nii.gz")
    out = tmp_path / "out"
    argv = ["segment", str(tmp_path / "t1.nii.gz"), "--model", DEFAULT_MODEL, "--out", str(out)]
    assert main([*argv, "--original-labels", "--no-report"]) == 0
    codes = set(np.unique(np.asarray(nib.load(out / "Segmentation_t1.nii.gz").dataobj)).tolist())
    assert codes <= {0, 10, 11, 12, 13, 49, 50, 51, 52}


def test_a_two_channel_scan_for_the_one_channel_model_is_one_line_error(capsys, tmp_path):
    image = np.stack([_brain_like_scan()] * 2, axis=-1)  # 4-D NIfTI: channels last
    nib.save(nib.Nifti1Image(image, np.eye(4)), tmp_path / "two.nii.gz")
    code = main(["segment", str(tmp_path / "two.nii.gz"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1
    assert "two.nii.gz: 2 channel(s), but the network expects 1" in err and "Traceback" not in err
