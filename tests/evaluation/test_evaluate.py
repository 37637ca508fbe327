"""Tests for livianet.evaluation.evaluate on small NIfTI files with anisotropic voxels."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import scipy.io

from livianet.errors import DataError
from livianet.evaluation import (
    COLUMNS,
    evaluate_files,
    evaluate_pair,
    format_metrics_table,
    pair_files,
    summary_by_label,
    write_metrics_csv,
)
from livianet.evaluation.evaluate import LEGEND
from livianet.io import load_label_names

ZOOMS = (1.0, 1.5, 2.0)


def affine() -> np.ndarray:
    """Voxel axes rotated 90 degrees about z, zooms ZOOMS, shifted: not diagonal."""
    rotation = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    matrix = np.eye(4)
    matrix[:3, :3] = rotation @ np.diag(ZOOMS)
    matrix[:3, 3] = (10.0, -20.0, 5.0)
    return matrix


def save(path: Path, data: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(data, affine()), str(path))
    return path


def case() -> tuple[np.ndarray, np.ndarray]:
    """Label 1: bars along y (pred 4 voxels, GT 6); label 2 only in pred; label 3 only in GT."""
    pred = np.zeros((3, 10, 4), np.uint8)
    gt = np.zeros((3, 10, 4), np.uint8)
    pred[0, 0:4, 0] = 1
    gt[0, 0:6, 0] = 1
    pred[2, 8, 3] = 2
    gt[2, 0, 3] = 3
    return pred, gt


def test_evaluate_pair_uses_header_spacing(tmp_path: Path) -> None:
    pred, gt = case()
    pred_path = save(tmp_path / "pred" / "Segmentation_sub1.nii.gz", pred)
    gt_path = save(tmp_path / "gt" / "sub1.nii.gz", gt)
    rows = evaluate_pair(pred_path, gt_path, names={1: "Thalamus"})
    assert [row["label"] for row in rows] == [1, 2, 3]
    assert [row["name"] for row in rows] == ["Thalamus", "label_2", "label_3"]
    assert all(list(row) == list(COLUMNS) for row in rows)
    assert {row["image"] for row in rows} == {"Segmentation_sub1.nii.gz"}
    first = rows[0]
    voxel_mm3 = 1.0 * 1.5 * 2.0
    assert first["dice"] == pytest.approx(0.8)
    assert first["jaccard"] == pytest.approx(4 / 6)
    # Bars run along array axis 1 (1.5 mm): distances [0]*4 and [0, 0, 0, 0, 1, 2] voxels.
    assert first["hd95_mm"] == pytest.approx(1.75 * 1.5)
    assert first["assd_mm"] == pytest.approx(0.3 * 1.5)
    assert first["volume_pred_mm3"] == pytest.approx(4 * voxel_mm3)
    assert first["volume_gt_mm3"] == pytest.approx(6 * voxel_mm3)
    assert first["volume_diff_pct"] == pytest.approx(100 * (4 - 6) / 6)
    only_pred, only_gt = rows[1], rows[2]
    assert only_pred["dice"] == 0.0 and only_pred["hd95_mm"] == math.inf
    assert math.isnan(only_pred["volume_diff_pct"])
    assert only_gt["assd_mm"] == math.inf and only_gt["volume_diff_pct"] == -100.0


def test_explicit_labels_include_absent_ones(tmp_path: Path) -> None:
    pred, gt = case()
    pred_path, gt_path = save(tmp_path / "p.nii", pred), save(tmp_path / "g.nii", gt)
    rows = evaluate_pair(pred_path, gt_path, labels=[1, 5])
    assert [row["label"] for row in rows] == [1, 5]
    assert math.isnan(rows[1]["dice"]) and math.isnan(rows[1]["hd95_mm"])


def test_float_label_maps_and_mat_files(tmp_path: Path) -> None:
    pred, gt = case()
    scipy.io.savemat(tmp_path / "gt.mat", {"vol": gt})
    rows = evaluate_pair(save(tmp_path / "p.nii", pred.astype(np.float32)), tmp_path / "gt.mat")
    assert rows[0]["hd95_mm"] == pytest.approx(1.75)  # .mat: 1 mm voxels
    assert rows[0]["volume_gt_mm3"] == 6.0


def test_shape_mismatch_names_both_files(tmp_path: Path) -> None:
    pred_path = save(tmp_path / "p.nii.gz", np.zeros((3, 4, 5), np.uint8))
    gt_path = save(tmp_path / "g.nii.gz", np.zeros((3, 4, 6), np.uint8))
    with pytest.raises(DataError) as info:
        evaluate_pair(pred_path, gt_path)
    message = str(info.value)
    assert "p.nii.gz has shape (3, 4, 5)" in message
    assert "g.nii.gz has shape (3, 4, 6)" in message


def test_non_label_maps_are_refused(tmp_path: Path) -> None:
    gt_path = save(tmp_path / "g.nii", np.zeros((3, 4, 5), np.uint8))
    blurry = save(tmp_path / "prob.nii", np.full((3, 4, 5), 0.25, np.float32))
    with pytest.raises(DataError, match=r"prob\.nii: holds non-integer values such as 0\.25"):
        evaluate_pair(blurry, gt_path)
    four_d = save(tmp_path / "four.nii", np.zeros((3, 4, 5, 2), np.uint8))
    with pytest.raises(DataError, match=r"four\.nii: array of shape \(2, 3, 4, 5\), expected a"):
        evaluate_pair(four_d, gt_path)


def test_pair_folders_by_name(tmp_path: Path) -> None:
    data = np.zeros((2, 2, 2), np.uint8)
    pred_dir, gt_dir = tmp_path / "pred", tmp_path / "gt"
    save(pred_dir / "Segmentation_sub1.nii.gz", data)
    save(pred_dir / "sub2.nii.gz", data)
    save(pred_dir / "Segmentation_sub3.nii.gz", data)
    save(pred_dir / "ProbMap_class_1_sub1.nii.gz", data.astype(np.float32))
    (pred_dir / "notes.txt").write_text("not a volume")
    save(gt_dir / "sub1.nii.gz", data)
    save(gt_dir / "sub2.nii.gz", data)
    save(gt_dir / "sub3.nii", data)
    save(gt_dir / "sub4.nii.gz", data)  # no prediction: ignored
    pairs = pair_files(pred_dir, gt_dir)
    assert [(p.name, g.name) for p, g in pairs] == [
        ("Segmentation_sub1.nii.gz", "sub1.nii.gz"),
        ("Segmentation_sub3.nii.gz", "sub3.nii"),
        ("sub2.nii.gz", "sub2.nii.gz"),
    ]


def test_pair_folders_in_the_original_layout(tmp_path: Path) -> None:
    """Segmentations of MR_ImgN pair with GT_ImgN, as the original's folders name them."""
    data = np.zeros((2, 2, 2), np.uint8)
    pred_dir, gt_dir = tmp_path / "pred", tmp_path / "Label"
    save(pred_dir / "Segmentation_MR_Img1.nii.gz", data)
    save(pred_dir / "Segmentation_MR_Img12.nii.gz", data)
    save(gt_dir / "GT_Img1.nii.gz", data)
    save(gt_dir / "GT_Img12.nii.gz", data)
    save(gt_dir / "GT_Img2.nii.gz", data)
    pairs = pair_files(pred_dir, gt_dir)
    assert [(p.name, g.name) for p, g in pairs] == [
        ("Segmentation_MR_Img1.nii.gz", "GT_Img1.nii.gz"),
        ("Segmentation_MR_Img12.nii.gz", "GT_Img12.nii.gz"),
    ]
    save(gt_dir / "Seg_Img1.nii.gz", data)  # two references end in _Img1: refuse to guess
    with pytest.raises(DataError, match=r"Segmentation_MR_Img1\.nii\.gz: matches several"):
        pair_files(pred_dir, gt_dir)


