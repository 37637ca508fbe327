"""The HTML reports of a derivatives dataset: one per subject, and the cohort's.

Both are ``livianet segment``'s report (:mod:`livianet.reporting.segmentation_report`,
its QC flags from :mod:`livianet.evaluation.quality`), built from a manifest gathered from
the scan records instead of a batch's ``segmentation.json``: the same tables, mosaics and
flags, with paths made relative to where the page lies.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from livianet.atomic import write_text_atomic
from livianet.bids.files import read_json
from livianet.bids.outputs import LOGS, subject_report
from livianet.bids.records import DONE, all_records
from livianet.evaluation.quality import Assessment, assess
from livianet.version import __version__

MODEL_FILE = "model.json"  # in logs/: what the reports and QC flags know of the model
_PATH_KEYS = ("segmentation", "mosaic", "qa_picture", "brain_mask")


def read_model_summary(out_dir: Path) -> dict[str, Any]:
    found = read_json(out_dir / LOGS / MODEL_FILE)
    return found if isinstance(found, dict) else {}


def manifest(
    records: Iterable[Mapping[str, Any]], model: Mapping[str, Any], prefix: str = ""
) -> dict[str, Any]:
    """A ``segmentation.json``-like manifest of these records; ``prefix`` leads each path.

    Records of failed scans become its failures.
    """
    scans, failures = [], []
    for record in records:
        entry = record.get("entry")
        if record.get("status") == DONE and isinstance(entry, Mapping):
            moved = dict(entry)
            for key in _PATH_KEYS:
                if isinstance(moved.get(key), str):
                    moved[key] = prefix + moved[key]
            scans.append(moved)
        else:
            source = str(record.get("source") or "?")
            error = str(record.get("error") or "not finished")
            failures.append({"image": Path(source).name, "input": source, "error": error})
    return {
        "livianet_version": __version__,
        "model": dict(model),
        "scans": scans,
        "failures": failures,
    }


def write_report(
    folder: Path,
    contents: Mapping[str, Any],
    target: Path,
    title: str,
    figure: str | None = None,
    assessment: Assessment | None = None,
) -> Assessment:
    """Render the report of ``contents`` (paths relative to ``folder``) to ``target``."""
    from livianet.reporting.segmentation_report import render_segmentation_report

    assessment = assessment or assess(contents)
    page = render_segmentation_report(folder, contents, assessment, title=title, figure=figure)
    write_text_atomic(target, page)
    return assessment


def write_subject_reports(out_dir: Path, subjects: Sequence[str]) -> list[Path]:
    """``sub-<label>.html`` for each subject with records: all its scans, done or failed."""
    model = read_model_summary(out_dir)
    records = all_records(out_dir)
    written = []
    for subject in subjects:
        mine = [r for r in records if (r.get("entities") or {}).get("sub") == subject]
        if mine:
            target = out_dir / subject_report(subject)
            write_report(out_dir, manifest(mine, model), target, f"sub-{subject}: segmentation")
            written.append(target)
    return written
