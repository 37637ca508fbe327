"""From what the batch driver wrote in the work folder to the derivatives dataset, scan by scan.

``livianet.inference.segment_files`` segments the scans into the work folder under its own
names (``Segmentation_<T1w>``, ``ProbMap_class_<k>_<T1w>``, ``BrainMask_<T1w>``, the mosaic)
and hands each finished scan to :class:`Publisher`, which moves the files to their BIDS names
(atomically: a rename, or a copy through a temporary file across file systems), writes their
JSON sidecars and the scan's volume table, and writes the scan's record last
(:mod:`livianet.bids.records`). A scan that failed gets a record saying why.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from livianet.bids.dataset import ModelIdentity
from livianet.bids.entities import ENTITY_NAMES, ENTITY_ORDER
from livianet.bids.files import file_sha256, move_into_place, write_json, write_tsv
from livianet.bids.layout import T1wScan
from livianet.bids.outputs import ScanOutputs, sidecar
from livianet.bids.records import ScanSettings, base_record, write_done, write_failure
from livianet.errors import LivianetError, os_error_message
from livianet.inference import Job, SegmentReport
from livianet.io import load_volume, output_name, probability_path, save_volume, segmentation_path

logger = logging.getLogger(__name__)

# What ``livianet segment`` names the brain mask it extracts for a scan given without one.
BRAIN_MASK_PREFIX = "BrainMask_"
TIV_COLUMN = "TIV_mm3"
MASK_LINK = "masks"  # the DatasetLinks name of --mask-derivatives in Sources


@dataclass(frozen=True)
class ScanPlan:
    """One T1w of the run: its mask (from ``--mask-derivatives``), its settings, any problem."""

    scan: T1wScan
    settings: ScanSettings
    mask: Path | None = None
    problem: str | None = None  # why it cannot be segmented, known before segmenting


class Publisher:
    """Called by the batch driver for each scan it finished: its outputs put in place."""

    def __init__(
        self, out_dir: Path, work_dir: Path, model: ModelIdentity, plans: Sequence[ScanPlan]
    ) -> None:
        self.out_dir = out_dir
        self.work_dir = work_dir
        self.model = model
        self.plans = {plan.scan.path: plan for plan in plans}

    def __call__(self, job: Job, outcome: SegmentReport) -> None:
        plan = self.plans[job.image]
        if outcome.failures:
            write_failure(self.out_dir, plan.scan, plan.settings, outcome.failures[0]["error"])
            return
        try:
            written = publish_scan(self.out_dir, self.work_dir, plan, self.model, job, outcome)
        except (LivianetError, OSError, ValueError) as exc:
            message = os_error_message(exc) if isinstance(exc, OSError) else str(exc)
            logger.error("%s: outputs not written: %s", plan.scan.relative, message)
            write_failure(self.out_dir, plan.scan, plan.settings, message)
            return
        logger.debug("%s: %d files in %s", plan.scan.relative, len(written), self.out_dir)


def publish_scan(
    out_dir: Path,
    work_dir: Path,
    plan: ScanPlan,
    model: ModelIdentity,
    job: Job,
    outcome: SegmentReport,
) -> list[str]:
    """Every output of one scan in place, then its record; the files written (relative)."""
    scan, outputs = plan.scan, ScanOutputs(plan.scan)
    entry = dict(outcome.scans[0])
    written = [outputs.dseg]
    move_into_place(segmentation_path(job.out_dir, job.image), out_dir / outputs.dseg)
    for label in model.labels[1:]:
        work = probability_path(job.out_dir, job.image, label.index)
        if work.is_file():
            target = outputs.probseg(label.abbreviation)
            move_into_place(work, out_dir / target)
            what = f"probability of {label.name} (label {label.index}) in each voxel"
            values = {**_image_sidecar(scan, what, model), "Labels": {str(label.index): label.name}}
            written += [target, _sidecar(out_dir, target, values)]
    mask, tiv = _publish_mask(out_dir, plan, job)
    if mask is not None:
        written += [mask, _sidecar(out_dir, mask, _mask_sidecar(plan))]
    written.append(_sidecar(out_dir, outputs.dseg, _dseg_sidecar(plan, model, mask, entry)))
    figure = _publish_figure(out_dir, outputs, work_dir, entry)
    written += [figure] if figure else []
    volumes = {k: v for k, v in outcome.volume_rows[0].items() if k != "image"}
    if tiv is not None and TIV_COLUMN not in volumes:
        volumes[TIV_COLUMN] = tiv
    columns = [*entity_columns([scan]), *volumes]
    write_tsv([{**entity_values(scan), **volumes}], out_dir / outputs.volumes, columns)
    written.append(outputs.volumes)
    entry.update(
        image=Path(scan.relative).name, input=scan.relative, source=scan.relative,
        segmentation=outputs.dseg, mosaic=figure, qa_picture=None, brain_mask=mask,
    )  # fmt: skip
    record = {
        **base_record(scan, plan.settings),
        "source_sha256": file_sha256(scan.path),
        "outputs": {path: file_sha256(out_dir / path) for path in written},
        "volumes": volumes,
        "entry": entry,
    }
    write_done(out_dir, scan, record)
    return written


def _publish_mask(out_dir: Path, plan: ScanPlan, job: Job) -> tuple[str | None, float | None]:
    """The brain mask the segmentation used, in place; its path and volume (mm3).

    The one ``livianet segment`` extracted, else the ``--mask-derivatives`` one (as uint8);
    None when the scan was segmented without a mask.
    """
    target = ScanOutputs(plan.scan).mask
    extracted = job.out_dir / output_name(BRAIN_MASK_PREFIX, job.image)
    if extracted.is_file():
        move_into_place(extracted, out_dir / target)
    elif plan.mask is not None:
        given = load_volume(plan.mask)
        save_volume(np.asarray(given.data) > 0, out_dir / target, given, kind="label")
    else:
        return None, None
    written = load_volume(out_dir / target)
    voxels = int(np.count_nonzero(np.asarray(written.data)))
    return target, voxels * float(np.prod(written.spacing))


def _publish_figure(
    out_dir: Path, outputs: ScanOutputs, work_dir: Path, entry: Mapping[str, Any]
) -> str | None:
    """The mosaic the batch drew (named relative to its folder), in ``figures/``."""
    mosaic = entry.get("mosaic")
    if not mosaic or not (work_dir / mosaic).is_file():
        return None
    move_into_place(work_dir / mosaic, out_dir / outputs.figure)
    return outputs.figure


def _sidecar(out_dir: Path, image: str, values: Mapping[str, Any]) -> str:
    path = sidecar(image)
    write_json(out_dir / path, values)
    return path


def raw_uri(scan: T1wScan) -> str:
    return f"bids:raw:{scan.relative}"


def _image_sidecar(scan: T1wScan, description: str, model: ModelIdentity) -> dict[str, Any]:
    return {
        "Description": description,
        "Sources": [raw_uri(scan)],
        "SpatialReference": raw_uri(scan),
        "Model": model.as_dict(),
    }


def _dseg_sidecar(
    plan: ScanPlan, model: ModelIdentity, mask: str | None, entry: Mapping[str, Any]
) -> dict[str, Any]:
    values = _image_sidecar(
        plan.scan, f"subcortical structures segmented by livianet (model {model.name})", model
    )
    if plan.mask is not None and plan.settings.mask:
        values["Sources"].append(f"bids:{MASK_LINK}:{plan.settings.mask}")
    values["Labels"] = {str(label.index): label.name for label in model.labels}
    values["BrainMask"] = (
        f"bids::{mask}"
        if mask
        else "none: no --mask-derivatives mask and no extracted brain mask; intensities were "
        "normalised over the scan's nonzero voxels and labels allowed everywhere"
    )
    values["TTA"] = plan.settings.tta
    values["Warnings"] = list(entry.get("warnings") or [])
    return values


def _mask_sidecar(plan: ScanPlan) -> dict[str, Any]:
    if plan.mask is not None and plan.settings.mask:
        origin = f"bids:{MASK_LINK}:{plan.settings.mask}"
        words = f"brain mask from --mask-derivatives ({plan.settings.mask})"
    else:
        from livianet.inference.brain import EXTRACTOR

        origin, words = raw_uri(plan.scan), f"brain mask extracted from the T1w by {EXTRACTOR}"
    return {
        "Description": f"{words}: the region segmented and normalised",
        "Type": "Brain",
        "Sources": [origin],
        "SpatialReference": raw_uri(plan.scan),
    }


def entity_columns(scans: Sequence[T1wScan]) -> list[str]:
    """The table columns naming a scan: ``participant_id``, ``session_id``, the other entities."""
    keys = {key for scan in scans for key, _ in scan.name.entities} - {"sub", "ses"}
    ordered = sorted(keys, key=lambda k: ENTITY_ORDER.index(k) if k in ENTITY_ORDER else 99)
    session = ["session_id"] if any(scan.session for scan in scans) else []
    return ["participant_id", *session, *(ENTITY_NAMES.get(k, k) for k in ordered), "source"]


def entity_values(scan: T1wScan) -> dict[str, Any]:
    values: dict[str, Any] = {"participant_id": f"sub-{scan.subject}", "source": scan.relative}
    if scan.session:
        values["session_id"] = f"ses-{scan.session}"
    for key, value in scan.name.entities:
        if key not in ("sub", "ses"):
            values[ENTITY_NAMES.get(key, key)] = value
    return values