def test_last_resort_pairing_drops_only_role_prefixes(tmp_path: Path) -> None:
    """``subj01_scan`` and ``subj02_scan`` differ by subject, not by role: they never pair."""
    data = np.zeros((2, 2, 2), np.uint8)
    pred_dir, gt_dir = tmp_path / "pred", tmp_path / "gt"
    save(pred_dir / "Segmentation_subj01_scan.nii.gz", data)
    save(gt_dir / "subj02_scan.nii.gz", data)
    with pytest.raises(DataError, match=r"no ground truth in .*gt for Segmentation_subj01_scan"):
        pair_files(pred_dir, gt_dir)
    (pred_dir / "Segmentation_subj01_scan.nii.gz").unlink()
    save(pred_dir / "Segmentation_T1_subj01_scan.nii.gz", data)
    save(gt_dir / "mask_subj01_scan.nii.gz", data)  # role prefixes on both sides: they pair
    pairs = pair_files(pred_dir, gt_dir)
    assert [(p.name, g.name) for p, g in pairs] == [
        ("Segmentation_T1_subj01_scan.nii.gz", "mask_subj01_scan.nii.gz")
    ]


def test_pair_two_files(tmp_path: Path) -> None:
    data = np.zeros((2, 2, 2), np.uint8)
    pred, gt = save(tmp_path / "a.nii", data), save(tmp_path / "b.nii", data)
    assert pair_files(pred, gt) == [(pred, gt)]


