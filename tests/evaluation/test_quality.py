"""The QC flags on hand-made manifests: the broken scan is flagged, healthy variation is not."""

from __future__ import annotations

import ast
import copy
from pathlib import Path

import pytest
from manifest_cases import (
    HEALTHY_FACTORS,
    healthy_scans,
    manifest,
    scan_entry,
    with_volume,
)

import livianet.evaluation
from livianet.evaluation.qc_table import qc_rows
from livianet.evaluation.quality import assess, asymmetry
from livianet.evaluation.thresholds import ASYMMETRY_LIMIT, MIN_COHORT, Thresholds


def _flagged(data) -> list[str]:
    return [s.image for s in assess(data).scans if s.flagged]


def test_healthy_variation_of_ten_percent_is_not_flagged():
    # Six scans within +-10 % per structure, one of them 10 % up on the left and 10 % down on
    # the right (the largest healthy asymmetry), with and without training ranges.
    for training in (True, False):
        result = assess(manifest(healthy_scans(6), training=training))
        assert [s.reasons for s in result.scans] == [[]] * 6
        assert result.summary() == "0 of 6 scans flagged"
    extreme = assess(manifest(healthy_scans(6))).scans
    worst = max(abs(p.asymmetry) for s in extreme for p in s.pairs)
    assert 0.18 < worst < ASYMMETRY_LIMIT


@pytest.mark.parametrize(
    ("factor", "expected"),
    [(0.0, "Left-Putamen missing"), (0.5, "Left-Putamen volume"), (1.8, "Left-Putamen volume")],
)
def test_exactly_the_broken_scan_is_flagged_and_listed_first(factor, expected):
    scans = healthy_scans(6)
    broken = with_volume(scan_entry(7, [1.0] * 8), 3, factor)
    scans.insert(3, broken)  # in the middle: the result must sort it first
    result = assess(manifest(scans))
    assert _flagged(manifest(scans)) == ["sub-07_T1w.nii.gz"]
    first = result.scans[0]
    assert first.image == "sub-07_T1w.nii.gz" and first.reasons[0].startswith(expected)
    assert result.summary() == "1 of 7 scans flagged"
    figures = {s.name: s for s in first.structures}
    assert figures["Left-Putamen"].flagged and not figures["Right-Putamen"].flagged
    if factor:  # a present but wrong-sized structure is also asymmetric
        assert any(r.startswith("Putamen asymmetry") for r in first.reasons)
        assert abs(figures["Left-Putamen"].z) > 3.5


def test_a_halved_structure_is_flagged_without_a_cohort_or_training_range():
    # Three scans: no z-scores (fewer than MIN_COHORT), no training ranges; asymmetry finds it.
    scans = healthy_scans(2) + [with_volume(scan_entry(3, [1.0] * 8), 6, 0.5)]
    result = assess(manifest(scans, training=False))
    assert all(s.z is None for scan in result.scans for s in scan.structures)
    assert [s.image for s in result.flagged] == ["sub-03_T1w.nii.gz"]
    assert result.flagged[0].reasons == [
        "Caudate asymmetry 65% (Left-Caudate 3,700, Right-Caudate 1,875 mm³; limit 25%)"
    ]


def test_both_sides_shrunk_is_caught_by_the_training_range():
    shrunk = scan_entry(3, [1.0, 1.0, 0.55, 1.0, 1.0, 1.0, 0.55, 1.0])
    result = assess(manifest(healthy_scans(2) + [shrunk]))
    (flagged,) = result.flagged
    assert flagged.image == "sub-03_T1w.nii.gz"
    assert [r.split(" mm³")[0] for r in flagged.reasons] == [
        "Left-Putamen volume 2,805",
        "Right-Putamen volume 2,750",
    ]
    assert "below the training range 4,335–5,865" in flagged.reasons[0]


def test_z_scores_need_enough_scans_and_a_floor_on_the_spread():
    # Five nearly identical scans and one 20 % larger: the MAD is tiny, the floor (10 % of the
    # median) keeps 20 % from looking extreme.
    scans = [scan_entry(i, [1.0 + 0.001 * i] * 8) for i in range(1, MIN_COHORT + 1)]
    scans.append(scan_entry(9, [1.2] * 8))
    result = assess(manifest(scans, training=False))
    assert not result.flagged
    z = {s.image: s.structures[0].z for s in result.scans}
    assert 1.5 < z["sub-09_T1w.nii.gz"] < 2.5
    few = assess(manifest(scans[: MIN_COHORT - 1], training=False))
    assert all(s.z is None for scan in few.scans for s in scan.structures)


def test_split_structures_and_specks():
    scans = healthy_scans(6)
    scans[2]["components"]["2"] = {"count": 3, "largest_fraction": 0.6}  # split in large pieces
    scans[4]["components"]["7"] = {"count": 4, "largest_fraction": 0.97}  # a few specks: fine
    result = assess(manifest(scans))
    assert [s.image for s in result.flagged] == ["sub-03_T1w.nii.gz"]
    assert result.flagged[0].reasons == [
        "Left-Caudate split into 3 pieces, the largest holding 60% (limit 80%)"
    ]


