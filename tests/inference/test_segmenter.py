"""The Segmenter API: any orientation and voxel size in, results on the scan's own grid out."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from conftest import synthetic_case
from ideal_model import (
    TWO_STRUCTURE_MEANS,
    random_network,
    save_network,
    two_structure_scan,
    write_intensity_checkpoint,
)
from nibabel import orientations
from nibabel.processing import resample_from_to

from livianet import Segmenter, segment
from livianet.data.geometry import GridPlan
from livianet.data.orientation import affine_for_codes
from livianet.data.spatial import grid_for_spacing
from livianet.errors import CheckpointError, ConfigError, DataError
from livianet.evaluation import dice_per_class
from livianet.networks import ModelMeta

SHAPE = (48, 48, 48)


@pytest.fixture(scope="module")
def scan() -> tuple[nib.Nifti1Image, nib.Nifti1Image, nib.Nifti1Image]:
    """Image, ROI and labels of one synthetic scan stored in RAS at 1 mm."""
    image, labels, roi = synthetic_case(np.random.default_rng(3), SHAPE)
    affine = affine_for_codes("RAS", SHAPE)
    return tuple(nib.Nifti1Image(a, affine) for a in (image, roi, labels))  # type: ignore[return-value]


@pytest.fixture(scope="module")
def ideal(tmp_path_factory) -> Segmenter:
    path = tmp_path_factory.mktemp("ideal") / "ideal.pt"
    write_intensity_checkpoint(path, label_pairs=((1, 2),))
    return Segmenter.from_checkpoint(path, device="cpu", precision="float32")


def _as(image: nib.Nifti1Image, codes: str) -> nib.Nifti1Image:
    """The same scan stored with other axis codes (a lossless reorientation)."""
    turn = orientations.ornt_transform(
        orientations.io_orientation(image.affine), orientations.axcodes2ornt(codes)
    )
    return image.as_reoriented(turn)


def _to_ras(labels: np.ndarray, affine: np.ndarray) -> np.ndarray:
    return np.asarray(nib.as_closest_canonical(nib.Nifti1Image(labels, affine)).dataobj)


def _mean_dice(labels: np.ndarray, reference: np.ndarray, num_classes: int = 4) -> float:
    return float(
        np.nanmean(dice_per_class(labels, reference.astype(labels.dtype), num_classes)[1:])
    )


def test_ideal_model_segments_the_stored_scan_exactly(ideal, scan):
    image, roi, labels = scan
    result = ideal.segment(image, roi)
    np.testing.assert_array_equal(result.labels, np.asarray(labels.dataobj))
    assert result.geometry.orientation == "RAS" and not result.geometry.reoriented
    assert result.volumes["structure_1"] == float((np.asarray(labels.dataobj) == 1).sum())


@pytest.mark.parametrize("codes", ["LIA", "PSR", "ILA"])  # PSR: a sagittal acquisition
def test_every_orientation_gives_the_same_labels_once_mapped_back(tmp_path, scan, codes):
    """Also with a trained network (not only the ideal one): reorientation is lossless."""
    from conftest import write_dataset, write_tiny_ini

    from livianet.config import load_training_config
    from livianet.training import TrainOptions, train

    data = write_dataset(tmp_path / "data", num_cases=3, shape=(24, 24, 24))
    trained = train(
        load_training_config(write_tiny_ini(tmp_path, data, epochs=1)),
        TrainOptions(device="cpu", progress=False),
    )
    segmenter = Segmenter.from_checkpoint(
        trained.last_checkpoint, device="cpu", precision="float32"
    )
    image, roi, _ = scan
    base = segmenter.segment(image, roi)
    turned = segmenter.segment(_as(image, codes), _as(roi, codes))
    assert turned.geometry.orientation == codes and turned.geometry.reoriented
    assert turned.labels.shape == _as(image, codes).shape
    np.testing.assert_array_equal(_to_ras(turned.labels, _as(image, codes).affine), base.labels)


def test_a_resampled_scan_loses_little_against_the_reference_moved_the_same_way(tmp_path):
    """1.3 x 1.0 x 1.2 mm: only partial volume may cost Dice (scored on the scan's own grid)."""
    image, labels = two_structure_scan((64, 64, 64), radius=12)
    path = write_intensity_checkpoint(tmp_path / "two.pt", num_classes=3, means=TWO_STRUCTURE_MEANS)
    segmenter = Segmenter.from_checkpoint(path, device="cpu", precision="float32")
    fine = [nib.Nifti1Image(a, np.eye(4)) for a in (image, labels)]
    base = _mean_dice(segmenter.segment(fine[0]).labels, labels, 3)
    affine, shape = grid_for_spacing(np.eye(4), image.shape, (1.3, 1.0, 1.2))
    coarse = [
        resample_from_to(v, (shape, affine), order=o) for v, o in zip(fine, (1, 0), strict=True)
    ]
    result = segmenter.segment(coarse[0])
    assert result.geometry.resampled and result.labels.shape == shape
    moved = _mean_dice(result.labels, np.asarray(coarse[1].dataobj), 3)
    assert base > 0.99 and moved > base - 0.06, (base, moved)
    kept = segmenter.segment(coarse[0], resample=False)
    assert not kept.geometry.resampled and any("--no-resample" in w for w in kept.warnings)


def test_a_resampled_scan_is_resampled_only_around_its_roi_with_the_same_result(
    tmp_path, scan, monkeypatch
):
    """The model input is cut to the ROI's box and the network's context: nothing changes.

    A random network of receptive field 7 reads 3 voxels around each output
    voxel, so a cut too tight would show; z-scores come from the ROI alone.
    """
    meta = ModelMeta(
        normalization="zscore", orientation="RAS", spacing=(1.0, 1.0, 1.0), label_pairs=((1, 2),)
    )
    path = save_network(random_network(num_classes=3), meta, tmp_path / "random.pt")
    segmenter = Segmenter.from_checkpoint(path, device="cpu", precision="float32")
    image, roi, _ = scan
    part = np.zeros(SHAPE, np.uint8)
    part[14:34, 10:36, 16:30] = np.asarray(roi.dataobj)[14:34, 10:36, 16:30]
    roi = nib.Nifti1Image(part, roi.affine)  # well inside the volume: a cut to make
    affine, shape = grid_for_spacing(image.affine, image.shape, (1.3, 1.0, 1.2))
    coarse = [resample_from_to(v, (shape, affine), order=o) for v, o in ((image, 1), (roi, 0))]
    coarse = [_as(v, "LIA") for v in coarse]
    cut = segmenter.segment(*coarse, probabilities=True, tta=True)
    regions = []
    original = GridPlan.mask_region
    monkeypatch.setattr(
        GridPlan, "mask_region", lambda self, *a: regions.append(original(self, *a))
    )  # records the cut it would make, and makes none
    whole = segmenter.segment(*coarse, probabilities=True, tta=True)
    assert cut.geometry.resampled and cut.labels.any()
    region = regions[0]
    assert all(b - a < n for a, b, n in zip(*region, SHAPE, strict=True)), region
    np.testing.assert_allclose(cut.probabilities, whole.probabilities, atol=1e-5)
    np.testing.assert_array_equal(cut.labels, whole.labels)


def test_probabilities_sum_to_one_and_their_argmax_is_the_label_map(ideal, scan):
    image, roi, _ = scan
    turned = _as(image, "PSR")
    result = ideal.segment(turned, _as(roi, "PSR"), probabilities=True)
    assert result.probabilities.shape == (4, *turned.shape)
    np.testing.assert_allclose(result.probabilities.sum(axis=0), 1.0, atol=1e-5)
    np.testing.assert_array_equal(result.probabilities.argmax(axis=0), result.labels)


def test_tta_averages_the_scan_and_its_mirror_with_labels_swapped(ideal, scan):
    image, roi, _ = scan
    plain = ideal.segment(image, roi, probabilities=True).probabilities
    mirror_data = [np.ascontiguousarray(np.asarray(v.dataobj)[::-1]) for v in (image, roi)]
    mirrored = ideal.segment(
        (mirror_data[0], image.affine), (mirror_data[1], image.affine), probabilities=True
    )
    back = mirrored.probabilities[:, ::-1].copy()
    back[[1, 2]] = back[[2, 1]]  # the model's left/right pair
    tta = ideal.segment(image, roi, probabilities=True, tta=True)
    np.testing.assert_allclose(tta.probabilities, (plain + back) / 2, atol=1e-5)


def test_an_ensemble_averages_its_members(tmp_path, ideal, scan):
    image, roi, _ = scan
    first = write_intensity_checkpoint(tmp_path / "a.pt")
    second = write_intensity_checkpoint(tmp_path / "b.pt", spacing=(1.2, 1.2, 1.2))
    each = [
        Segmenter.from_checkpoint(p, device="cpu", precision="float32").segment(
            image, roi, probabilities=True
        )
        for p in (first, second)
    ]
    both = Segmenter.from_checkpoint([first, second], device="cpu", precision="float32")
    together = both.segment(image, roi, probabilities=True)
    np.testing.assert_allclose(
        together.probabilities, (each[0].probabilities + each[1].probabilities) / 2, atol=1e-5
    )
    five = write_intensity_checkpoint(tmp_path / "c.pt", num_classes=5)
    with pytest.raises(CheckpointError, match="one class count"):
        Segmenter.from_checkpoint([first, five], device="cpu")


def test_scans_far_coarser_than_the_model_are_refused_unless_forced(ideal, scan):
    image, roi, _ = scan
    affine, shape = grid_for_spacing(image.affine, image.shape, (1.0, 1.0, 3.5))
    coarse = resample_from_to(image, (shape, affine), order=1)
    with pytest.raises(DataError, match="3.5x the model's.*--force"):
        ideal.segment(coarse)
    assert ideal.segment(coarse, force=True).labels.shape == shape


def test_mat_arrays_take_declared_or_recorded_axis_codes(tmp_path, scan):
    image, _, labels = scan
    stored = _as(image, "ILA")
    as_mat = (np.asarray(stored.dataobj), np.eye(4))  # what a .mat gives: no affine
    recorded = write_intensity_checkpoint(tmp_path / "ila.pt", stored_orientation="ILA")
    by_record = Segmenter.from_checkpoint(recorded, device="cpu", precision="float32")
    from livianet.io import Volume

    volume = Volume(as_mat[0], np.eye(4), None, Path("scan.mat"))
    declared = by_record.segment(volume)
    assert declared.geometry.orientation == "ILA" and declared.geometry.reoriented
    np.testing.assert_array_equal(declared.labels, np.asarray(_as(labels, "ILA").dataobj))
    plain = write_intensity_checkpoint(tmp_path / "plain.pt")
    with pytest.raises(DataError, match="stores no orientation: pass --orientation CODES"):
        Segmenter.from_checkpoint(plain, device="cpu").segment(volume)  # refused, not guessed
    as_stored = Segmenter.from_checkpoint(plain, device="cpu").segment(
        volume, orientation="as-stored"
    )
    assert not as_stored.geometry.reoriented and not as_stored.warnings
    with pytest.raises(DataError, match="expected three distinct axes"):
        Segmenter.from_checkpoint(plain, device="cpu").segment(volume, orientation="LRA")


def test_a_model_of_unknown_orientation_warns_naming_the_ini_key(tmp_path, scan):
    image, roi, _ = scan
    path = write_intensity_checkpoint(tmp_path / "unknown.pt", orientation=None)
    result = Segmenter.from_checkpoint(path, device="cpu").segment(
        _as(image, "LIA"), _as(roi, "LIA")
    )
    assert not result.geometry.reoriented
    assert any("'orientation' in [Training Images]" in w for w in result.warnings)
    with pytest.raises(ConfigError, match="unknown orientation"):
        Segmenter.from_checkpoint(path, device="cpu").segment(image, tta=True)


def test_bad_inputs_are_one_line_errors(ideal, scan):
    image, roi, _ = scan
    singular = np.eye(4)
    singular[2, 2] = 0.0
    with pytest.raises(DataError, match="singular"):
        ideal.segment((np.asarray(image.dataobj), singular))
    with pytest.raises(DataError, match="ROI shape"):
        ideal.segment(image, (np.ones((4, 4, 4)), np.eye(4)))
    with pytest.raises(DataError, match="expected a file path, a nibabel image"):
        ideal.segment(42)


def test_functional_segment(tmp_path, scan):
    image, roi, labels = scan
    path = write_intensity_checkpoint(tmp_path / "ideal.pt")
    result = segment(image, path, roi, device="cpu", precision="float32")
    np.testing.assert_array_equal(result.labels, np.asarray(labels.dataobj))
    assert result.label_image.shape == image.shape and np.allclose(
        result.label_image.affine, image.affine
    )


def test_a_model_trained_with_roi_masks_warns_when_a_scan_comes_without_one(tmp_path, scan):
    image, roi, _ = scan
    path = write_intensity_checkpoint(tmp_path / "roi.pt", normalization_region="roi")
    segmenter = Segmenter.from_checkpoint(path, device="cpu")
    assert any("--roi" in w for w in segmenter.segment(image).warnings)
    assert not any("--roi" in w for w in segmenter.segment(image, roi).warnings)


def test_volumes_far_outside_the_training_range_warn_naming_the_structure(tmp_path, scan):
    image, roi, labels = scan
    counts = np.bincount(np.asarray(labels.dataobj).astype(int).ravel(), minlength=4)
    near = {k: (0.9 * counts[k], counts[k], 1.1 * counts[k]) for k in (1, 2, 3)}
    far = {**near, 2: (3.0 * counts[2], 3.5 * counts[2], 4.0 * counts[2])}  # ours: a third of it
    for ranges, expected in ((near, []), (far, ["structure_2"])):
        path = write_intensity_checkpoint(tmp_path / "v.pt", training_volumes=ranges)
        warnings = Segmenter.from_checkpoint(path, device="cpu").segment(image, roi).warnings
        flagged = [w for w in warnings if "far outside the training range" in w]
        assert [
            name
            for name in ("structure_1", "structure_2", "structure_3")
            if any(name + " " in w for w in flagged)
        ] == expected
