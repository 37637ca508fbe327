"""The original's own files: the stand-ins the rest of the suite runs on are true to them.

Every other test runs on files written here in the original's formats (conftest), so a bare clone
runs them all. These tests read the real files from the shared folder (``$LIVIANET_SHARED``,
default ``../shared``: its INI files, pre-trained weights and example scans) and skip, naming the
folder they need, where it is absent.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from conftest import (
    CONFIGS_PARTS,
    EXAMPLE_CASES,
    EXAMPLE_CLASSES,
    EXAMPLE_PARTS,
    ORIGINAL_WEIGHT_SHAPES,
    WEIGHTS_PARTS,
    shared_path,
)
from original_format import DEFAULT, NEURO_PAPER, SEGMENTATION, original_texts
from scipy import ndimage

from livianet.cli import main
from livianet.config import load_segmentation_config, load_training_config
from livianet.data.orientation import affine_for_codes, reorientation
from livianet.evaluation import dice_per_class
from livianet.io import Volume, load_volume
from livianet.networks import build_model, load_npy_weights

EXAMPLE_SHAPE = (256, 256, 256)
# The example arrays' axis codes, as README.md states (`orientation = ILA`); ../shared/data/README.md
# gives the evidence.
EXAMPLE_ORIENTATION = "ILA"
ROLES = (("MR", "MR_Img"), ("Label", "GT_Img"), ("ROI", "ROI_Img"))


# ----------------------------------------------------------------------------- the INI files


def test_the_original_ini_files_are_the_written_ones_byte_for_byte() -> None:
    shared = shared_path(*CONFIGS_PARTS)
    for name, text in original_texts().items():
        assert text.encode("utf-8") == (shared / name).read_bytes(), name


def test_the_original_ini_files_load_unchanged() -> None:
    shared = shared_path(*CONFIGS_PARTS)
    default = load_training_config(shared / DEFAULT)
    assert (default.network_name, default.model.conv_channels) == ("liviaTest", (10, 20, 30))
    assert (default.train_indexes, default.validation_indexes) == ((0, 1, 2, 3, 4), (5,))
    paper = load_training_config(shared / NEURO_PAPER).model
    assert paper.conv_channels == (25,) * 3 + (50,) * 3 + (75,) * 3
    assert (paper.fc_channels, paper.intermediate_layers) == ((400, 200, 150), (2, 5))
    assert (paper.num_classes, paper.receptive_field) == (9, (19, 19, 19))
    assert load_segmentation_config(shared / SEGMENTATION).indexes == (6,)


# ----------------------------------------------------------------------------- the weights


def test_the_original_weights_load_into_the_default_network(original_configs: Path) -> None:
    folder = shared_path(*WEIGHTS_PARTS)
    model = build_model(load_training_config(original_configs / DEFAULT).model)
    assert load_npy_weights(model, folder, (0, 1, 2)) == ["conv1", "conv2", "conv3"]
    for index, shape in enumerate(ORIGINAL_WEIGHT_SHAPES):
        stored = np.load(folder / f"weights_ConvLayer_{index}.npy")
        assert (stored.shape, stored.dtype) == (shape, np.float32), index
        loaded = getattr(model, f"conv{index + 1}").conv.weight.detach().numpy()
        np.testing.assert_array_equal(loaded, stored[:, :, ::-1, ::-1, ::-1])  # Theano flips


# ----------------------------------------------------------------------------- the example scans


@pytest.fixture(scope="module")
def example_scans() -> dict[str, list[Volume]]:
    """The five cases' images, labels and ROI masks by folder, read as livianet reads them."""
    root = shared_path(*EXAMPLE_PARTS)
    return {
        folder: [
            load_volume(root / folder / f"{prefix}{i}.mat") for i in range(1, EXAMPLE_CASES + 1)
        ]
        for folder, prefix in ROLES
    }


def as_ras(volume: Volume) -> nib.Nifti1Image:
    """The array in RAS, with its declared axis codes turned into an affine (1 mm voxels)."""
    shape = volume.spatial_shape
    turn = reorientation(affine_for_codes(EXAMPLE_ORIENTATION, shape), shape, "RAS")
    return nib.Nifti1Image(turn.apply(volume.data), turn.affine)


def test_the_example_scans_read_as_stated(example_scans) -> None:
    """Five uint8 256^3 cases without geometry, labels 0..8 inside brain masks of about MR > 0."""
    assert [len(volumes) for volumes in example_scans.values()] == [EXAMPLE_CASES] * 3
    for image, labels, roi in zip(*example_scans.values(), strict=True):
        for volume in (image, labels, roi):
            assert (volume.data.shape, volume.data.dtype) == (EXAMPLE_SHAPE, np.uint8), volume.path
            assert volume.is_mat and np.array_equal(volume.affine, np.eye(4)), volume.path
        assert np.unique(labels.data).tolist() == list(range(EXAMPLE_CLASSES)), labels.path
        assert np.unique(roi.data).tolist() == [0, 1], roi.path
        assert not labels.data[roi.data == 0].any(), labels.path
        assert ((roi.data > 0) == (image.data > 0)).mean() > 0.95, roi.path  # skull-stripped


def test_the_example_scans_lie_in_the_stated_orientation(example_scans) -> None:
    """Declared ILA, the anatomy lands where it belongs in RAS: labels 1-4 left, 5-8 right."""
    for labels in example_scans["Label"]:
        ras = np.asarray(as_ras(labels).dataobj)
        centres = np.array(ndimage.center_of_mass(ras > 0, ras, range(1, EXAMPLE_CLASSES)))
        left, right = centres[:4], centres[4:]  # (R, A, S) voxel index of each structure
        assert (left[:, 0] < right[:, 0]).all(), labels.path
        for side, outward in ((left, -1), (right, 1)):
            thalamus, caudate, putamen, pallidum = side
            assert caudate[1] > thalamus[1] and caudate[2] > thalamus[2], labels.path
            assert outward * (putamen[0] - pallidum[0]) > 0, labels.path  # putamen lateral


def test_the_built_in_model_segments_a_real_scan_given_in_ras(example_scans, tmp_path) -> None:
    """A packaging check on a scan it was trained on (its accuracy is cross-validated in docs/results.md)."""
    ras = [as_ras(example_scans[folder][0]) for folder in ("MR", "ROI", "Label")]
    box = tuple(slice(a, b) for a, b in ((68, 188), (80, 200), (70, 170)))  # around the structures
    crops = [nib.Nifti1Image(np.asarray(v.dataobj)[box], v.slicer[box].affine) for v in ras]
    reference = np.asarray(crops[2].dataobj)
    assert reference.astype(bool).sum() == (example_scans["Label"][0].data > 0).sum()
    for name, volume in zip(("t1", "roi"), crops[:2], strict=True):
        nib.save(volume, tmp_path / f"{name}.nii.gz")
    out = tmp_path / "out"
    argv = ["segment", tmp_path / "t1.nii.gz", "--roi", tmp_path / "roi.nii.gz", "--out", out]
    assert main([str(a) for a in [*argv, "--no-report"]]) == 0
    labels = load_volume(out / "Segmentation_t1.nii.gz").data
    dice = dice_per_class(labels, reference.astype(labels.dtype), EXAMPLE_CLASSES)[1:]
    assert dice.mean() > 0.8, dice
