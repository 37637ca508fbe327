"""``livianet segment``: files in, label maps, probability maps and tables out.

Scans are read one ahead of the one being segmented (a background thread), so a
loop over thousands of scans keeps the CPU or GPU busy; under ``torchrun`` the
list is split across processes and every scan is written exactly once.
"""

from __future__ import annotations

import concurrent.futures
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from livianet.atomic import check_writable
from livianet.config import SegmentationConfig
from livianet.data import (
    Case,
    CaseFiles,
    check_channels,
    list_cases,
    load_case,
    resample_case,
    resample_labels,
    resample_probabilities,
)
from livianet.errors import DataError
from livianet.inference.predictor import InferenceSettings, predict_case, prepare_for_inference
from livianet.io import probability_path, save_volume, segmentation_path, strip_volume_suffix
from livianet.networks import Checkpoint, ModelMeta
from livianet.runtime import distributed, resolve_device, resolve_precision

logger = logging.getLogger(__name__)

SPACING_TOLERANCE = 0.05  # relative; finer differences are resampling noise


@dataclass(frozen=True)
class SegmentOptions:
    device: str = "auto"
    precision: str = "auto"
    tile: int | None = None
    batch_size: int = 1
    probabilities: bool = False
    largest_component: bool | None = None  # None: as the model was trained
    names: dict[int, str] | None = None
    snapshot: bool = False
    resample: bool = False


@dataclass
class SegmentReport:
    outputs: list[Path] = field(default_factory=list)
    volume_rows: list[dict[str, Any]] = field(default_factory=list)
    metric_rows: list[dict[str, Any]] = field(default_factory=list)


def jobs_from_config(config: SegmentationConfig) -> list[CaseFiles]:
    return list_cases(config.data, config.indexes, "segmentation")


def jobs_from_files(
    images: list[Path], rois: list[Path] | None, labels: list[Path] | None, channels: int = 1
) -> list[CaseFiles]:
    """Cases from files named on the command line (``channels`` consecutive images per case)."""
    if len(images) % channels:
        raise DataError(
            f"{len(images)} images given for {channels}-channel cases: expected a multiple of {channels}"
        )
    count = len(images) // channels
    for what, extra in (("--roi", rois), ("--gt", labels)):
        if extra and len(extra) != count:
            raise DataError(
                f"{what}: {len(extra)} files for {count} images; expected one per image"
            )
    return [
        CaseFiles(
            index=i,
            images=tuple(images[i * channels : (i + 1) * channels]),
            label=labels[i] if labels else None,
            roi=rois[i] if rois else None,
        )
        for i in range(count)
    ]


def _read_ahead(jobs: list[CaseFiles], load) -> Iterator[tuple[CaseFiles, Case]]:
    with concurrent.futures.ThreadPoolExecutor(
        max_workers=1, thread_name_prefix="livianet-read"
    ) as pool:
        pending = pool.submit(load, jobs[0]) if jobs else None
        for position, job in enumerate(jobs):
            assert pending is not None
            case = pending.result()
            pending = pool.submit(load, jobs[position + 1]) if position + 1 < len(jobs) else None
            yield job, case


def geometry_notes(case: Case, meta: ModelMeta) -> list[str]:
    """Sentences saying how a scan's voxel grid differs from the training data's."""
    notes = []
    trained = meta.training_spacing
    spacing = case.reference.spacing
    if trained and any(
        abs(s - t) > SPACING_TOLERANCE * t for s, t in zip(spacing, trained, strict=True)
    ):
        notes.append(
            f"voxel spacing {tuple(round(s, 3) for s in spacing)} mm differs from the training data's "
            f"{tuple(round(t, 3) for t in trained)} mm"
        )
    orientation = meta.training_orientation
    if (
        orientation
        and case.reference.header is not None
        and case.reference.orientation != orientation
    ):
        notes.append(
            f"orientation {case.reference.orientation} differs from the training data's {orientation}"
        )
    return notes


