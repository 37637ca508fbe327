"""Issue 31's rough edges of reading and writing: (X, Y, Z, 1) inputs, sform/qform, "builtin"."""

from __future__ import annotations

import json
import logging

import nibabel as nib
import numpy as np
import pytest
import torch
from conftest import synthetic_case
from ideal_model import write_intensity_checkpoint

from livianet import Segmenter
from livianet.cli import main
from livianet.inference.inputs import as_volume
from livianet.io import load_volume, save_volume

SHAPE = (30, 28, 26)


@pytest.fixture
def checkpoint(tmp_path):
    return write_intensity_checkpoint(tmp_path / "ideal.pt", label_pairs=((1, 2),))


@pytest.fixture
def scan():
    image, labels, roi = synthetic_case(np.random.default_rng(7), SHAPE)
    return image, labels, roi.astype(np.uint8)


def _affine() -> np.ndarray:
    affine = np.diag([-1.0, 1.2, 1.0, 1.0])  # LAS, anisotropic
    affine[:3, 3] = [15.0, -20.0, -12.0]
    return affine


def _save(path, data, affine, qform=None, sform_code=1, qform_code=1):
    image = nib.Nifti1Image(data, affine)
    image.set_sform(affine, sform_code)
    image.set_qform(affine if qform is None else qform, qform_code)
    nib.save(image, str(path))
    return path


def _segment(*argv) -> int:
    return main(["segment", *map(str, argv), "--device", "cpu", "--precision", "float32"])


# --------------------------------------------------------------------------- (X, Y, Z, 1)


def test_a_singleton_fourth_axis_is_read_as_3d_and_written_back(tmp_path, scan):
    image, labels, _ = scan
    path = _save(tmp_path / "t1.nii.gz", image[..., np.newaxis], _affine())
    volume = load_volume(path)
    assert volume.data.shape == SHAPE and volume.trailing_singleton
    assert volume.channels.shape == (1, *SHAPE)
    out = save_volume(labels, tmp_path / "seg.nii.gz", volume, kind="label")
    written = nib.load(str(out))
    assert written.shape == (*SHAPE, 1) and np.allclose(written.affine, _affine())
    np.testing.assert_array_equal(np.asarray(written.dataobj)[..., 0], labels)
    # Two channels stay channels; a 3-D file stays 3-D.
    two = load_volume(_save(tmp_path / "two.nii.gz", np.stack([image, image], -1), _affine()))
    assert two.data.shape == (2, *SHAPE) and not two.trailing_singleton
    plain = load_volume(_save(tmp_path / "plain.nii.gz", image, _affine()))
    assert not plain.trailing_singleton
    assert nib.load(str(save_volume(labels, tmp_path / "p.nii.gz", plain, "label"))).shape == SHAPE


def test_a_singleton_fourth_axis_scan_comes_back_in_its_own_shape(tmp_path, checkpoint, scan):
    image, labels, roi = scan
    t1 = _save(tmp_path / "t1.nii.gz", image[..., np.newaxis], _affine())
    mask = _save(tmp_path / "mask.nii.gz", roi[..., np.newaxis], _affine())
    out, flat = tmp_path / "out", tmp_path / "flat_out"
    (tmp_path / "flat").mkdir()
    assert _segment(checkpoint, t1, "--roi", mask, "--out", out, "--probabilities") == 0
    result = nib.load(str(out / "Segmentation_t1.nii.gz"))
    assert result.shape == (*SHAPE, 1) and np.allclose(result.affine, _affine())
    # The same labels as the 3-D file of the same scan gets.
    t1_3d = _save(tmp_path / "flat" / "t1.nii.gz", image, _affine())
    mask_3d = _save(tmp_path / "flat" / "mask.nii.gz", roi, _affine())
    assert _segment(checkpoint, t1_3d, "--roi", mask_3d, "--out", flat, "--no-report") == 0
    expected = np.asarray(nib.load(str(flat / "Segmentation_t1.nii.gz")).dataobj)
    assert expected.shape == SHAPE and (expected > 0).sum() > 0.5 * (labels > 0).sum()
    np.testing.assert_array_equal(np.asarray(result.dataobj)[..., 0], expected)
    probability = nib.load(str(out / "ProbMap_class_1_t1.nii.gz"))
    assert probability.shape == (*SHAPE, 1) and np.allclose(probability.affine, _affine())
    # The in-memory nibabel image of such a file is taken the same way.
    volume = as_volume(nib.Nifti1Image(image[..., np.newaxis], _affine()))
    assert volume.data.shape == SHAPE and volume.trailing_singleton


# --------------------------------------------------------------------------- sform / qform


def _disagreeing(tmp_path, scan, name="t1.nii.gz"):
    image, _, roi = scan
    qform = _affine()
    qform[:3, 3] += [0.0, 3.0, 0.0]  # 3 mm apart
    t1 = _save(tmp_path / name, image, _affine(), qform=qform)
    mask = _save(tmp_path / f"mask_{name}", roi, _affine(), qform=qform)
    return t1, mask


def test_disagreeing_sform_and_qform_are_named_and_the_sform_used(tmp_path, scan, caplog):
    t1, _ = _disagreeing(tmp_path, scan)
    with caplog.at_level(logging.WARNING, logger="livianet.io.volumes"):
        volume = load_volume(t1)
    (note,) = volume.warnings
    assert "sform and qform disagree" in note and "using the sform" in note
    assert "sform code 1 'scanner'" in note and "qform code 1 'scanner'" in note and "3 mm" in note
    assert f"{t1.name}: sform and qform disagree" in caplog.text
    np.testing.assert_allclose(volume.affine, _affine())
    assert as_volume(nib.load(str(t1))).warnings == volume.warnings
    image = scan[0]
    agree = _save(tmp_path / "agree.nii.gz", image, _affine())
    nudged = _affine()
    nudged[:3, 3] += 1e-5  # float32 rounding, not a disagreement
    close = _save(tmp_path / "close.nii.gz", image, _affine(), qform=nudged)
    unset = _save(tmp_path / "unset.nii.gz", image, _affine(), qform=np.eye(4), qform_code=0)
    for path in (agree, close, unset):
        assert load_volume(path).warnings == (), path.name


def test_disagreeing_sform_and_qform_are_recorded_as_the_scans_warning(tmp_path, checkpoint, scan):
    t1, mask = _disagreeing(tmp_path, scan)
    out = tmp_path / "out"
    assert _segment(checkpoint, t1, "--roi", mask, "--out", out, "--no-report") == 0
    manifest = json.loads((out / "segmentation.json").read_text())
    (entry,) = manifest["scans"]
    assert any("sform and qform disagree" in w for w in entry["warnings"])


# --------------------------------------------------------------------------- "builtin"


def test_from_checkpoint_builtin_is_the_pretrained_model():
    builtin = Segmenter.from_checkpoint("builtin", device="cpu", precision="float32")
    pretrained = Segmenter.from_pretrained(device="cpu", precision="float32")
    assert builtin.members[0].checkpoint.path == pretrained.members[0].checkpoint.path
    assert builtin.label_names == pretrained.label_names
    for a, b in zip(
        builtin.members[0].network.parameters(),
        pretrained.members[0].network.parameters(),
        strict=True,
    ):
        assert torch.equal(a, b)
