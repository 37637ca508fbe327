"""The one clean-up of every segmentation: stray pieces removed, probabilities to match."""

from __future__ import annotations

import numpy as np
from conftest import synthetic_case, write_nifti
from ideal_model import write_intensity_checkpoint

from livianet import Segmenter
from livianet.data import CaseFiles, load_case
from livianet.inference import (
    InferenceSettings,
    Segmentation,
    keep_largest_component,
    predict_case,
    prepare_for_inference,
    remove_stray_components,
)
from livianet.inference.postprocess import Place
from livianet.networks import Checkpoint


def _line() -> tuple[np.ndarray, np.ndarray]:
    """Six voxels in a row: label 1 at 0 (a stray voxel) and at 2..4, label 2 at 5.

    Probabilities (3 classes) differ per voxel, so a changed voxel shows.
    """
    labels = np.array([1, 0, 1, 1, 1, 2], np.uint8).reshape(6, 1, 1)
    probabilities = np.array(
        [
            [0.2, 0.7, 0.1, 0.1, 0.2, 0.3],
            [0.6, 0.2, 0.8, 0.7, 0.6, 0.1],
            [0.2, 0.1, 0.1, 0.2, 0.2, 0.6],
        ],
        np.float32,
    ).reshape(3, 6, 1, 1)
    return labels, probabilities


def test_the_smaller_piece_goes_and_its_voxel_becomes_certain_background():
    labels, probabilities = _line()
    before = labels.copy()
    expected = probabilities.copy()
    expected[:, 0, 0, 0] = [1.0, 0.0, 0.0]
    cleaned = remove_stray_components(labels, 3, probabilities)
    assert cleaned.ravel().tolist() == [0, 0, 1, 1, 1, 2]
    assert cleaned.dtype == labels.dtype
    np.testing.assert_array_equal(labels, before)  # the labels given are left as they were
    np.testing.assert_array_equal(probabilities, expected)  # fixed up in place, voxel 0 only


def test_probabilities_over_a_box_are_fixed_where_the_box_holds_removed_voxels():
    labels, dense = _line()
    inside = dense[:, :3].copy()  # a box over voxels 0..2: holds the removed voxel, first
    cleaned = remove_stray_components(labels, 3, inside, ((0, 0, 0), (3, 1, 1)))
    assert cleaned.ravel().tolist() == [0, 0, 1, 1, 1, 2]
    assert inside[:, 0, 0, 0].tolist() == [1.0, 0.0, 0.0]
    np.testing.assert_array_equal(inside[:, 1:], dense[:, 1:3])
    shifted = dense[:, 1:].copy()  # a box over voxels 1..5: the removed voxel is outside it
    remove_stray_components(labels, 3, shifted, ((1, 0, 0), (6, 1, 1)))
    np.testing.assert_array_equal(shifted, dense[:, 1:])


def test_without_probabilities_only_the_labels_are_cleaned():
    labels, _ = _line()
    assert remove_stray_components(labels, 3).ravel().tolist() == [0, 0, 1, 1, 1, 2]


def test_box_and_whole_volume_probabilities_give_one_result():
    """The predictor's box-cropped maps and the segmenter's whole-volume maps, cleaned alike."""
    rng = np.random.default_rng(4)
    box = ((2, 1, 3), (9, 8, 7))
    labels = np.zeros((10, 9, 8), np.uint8)
    window = tuple(slice(a, b) for a, b in zip(*box, strict=True))
    labels[window] = rng.integers(0, 4, size=(7, 7, 4))  # many pieces per label
    cropped = rng.dirichlet(np.ones(4), size=(7, 7, 4)).transpose(3, 0, 1, 2).astype(np.float32)
    dense = Segmentation(labels, cropped, box).dense_probabilities()  # background 1 outside
    assert dense is not None
    from_box = remove_stray_components(labels, 4, cropped, box)
    from_dense = remove_stray_components(labels, 4, dense)
    assert (from_box != labels).any()  # something was removed
    np.testing.assert_array_equal(from_box, from_dense)
    np.testing.assert_array_equal(Segmentation(from_box, cropped, box).dense_probabilities(), dense)


