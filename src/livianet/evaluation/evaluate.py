"""Evaluate segmentation files against ground truth: pairing, tables, CSV.

One row per ``(image, label)`` with the columns of :data:`COLUMNS`:
``image`` (the prediction's file name), ``label`` (the integer value), ``name``
(from a label-name file, else ``label_<n>``), ``dice``, ``jaccard``,
``hd95_mm``, ``assd_mm``, ``volume_pred_mm3``, ``volume_gt_mm3`` and
``volume_diff_pct``. Definitions and empty-mask values are those of
:mod:`livianet.evaluation.metrics`:

- a structure absent from both files gives NaN Dice, Jaccard, HD95 and ASSD;
- a structure absent from exactly one gives Dice and Jaccard 0.0 and HD95 and
  ASSD ``inf``;
- ``volume_diff_pct = 100 * (pred - gt) / gt`` is NaN when the GT volume is 0.

Distances and volumes are in mm and mm3, from the voxel spacing in the
ground truth's header (``.mat`` files have none and count as 1 mm isotropic).
Labels default to every nonzero value found in either file. Per-label means
over images (:func:`summary_by_label`) skip NaN; a single ``inf`` makes the
mean ``inf``, so a structure missed in any image stays visible.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from livianet.errors import DataError
from livianet.evaluation.metrics import metrics_per_label
from livianet.io import (
    Volume,
    label_dtype,
    label_name,
    list_volume_files,
    load_volume,
    strip_role_prefix,
    strip_volume_suffix,
    write_csv,
)

__all__ = [
    "COLUMNS",
    "evaluate_files",
    "evaluate_pair",
    "format_metrics_table",
    "pair_files",
    "summary_by_label",
    "write_metrics_csv",
]

logger = logging.getLogger(__name__)

COLUMNS = (
    "image",
    "label",
    "name",
    "dice",
    "jaccard",
    "hd95_mm",
    "assd_mm",
    "volume_pred_mm3",
    "volume_gt_mm3",
    "volume_diff_pct",
)
SEGMENTATION_PREFIX = "Segmentation_"
# Probability maps written beside segmentations are not label maps: skip them.
PROB_MAP_PREFIX = "ProbMap_"
LEGEND = (
    "NaN = structure absent from both prediction and ground truth; "
    "inf = absent from exactly one. Means skip NaN; one inf makes a mean inf."
)

Row = dict[str, Any]


def pair_files(pred: str | os.PathLike[str], gt: str | os.PathLike[str]) -> list[tuple[Path, Path]]:
    """Pair a prediction file with a GT file, or two folders by file name.

    A prediction in a folder matches the GT file of the same name; failing
    that, its name without a leading ``Segmentation_``; failing that, a GT name
    equal after removing the ``.nii``/``.nii.gz``/``.mat`` suffix from both;
    failing that, the original's layout: ``Segmentation_MR_Img5.mat`` pairs
    with ``GT_Img5.mat`` (the names agree without a known role prefix such as
    ``MR_``/``GT_``; :data:`livianet.io.ROLE_PREFIXES`).
    Files starting with ``ProbMap_`` are skipped; GT files without a
    prediction are ignored.

    Raises:
        DataError: a path is missing, one is a file and the other a folder, a
            prediction has no GT (or two), two predictions share a GT, or
            nothing pairs.
    """
    pred_path, gt_path = Path(pred), Path(gt)
    for path in (pred_path, gt_path):
        if not path.exists():
            raise DataError(f"{path}: not found")
    if pred_path.is_file() and gt_path.is_file():
        return [(pred_path, gt_path)]
    if not (pred_path.is_dir() and gt_path.is_dir()):
        raise DataError(
            f"{pred_path} is a {_kind(pred_path)} and {gt_path} a {_kind(gt_path)}: "
            "expected two files or two folders"
        )
    preds = [p for p in list_volume_files(pred_path) if not p.name.startswith(PROB_MAP_PREFIX)]
    gts = list_volume_files(gt_path)
    if not preds:
        raise DataError(f"{pred_path}: no prediction volumes (.nii, .nii.gz, .mat) found")
    if not gts:
        raise DataError(f"{gt_path}: no ground-truth volumes (.nii, .nii.gz, .mat) found")

    by_name = {g.name: g for g in gts}
    by_stem: dict[str, list[Path]] = {}
    for g in gts:
        by_stem.setdefault(strip_volume_suffix(g.name), []).append(g)
    by_role_free: dict[str, list[Path]] = {}
    for stem, files in by_stem.items():
        if (key := _role_free(stem)) is not None:
            by_role_free.setdefault(key, []).extend(files)
    pairs: list[tuple[Path, Path]] = []
    unmatched: list[str] = []
    claimed: dict[Path, Path] = {}
    for p in preds:
        match = _match_gt(p, by_name, by_stem, by_role_free)
        if match is None:
            unmatched.append(p.name)
            continue
        if match in claimed:
            raise DataError(f"{claimed[match]} and {p} both pair with {match}: keep one")
        claimed[match] = p
        pairs.append((p, match))
    if unmatched:
        more = f" and {len(unmatched) - 5} more" if len(unmatched) > 5 else ""
        shown = ", ".join(unmatched[:5]) + more
        raise DataError(
            f"{pred_path}: no ground truth in {gt_path} for {shown} (names must match, "
            f"optionally after removing '{SEGMENTATION_PREFIX}', the file suffix, or a role prefix "
            "such as MR_/GT_)"
        )
    for g in gts:
        if g not in claimed:
            logger.info("%s: no prediction for this ground truth, skipped", g)
    return pairs


def evaluate_pair(
    pred_path: str | os.PathLike[str],
    gt_path: str | os.PathLike[str],
    labels: Iterable[int] | None = None,
    names: Mapping[int, str] | None = None,
) -> list[Row]:
    """Metrics of every label of one prediction against its ground truth.

    Args:
        pred_path: predicted label map.
        gt_path: ground-truth label map on the same voxel grid; its header
            gives the voxel spacing.
        labels: labels to evaluate; default: the sorted nonzero values in either file.
        names: ``{label: name}`` for the ``name`` column.

    Returns:
        One row per label, keys as in :data:`COLUMNS`.

    Raises:
        DataError: a file cannot be read, is not a 3-D label map, the shapes
            differ, or the GT spacing is not positive.
    """
    pred_volume, gt_volume = load_volume(pred_path), load_volume(gt_path)
    pred_map, gt_map = _label_map(pred_volume), _label_map(gt_volume)
    if pred_map.shape != gt_map.shape:
        raise DataError(
            f"{pred_volume.path} has shape {pred_map.shape} but {gt_volume.path} has shape "
            f"{gt_map.shape}: expected the same voxel grid"
        )
    spacing = gt_volume.spacing
    if not all(math.isfinite(s) and s > 0 for s in spacing):
        raise DataError(
            f"{gt_volume.path}: voxel spacing {spacing} from the header is not positive"
        )
    if not (pred_volume.is_mat or gt_volume.is_mat) and not np.allclose(
        pred_volume.affine, gt_volume.affine, atol=1e-3
    ):
        logger.warning(
            "%s and %s have different affines; comparing voxel by voxel with the GT spacing %s",
            pred_volume.path,
            gt_volume.path,
            spacing,
        )
    per_label = metrics_per_label(pred_map, gt_map, spacing, labels)
    image = pred_volume.path.name
    return [
        {"image": image, "label": label, "name": label_name(names, label), **values}
        for label, values in per_label.items()
    ]


def evaluate_files(
    pairs: Iterable[tuple[str | os.PathLike[str], str | os.PathLike[str]]],
    labels: Iterable[int] | None = None,
    names: Mapping[int, str] | None = None,
) -> list[Row]:
    """Rows of :func:`evaluate_pair` for every ``(prediction, ground truth)`` pair."""
    wanted = None if labels is None else [int(label) for label in labels]
    rows: list[Row] = []
    for pred_path, gt_path in pairs:
        pair_rows = evaluate_pair(pred_path, gt_path, wanted, names)
        dices = [row["dice"] for row in pair_rows]
        logger.info(
            "%s vs %s: mean Dice %.4f over %d labels",
            pred_path,
            gt_path,
            _mean(dices),
            len(pair_rows),
        )
        rows.extend(pair_rows)
    return rows


def write_metrics_csv(rows: Sequence[Row], path: str | os.PathLike[str]) -> Path:
    """Write ``rows`` as CSV with the columns of :data:`COLUMNS`, atomically.

    Floats keep 10 significant digits (``nan`` and ``inf`` are written as such).
    """
    return write_csv(rows, path, COLUMNS)


def summary_by_label(rows: Sequence[Row]) -> list[Row]:
    """Per-label means over images, sorted by label.

    Returns:
        Dicts with ``label``, ``name``, ``images`` (rows for that label),
        ``dice``, ``hd95_mm`` and ``assd_mm``. Means skip NaN (structure
        absent from both) and are NaN when every value is; an ``inf``
        (structure missed in one file) makes the mean ``inf``.

    >>> rows = [{"label": 1, "name": "a", "dice": 0.5, "hd95_mm": 2.0, "assd_mm": 1.0},
    ...         {"label": 1, "name": "a", "dice": float("nan"), "hd95_mm": float("nan"),
    ...          "assd_mm": float("nan")}]
    >>> summary_by_label(rows)[0]["dice"]
    0.5
    """
    groups: dict[int, list[Row]] = {}
    for row in rows:
        groups.setdefault(int(row["label"]), []).append(row)
    return [
        {
            "label": label,
            "name": group[0]["name"],
            "images": len(group),
            **{key: _mean([row[key] for row in group]) for key in ("dice", "hd95_mm", "assd_mm")},
        }
        for label, group in sorted(groups.items())
    ]


def format_metrics_table(rows: Sequence[Row]) -> str:
    """A fixed-width table of ``rows``, then one mean row per label, then a legend."""
    headers = (
        "image",
        "label",
        "name",
        "dice",
        "hd95_mm",
        "assd_mm",
        "vol_pred_mm3",
        "vol_gt_mm3",
        "vol_diff_%",
    )
    body = [_table_cells(row) for row in rows]
    means = [
        (
            f"mean of {s['images']}",
            str(s["label"]),
            str(s["name"]),
            f"{s['dice']:.4f}",
            f"{s['hd95_mm']:.2f}",
            f"{s['assd_mm']:.2f}",
            "",
            "",
            "",
        )
        for s in summary_by_label(rows)
    ]
    widths = [max(len(cells[i]) for cells in [headers, *body, *means]) for i in range(len(headers))]
    text_columns = {0, 2}

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.ljust(width) if i in text_columns else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    rule = "  ".join("-" * width for width in widths)
    out = [line(headers), rule, *(line(cells) for cells in body)]
    if means:
        out += [rule, *(line(cells) for cells in means)]
    out.append(LEGEND)
    return "\n".join(out) + "\n"


def _table_cells(row: Row) -> tuple[str, ...]:
    return (
        str(row["image"]),
        str(row["label"]),
        str(row["name"]),
        f"{row['dice']:.4f}",
        f"{row['hd95_mm']:.2f}",
        f"{row['assd_mm']:.2f}",
        f"{row['volume_pred_mm3']:.1f}",
        f"{row['volume_gt_mm3']:.1f}",
        f"{row['volume_diff_pct']:.1f}",
    )


def _mean(values: Iterable[float]) -> float:
    kept = [float(v) for v in values if not math.isnan(v)]
    return sum(kept) / len(kept) if kept else math.nan


def _label_map(volume: Volume) -> np.ndarray:
    """The volume's voxels as an integer 3-D label map, or a DataError."""
    data = volume.data
    if data.ndim != 3:
        raise DataError(
            f"{volume.path}: array of shape {tuple(data.shape)}, expected a 3-D label map"
        )
    if data.dtype.kind == "f":
        if not np.all(np.isfinite(data)):
            raise DataError(f"{volume.path}: holds NaN or inf, expected a label map")
        rounded = np.rint(data)
        if not np.array_equal(rounded, data):
            example = data[rounded != data].flat[0]
            raise DataError(
                f"{volume.path}: holds non-integer values such as {example:g}, expected a label map"
            )
        return rounded.astype(label_dtype(rounded))
    if data.dtype.kind == "b":
        return data.view(np.uint8)
    return data


