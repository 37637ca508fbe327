"""Tests for livianet.evaluation.metrics: hand-computed cases, a brute-force check, empty masks."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from livianet.evaluation import (
    assd,
    dice,
    dice_per_class,
    hd95,
    jaccard,
    metrics,
    metrics_per_label,
)
from livianet.evaluation.metrics import boundary, label_metrics, mask_metrics, surface_distances


def bars() -> tuple[np.ndarray, np.ndarray]:
    """Two bars along z in a (1, 1, 10) array: pred z=0..3, ref z=0..5.

    Every voxel touches the array edge, so each bar is all boundary.
    pred->ref distances: [0, 0, 0, 0]; ref->pred: [0, 0, 0, 0, 1, 2] voxels.
    """
    pred = np.zeros((1, 1, 10), bool)
    ref = np.zeros((1, 1, 10), bool)
    pred[0, 0, 0:4] = True
    ref[0, 0, 0:6] = True
    return pred, ref


def test_bars_by_hand() -> None:
    pred, ref = bars()
    assert dice(pred, ref) == pytest.approx(0.8)  # 2 * 4 / (4 + 6)
    assert jaccard(pred, ref) == pytest.approx(4 / 6)
    to_ref, to_pred = surface_distances(pred, ref, (1, 1, 1))
    np.testing.assert_allclose(to_ref, [0, 0, 0, 0])
    np.testing.assert_allclose(to_pred, [0, 0, 0, 0, 1, 2])
    # ref->pred 95th percentile: position 0.95 * 5 = 4.75 between 1 and 2.
    assert hd95(pred, ref, (1, 1, 1)) == pytest.approx(1.75)
    assert assd(pred, ref, (1, 1, 1)) == pytest.approx(3 / 10)


def test_anisotropic_spacing_scales_distances_along_its_axis() -> None:
    pred, ref = bars()
    assert hd95(pred, ref, (1, 1, 3)) == pytest.approx(3 * 1.75)
    assert assd(pred, ref, (1, 1, 3)) == pytest.approx(3 * 0.3)
    # Spacing along axes the bars do not extend in changes nothing.
    assert hd95(pred, ref, (3, 2, 1)) == pytest.approx(1.75)
    row = mask_metrics(pred, ref, (1, 1, 3))
    assert row["volume_pred_mm3"] == 12.0
    assert row["volume_gt_mm3"] == 18.0
    assert row["volume_diff_pct"] == pytest.approx(100 * (12 - 18) / 18)


def test_diagonal_distance_uses_each_axis_spacing() -> None:
    a = np.zeros((3, 3, 3), bool)
    b = np.zeros((3, 3, 3), bool)
    a[0, 0, 0] = True
    b[2, 1, 2] = True
    expected = math.sqrt((2 * 0.5) ** 2 + (1 * 2.0) ** 2 + (2 * 3.0) ** 2)
    assert hd95(a, b, (0.5, 2.0, 3.0)) == pytest.approx(expected)
    assert assd(a, b, (0.5, 2.0, 3.0)) == pytest.approx(expected)


def test_boundary_of_cubes() -> None:
    inner = np.zeros((5, 5, 5), bool)
    inner[1:4, 1:4, 1:4] = True
    assert boundary(inner).sum() == 27 - 1
    big = np.zeros((7, 7, 7), bool)
    big[1:6, 1:6, 1:6] = True
    assert boundary(big).sum() == 125 - 27
    # 6-connectivity: a voxel whose face neighbours are all inside is interior,
    # even if a diagonal neighbour is outside.
    plus = np.zeros((5, 5, 5), bool)
    plus[1:4, 2, 2] = plus[2, 1:4, 2] = plus[2, 2, 1:4] = True
    assert not boundary(plus)[2, 2, 2]
    # Voxels on the array edge are boundary (border_value=0).
    assert boundary(np.ones((4, 4, 4), bool)).sum() == 64 - 8


def brute_force_boundary(mask: np.ndarray) -> np.ndarray:
    """Boundary without scipy: a voxel with any face neighbour outside (zero padding)."""
    padded = np.pad(mask, 1)
    inside = np.ones_like(mask)
    for axis in range(3):
        for step in (-1, 1):
            inside &= np.roll(padded, step, axis=axis)[1:-1, 1:-1, 1:-1]
    return mask & ~inside


def brute_force(
    pred: np.ndarray, ref: np.ndarray, spacing: tuple[float, ...]
) -> tuple[float, float]:
    p = np.argwhere(brute_force_boundary(pred)) * np.asarray(spacing)
    r = np.argwhere(brute_force_boundary(ref)) * np.asarray(spacing)
    pairwise = cdist(p, r)
    to_ref, to_pred = pairwise.min(axis=1), pairwise.min(axis=0)
    hd = max(np.percentile(to_ref, 95), np.percentile(to_pred, 95))
    return float(hd), float(np.concatenate([to_ref, to_pred]).mean())


def random_blob(rng: np.random.Generator, shape: tuple[int, int, int]) -> np.ndarray:
    """A union of a few random ellipsoids, some touching the array edge."""
    grid = np.indices(shape).transpose(1, 2, 3, 0)
    mask = np.zeros(shape, bool)
    for _ in range(rng.integers(1, 4)):
        centre = rng.uniform(0, shape)
        radii = rng.uniform(1.5, 5.0, size=3)
        mask |= (((grid - centre) / radii) ** 2).sum(axis=-1) <= 1
    if not mask.any():
        mask[tuple(rng.integers(0, shape))] = True
    return mask


@pytest.mark.parametrize("seed", range(6))
def test_hd95_and_assd_match_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    shape = (16, 13, 11)
    pred, ref = random_blob(rng, shape), random_blob(rng, shape)
    spacing = (0.8, 1.3, 2.5)
    expected_hd, expected_assd = brute_force(pred, ref, spacing)
    assert hd95(pred, ref, spacing) == pytest.approx(expected_hd, rel=1e-9)
    assert assd(pred, ref, spacing) == pytest.approx(expected_assd, rel=1e-9)
    row = mask_metrics(pred, ref, spacing)
    assert row["hd95_mm"] == pytest.approx(expected_hd, rel=1e-9)
    assert row["assd_mm"] == pytest.approx(expected_assd, rel=1e-9)


def test_cropping_does_not_change_distances() -> None:
    rng = np.random.default_rng(7)
    pred, ref = random_blob(rng, (10, 10, 10)), random_blob(rng, (10, 10, 10))
    big_pred = np.zeros((40, 30, 20), bool)
    big_ref = np.zeros((40, 30, 20), bool)
    big_pred[20:30, 5:15, 3:13] = pred
    big_ref[20:30, 5:15, 3:13] = ref
    small = surface_distances(pred, ref, (1, 2, 3))
    large = surface_distances(big_pred, big_ref, (1, 2, 3))
    for a, b in zip(small, large, strict=True):
        np.testing.assert_allclose(np.sort(a), np.sort(b))


def test_identical_masks() -> None:
    mask = random_blob(np.random.default_rng(3), (9, 9, 9))
    assert dice(mask, mask) == 1.0
    assert jaccard(mask, mask) == 1.0
    assert hd95(mask, mask, (1, 1, 2)) == 0.0
    assert assd(mask, mask, (1, 1, 2)) == 0.0


def test_both_empty_give_nan() -> None:
    empty = np.zeros((4, 4, 4), bool)
    assert math.isnan(dice(empty, empty))
    assert math.isnan(jaccard(empty, empty))
    assert math.isnan(hd95(empty, empty, (1, 1, 1)))
    assert math.isnan(assd(empty, empty, (1, 1, 1)))
    to_ref, to_pred = surface_distances(empty, empty, (1, 1, 1))
    assert to_ref.size == 0 and to_pred.size == 0
    row = mask_metrics(empty, empty, (1, 1, 1))
    assert row["volume_pred_mm3"] == 0.0 and row["volume_gt_mm3"] == 0.0
    assert math.isnan(row["volume_diff_pct"])


@pytest.mark.parametrize("pred_empty", [True, False])
def test_one_empty_gives_zero_overlap_and_inf_distance(pred_empty: bool) -> None:
    empty = np.zeros((4, 4, 4), bool)
    full = np.zeros((4, 4, 4), bool)
    full[1:3, 1:3, 1:3] = True
    pred, ref = (empty, full) if pred_empty else (full, empty)
    assert dice(pred, ref) == 0.0
    assert jaccard(pred, ref) == 0.0
    assert hd95(pred, ref, (1, 1, 1)) == math.inf
    assert assd(pred, ref, (1, 1, 1)) == math.inf
    to_ref, to_pred = surface_distances(pred, ref, (1, 1, 1))
    assert np.all(np.isinf(to_ref if not pred_empty else to_pred))
    row = mask_metrics(pred, ref, (2, 1, 1))
    if pred_empty:
        assert row["volume_diff_pct"] == -100.0
    else:
        assert math.isnan(row["volume_diff_pct"])
        assert row["volume_pred_mm3"] == 16.0


def test_label_metrics_and_metrics_per_label() -> None:
    pred = np.zeros((6, 6, 6), np.uint8)
    ref = np.zeros((6, 6, 6), np.uint8)
    pred[0, 0, 0:4] = 1
    ref[0, 0, 0:6] = 1
    pred[3:5, 3:5, 3:5] = 2
    ref[5, 5, 5] = 4
    spacing = (1.0, 1.0, 2.0)
    per = metrics_per_label(pred, ref, spacing)
    assert list(per) == [1, 2, 4]
    for label, row in per.items():
        assert row == pytest.approx(mask_metrics(pred == label, ref == label, spacing), nan_ok=True)
    assert per[1]["dice"] == pytest.approx(0.8)
    assert per[2]["dice"] == 0.0 and per[2]["hd95_mm"] == math.inf
    assert label_metrics(pred, ref, 1, spacing) == per[1]
    absent = metrics_per_label(pred, ref, spacing, labels=[7])[7]
    assert math.isnan(absent["dice"]) and math.isnan(absent["hd95_mm"])
    background = label_metrics(pred, ref, 0, spacing)
    assert background == pytest.approx(mask_metrics(pred == 0, ref == 0, spacing))


def test_metrics_per_label_accepts_float_and_negative_maps() -> None:
    pred = np.zeros((5, 5, 5))
    ref = np.zeros((5, 5, 5), np.int16)
    pred[1:3, 1:3, 1:3] = 3.0
    ref[1:4, 1:3, 1:3] = 3
    ref[4, 4, 4] = -1
    per = metrics_per_label(pred, ref, (1, 1, 1))
    assert list(per) == [-1, 3]
    assert per[3]["dice"] == pytest.approx(2 * 8 / (8 + 12))
    with pytest.raises(ValueError, match="non-integer"):
        metrics_per_label(pred + 0.5, ref, (1, 1, 1))


def test_dice_per_class_agrees_with_dice() -> None:
    rng = np.random.default_rng(0)
    pred = rng.integers(0, 4, size=(8, 9, 10))
    ref = rng.integers(0, 4, size=(8, 9, 10)).astype(np.uint8)
    scores = dice_per_class(pred, ref, 6)
    assert scores.shape == (6,)
    for c in range(4):
        assert scores[c] == pytest.approx(dice(pred == c, ref == c))
    assert np.isnan(scores[4]) and np.isnan(scores[5])
    np.testing.assert_array_equal(dice_per_class(ref, ref, 4), [1.0, 1.0, 1.0, 1.0])


def test_dice_per_class_rejects_out_of_range_values() -> None:
    with pytest.raises(ValueError, match=r"pred values span 0\.\.5; expected 0\.\.2"):
        dice_per_class(np.array([0, 5]), np.array([0, 1]), 3)
    with pytest.raises(ValueError, match="shape"):
        dice_per_class(np.array([0, 1]), np.array([0, 1, 1]), 3)


def test_bad_arguments_raise_with_values() -> None:
    mask = np.ones((2, 2, 2), bool)
    with pytest.raises(ValueError, match=r"spacing \(1, 0, 1\)"):
        hd95(mask, mask, (1, 0, 1))
    with pytest.raises(ValueError, match=r"spacing \(1, 1\)"):
        assd(mask, mask, (1, 1))
    with pytest.raises(ValueError, match=r"\(2, 2, 2\) vs \(2, 2, 3\)"):
        dice(mask, np.ones((2, 2, 3), bool))


def test_doctests() -> None:
    from livianet.evaluation import evaluate
    from livianet.io import label_names as labelnames

    for module in (metrics, labelnames, evaluate):
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0, module.__name__