def test_pairing_errors(tmp_path: Path) -> None:
    data = np.zeros((2, 2, 2), np.uint8)
    pred_dir, gt_dir, empty = tmp_path / "pred", tmp_path / "gt", tmp_path / "empty"
    empty.mkdir()
    save(pred_dir / "sub1.nii.gz", data)
    save(pred_dir / "other.nii.gz", data)
    save(gt_dir / "sub1.nii.gz", data)
    with pytest.raises(DataError, match=r"no ground truth in .*gt for other\.nii\.gz"):
        pair_files(pred_dir, gt_dir)
    with pytest.raises(DataError, match=r"empty: no prediction volumes"):
        pair_files(empty, gt_dir)
    with pytest.raises(DataError, match=r"empty: no ground-truth volumes"):
        pair_files(pred_dir, empty)
    with pytest.raises(DataError, match=r"is a folder and .*sub1\.nii\.gz a file"):
        pair_files(pred_dir, gt_dir / "sub1.nii.gz")
    with pytest.raises(DataError, match=r"nothing\.nii: not found"):
        pair_files(tmp_path / "nothing.nii", gt_dir)
    save(gt_dir / "other.nii.gz", data)
    save(pred_dir / "Segmentation_other.nii", data)
    with pytest.raises(DataError, match=r"both pair with .*other\.nii\.gz"):
        pair_files(pred_dir, gt_dir)


def test_csv_columns_and_precision(tmp_path: Path) -> None:
    pred, gt = case()
    pairs = [(save(tmp_path / "p.nii", pred), save(tmp_path / "g.nii", gt))]
    rows = evaluate_files(pairs)
    rows[0]["dice"] = 1 / 3  # needs many digits
    out = write_metrics_csv(rows, tmp_path / "out" / "metrics.csv")
    with open(out, newline="") as handle:
        table = list(csv.reader(handle))
    assert tuple(table[0]) == COLUMNS
    assert len(table) == 1 + len(rows)
    for row, written in zip(rows, table[1:], strict=True):
        assert written[0] == "p.nii" and int(written[1]) == row["label"]
        for column, text in zip(COLUMNS[3:], written[3:], strict=True):
            value = row[column]
            if math.isnan(value):
                assert text == "nan"
            else:
                assert float(text) == pytest.approx(value, rel=1e-9)
    assert table[1][3] == "0.3333333333"
    assert table[2][5] == "inf"
    assert not list((tmp_path / "out").glob(".*"))  # no temporary left behind


def test_summary_and_table(tmp_path: Path) -> None:
    pred, gt = case()
    pred_path, gt_path = save(tmp_path / "p.nii", pred), save(tmp_path / "g.nii", gt)
    rows = evaluate_files([(pred_path, gt_path), (pred_path, pred_path)], labels=[1, 2, 3])
    summary = summary_by_label(rows)
    assert [s["label"] for s in summary] == [1, 2, 3]
    assert summary[0]["images"] == 2
    assert summary[0]["dice"] == pytest.approx((0.8 + 1.0) / 2)
    assert summary[1]["hd95_mm"] == math.inf  # one inf makes the mean inf
    assert summary[2]["dice"] == 0.0  # the NaN of the second image is skipped
    table = format_metrics_table(rows)
    lines = table.splitlines()
    assert lines[0].split() == [
        "image",
        "label",
        "name",
        "dice",
        "hd95_mm",
        "assd_mm",
        "vol_pred_mm3",
        "vol_gt_mm3",
        "vol_diff_%",
    ]
    assert lines[-1] == LEGEND
    assert "NaN" in LEGEND and "inf" in LEGEND
    mean_lines = [line for line in lines if line.startswith("mean of 2")]
    assert len(mean_lines) == 3
    assert mean_lines[0].split()[3:7] == ["1", "label_1", "0.9000", "1.31"]
    assert len({len(line) for line in lines[:2]}) == 1  # header aligned with the rule


def test_names_from_file(tmp_path: Path) -> None:
    pred, gt = case()
    names = load_label_names(save_names(tmp_path / "names.tsv"))
    rows = evaluate_pair(save(tmp_path / "p.nii", pred), save(tmp_path / "g.nii", gt), names=names)
    assert [row["name"] for row in rows] == ["Thalamus", "Caudate", "label_3"]


def save_names(path: Path) -> Path:
    path.write_text("label\tname\n1\tThalamus\n2\tCaudate\n")
    return path
