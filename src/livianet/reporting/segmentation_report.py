"""The segmentation report: ``report.html`` and ``qc.csv`` from a segmentation output folder.

Built from the folder's manifest ``segmentation.json`` (written by ``livianet segment``) and the
pictures it names, which lie beside the report and are linked by relative URLs (a run of
hundreds of scans stays a light page). Optional manifest keys may be missing. The flags come
from :mod:`livianet.evaluation.quality`; here they become plain values, and
``templates/segmentation_report.html.j2`` lays them out.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from markupsafe import Markup

from livianet.atomic import write_text_atomic
from livianet.errors import DataError
from livianet.evaluation.qc_table import qc_rows
from livianet.evaluation.quality import Assessment, ScanQC, assess
from livianet.io import write_csv
from livianet.reporting.html import (
    Badge,
    Cell,
    Code,
    Column,
    Muted,
    PngInfo,
    Reasons,
    Table,
    Thumbnail,
    Titled,
    as_float,
    fact_list,
    fmt,
    number_cell,
    png_info,
    relative_url,
    render_page,
)
from livianet.reporting.mosaic import CONVENTION_KEY, CONVENTIONS

logger = logging.getLogger(__name__)

MANIFEST_NAME = "segmentation.json"
REPORT_NAME = "report.html"
QC_NAME = "qc.csv"
_EAGER_IMAGES = 40  # thumbnails past this many rows load as they scroll into view


def write_segmentation_report(
    out_dir: str | os.PathLike[str], manifest: Mapping[str, Any] | None = None
) -> Path:
    """Write ``report.html`` and ``qc.csv`` in a segmentation output folder; the report's path.

    ``manifest``: the figures to judge (``livianet report`` passes them measured again from
    the label maps on disk); by default the folder's ``segmentation.json``.

    Raises:
        DataError: no readable ``segmentation.json`` in the folder.
    """
    folder = Path(out_dir)
    manifest = read_manifest(folder) if manifest is None else manifest
    assessment = assess(manifest)
    columns, rows = qc_rows(assessment)
    write_csv(rows, folder / QC_NAME, columns)
    target = folder / REPORT_NAME
    write_text_atomic(target, render_segmentation_report(folder, manifest, assessment))
    logger.info("%s: %s", target, assessment.summary())
    return target


def read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST_NAME
    if not path.is_file():
        raise DataError(f"{folder}: no {MANIFEST_NAME} (not a segmentation output folder)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: cannot read the manifest ({exc})") from None
    if not isinstance(manifest, dict):
        raise DataError(f"{path}: the manifest is not a JSON object")
    return manifest


def render_segmentation_report(
    folder: Path,
    manifest: Mapping[str, Any],
    assessment: Assessment,
    *,
    title: str | None = None,
    figure: str | None = None,
) -> str:
    """The page; ``title`` replaces the folder's, ``figure`` (an inline ``<svg>`` of a cohort
    figure, made by a library, not from any text read) shows above the per-structure table.
    """
    pictures = _Pictures(folder)
    scans = [s for s in assessment.scans if not s.failed]
    failures = [s for s in assessment.scans if s.failed]
    has_metrics = any(s.entry.get("metrics") for s in scans)
    return render_page(
        "segmentation_report.html.j2",
        title=title or f"Segmentation report: {folder.resolve().name}",
        subtitle=f"output folder {folder.resolve()}",
        generated=f"written {datetime.now().isoformat(sep=' ', timespec='seconds')}",
        summary=assessment.summary() + _summary_tail(assessment),
        flagged=bool(assessment.flagged),
        model=fact_list(_model_facts(manifest)),
        convention_note=_convention_note(scans, pictures),
        scans=_scan_table(scans, assessment, pictures) if scans else None,
        metrics=_metrics_table(scans, assessment) if has_metrics else None,
        failures=Table(
            ["scan", "error"],
            [[Cell(s.image), Cell(str(s.entry.get("error") or ""))] for s in failures],
            table_id="failures",
        )
        if failures
        else None,
        cohort=_cohort_table(assessment),
        figure=Markup(figure) if figure else None,
        rules=assessment.thresholds.describe(),
        qc_name=QC_NAME,
    )


def _summary_tail(assessment: Assessment) -> str:
    flagged = [s.image for s in assessment.flagged if not s.failed]
    if not flagged:
        return ". No segmented scan stands out."
    shown = ", ".join(flagged[:8]) + (", ..." if len(flagged) > 8 else "")
    return f". Flagged, and listed first: {shown}."


class _Pictures:
    """The pictures a manifest names: where they are, and whether they exist as whole PNGs."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._found: dict[str, tuple[str, PngInfo] | None] = {}

    def find(self, name: object) -> tuple[str, PngInfo] | None:
        """``(relative URL, size and text entries)`` of a named picture, or None.

        A JPEG or SVG picture has no known size nor text entries.
        """
        if not name or not isinstance(name, str):
            return None
        if name not in self._found:
            self._found[name] = self._look(name)
        return self._found[name]

    def _look(self, name: str) -> tuple[str, PngInfo] | None:
        path = Path(name)
        path = path if path.is_absolute() else self.folder / path
        info = png_info(path) if path.suffix.lower() == ".png" else None
        if info is None:
            if path.is_file() and path.suffix.lower() in (".jpg", ".jpeg", ".svg"):
                return relative_url(path, self.folder), PngInfo(0, 0, {})
            return None
        return relative_url(path, self.folder), info


