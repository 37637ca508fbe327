"""Patch centres, patch cutting, and the batch stream's alignment and reproducibility."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from livianet.config import ModelConfig, TrainConfig
from livianet.data import Case, CaseFiles
from livianet.training.batches import make_batch, prepare_cases, subepoch_batches
from livianet.training.sampling import (
    centres_to_corners,
    extract_patches,
    index_case,
    sample_class_balanced,
    sample_foreground_background,
)


def _labels(shape=(12, 12, 12)) -> tuple[np.ndarray, np.ndarray]:
    labels = np.zeros(shape, np.uint8)
    labels[2:4, 2:4, 2:4] = 1  # 8 voxels
    labels[6:10, 6:10, 6:10] = 2  # 64 voxels
    roi = np.zeros(shape, bool)
    roi[1:11, 1:11, 1:11] = True
    return labels, roi


def test_index_case_pools():
    labels, roi = _labels()
    index = index_case(labels, roi, 3)
    assert index.by_class[1].size == 8 and index.by_class[2].size == 64
    assert index.by_class[0].size == roi.sum() - 72
    background = np.unravel_index(index.by_class[0], labels.shape)
    assert roi[background].all() and (labels[background] == 0).all()


def test_foreground_background_half_and_half_spread_over_cases():
    labels, roi = _labels()
    indexes = [index_case(labels, roi, 3), index_case(labels, roi, 3)]
    rng = np.random.default_rng(0)
    cases, flat = sample_foreground_background(indexes, 1000, 0.5, rng)
    assert cases.size == 1000
    values = labels.ravel()[flat]
    assert (values > 0).sum() == 500
    assert abs((cases == 0).sum() - 500) <= 1
    # background centres lie inside the ROI
    assert roi.ravel()[flat[values == 0]].all()


def test_class_balanced_frequencies():
    labels, roi = _labels()
    indexes = [index_case(labels, roi, 3)]
    cases, flat = sample_class_balanced(indexes, 3000, np.random.default_rng(1))
    counts = np.bincount(labels.ravel()[flat], minlength=3)
    assert all(abs(c - 1000) < 120 for c in counts)


def test_sampling_is_reproducible():
    labels, roi = _labels()
    indexes = [index_case(labels, roi, 3)]
    a = sample_foreground_background(indexes, 50, 0.5, np.random.default_rng(7))
    b = sample_foreground_background(indexes, 50, 0.5, np.random.default_rng(7))
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_no_background_falls_back_to_foreground():
    labels = np.ones((4, 4, 4), np.uint8)
    index = index_case(labels, None, 2)
    cases, flat = sample_foreground_background([index], 20, 0.5, np.random.default_rng(0))
    assert cases.size == 20


def test_extract_patches_by_hand():
    volume = np.arange(5 * 6 * 7).reshape(5, 6, 7)
    patches = extract_patches(volume, np.array([[1, 2, 3], [0, 0, 0]]), (2, 3, 4))
    assert np.array_equal(patches[0], volume[1:3, 2:5, 3:7])
    assert np.array_equal(patches[1], volume[0:2, 0:3, 0:4])


def test_unpadded_corners_stay_inside():
    corners = centres_to_corners(np.array([0, 999]), (10, 10, 10), (5, 5, 5), padded=False)
    assert (corners >= 0).all() and (corners <= 5).all()


def test_batch_targets_are_the_centre_of_the_patch():
    """The target cube is the label under the network's output, centred on the sampled voxel."""
    shape = (14, 15, 16)
    coords = np.indices(shape)
    image = (coords[0] * 10000 + coords[1] * 100 + coords[2]).astype(np.float32)
    labels = np.zeros(shape, np.uint8)
    labels[5:9, 6:10, 7:11] = 1
    model = ModelConfig(
        conv_channels=(2, 2),
        conv_kernels=((3, 3, 3), (3, 3, 3)),
        fc_channels=(),
        num_classes=2,
        dropout_rates=(0.0,),
    )
    train = TrainConfig(
        batch_size=4, samples_per_subepoch=8, patch_size=(9, 9, 9), segment_patch_size=(9, 9, 9)
    )
    files = CaseFiles(0, (Path("case.nii.gz"),), None, None)
    case = Case(files=files, image=image[None], label=labels, roi=None, reference=None)  # type: ignore[arg-type]
    prepared = prepare_cases([case], train, model)
    flat = np.array(
        [np.ravel_multi_index((6, 7, 8), shape), np.ravel_multi_index((10, 3, 12), shape)]
    )
    images, targets = make_batch(prepared, np.zeros(2, np.int64), flat, train, model)
    assert images.shape == (2, 1, 9, 9, 9) and targets.shape == (2, 5, 5, 5)
    for n, centre in enumerate([(6, 7, 8), (10, 3, 12)]):
        middle = images[n, 0, 4, 4, 4]
        assert middle == centre[0] * 10000 + centre[1] * 100 + centre[2]
        lo = [c - 2 for c in centre]
        expected = np.pad(labels, 4, mode="reflect")[
            lo[0] + 4 : lo[0] + 9, lo[1] + 4 : lo[1] + 9, lo[2] + 4 : lo[2] + 9
        ]
        assert np.array_equal(targets[n], expected)


def test_subepoch_stream_shards_like_one_big_batch():
    labels, roi = _labels((16, 16, 16))
    image = np.random.default_rng(0).normal(size=(1, 16, 16, 16)).astype(np.float32)
    model = ModelConfig(
        conv_channels=(2,),
        conv_kernels=((3, 3, 3),),
        fc_channels=(),
        num_classes=3,
        dropout_rates=(0.0,),
    )
    case = Case(
        files=CaseFiles(0, (Path("case.nii.gz"),), None, None),
        image=image,
        label=labels,
        roi=roi,
        reference=None,
    )  # type: ignore[arg-type]
    single = TrainConfig(
        batch_size=4, samples_per_subepoch=16, patch_size=(5, 5, 5), segment_patch_size=(5, 5, 5)
    )
    double = TrainConfig(
        batch_size=2, samples_per_subepoch=16, patch_size=(5, 5, 5), segment_patch_size=(5, 5, 5)
    )
    prepared = prepare_cases([case], single, model)
    whole = list(subepoch_batches(prepared, single, model, epoch=1, sub_epoch=0))
    rank0 = list(subepoch_batches(prepared, double, model, 1, 0, rank=0, world_size=2))
    rank1 = list(subepoch_batches(prepared, double, model, 1, 0, rank=1, world_size=2))
    assert len(whole) == len(rank0) == len(rank1) == 4
    for full, a, b in zip(whole, rank0, rank1, strict=True):
        assert np.array_equal(full[0], np.concatenate([a[0], b[0]]))
        assert np.array_equal(full[1], np.concatenate([a[1], b[1]]))
    again = list(subepoch_batches(prepared, single, model, epoch=1, sub_epoch=0, prefetch=False))
    assert all(np.array_equal(x[0], y[0]) for x, y in zip(whole, again, strict=True))
