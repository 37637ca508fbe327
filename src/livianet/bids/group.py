"""``livianet bids BIDS_DIR OUT_DIR group``: the cohort's tables, figure and report.

Read from the scan records the participant level wrote (every process's, every run's):

- ``group/volumes.tsv``: one row per segmented T1w: ``participant_id``, ``session_id`` and the
  source's other entities, each structure's volume in mm3, ``TIV_mm3`` when a brain mask was
  known, and the QC flag with its reasons (robust z across the cohort, the training range,
  asymmetry, missing or split structures, warnings: :mod:`livianet.evaluation.quality`);
- ``group/failures.tsv``: each scan the participant level could not do, and why;
- ``group/volumes.png`` and ``group/report.html``: each structure's volume distribution, and the
  QC report (flagged scans first, sortable, one mosaic per scan, no network needed).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from livianet.bids.dataset import read_livianet_description
from livianet.bids.entities import BidsName
from livianet.bids.files import write_tsv
from livianet.bids.layout import Selection, T1wScan, index_t1w, read_description
from livianet.bids.outputs import GROUP
from livianet.bids.publish import entity_columns, entity_values
from livianet.bids.records import DONE, all_records
from livianet.bids.reports import manifest, read_model_summary, write_report
from livianet.errors import DataError
from livianet.evaluation.quality import Assessment, assess

logger = logging.getLogger(__name__)

QC_COLUMNS = ("qc_flagged", "qc_reasons")


@dataclass(frozen=True)
class GroupSummary:
    folder: Path
    scans: int
    flagged: int
    failures: tuple[tuple[str, str], ...]  # (source, error)


def run_group(bids_dir: Path, out_dir: Path, selection: Selection | None = None) -> GroupSummary:
    """Write the group folder of the derivatives dataset ``out_dir``."""
    selection = selection or Selection()
    read_description(bids_dir)
    if not out_dir.is_dir():
        raise DataError(
            f"OUT_DIR {out_dir}: folder not found; expected the derivatives dataset the "
            "participant level wrote (run it first)"
        )
    read_livianet_description(out_dir)
    records = [r for r in all_records(out_dir) if _selected(r, selection)]
    if not records:
        raise DataError(
            f"OUT_DIR {out_dir}: no scan records (logs/scans/*.json): run the participant level first"
        )
    records = [_checked(out_dir, r) for r in records]
    if selection == Selection():
        _warn_unprocessed(bids_dir, records)
    folder = out_dir / GROUP
    contents = manifest(records, read_model_summary(out_dir), prefix="../")
    assessment = _write_report(folder, contents, out_dir)
    qc = {scan.entry.get("source"): scan for scan in assessment.scans if not scan.failed}
    done = [r for r in records if r.get("status") == DONE]
    rows = []
    for record in done:
        scan = qc.get(record["source"])
        reasons = list(scan.reasons) if scan is not None else []
        rows.append(
            {
                **entity_values(_scan(bids_dir, record)),
                **(record.get("volumes") or {}),
                "qc_flagged": int(bool(reasons)),
                "qc_reasons": "; ".join(reasons),
            }
        )
    scans = [_scan(bids_dir, r) for r in done]
    volume_columns = list(dict.fromkeys(k for r in done for k in (r.get("volumes") or {})))
    columns = [*entity_columns(scans), *volume_columns, *QC_COLUMNS]
    write_tsv(rows, folder / "volumes.tsv", columns)
    failures = _write_failures(bids_dir, folder, [r for r in records if r.get("status") != DONE])
    flagged = sum(row["qc_flagged"] for row in rows)
    return GroupSummary(folder, len(rows), flagged, failures)


def _write_report(folder: Path, contents: Mapping[str, Any], out_dir: Path) -> Assessment:
    """The distribution figure (PNG, and inline) and ``report.html``; the QC assessment."""
    from livianet.reporting.cohort import volume_distribution_figure
    from livianet.reporting.drawing import figure_svg, save_figure

    folder.mkdir(parents=True, exist_ok=True)
    assessment = assess(contents)
    figure = volume_distribution_figure(assessment)
    save_figure(figure, folder / "volumes.png")
    title = f"Cohort report: {out_dir.resolve().name}"
    target = folder / "report.html"
    return write_report(folder, contents, target, title, figure_svg(figure), assessment)


def _write_failures(
    bids_dir: Path, folder: Path, failed: Sequence[Mapping[str, Any]]
) -> tuple[tuple[str, str], ...]:
    rows = [{**entity_values(_scan(bids_dir, r)), "error": r.get("error") or ""} for r in failed]
    columns = [*entity_columns([_scan(bids_dir, r) for r in failed]), "error"]
    write_tsv(rows, folder / "failures.tsv", columns)
    return tuple((str(r["source"]), str(r.get("error") or "")) for r in failed)


def _checked(out_dir: Path, record: dict[str, Any]) -> dict[str, Any]:
    """A done record whose label map is gone counts as a failure (run participant again)."""
    entry = record.get("entry") or {}
    dseg = entry.get("segmentation") if isinstance(entry, Mapping) else None
    if record.get("status") == DONE and not (isinstance(dseg, str) and (out_dir / dseg).is_file()):
        return {**record, "status": "missing", "error": f"{dseg}: missing; run participant again"}
    return record


def _scan(bids_dir: Path, record: Mapping[str, Any]) -> T1wScan:
    """The source T1w of a record, from its path and entities."""
    source = str(record["source"])
    entities = record.get("entities") or {}
    name = BidsName(tuple((str(k), str(v)) for k, v in entities.items()), "T1w", "")
    return T1wScan(bids_dir, source, name)


def _selected(record: Mapping[str, Any], selection: Selection) -> bool:
    entities = record.get("entities") or {}
    if selection.participants is not None and entities.get("sub") not in selection.participants:
        return False
    return selection.sessions is None or entities.get("ses") in selection.sessions


def _warn_unprocessed(bids_dir: Path, records: Sequence[Mapping[str, Any]]) -> None:
    known = {r["source"] for r in records}
    missing = [s.relative for s in index_t1w(bids_dir).scans if s.relative not in known]
    if missing:
        logger.warning(
            "%d T1w scans of %s have no record yet (not in this cohort's tables), such as %s: "
            "run the participant level for them", len(missing), bids_dir, missing[0],
        )  # fmt: skip
