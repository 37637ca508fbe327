"""Orientation codes, affines for .mat arrays, lossless reorientation, and the scan-to-model plan."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from livianet.data.geometry import ModelGrid, covering_box, plan_grid
from livianet.data.orientation import (
    affine_for_codes,
    check_affine,
    left_right_axis,
    orientation_of,
    parse_orientation,
    reorientation,
)
from livianet.errors import DataError


@pytest.mark.parametrize("codes", ["RAS", "LIA", "ILA", "PSR", "asl"])
def test_affine_for_codes_has_those_codes_and_is_centred(codes):
    affine = affine_for_codes(codes, (4, 6, 8), (1.0, 2.0, 1.5))
    assert orientation_of(affine) == codes.upper()
    np.testing.assert_allclose(affine @ [1.5, 2.5, 3.5, 1.0], [0, 0, 0, 1], atol=1e-9)


@pytest.mark.parametrize("bad", ["RA", "RASX", "RRS", "LRA", "ABC", "", "R A S"])
def test_bad_orientation_codes_are_refused(bad):
    with pytest.raises(DataError, match="--orientation"):
        parse_orientation(bad, "--orientation")


def test_singular_and_non_finite_affines_are_refused():
    with pytest.raises(DataError, match="singular"):
        check_affine(np.diag([1.0, 1.0, 0.0, 1.0]), "scan.nii.gz")
    bad = np.eye(4)
    bad[0, 3] = np.nan
    with pytest.raises(DataError, match="not a finite 4x4"):
        check_affine(bad, "scan.nii.gz")


@pytest.mark.parametrize("codes", ["LIA", "PSR", "ILA", "RAS"])
def test_reorientation_is_lossless_and_keeps_world_positions(rng, codes):
    shape = (5, 6, 7)
    affine = affine_for_codes(codes, shape, (1.2, 1.0, 0.9))
    data = rng.normal(size=shape)
    turn = reorientation(affine, shape, "RAS")
    moved = turn.apply(data)
    assert orientation_of(turn.affine) == "RAS" and moved.shape == turn.shape
    assert turn.is_identity == (codes == "RAS")
    np.testing.assert_array_equal(turn.undo(moved), data)
    voxel = (1, 4, 2)
    world = affine @ [*voxel, 1.0]
    there = np.rint(np.linalg.inv(turn.affine) @ world)[:3].astype(int)
    assert moved[tuple(there)] == data[voxel]
    channels = np.stack([data, -data])
    np.testing.assert_array_equal(turn.undo(turn.apply(channels)), channels)


def test_left_right_axis():
    assert [left_right_axis(c) for c in ("RAS", "ILA", "PSR", "SAL")] == [0, 1, 2, 2]


def test_plan_reorients_then_resamples_only_when_the_voxel_size_differs():
    shape = (20, 24, 18)
    affine = affine_for_codes("PSR", shape, (1.3, 1.0, 1.2))
    plan = plan_grid(affine, shape, ModelGrid("RAS", (1.0, 1.0, 1.0)))
    assert plan.reoriented and plan.resampled
    assert orientation_of(plan.model_affine) == "RAS"
    assert np.allclose(plan.model_spacing, (1.0, 1.0, 1.0))
    same = plan_grid(affine, shape, ModelGrid("RAS", (1.2, 1.3, 1.0)))  # the PSR sizes, in RAS axes
    assert same.reoriented and not same.resampled
    kept = plan_grid(affine, shape, ModelGrid("RAS", (1.0, 1.0, 1.0)), resample=False)
    assert not kept.resampled
    as_stored = plan_grid(affine, shape, ModelGrid(None, None))
    assert not as_stored.reoriented and not as_stored.resampled


def test_covering_box_maps_a_box_between_grids():
    fine = np.eye(4)
    coarse = np.diag([2.0, 2.0, 2.0, 1.0])
    start, stop = covering_box(((4, 4, 4), (8, 8, 8)), fine, coarse, (10, 10, 10))
    assert start == (1, 1, 1) and stop == (5, 5, 5)


def test_nibabel_agrees_on_the_reoriented_array(rng):
    shape = (4, 5, 6)
    affine = affine_for_codes("LIA", shape)
    data = rng.normal(size=shape).astype(np.float32)
    canonical = nib.as_closest_canonical(nib.Nifti1Image(data, affine))
    turn = reorientation(affine, shape, "RAS")
    np.testing.assert_array_equal(turn.apply(data), np.asarray(canonical.dataobj))
    np.testing.assert_allclose(turn.affine, canonical.affine)
