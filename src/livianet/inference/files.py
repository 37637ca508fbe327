"""``livianet segment``: scans in, label maps, probability maps, tables and a manifest out.

Scans are read one ahead of the one being segmented and written one behind it
(background threads, inference/pipeline.py), so a loop over thousands of scans
keeps the CPU or GPU busy; under ``torchrun`` the
list is split across processes and every scan is written exactly once. A scan
that cannot be read or segmented is listed in ``failures.csv`` and the batch
goes on; ``--skip-existing`` keeps outputs that a previous run wrote.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from livianet.atomic import check_writable
from livianet.data import label_counts, load_label
from livianet.data.relabel import original_codes
from livianet.errors import ConfigError, LivianetError
from livianet.inference.inputs import as_volume
from livianet.inference.jobs import Job, place_outputs
from livianet.inference.pipeline import EXPECTED, WriteBehind, import_in_background, read_ahead
from livianet.inference.postprocess import structure_components
from livianet.inference.run_files import previous_scans, write_run_files
from livianet.inference.segmenter import SegmentationResult, Segmenter
from livianet.io import (
    Volume,
    label_name,
    load_volume,
    probability_path,
    save_volume,
    segmentation_path,
    strip_volume_suffix,
)
from livianet.networks import Checkpoint
from livianet.runtime import distributed, release_freed_memory

logger = logging.getLogger(__name__)


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
    resample: bool = True
    orientation: str | None = None  # axis codes of .mat inputs
    tta: bool = False
    force: bool = False
    skip_existing: bool = False
    report: bool = True  # report.html, qc.csv and a mosaic per scan
    original_labels: bool = False  # write the labels' codes from before `livianet labels`


@dataclass
class SegmentReport:
    outputs: list[Path] = field(default_factory=list)
    volume_rows: list[dict[str, Any]] = field(default_factory=list)
    metric_rows: list[dict[str, Any]] = field(default_factory=list)
    scans: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, str]] = field(default_factory=list)

    def add(self, other: SegmentReport) -> None:
        self.outputs += other.outputs
        self.volume_rows += other.volume_rows
        self.metric_rows += other.metric_rows
        self.scans += other.scans
        self.failures += other.failures


@dataclass
class _Loaded:
    images: list[Volume]
    roi: Volume | None
    reference: Volume | None


def segment_files(
    checkpoints: Checkpoint | list[Checkpoint],
    cases: list,
    out_dir: Path,
    options: SegmentOptions,
) -> SegmentReport:
    """Segment every case, writing outputs under ``out_dir``; this process's share under torchrun."""
    members = checkpoints if isinstance(checkpoints, list) else [checkpoints]
    if options.report or options.snapshot:
        import_in_background()  # matplotlib and the reports, while the network loads and runs
    segmenter = Segmenter.from_checkpoint(
        members,
        options.device,
        options.precision,
        tile=options.tile,
        batch_size=options.batch_size,
        largest_component=options.largest_component,
    )
    info = distributed.init(segmenter.settings.device)
    check_writable(out_dir)
    names = options.names or segmenter.label_names or None
    if options.original_labels and not segmenter.members[0].meta.original_labels:
        raise ConfigError(
            f"--original-labels: {members[0].path} records no original label codes (train on "
            "labels made consecutive by `livianet labels`, which writes label_mapping.json, or "
            "name one with labelMapping in [Training Images])"
        )
    jobs = place_outputs(cases, out_dir)
    mine = distributed.shard(jobs, info)
    previous = previous_scans(out_dir) if options.skip_existing else {}
    orientation = options.orientation

    def load(job: Job) -> _Loaded:
        images = [as_volume(path, "image", orientation) for path in job.files.images]
        roi = as_volume(job.files.roi, "ROI", orientation) if job.files.roi else None
        reference = load_label(job.files.label, segmenter.num_classes) if job.files.label else None
        return _Loaded(images, roi, reference)

    report = SegmentReport()
    todo = [
        job
        for job in mine
        if not (
            options.skip_existing
            and _kept(job, out_dir, report, previous, names, segmenter.num_classes)
        )
    ]

    def written(job: Job, position: int) -> Callable[[Any], None]:
        def done(outcome: SegmentReport | BaseException) -> None:
            if isinstance(outcome, BaseException):
                _failed(report, job, outcome)
                return
            report.add(outcome)
            logger.info(
                "%s: segmented (%d of %d, %d left)",
                job.image.name, position, len(todo), len(todo) - position,
            )  # fmt: skip

        return done

    with WriteBehind() as writer:
        for position, (job, loaded) in enumerate(read_ahead(todo, load), start=1):
            try:
                if isinstance(loaded, BaseException):
                    raise loaded
                result = segmenter.segment(
                    loaded.images, loaded.roi, probabilities=options.probabilities,
                    tta=options.tta, orientation=orientation, resample=options.resample,
                    force=options.force,
                )  # fmt: skip
            except EXPECTED as exc:
                _failed(report, job, exc)
                continue
            finally:
                release_freed_memory()  # the next scan's tiles differ: kept blocks would fragment
            writer.submit(
                functools.partial(
                    _write_outputs, job, loaded, result, out_dir, options, names, segmenter
                ),
                written(job, position),
            )
    if info.enabled:
        report = _gather(report, info.is_main)
    if info.is_main:
        write_run_files(
            report, out_dir, names, segmenter, members, options.report, options.original_labels
        )
    return report


