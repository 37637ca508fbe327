"""Where structures lie in the frame of the brain mask, and the flags for misplaced ones."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from livianet.evaluation.placement import (
    Frame,
    PlaceRange,
    StructurePlace,
    mask_frame,
    place_ranges,
    place_reasons,
    places_entry,
    structure_places,
)
from livianet.evaluation.quality import assess


def _box_scan() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 100 mm cube of brain (0.5 mm voxels) and a 10 mm cube of label 1 off its centre."""
    shape = (220, 220, 220)
    affine = np.diag([0.5, 0.5, 0.5, 1.0])
    affine[:3, 3] = [-55.0, -55.0, -55.0]  # voxel 110 is the world origin
    mask = np.zeros(shape, bool)
    mask[10:210, 10:210, 10:210] = True  # world -50 .. +49.5 mm
    labels = np.zeros(shape, np.uint8)
    labels[150:170, 110:130, 90:110] = 1  # world x 20 .. 29.5, y 0 .. 9.5, z -10 .. -0.5
    return mask, labels, affine


def test_frame_and_place_of_boxes_are_as_computed_by_hand():
    mask, labels, affine = _box_scan()
    frame = mask_frame(mask, affine, "roi")
    assert frame is not None and frame.source == "roi"
    assert frame.centre_mm == pytest.approx((-0.25, -0.25, -0.25), abs=0.8)
    assert frame.size_mm == pytest.approx((97.0, 97.0, 97.0), abs=1.6)  # 1st-99th percentile
    place = structure_places(labels, affine, 2, frame)[1]
    # centroid (24.75, 4.75, -5.25) mm minus the mask's, over ~98 mm
    assert place.position == pytest.approx((25.0 / 98, 5.0 / 98, -5.0 / 98), abs=0.002)
    assert place.extent == pytest.approx((9.4 / 97,) * 3, abs=0.003)  # 1st-99th of 0..9.5 mm


def test_places_are_the_same_however_the_scan_is_stored():
    mask, labels, affine = _box_scan()
    frame = mask_frame(mask, affine)
    ras = structure_places(labels, affine, 2, frame)[1]
    turn = nib.orientations.ornt_transform(
        nib.orientations.axcodes2ornt("RAS"), nib.orientations.axcodes2ornt("LIA")
    )
    stored = nib.Nifti1Image(labels, affine).as_reoriented(turn)
    stored_mask = nib.Nifti1Image(mask.astype(np.uint8), affine).as_reoriented(turn)
    other_frame = mask_frame(np.asanyarray(stored_mask.dataobj) > 0, stored.affine)
    lia = structure_places(np.asanyarray(stored.dataobj), stored.affine, 2, other_frame)[1]
    assert lia.position == pytest.approx(ras.position, abs=1e-6)
    assert lia.extent == pytest.approx(ras.extent, abs=1e-6)


def test_an_empty_mask_has_no_frame_and_absent_labels_no_place():
    mask, labels, affine = _box_scan()
    assert mask_frame(np.zeros_like(mask), affine) is None
    assert places_entry(labels, affine, 3, None) == {}
    entry = places_entry(labels, affine, 3, mask_frame(mask, affine))
    assert set(entry["places"]) == {"1"} and entry["brain_frame"]["source"] == "mask"


def test_ranges_span_the_cases_that_hold_each_label():
    a = {1: StructurePlace((0.1, 0.0, -0.1), (0.2, 0.1, 0.1))}
    b = {
        1: StructurePlace((0.2, 0.1, 0.0), (0.1, 0.3, 0.1)),
        2: StructurePlace((0, 0, 0), (1, 1, 1)),
    }
    ranges = place_ranges([a, b])
    assert ranges[1] == PlaceRange((0.1, 0.0, -0.1), (0.2, 0.1, 0.0), (0.2, 0.3, 0.1), 2)
    assert ranges[2].cases == 1
    assert PlaceRange.from_dict(ranges[1].as_dict()) == ranges[1]
    assert Frame.from_dict({"centre_mm": [0, 0], "size_mm": [1, 1, 1]}) is None  # broken


def test_reasons_name_the_axis_the_side_and_the_millimetres():
    known = PlaceRange((0.0, 0.0, 0.0), (0.1, 0.1, 0.1), (0.2, 0.2, 0.2), 5)
    inside = StructurePlace((0.05, 0.12, 0.0), (0.2, 0.25, 0.2))  # 2 % beyond: within 6 %
    assert place_reasons("T", inside, known, (150.0, 150.0, 150.0), 0.06, 0.30) == []
    moved = StructurePlace((-0.2, 0.05, 0.05), (0.2, 0.2, 0.2))
    assert place_reasons("T", moved, known, (150.0, 150.0, 150.0), 0.06, 0.30) == [
        "T centroid 30 mm left of the training range (limit 9 mm)"
    ]


def _manifest(position: list[float], extent: list[float]) -> dict:
    known = {"position_min": [-0.1, 0.0, -0.05], "position_max": [-0.08, 0.04, -0.01],
             "extent_max": [0.2, 0.22, 0.2], "cases": 8}  # fmt: skip
    scan = {
        "image": "s.nii.gz",
        "volumes_mm3": {"1": 8000.0},
        "brain_frame": {"centre_mm": [0, -20, 10], "size_mm": [130.0, 160.0, 120.0]},
        "places": {"1": {"position": position, "extent": extent}},
    }
    model = {"label_names": {"1": "Left-Thalamus"}, "training_places": {"1": known}}
    return {"model": model, "scans": [scan]}


def test_quality_flags_a_thalamus_moved_or_leaking_and_leaves_a_normal_one():
    normal = assess(_manifest([-0.09, 0.02, -0.03], [0.18, 0.2, 0.19])).scans[0]
    assert not normal.flagged and normal.structures[0].beyond_place_mm == 0.0
    moved = assess(_manifest([-0.09, -0.15, -0.03], [0.18, 0.2, 0.19])).scans[0]
    assert moved.reasons == [
        "Left-Thalamus centroid 24 mm posterior of the training range (limit 10 mm)"
    ]
    assert moved.structures[0].beyond_place_mm == pytest.approx(24.0)
    leaking = assess(_manifest([-0.09, 0.02, -0.03], [0.18, 0.2, 0.5])).scans[0]
    assert leaking.reasons == [
        "Left-Thalamus spans 60 mm inferior-superior, over the training maximum 24 mm + 30 %"
    ]
    # a model without a record of places (an older checkpoint) flags nothing of the kind
    old = _manifest([-0.09, -0.15, -0.03], [0.18, 0.2, 0.5])
    del old["model"]["training_places"]
    assert not assess(old).scans[0].flagged
