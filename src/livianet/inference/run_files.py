"""What a segmentation run writes besides each scan's maps: tables, dseg.tsv, the manifest, the report.

``segmentation.json`` records what was done to every scan (its geometry, volumes,
components, warnings) and what failed; ``report.html`` and ``qc.csv`` are built
from it, so ``livianet report DIR`` can rebuild them later.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from livianet.atomic import write_text_atomic
from livianet.inference.brain import CITATION
from livianet.inference.result import SegmentReport
from livianet.io import write_csv, write_dseg
from livianet.networks import Checkpoint, ModelMeta
from livianet.version import __version__

if TYPE_CHECKING:
    from livianet.inference.segmenter import Segmenter

logger = logging.getLogger(__name__)

MANIFEST = "segmentation.json"
FAILURES = "failures.csv"


def previous_scans(out_dir: Path) -> dict[str, dict[str, Any]]:
    """The manifest entries of an earlier run in ``out_dir``, by image."""
    try:
        manifest = json.loads((out_dir / MANIFEST).read_text())
        return {scan["image"]: scan for scan in manifest.get("scans", [])}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def write_run_files(
    report: SegmentReport,
    out_dir: Path,
    names: dict[int, str] | None,
    segmenter: Segmenter,
    checkpoints: list[Checkpoint],
    report_html: bool = True,
    original_labels: bool = False,
) -> None:
    from livianet.evaluation import write_metrics_csv

    if report.volume_rows:
        write_csv(sorted(report.volume_rows, key=lambda r: r["image"]), out_dir / "volumes.csv")
    if report.metric_rows:
        write_metrics_csv(
            sorted(report.metric_rows, key=lambda r: (r["image"], r["label"])),
            out_dir / "metrics.csv",
        )
    if report.failures:
        write_csv(report.failures, out_dir / FAILURES, ["input", "error"])
    elif (out_dir / FAILURES).exists():
        (out_dir / FAILURES).unlink()  # a rerun that fixed them leaves no stale list
    mapping = segmenter.members[0].meta.original_labels if original_labels else {}
    write_dseg(out_dir / "dseg.tsv", names, segmenter.num_classes, mapping)
    manifest = {
        "livianet_version": __version__,
        "model": with_extractor(
            model_summary(checkpoints, names, segmenter.members[0].meta), report.scans
        ),
        "scans": sorted(report.scans, key=lambda s: s["image"]),
        "failures": report.failures,
    }
    write_text_atomic(out_dir / MANIFEST, json.dumps(_finite(manifest), indent=2) + "\n")
    if report_html:
        from livianet.reporting import write_segmentation_report

        try:
            path = write_segmentation_report(out_dir)
            logger.info("quality-control report: %s", path)
        except (ValueError, OSError) as exc:
            logger.warning(
                "no report.html (%s); rebuild it with `livianet report %s`", exc, out_dir
            )


def model_summary(
    checkpoints: list[Checkpoint], names: dict[int, str] | None, meta: ModelMeta
) -> dict[str, Any]:
    """The manifest's ``model``: what the reports and QC flags know of the model."""
    return {
        "path": ", ".join(str(c.path) for c in checkpoints),
        # a built-in model's terms of use travel with every result it makes
        "licence": checkpoints[0].contents.licence,
        "orientation": meta.orientation,
        "spacing": list(meta.spacing) if meta.spacing else None,
        "label_names": {str(k): v for k, v in (names or {}).items()},
        "label_pairs": [list(p) for p in meta.label_pairs],
        "training_volumes_mm3": {
            str(k): {"min": v[0], "mean": v[1], "max": v[2]}
            for k, v in meta.training_volumes.items()
        }
        or None,
        "training_places": {str(k): v for k, v in meta.training_places.items()} or None,
    }


def with_extractor(model: dict[str, Any], scans: list[dict[str, Any]]) -> dict[str, Any]:
    """The model's summary, its terms citing the brain extractor when it made a scan's mask."""
    if not any("tiv_mm3" in scan for scan in scans):
        return model
    licence = model.get("licence")
    return {**model, "licence": f"{licence}; {CITATION}" if licence else CITATION}


def _finite(value: Any) -> Any:
    """JSON has no NaN or inf: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
