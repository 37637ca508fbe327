"""Every label map says how it was made; ``--skip-existing`` redoes what was made otherwise (issue 31)."""

from __future__ import annotations

import hashlib
import json
import logging

import nibabel as nib
import numpy as np

from livianet.cli import main


def _ball(shape: tuple[int, int, int]) -> np.ndarray:
    grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, s) for s in shape], indexing="ij"))
    return np.where((grid**2).sum(0) < 0.6, 100.0, 0.0).astype(np.float32)


def _segment(*args: object) -> int:
    common = ["--no-report", "--device", "cpu", "--precision", "float32"]
    return main(["segment", *(str(a) for a in args), *common])


def test_segmentation_json_records_inputs_model_and_settings(tmp_path):
    image, roi = tmp_path / "t1.nii.gz", tmp_path / "mask.nii.gz"
    nib.save(nib.Nifti1Image(_ball((24, 26, 22)), np.eye(4)), image)
    nib.save(nib.Nifti1Image((_ball((24, 26, 22)) > 0).astype(np.uint8), np.eye(4)), roi)
    assert _segment(image, "--roi", roi, "--out", tmp_path / "out") == 0
    entry = json.loads((tmp_path / "out" / "segmentation.json").read_text())["scans"][0]
    record = entry["provenance"]
    digest = hashlib.sha256(image.read_bytes()).hexdigest()
    assert record["inputs"]["images"] == [{"path": str(image), "sha256": digest}]
    assert record["inputs"]["roi"]["sha256"] == hashlib.sha256(roi.read_bytes()).hexdigest()
    settings = record["settings"]
    model = settings["models"][0]
    assert model["path"].endswith(".pt") and len(model["sha256"]) == 64
    assert (settings["tta"], settings["precision"], settings["device"]) == (False, "float32", "cpu")
    assert settings["resample"] is True and settings["brain_extraction"].startswith("deepbet")
    assert "segment" in record["command"] and record["livianet_version"]
    assert record["seconds"] >= 0


def test_skip_existing_keeps_what_matches_and_redoes_what_was_made_otherwise(tmp_path, caplog):
    image, roi = tmp_path / "t1.nii.gz", tmp_path / "mask.nii.gz"
    nib.save(nib.Nifti1Image(_ball((24, 24, 24)), np.eye(4)), image)
    nib.save(nib.Nifti1Image((_ball((24, 24, 24)) > 0).astype(np.uint8), np.eye(4)), roi)
    out = tmp_path / "out"
    assert _segment(image, "--roi", roi, "--out", out) == 0
    with caplog.at_level(logging.INFO):
        assert _segment(image, "--roi", roi, "--out", out, "--skip-existing") == 0
    assert "kept the existing Segmentation_t1.nii.gz" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert _segment(image, "--roi", roi, "--out", out, "--skip-existing", "--tta") == 0
    assert "made otherwise (tta: False -> True): segmenting again" in caplog.text
    entry = json.loads((out / "segmentation.json").read_text())["scans"][0]
    assert entry["provenance"]["settings"]["tta"] is True
    caplog.clear()
    nib.save(nib.Nifti1Image(_ball((24, 24, 24)) * 2, np.eye(4)), image)  # the scan changed
    with caplog.at_level(logging.INFO):
        assert _segment(image, "--roi", roi, "--out", out, "--skip-existing", "--tta") == 0
    assert "input files changed" in caplog.text
