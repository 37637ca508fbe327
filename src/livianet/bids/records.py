"""Each scan's record (``logs/scans/<T1w name>.json``): what was done to it, or why it failed.

The participant level writes a scan's record last, after its outputs; it names the digest of
the T1w it read, the settings the outputs depend on (:class:`ScanSettings`) and the digest of
every file written. A later run skips the scan only when all of these still hold, read from
the files themselves: a changed T1w, another mask or option, or a missing or altered output
means it is segmented again. A scan that failed is retried only when its T1w or settings
changed (a corrupt file would fail again), or with ``--overwrite``. The group level gathers the records: the done scans' volumes and
QC entries, and the failures.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from livianet.bids.files import file_sha256, read_json, write_json
from livianet.bids.layout import T1wScan
from livianet.bids.outputs import RECORDS, ScanOutputs
from livianet.version import __version__

logger = logging.getLogger(__name__)

DONE = "done"
FAILED = "failed"


@dataclass(frozen=True)
class ScanSettings:
    """What a scan's outputs depend on besides its T1w: the model, the options, its mask."""

    model_sha256: tuple[str, ...]
    probabilities: bool
    tta: bool
    mask: str | None  # the mask file (below --mask-derivatives) and its digest, when one is used
    mask_sha256: str | None
    brain: str | None = None  # without a given mask: the brain extraction's settings, in words

    def as_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["model_sha256"] = list(self.model_sha256)
        return values


def base_record(scan: T1wScan, settings: ScanSettings) -> dict[str, Any]:
    return {
        "source": scan.relative,
        "entities": dict(scan.name.entities),
        "settings": settings.as_dict(),
        "livianet_version": __version__,
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def write_failure(out_dir: Path, scan: T1wScan, settings: ScanSettings, error: str) -> None:
    """A failed scan's record: the error, and the T1w's digest (None when it cannot be read)."""
    record = {
        **base_record(scan, settings),
        "status": FAILED,
        "error": error,
        "source_sha256": _digest(scan.path),
    }
    write_json(out_dir / ScanOutputs(scan).record, record)


def write_done(out_dir: Path, scan: T1wScan, record: Mapping[str, Any]) -> None:
    write_json(out_dir / ScanOutputs(scan).record, {**record, "status": DONE})


def read_record(out_dir: Path, scan: T1wScan) -> dict[str, Any] | None:
    record = read_json(out_dir / ScanOutputs(scan).record)
    return record if isinstance(record, dict) else None


def all_records(out_dir: Path) -> list[dict[str, Any]]:
    """Every scan record in OUT_DIR, by source path."""
    records = []
    for path in sorted((out_dir / RECORDS).glob("*.json")):
        record = read_json(path)
        if isinstance(record, dict) and isinstance(record.get("source"), str):
            records.append(record)
        else:
            logger.warning("%s: not a scan record: ignored", path)
    return sorted(records, key=lambda r: r["source"])


def settled(out_dir: Path, scan: T1wScan, settings: ScanSettings) -> bool:
    """Whether this run would redo what the scan's record says, read from the files' contents.

    Done: every output is still there unchanged, made with these settings from this same
    T1w. Failed: with these settings on this same T1w, it would fail again (a corrupt file),
    so it is listed as failed, not retried; a changed T1w or mask, or ``--overwrite``, retries it.
    """
    record = read_record(out_dir, scan)
    if record is None or record.get("status") not in (DONE, FAILED):
        return False
    if record.get("settings") != settings.as_dict():
        logger.info("%s: segmented before with other settings: segmenting again", scan.relative)
        return False
    if record["status"] == DONE and not _outputs_unchanged(out_dir, scan, record):
        return False
    digest = record.get("source_sha256")
    if digest is None or _digest(scan.path) != digest:
        logger.info("%s: the T1w changed since the last run: segmenting again", scan.relative)
        return False
    if record["status"] == FAILED:
        logger.info("%s: failed before on this same T1w: not retried", scan.relative)
    return True


def _outputs_unchanged(out_dir: Path, scan: T1wScan, record: Mapping[str, Any]) -> bool:
    outputs = record.get("outputs")
    if not isinstance(outputs, dict) or not outputs:
        return False
    for relative, digest in outputs.items():
        if _digest(out_dir / relative) != digest:
            logger.info("%s: %s is missing or changed: segmenting again", scan.relative, relative)
            return False
    return True


def _digest(path: Path) -> str | None:
    try:
        return file_sha256(path)
    except OSError:
        return None