def _model_facts(manifest: Mapping[str, Any]) -> list[tuple[str, object]]:
    model = manifest.get("model") or {}
    items: list[tuple[str, object]] = []
    if model.get("path"):
        items.append(("model", Code(str(model["path"]))))
    if model.get("licence"):
        items.append(("terms of use", str(model["licence"])))
    items.append(("model orientation", model.get("orientation") or "as stored (unknown)"))
    spacing = model.get("spacing")
    items.append(("model voxel size", _spacing(spacing) + " mm" if spacing else "any"))
    training = model.get("training_volumes_mm3")
    items.append(
        (
            "training volumes",
            "known per structure" if training else "not recorded: no training-range flags",
        )
    )
    if manifest.get("livianet_version"):
        items.append(("segmented with", f"livianet {manifest['livianet_version']}"))
    return items


def _convention_note(scans: Sequence[ScanQC], pictures: _Pictures) -> str:
    found = set()
    for scan in scans:
        picture = pictures.find(scan.entry.get("mosaic"))
        if picture is not None and picture[1].text.get(CONVENTION_KEY) in CONVENTIONS:
            found.add(picture[1].text[CONVENTION_KEY])
    if len(found) == 1:
        (convention,) = found
        view = f"Mosaics in {convention} view ({CONVENTIONS[convention]})"
    elif found:
        view = "Mosaics in " + " and ".join(sorted(found)) + " views (each picture says which)"
    else:
        view = "Mosaics as marked in each picture"
    return (
        f"{view}; L and R are marked on the axial and coronal panels. Click a picture for the "
        "full-size QA picture; click a column heading to sort. Flagged scans are listed first."
    )


def _thumbnail(scan: ScanQC, pictures: _Pictures, index: int) -> Cell:
    mosaic = pictures.find(scan.entry.get("mosaic"))
    full = pictures.find(scan.entry.get("qa_picture")) or mosaic
    shown = mosaic or full
    if shown is None:
        return Cell(Muted("no picture"))
    url, info = shown
    link = (full or shown)[0]
    return Cell(
        Thumbnail(
            url, f"mosaic of {scan.image}", link, info.width, info.height, index >= _EAGER_IMAGES
        )
    )


def _scan_columns(scans: Sequence[ScanQC], assessment: Assessment, metrics: bool) -> list[Column]:
    names = assessment.names
    columns = [
        Column("mosaic", sortable=False),
        Column("scan"),
        Column("QC", title="number of reasons to look at the scan"),
        Column("reasons", sortable=False),
    ]
    columns += [
        Column(names[k], numeric=True, title=f"volume of {names[k]} (label {k}) in mm³")
        for k in assessment.labels
    ]
    columns += [
        Column(f"{p.name} asym.", numeric=True, title="(first - second) / mean of the pair")
        for p in scans[0].pairs
    ]
    if metrics:
        columns += [
            Column("mean Dice", numeric=True),
            Column("max HD95 mm", numeric=True, title="largest 95 % Hausdorff distance"),
        ]
    return columns + [
        Column("orientation", title="the scan's orientation -> the model's"),
        Column("voxel mm", title="the scan's voxel size -> the model's"),
        Column("processed", title="what was done to bring the scan to the model's grid"),
    ]


def _scan_table(scans: Sequence[ScanQC], assessment: Assessment, pictures: _Pictures) -> Table:
    metrics = any(s.entry.get("metrics") for s in scans)
    body, classes = [], []
    for index, scan in enumerate(scans):
        body.append(_scan_row(scan, pictures, index, metrics))
        classes.append("flagged" if scan.flagged else "")
    columns = _scan_columns(scans, assessment, metrics)
    return Table(columns, body, row_classes=classes, table_id="scans")


