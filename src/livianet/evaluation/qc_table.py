"""``qc.csv``: one row per scan of an :class:`~livianet.evaluation.quality.Assessment`.

Separate from the rules so that the table's columns change without touching them.
"""

from __future__ import annotations

from typing import Any

from livianet.evaluation.quality import Assessment, pair_name
from livianet.evaluation.values import as_float

# per structure: the figures each flag reads, in this order
_FIGURES = (
    ("volume_mm3", "volume"),
    ("z", "z"),
    ("components", "components"),
    ("largest_fraction", "largest_fraction"),
    ("beyond_place_mm", "beyond_place_mm"),
    ("span_ratio", "span_ratio"),
)


def qc_rows(assessment: Assessment) -> tuple[list[str], list[dict[str, Any]]]:
    """The columns and rows of ``qc.csv``: image, flagged, reasons, then the figures.

    ``beyond_place_mm`` is how far the structure's centroid lies outside the training
    scans' range (0 inside it), ``span_ratio`` its widest span over the widest in
    training; both empty when the model recorded no places.
    """
    columns = ["image", "flagged", "reasons"]
    headings = _column_names(assessment)
    for label in assessment.labels:
        columns += [f"{headings[label]}_{suffix}" for suffix, _ in _FIGURES]
    pair_columns = [f"{_pair_heading(assessment, p)}_asymmetry" for p in assessment.pairs]
    columns += pair_columns
    extracted = any("tiv_mm3" in scan.entry for scan in assessment.scans)
    if extracted:
        columns.append("brain_mask_cm3")  # the extracted mask's volume (TIV)
    rows = []
    for scan in assessment.scans:
        row: dict[str, Any] = {
            "image": scan.image,
            "flagged": int(scan.flagged),
            "reasons": "; ".join(scan.reasons),
        }
        for item in scan.structures:
            for suffix, attribute in _FIGURES:
                row[f"{headings[item.label]}_{suffix}"] = getattr(item, attribute)
        for column, pair in zip(pair_columns, scan.pairs, strict=False):
            row[column] = pair.asymmetry
        if extracted:
            tiv = as_float(scan.entry.get("tiv_mm3"))
            row["brain_mask_cm3"] = tiv / 1000 if tiv is not None else None
        rows.append(row)
    return columns, rows


def _name(assessment: Assessment, label: int) -> str:
    return assessment.names.get(label, f"label {label}")


def _column_names(assessment: Assessment) -> dict[int, str]:
    """CSV column stems per label: the name, made unique with the label when names repeat."""
    counts: dict[str, int] = {}
    for label in assessment.labels:
        counts[assessment.names[label]] = counts.get(assessment.names[label], 0) + 1
    return {
        label: name if counts[name] == 1 else f"{name} ({label})"
        for label, name in assessment.names.items()
    }


def _pair_heading(assessment: Assessment, pair: tuple[int, int]) -> str:
    return pair_name(_name(assessment, pair[0]), _name(assessment, pair[1]))