def test_warnings_and_failures_flag_and_structure_problems_sort_first():
    scans = healthy_scans(6)
    scans[0]["warnings"] = ["voxel size 1 x 1 x 3 mm differs from the model's 1 mm"]
    scans[5] = with_volume(scans[5], 8, 0.0)
    failures = [{"image": "bad.nii.gz", "error": "bad.nii.gz: cannot read as NIfTI (truncated)"}]
    result = assess(manifest(scans, failures=failures))
    assert [s.image for s in result.flagged] == [
        "sub-06_T1w.nii.gz",
        "bad.nii.gz",
        "sub-01_T1w.nii.gz",
    ]
    assert result.flagged[2].reasons == [
        "warning: voxel size 1 x 1 x 3 mm differs from the model's 1 mm"
    ]
    assert result.flagged[1].failed
    assert result.summary() == "2 of 6 scans flagged; 1 failed"


def test_missing_optional_keys_are_tolerated():
    bare = {
        "scans": [
            {"input": "/x/a.nii.gz", "volumes_mm3": {"1": 10.0, "2": 12.0}},
            {"image": "b.nii.gz", "warnings": "one warning, not in a list", "geometry": "odd"},
            "not a scan",
        ]
    }
    result = assess(bare)
    assert sorted(s.image for s in result.scans) == ["a.nii.gz", "b.nii.gz"]
    assert result.labels == [1, 2] and result.names == {1: "label 1", 2: "label 2"}
    assert [s.reasons for s in result.flagged] == [["warning: one warning, not in a list"]]
    assert not result.pairs
    assert assess({}).scans == []
    columns, rows = qc_rows(result)
    assert columns[:3] == ["image", "flagged", "reasons"]
    assert rows[0]["label 1_volume_mm3"] is None  # b, flagged, first


def test_qc_rows_hold_the_figures_behind_the_flags():
    scans = healthy_scans(6) + [with_volume(scan_entry(7, [1.0] * 8), 1, 0.5)]
    columns, rows = qc_rows(assess(manifest(scans)))
    assert columns[:7] == [
        "image",
        "flagged",
        "reasons",
        "Left-Thalamus_volume_mm3",
        "Left-Thalamus_z",
        "Left-Thalamus_components",
        "Left-Thalamus_largest_fraction",
    ]
    assert columns[-4:] == [
        "Thalamus_asymmetry",
        "Caudate_asymmetry",
        "Putamen_asymmetry",
        "Pallidum_asymmetry",
    ]
    first = rows[0]
    assert first["image"] == "sub-07_T1w.nii.gz" and first["flagged"] == 1
    assert first["Left-Thalamus_volume_mm3"] == 4000.0
    assert first["Thalamus_asymmetry"] == pytest.approx(asymmetry(4000.0, 7900.0))
    assert "Left-Thalamus volume 4,000 mm³ is" in first["reasons"]
    assert [r["flagged"] for r in rows[1:]] == [0] * 6


def test_thresholds_are_stated_and_can_be_tightened():
    rules = Thresholds().describe()
    assert any("3.5" in r for r in rules) and any("25%" in r for r in rules)
    scans = healthy_scans(6)
    strict = assess(manifest(copy.deepcopy(scans)), Thresholds(asymmetry_limit=0.05))
    assert "sub-03_T1w.nii.gz" in [s.image for s in strict.flagged]
    assert len(HEALTHY_FACTORS) == 6


def test_evaluation_draws_nothing():
    # The QC figures are evaluation: no plotting, templates or pictures in this package.
    package = Path(livianet.evaluation.__file__).parent
    drawing = {"matplotlib", "jinja2", "markupsafe", "PIL"}
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not {n.split(".")[0] for n in names} & drawing, f"{path.name}: {names}"


def _extracted(scan: dict, tiv_cm3: float, edge: dict[str, int] | None = None) -> dict:
    """``scan`` as segmentation records a scan whose brain mask was extracted."""
    return {**scan, "tiv_mm3": tiv_cm3 * 1000, "labels_on_brain_edge": edge or {}}


@pytest.mark.parametrize(
    ("tiv_cm3", "edge", "expected"),
    [
        (650.0, None, "brain mask volume 650 cm³ is implausible for an adult head"),
        (2600.0, None, "brain mask volume 2,600 cm³ is implausible"),
        (1450.0, {"3": 12}, "Left-Putamen: 12 labelled voxels on the brain mask's edge"),
    ],
)
def test_an_implausible_or_cutting_brain_mask_flags_its_scan(tiv_cm3, edge, expected):
    scans = [_extracted(s, 1400.0 + 20 * i) for i, s in enumerate(healthy_scans(6))]
    scans[2] = _extracted(scans[2], tiv_cm3, edge)
    result = assess(manifest(scans))
    assert [s.image for s in result.flagged] == [scans[2]["image"]]
    assert any(reason.startswith(expected) for reason in result.scans[0].reasons)
    columns, rows = qc_rows(result)
    assert columns[-1] == "brain_mask_cm3"
    assert rows[0]["brain_mask_cm3"] == pytest.approx(tiv_cm3)
    assert sorted(r["brain_mask_cm3"] for r in rows[1:]) == [1400, 1420, 1460, 1480, 1500]


def test_scans_given_with_a_mask_get_no_brain_column():
    columns, _ = qc_rows(assess(manifest(healthy_scans(6))))
    assert "brain_mask_cm3" not in columns