def _scan_row(scan: ScanQC, pictures: _Pictures, index: int, metrics: bool) -> list[Cell]:
    """One scan: picture, name, flags, volumes, asymmetries, metrics and geometry."""
    entry = scan.entry
    count = len(scan.reasons)
    badge = Badge(f"{count} flag{'s' if count > 1 else ''}", bad=True) if scan.flagged else None
    row = [
        _thumbnail(scan, pictures, index),
        Cell(
            Titled(scan.image, str(entry.get("segmentation") or "")),
            scan.image,
            "name",
            str(entry.get("input") or "") or None,
        ),
        Cell(badge or Badge("ok"), count),
        Cell(Reasons(tuple(scan.reasons)) if scan.reasons else ""),
    ]
    for item in scan.structures:
        tip = [f"z = {item.z:+.2f}" if item.z is not None else "z: too few scans"]
        if item.components is not None:
            tip.append(f"{item.components} piece{'s' if item.components != 1 else ''}")
        if item.largest_fraction is not None:
            tip.append(f"largest {item.largest_fraction:.0%}")
        if item.training is not None:
            tip.append(f"training {fmt(item.training[0])}–{fmt(item.training[1])}")
        cell = number_cell(item.volume, 4, classes="bad" if item.flagged else "")
        row.append(Cell(cell.content, cell.sort, cell.classes, "; ".join(tip)))
    for pair in scan.pairs:
        value = None if pair.asymmetry is None else 100 * pair.asymmetry
        row.append(number_cell(value, 2, classes="bad" if pair.flagged else "", suffix=" %"))
    if metrics:
        dice = _metric_values(entry.get("metrics"), "dice")
        hd95 = _metric_values(entry.get("metrics"), "hd95_mm")
        row.append(number_cell(sum(dice) / len(dice) if dice else None, 3))
        row.append(number_cell(max(hd95) if hd95 else None, 3))
    geometry = entry.get("geometry")
    return row + _geometry_cells(geometry if isinstance(geometry, Mapping) else {})


def _metric_values(metrics: Any, key: str) -> list[float]:
    if not isinstance(metrics, Mapping):
        return []
    values = [as_float(m.get(key)) for m in metrics.values() if isinstance(m, Mapping)]
    return [v for v in values if v is not None]


def _geometry_cells(geometry: Mapping[str, Any]) -> list[Cell]:
    orientation = geometry.get("orientation") or ""
    target = geometry.get("model_orientation")
    spacing, model_spacing = geometry.get("spacing"), geometry.get("model_spacing")
    done = [w for w in ("reoriented", "resampled") if geometry.get(w)]
    shape = geometry.get("shape")
    return [
        Cell(f"{orientation} → {target}" if orientation and target else orientation),
        Cell(
            _spacing(spacing) + (f" → {_spacing(model_spacing)}" if model_spacing else ""),
            title=f"shape {' × '.join(str(s) for s in shape)}" if isinstance(shape, list) else None,
        ),
        Cell(", ".join(done) if done else ("as stored" if geometry else "")),
    ]


def _spacing(values: Any) -> str:
    if not isinstance(values, Sequence) or isinstance(values, str):
        return ""
    return " × ".join(fmt(v, 3) for v in values)


def _metrics_table(scans: Sequence[ScanQC], assessment: Assessment) -> Table:
    names = assessment.names
    columns = [Column("scan")]
    for k in assessment.labels:
        columns += [
            Column(f"{names[k]} Dice", numeric=True),
            Column(f"{names[k]} HD95", numeric=True),
        ]
    body = []
    for scan in scans:
        metrics = scan.entry.get("metrics")
        if not isinstance(metrics, Mapping):
            continue
        row: list[Cell | object] = [Cell(scan.image)]
        for k in assessment.labels:
            found = metrics.get(str(k))
            item: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
            row += [number_cell(item.get("dice"), 3), number_cell(item.get("hd95_mm"), 3)]
        body.append(row)
    return Table(columns, body, table_id="metrics")


def _cohort_table(assessment: Assessment) -> Table:
    columns = [
        Column("structure"),
        Column("label", numeric=True),
        Column("scans", numeric=True),
        Column("median mm³", numeric=True),
        Column("robust SD mm³", numeric=True, title="1.4826 x MAD, floored"),
        Column("training range mm³", numeric=True),
        Column("flagged scans", numeric=True),
    ]
    body = []
    scans = [s for s in assessment.scans if not s.failed]
    for label in assessment.labels:
        stats = assessment.cohort[label]
        ranges = [
            s.training for scan in scans for s in scan.structures if s.label == label and s.training
        ]
        flagged = sum(
            1 for scan in scans for s in scan.structures if s.label == label and s.flagged
        )
        training = f"{fmt(ranges[0][0])}–{fmt(ranges[0][1])}" if ranges else ""
        body.append(
            [
                Cell(assessment.names[label]),
                Cell(label, label),
                Cell(stats.count, stats.count),
                number_cell(stats.median, 4),
                number_cell(stats.robust_sd, 3) if stats.robust_sd else Cell("too few scans"),
                Cell(training, ranges[0][0] if ranges else None),
                Cell(flagged, flagged),
            ]
        )
    return Table(columns, body, table_id="cohort")