def _failed(report: SegmentReport, job: Job, exc: BaseException) -> None:
    """One scan's failure, logged and listed; the batch goes on."""
    message = str(exc) if isinstance(exc, LivianetError) else _os_message(exc)  # type: ignore[arg-type]
    logger.error("%s: not segmented: %s", job.image, message)
    report.failures.append({"input": str(job.image), "error": message})


def _image_name(job: Job, out_dir: Path) -> str:
    """The ``image`` column: the input's name, with its folder when outputs mirror folders."""
    relative = (job.out_dir / job.image.name).relative_to(out_dir)
    return relative.as_posix()


def _write_outputs(
    job: Job,
    loaded: _Loaded,
    result: SegmentationResult,
    out_dir: Path,
    options: SegmentOptions,
    names: dict[int, str] | None,
    segmenter: Segmenter,
) -> SegmentReport:
    from livianet.evaluation import metrics_per_label

    num_classes = segmenter.num_classes
    source = result.source
    report = SegmentReport()
    image_name = _image_name(job, out_dir)
    written = result.labels
    if options.original_labels:
        written = original_codes(result.labels, segmenter.members[0].meta.original_labels)
    segmentation = save_volume(
        written, segmentation_path(job.out_dir, job.image), source, kind="label"
    )
    report.outputs.append(segmentation)
    if result.probabilities is not None:
        for k in range(1, num_classes):
            target = probability_path(job.out_dir, job.image, k)
            report.outputs.append(save_volume(result.probabilities[k], target, source, kind="prob"))
    report.volume_rows.append(_volume_row(image_name, result.labels, source, names, num_classes))
    metrics: dict[str, dict[str, float]] = {}
    if loaded.reference is not None:
        from livianet.data import check_same_grid

        check_same_grid(source, loaded.reference, "reference")
        rows = metrics_per_label(
            result.labels, loaded.reference.data, source.spacing, labels=list(range(1, num_classes))
        )
        for k, values in rows.items():
            report.metric_rows.append(
                {"image": image_name, "label": k, "name": label_name(names, k), **values}
            )
            metrics[str(k)] = {"dice": values["dice"], "hd95_mm": values["hd95_mm"]}
    snapshot = _snapshot(job, result, loaded, names, num_classes) if options.snapshot else None
    mosaic = _mosaic(job, result, names) if options.report else None
    report.scans.append(
        {
            "image": image_name,
            "input": str(job.image),
            "segmentation": segmentation.relative_to(out_dir).as_posix(),
            "qa_picture": snapshot.relative_to(out_dir).as_posix() if snapshot else None,
            "mosaic": mosaic.relative_to(out_dir).as_posix() if mosaic else None,
            "geometry": result.geometry.as_dict(),
            "volumes_mm3": {
                str(k): v
                for k, v in zip(range(1, num_classes), result.volumes.values(), strict=True)
            },
            "components": structure_components(result.labels, num_classes),
            **({"metrics": metrics} if metrics else {}),
            "warnings": list(result.warnings),
        }
    )
    return report