def test_validation_and_segment_clean_up_a_scan_alike(tmp_path):
    """``predict_case`` (validation) and ``Segmenter`` (``livianet segment``) remove the same island."""
    image, _, roi = synthetic_case(np.random.default_rng(2), (24, 24, 24))
    island = (slice(4, 6), slice(11, 13), slice(11, 13))
    assert roi[island].all()
    image[island] = 45.0  # class 1's intensity, away from class 1's sphere
    t1 = write_nifti(tmp_path / "t1.nii.gz", image)
    mask = write_nifti(tmp_path / "roi.nii.gz", roi)
    checkpoint = write_intensity_checkpoint(tmp_path / "ideal.pt")
    network = Checkpoint.read(checkpoint).network()
    case = load_case(CaseFiles(1, (t1,), None, mask), "none")
    results = {}
    for clean in (False, True):
        settings = InferenceSettings(largest_component=clean)
        predicted = predict_case(
            prepare_for_inference(network, settings), case, settings, probabilities=True
        )
        segmenter = Segmenter.from_checkpoint(
            checkpoint, device="cpu", precision="float32", largest_component=clean
        )
        segmented = segmenter.segment(t1, mask, probabilities=True)
        results[clean] = (predicted.labels, predicted.dense_probabilities(), segmented)
    raw_labels = results[False][0]
    assert (raw_labels[island] == 1).all()  # the island is segmented as class 1
    labels, probabilities, segmented = results[True]
    assert (labels[island] == 0).all() and (labels == 1).any()  # gone, the sphere kept
    np.testing.assert_array_equal(segmented.labels, labels)
    removed = labels != raw_labels
    for output in (probabilities, segmented.probabilities):
        assert output is not None
        assert (output[0, removed] == 1.0).all() and (output[1:, removed] == 0.0).all()
    np.testing.assert_allclose(segmented.probabilities, probabilities, atol=1e-6)


def _true_and_false_blob() -> tuple[np.ndarray, np.ndarray]:
    """Label 1 twice: a true 2x2x2 cube (p = 0.9, mass 7.2) and a false 12-voxel bar (p = 0.4, 4.8).

    The false piece has more voxels (12 > 8) but less probability: the
    issue's thalamus outnumbered by a doubtful blob in the cerebellum.
    """
    labels = np.zeros((12, 4, 4), np.uint8)
    labels[0:2, 0:2, 0:2] = 1  # the true structure
    labels[5:11, 2:4, 3] = 1  # the false one, far away
    probabilities = np.zeros((2, 12, 4, 4), np.float32)
    probabilities[0] = 1.0
    probabilities[:, 0:2, 0:2, 0:2] = np.array([0.1, 0.9]).reshape(2, 1, 1, 1)
    probabilities[:, 5:11, 2:4, 3] = np.array([0.6, 0.4]).reshape(2, 1, 1)
    return labels, probabilities


def test_the_believed_piece_stays_not_the_larger_doubtful_one():
    labels, probabilities = _true_and_false_blob()
    assert keep_largest_component(labels, 2)[5:11, 2:4, 3].all()  # today's rule: the blob
    cleaned = remove_stray_components(labels, 2, probabilities)
    assert int(cleaned.sum()) == 8 and cleaned[0:2, 0:2, 0:2].all()  # the true cube only
    assert (probabilities[0, 5:11, 2:4, 3] == 1.0).all()
    assert (probabilities[1, 5:11, 2:4, 3] == 0.0).all()


def test_a_piece_in_its_place_wins_over_more_mass_elsewhere():
    labels, probabilities = _true_and_false_blob()
    probabilities[1, 5:11, 2:4, 3] = 0.7  # now the misplaced bar has the more mass (8.4 > 7.2)
    assert remove_stray_components(labels, 2, probabilities.copy())[5:11, 2:4, 3].all()
    place = Place(centre=(0.5, 0.5, 0.5), half_extent=(3.0, 3.0, 3.0))  # around the cube
    cleaned = remove_stray_components(labels, 2, probabilities, places={1: place})
    assert int(cleaned.sum()) == 8 and cleaned[0:2, 0:2, 0:2].all()
    nowhere = Place(centre=(50.0, 50.0, 50.0), half_extent=(1.0, 1.0, 1.0))  # no piece in place
    assert remove_stray_components(labels, 2, places={1: nowhere})[5:11, 2:4, 3].all()


def test_pieces_near_the_kept_one_stay_when_asked_far_ones_go():
    labels = np.array([1, 1, 1, 0, 1, 0, 0, 0, 1], np.uint8).reshape(9, 1, 1)
    assert remove_stray_components(labels, 2).ravel().tolist() == [1, 1, 1, 0, 0, 0, 0, 0, 0]
    near = remove_stray_components(labels, 2, near=1)  # a one-voxel gap: kept; four: gone
    assert near.ravel().tolist() == [1, 1, 1, 0, 1, 0, 0, 0, 0]