def segment_files(
    checkpoint: Checkpoint, jobs: list[CaseFiles], out_dir: Path, options: SegmentOptions
) -> SegmentReport:
    """Segment every job, writing outputs under ``out_dir``; this process's share under torchrun."""
    model = checkpoint.network()
    meta = checkpoint.meta
    config = model.config
    device = resolve_device(options.device)
    info = distributed.init(device)
    check_writable(out_dir)
    precision = resolve_precision(options.precision, device)
    largest = (
        meta.largest_component if options.largest_component is None else options.largest_component
    )
    settings = InferenceSettings(
        device=device,
        precision=precision,
        tile=options.tile,
        batch_size=options.batch_size,
        largest_component=largest,
    )
    model = prepare_for_inference(model, settings)
    names = options.names or meta.label_names or None
    normalization = meta.normalization
    mine = distributed.shard(jobs, info)

    def load(job: CaseFiles) -> Case:
        case = load_case(job, normalization, config.num_classes)
        check_channels(case, config.in_channels)
        return case

    report = SegmentReport()
    for job, case in _read_ahead(mine, load):
        for note in geometry_notes(case, meta):
            logger.warning(
                "%s: %s%s",
                job.images[0],
                note,
                "; resampling to the training spacing"
                if options.resample
                else "; pass --resample to resample",
            )
        report_case = _segment_one(model, case, meta, settings, out_dir, options, names)
        report.outputs += report_case.outputs
        report.volume_rows += report_case.volume_rows
        report.metric_rows += report_case.metric_rows
    if info.enabled:
        gathered = _gather(report)
        if info.is_main:
            report = gathered
    if info.is_main:
        _write_tables(report, out_dir, names)
    return report


def _segment_one(
    model, case: Case, meta: ModelMeta, settings, out_dir: Path, options: SegmentOptions, names
) -> SegmentReport:
    from livianet.evaluation import metrics_per_label

    config = model.config
    target = case
    trained = meta.training_spacing
    resampled = (
        options.resample and trained and geometry_notes(case, ModelMeta(training_spacing=trained))
    )
    if resampled:
        target = resample_case(case, tuple(trained))
    result = predict_case(model, target, settings, probabilities=options.probabilities)
    labels, probs = result.labels, result.probabilities
    if resampled:
        labels = resample_labels(labels, case.shape)
        probs = resample_probabilities(probs, case.shape) if probs is not None else None
        if case.roi is not None:
            labels = np.where(case.roi, labels, 0).astype(labels.dtype)
    source = case.files.images[0]
    report = SegmentReport()
    report.outputs.append(
        save_volume(labels, segmentation_path(out_dir, source), case.reference, kind="label")
    )
    if probs is not None:
        for k in range(1, config.num_classes):
            report.outputs.append(
                save_volume(
                    probs[k], probability_path(out_dir, source, k), case.reference, kind="prob"
                )
            )
    spacing = case.reference.spacing
    voxel_mm3 = float(np.prod(spacing))
    counts = np.bincount(labels.ravel(), minlength=config.num_classes)
    row: dict[str, Any] = {"image": source.name}
    for k in range(1, config.num_classes):
        row[_column_name(k, names)] = counts[k] * voxel_mm3
    report.volume_rows.append(row)
    if case.label is not None:
        rows = metrics_per_label(
            labels, case.label, spacing, labels=list(range(1, config.num_classes))
        )
        for k, values in rows.items():
            report.metric_rows.append(
                {"image": source.name, "label": k, "name": _name(k, names), **values}
            )
    if options.snapshot:
        _snapshot(case, labels, out_dir, names, config.num_classes)
    logger.info("%s: segmented -> %s", source.name, report.outputs[0].name)
    return report


def _name(label: int, names: dict[int, str] | None) -> str:
    from livianet.io import label_name

    return label_name(names, label)


def _column_name(label: int, names: dict[int, str] | None) -> str:
    return f"{_name(label, names)}_mm3"


def _snapshot(case: Case, labels: np.ndarray, out_dir: Path, names, num_classes: int) -> None:
    from livianet.reporting import save_snapshot

    source = case.files.images[0]
    image = case.image[0]
    path = out_dir / f"Snapshot_{strip_volume_suffix(source.name)}.png"
    save_snapshot(
        image,
        labels,
        path,
        spacing=case.reference.spacing,
        names=names,
        title=source.name,
        num_classes=num_classes,
        reference=case.label,
    )


def _gather(report: SegmentReport) -> SegmentReport:
    import torch.distributed as dist

    parts: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(
        parts, (report.volume_rows, report.metric_rows, [str(p) for p in report.outputs])
    )
    merged = SegmentReport()
    for volume_rows, metric_rows, outputs in parts:
        merged.volume_rows += volume_rows
        merged.metric_rows += metric_rows
        merged.outputs += [Path(p) for p in outputs]
    return merged


def _write_tables(report: SegmentReport, out_dir: Path, names) -> None:
    from livianet.evaluation import write_metrics_csv
    from livianet.io import write_csv

    if report.volume_rows:
        write_csv(sorted(report.volume_rows, key=lambda r: r["image"]), out_dir / "volumes.csv")
    if report.metric_rows:
        write_metrics_csv(
            sorted(report.metric_rows, key=lambda r: (r["image"], r["label"])),
            out_dir / "metrics.csv",
        )


def mean_dice(rows: list[dict[str, Any]]) -> float:
    values = [
        r["dice"] for r in rows if isinstance(r.get("dice"), float) and math.isfinite(r["dice"])
    ]
    return float(np.mean(values)) if values else float("nan")