def _match_gt(
    pred: Path,
    by_name: dict[str, Path],
    by_stem: dict[str, list[Path]],
    by_role_free: dict[str, list[Path]],
) -> Path | None:
    candidates = [pred.name]
    if pred.name.startswith(SEGMENTATION_PREFIX):
        candidates.append(pred.name[len(SEGMENTATION_PREFIX) :])
    for name in candidates:
        if name in by_name:
            return by_name[name]
    stems = [strip_volume_suffix(name) for name in candidates]
    for stem in stems:
        if stem in by_stem:
            return _only(pred, by_stem[stem])
    # Last resort, the original's layout: MR_Img5 pairs with GT_Img5.
    key = _role_free(stems[-1])
    return _only(pred, by_role_free[key]) if key in by_role_free else None


def _only(pred: Path, found: list[Path]) -> Path:
    if len(found) > 1:
        listed = ", ".join(str(g) for g in found)
        raise DataError(f"{pred}: matches several ground-truth files ({listed}); keep one")
    return found[0]


def _role_free(stem: str) -> str | None:
    """``Img5`` from ``MR_Img5`` or ``GT_Img5``; None without a known role prefix.

    Only the roles of :data:`livianet.io.ROLE_PREFIXES` are dropped: ``subj01_scan`` keeps
    its subject and never pairs with ``subj02_scan``.
    """
    return strip_role_prefix(stem)


def _kind(path: Path) -> str:
    return "folder" if path.is_dir() else "file"