def _volume_row(
    image_name: str,
    labels: np.ndarray,
    grid: Volume,
    names: dict[int, str] | None,
    num_classes: int,
) -> dict[str, Any]:
    voxel_mm3 = float(np.prod(grid.spacing))
    counts = label_counts(labels, num_classes)
    row: dict[str, Any] = {"image": image_name}
    for k in range(1, num_classes):
        row[f"{label_name(names, k)}_mm3"] = float(counts[k]) * voxel_mm3
    return row


def _snapshot(
    job: Job, result: SegmentationResult, loaded: _Loaded, names, num_classes: int
) -> Path:
    from livianet.reporting import save_snapshot

    path = job.out_dir / f"Snapshot_{strip_volume_suffix(job.image.name)}.png"
    return save_snapshot(
        result.source.channels[0],
        result.labels,
        path,
        spacing=result.source.spacing,
        names=names,
        title=job.image.name,
        num_classes=num_classes,
        reference=loaded.reference.data if loaded.reference is not None else None,
    )


def _mosaic(job: Job, result: SegmentationResult, names) -> Path | None:
    """The report's thumbnail: three planes through the structures, L and R marked."""
    from livianet.reporting import save_mosaic

    path = job.out_dir / f"Mosaic_{strip_volume_suffix(job.image.name)}.png"
    try:
        return save_mosaic(result.source.channels[0], result.labels, result.affine, path, names)
    except (ValueError, OSError) as exc:  # a picture must never cost the segmentation
        logger.warning("%s: no mosaic for the report (%s)", job.image.name, exc)
        return None


def _kept(
    job: Job,
    out_dir: Path,
    report: SegmentReport,
    previous: dict[str, dict[str, Any]],
    names: dict[int, str] | None,
    num_classes: int,
) -> bool:
    """With ``--skip-existing``: keep a loadable earlier output (its rows re-read from it)."""
    target = segmentation_path(job.out_dir, job.image)
    if not target.is_file():
        return False
    try:
        existing = load_volume(target)
    except LivianetError as exc:
        logger.warning("%s: existing output cannot be read (%s): segmenting again", target, exc)
        return False
    image_name = _image_name(job, out_dir)
    labels = np.asarray(existing.data).astype(np.int64)
    report.outputs.append(target)
    report.volume_rows.append(_volume_row(image_name, labels, existing, names, num_classes))
    report.scans.append(previous.get(image_name) or {"image": image_name, "input": str(job.image),
                        "segmentation": target.relative_to(out_dir).as_posix(), "warnings": []})  # fmt: skip
    logger.info("%s: kept the existing %s", job.image.name, target.name)
    return True


def _os_message(exc: OSError) -> str:
    where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
    return f"{where}{exc.strerror or exc}"


def _gather(report: SegmentReport, is_main: bool) -> SegmentReport:
    import torch.distributed as dist

    parts: list[Any] = [None] * dist.get_world_size()
    mine = (report.volume_rows, report.metric_rows, [str(p) for p in report.outputs], report.scans,
            report.failures)  # fmt: skip
    dist.all_gather_object(parts, mine)
    merged = SegmentReport()
    for volume_rows, metric_rows, outputs, scans, failures in parts:
        merged.add(
            SegmentReport([Path(p) for p in outputs], volume_rows, metric_rows, scans, failures)
        )
    return merged if is_main else report


def mean_dice(rows: list[dict[str, Any]]) -> float:
    values = [
        r["dice"] for r in rows if isinstance(r.get("dice"), float) and math.isfinite(r["dice"])
    ]
    return float(np.mean(values)) if values else float("nan")
