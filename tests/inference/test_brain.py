"""Brain extraction: whole-head T1s in, the brain mask, its ROI and the TIV out.

The fast tests cover what surrounds deepbet's networks (refusals before they load, the
reinstall messages, the ROI taken from a mask, the outputs written for an extracted scan).
The networks themselves run in the tests marked slow, on a rendered head of coarse voxels.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from ideal_model import write_intensity_checkpoint

from livianet import Segmenter
from livianet.cli import main
from livianet.data.orientation import affine_for_codes
from livianet.errors import ConfigError
from livianet.inference.brain import (
    REINSTALL,
    BrainMask,
    BrainSettings,
    _load_deepbet,
    edge_contrast,
    field_of_view_problem,
    labels_on_edge,
    tissue_roi,
)
from livianet.io import Volume, load_volume

HEAD_SPACING = 3.0  # mm: a whole head in 64^3 voxels, so that the tests stay small


def rendered_head(n: int = 64, spacing: float = HEAD_SPACING, seed: int = 0):
    """A T1-like head of nested ellipsoids (scalp, skull, CSF, cortex, white matter), its brain mask."""
    centres = (np.arange(n) - n / 2 + 0.5) * spacing
    x, y, z = np.meshgrid(centres, centres, centres, indexing="ij")

    def inside(a: float, b: float, c: float) -> np.ndarray:
        return (x / a) ** 2 + (y / b) ** 2 + (z / c) ** 2 <= 1

    image = np.zeros((n,) * 3, np.float32)
    for (a, b, c), value in (
        ((80, 95, 90), 70.0),  # scalp
        ((75, 90, 85), 15.0),  # skull
        ((70, 85, 80), 30.0),  # CSF
        ((67, 82, 75), 75.0),  # grey matter
        ((58, 72, 64), 110.0),  # white matter
        ((10, 25, 12), 30.0),  # ventricles
    ):
        image[inside(a, b, c)] = value
    image += np.random.default_rng(seed).normal(0, 4, image.shape).astype(np.float32)
    affine = np.diag([spacing, spacing, spacing, 1.0])
    affine[:3, 3] = -(n / 2 - 0.5) * spacing
    return np.clip(image, 0, None), affine, inside(70, 85, 80)  # the brain with its CSF


def _volume(data: np.ndarray, spacing: float = 1.0, name: str = "scan") -> Volume:
    affine = np.diag([spacing, spacing, spacing, 1.0])
    return Volume(data=data, affine=affine, header=nib.Nifti1Header(), path=Path(name))


@pytest.fixture(scope="module")
def roi_model(tmp_path_factory) -> Path:
    """A model trained with ROI masks (as the built-in model): its scans without one get extracted."""
    path = tmp_path_factory.mktemp("roi_model") / "roi.pt"
    return write_intensity_checkpoint(
        path, spacing=(HEAD_SPACING,) * 3, normalization_region="roi", means=[0, 30, 75, 110]
    )


def test_a_tiny_scan_is_refused_before_the_extractor_loads(roi_model):
    """Tests segmenting tiny volumes without an ROI never load deepbet: a small field of view
    holds no brain, so segmentation warns and goes on as without extraction."""
    segmenter = Segmenter.from_checkpoint(roi_model, device="cpu", precision="float32")
    image = np.full((24, 24, 24), 75.0, np.float32)
    image[0, 0, 0] = 74.0  # not constant: a constant image is refused outright
    result = segmenter.segment((image, affine_for_codes("RAS", image.shape)))
    assert segmenter._extractor is None and result.brain_mask is None
    assert any(
        "brain extraction found no brain (field of view 24x24x24 mm" in w for w in result.warnings
    )
    assert result.labels.any()  # segmented as today: everywhere


def test_a_model_trained_without_roi_masks_is_never_given_extraction(tmp_path):
    path = write_intensity_checkpoint(
        tmp_path / "plain.pt", spacing=(6.0,) * 3, means=[0, 30, 75, 110]
    )
    segmenter = Segmenter.from_checkpoint(path, device="cpu", precision="float32")
    image, affine, _ = rendered_head(32, 6.0)
    result = segmenter.segment((image, affine))
    assert segmenter._extractor is None and result.brain_mask is None
    assert not any("brain" in w for w in result.warnings)


@pytest.mark.parametrize(
    ("shape", "spacing", "expected"),
    [
        ((256, 256, 1), 1.0, "field of view 256x256x1 mm"),  # a 2-D image
        ((40, 200, 200), 1.0, "field of view 40x200x200 mm"),  # a slab
    ],
)
def test_scans_that_cannot_hold_a_brain_are_named(shape, spacing, expected):
    assert expected in field_of_view_problem(_volume(np.ones(shape, np.float32), spacing))
    constant = _volume(np.zeros((100, 100, 100), np.float32))
    assert field_of_view_problem(constant) == "the image is constant"


def test_mask_settings_refuse_values_out_of_range():
    with pytest.raises(ConfigError, match="--brain-threshold 1.5: expected a probability"):
        BrainSettings(threshold=1.5)
    with pytest.raises(ConfigError, match="--brain-dilation 30"):
        BrainSettings(dilation=30)


def test_unreadable_networks_say_how_to_reinstall(tmp_path):
    with pytest.raises(ConfigError) as raised:
        _load_deepbet(torch.device("cpu"), tmp_path)  # a folder without deepbet's two networks
    message = str(raised.value)
    assert str(tmp_path) in message and REINSTALL in message and "\n" not in message


def test_a_missing_extractor_says_how_to_reinstall(monkeypatch):
    monkeypatch.setitem(sys.modules, "deepbet.bet", None)  # what an uninstalled package gives
    with pytest.raises(ConfigError, match="needs deepbet, which cannot be imported") as raised:
        _load_deepbet(torch.device("cpu"), None)
    assert REINSTALL in str(raised.value) and "--no-brain-extraction" in str(raised.value)


def test_the_roi_is_the_masks_tissue_and_edges_are_told_from_noise():
    image, _, brain = rendered_head(64, 3.0)
    roi = tissue_roi(image, brain)
    tissue = brain & (image > 50)
    assert not roi[image < 50].any()  # CSF and ventricles left out
    assert roi.sum() > 0.99 * tissue.sum()  # grey and white matter kept
    assert edge_contrast(image, brain) > 1.0
    noise = np.random.default_rng(1).random(image.shape).astype(np.float32)
    assert abs(edge_contrast(noise, brain)) < 0.2


def test_labels_on_the_masks_edge_are_counted_per_structure():
    mask = np.zeros((12, 12, 12), bool)
    mask[2:10, 2:10, 2:10] = True
    labels = np.zeros(mask.shape, np.int64)
    labels[5:7, 5:7, 5:7] = 1  # deep inside
    labels[2, 4:6, 4:6] = 2  # on the edge: 4 voxels
    assert labels_on_edge(labels, mask, 4) == {1: 0, 2: 4, 3: 0}


def test_an_extracted_scan_writes_its_mask_tiv_and_fractions(tmp_path):
    from livianet.inference.batch import _brain_entry, _volume_row, _write_brain
    from livianet.inference.jobs import Job
    from livianet.inference.result import Geometry, SegmentationResult

    image, affine, brain = rendered_head(32, 6.0)
    nib.save(nib.Nifti1Image(image, affine), tmp_path / "h.nii.gz")
    source = load_volume(tmp_path / "h.nii.gz")
    labels = np.where(brain & (image > 90), 1, 0).astype(np.int64)
    volumes = {"structure_1": float(labels.sum()) * 216.0}
    geometry = Geometry("RAS", (6.0,) * 3, image.shape, "RAS", (6.0,) * 3, False, False)
    result = SegmentationResult(
        labels, None, volumes, geometry, [], source, {1: "structure_1"},
        brain_mask=BrainMask(brain, 216.0, tissue_roi(image, brain)),
    )  # fmt: skip
    from livianet.data import CaseFiles

    job = Job(CaseFiles(0, (source.path,), None, None), tmp_path)
    written = _write_brain(job, result, save_brain=True)
    mask = nib.load(written["brain_mask"])
    assert mask.get_data_dtype() == np.uint8 and mask.header.get_intent()[0] == "label"
    np.testing.assert_array_equal(np.asarray(mask.dataobj), brain)
    np.testing.assert_allclose(mask.affine, affine)
    stripped = np.asarray(nib.load(written["skull_stripped"]).dataobj)
    assert not stripped[~brain].any() and np.allclose(stripped[brain], image[brain])
    tiv = float(brain.sum()) * 216.0
    assert _volume_row("h.nii.gz", labels, source, {1: "structure_1"}, 2, tiv)["TIV_mm3"] == tiv
    entry = _brain_entry(result, 2)
    assert entry["tiv_mm3"] == tiv
    assert entry["volume_fractions_of_tiv"]["1"] == pytest.approx(volumes["structure_1"] / tiv)
    assert entry["labels_on_brain_edge"] == {"1": 0}


# ----------------------------------------------------------------------------- deepbet's networks


def _write_head(path: Path, **options) -> np.ndarray:
    image, affine, brain = rendered_head(**options)
    nib.save(nib.Nifti1Image(image, affine), path)
    return brain


@pytest.mark.slow  # deepbet's networks (~5-15 s on 2 cores); the wiring is covered above
def test_whole_heads_are_extracted_segmented_and_flagged_end_to_end(tmp_path, roi_model, capsys):
    """One batch: a whole head (mask, TIV, skull-stripped T1), and noise, which deepbet calls
    a brain: refused by its edge contrast, segmented as today, flagged; the batch goes on."""
    heads = tmp_path / "in"
    heads.mkdir()
    brain = _write_head(heads / "head.nii.gz")
    noise = np.random.default_rng(2).random((64, 64, 64)).astype(np.float32) * 100
    nib.save(nib.Nifti1Image(noise, np.diag([3.0, 3.0, 3.0, 1.0])), heads / "noise.nii.gz")
    out = tmp_path / "out"
    code = main(["segment", str(heads), "--model", str(roi_model), "--out", str(out),
                 "--save-brain", "--device", "cpu", "--precision", "float32"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    mask = np.asarray(nib.load(out / "BrainMask_head.nii.gz").dataobj).astype(bool)
    dice = 2 * (mask & brain).sum() / (mask.sum() + brain.sum())
    assert dice > 0.9
    labels = np.asarray(nib.load(out / "Segmentation_head.nii.gz").dataobj)
    assert labels.any() and not labels[~mask].any()
    assert (out / "SkullStripped_head.nii.gz").is_file()
    assert not (out / "BrainMask_noise.nii.gz").exists()
    rows = {r["image"]: r for r in csv.DictReader((out / "volumes.csv").open())}
    assert float(rows["head.nii.gz"]["TIV_mm3"]) == mask.sum() * HEAD_SPACING**3
    assert rows["noise.nii.gz"]["TIV_mm3"] == ""
    manifest = json.loads((out / "segmentation.json").read_text())
    scans = {s["image"]: s for s in manifest["scans"]}
    assert set(scans["head.nii.gz"]["volume_fractions_of_tiv"]) == {"1", "2", "3"}
    assert "deepbet" in manifest["model"]["licence"]
    qc = {r["image"]: r for r in csv.DictReader((out / "qc.csv").open())}
    assert "brain extraction found no brain" in qc["noise.nii.gz"]["reasons"]
    assert float(qc["head.nii.gz"]["brain_mask_cm3"]) == pytest.approx(mask.sum() * 27 / 1000)
    assert "deepbet" in (out / "report.html").read_text()


@pytest.mark.slow  # deepbet's networks; the refusals before them are covered above
def test_roi_brain_writes_training_masks_and_lists_what_it_could_not(tmp_path, capsys):
    images = tmp_path / "MR"
    images.mkdir()
    _write_head(images / "MR_head.nii.gz")
    nib.save(
        nib.Nifti1Image(np.ones((20, 20, 20), np.float32), np.eye(4)), images / "MR_tiny.nii.gz"
    )
    code = main(["roi", str(images), str(tmp_path / "ROI"), "--brain", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 1 and "1 of 2 images got no ROI" in err and "MR_tiny.nii.gz" in err
    roi = nib.load(tmp_path / "ROI" / "ROI_MR_head.nii.gz")
    assert roi.get_data_dtype() == np.uint8 and np.asarray(roi.dataobj).sum() > 1000
    assert not (tmp_path / "ROI" / "ROI_MR_tiny.nii.gz").exists()
