"""``livianet segment`` on a batch: scans in, label maps, probability maps, tables and a manifest out.

Scans are read one ahead of the one being segmented and written one behind it
(background threads, inference/pipeline.py), so a loop over thousands of scans
keeps the CPU or GPU busy; under ``torchrun`` the
list is split across processes and every scan is written exactly once. A scan
that cannot be read or segmented is listed in ``failures.csv`` and the batch
goes on; ``--skip-existing`` keeps outputs that a previous run wrote. A scan
whose brain was extracted also gets ``BrainMask_<name>`` (and, with
``--save-brain``, ``SkullStripped_<name>``), its intracranial volume in
``volumes.csv`` and, with each structure's share of it, in the manifest.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from livianet.atomic import check_writable
from livianet.data import CaseFiles, check_same_grid, label_counts, load_label
from livianet.data.relabel import original_codes
from livianet.errors import ConfigError, LivianetError, os_error_message
from livianet.evaluation.placement import places_entry
from livianet.inference.brain import labels_on_edge, skull_stripped, volume_fractions
from livianet.inference.inputs import as_volume
from livianet.inference.jobs import Job, place_outputs
from livianet.inference.pipeline import EXPECTED, WriteBehind, import_in_background, read_ahead
from livianet.inference.postprocess import structure_components
from livianet.inference.progress import progress_note
from livianet.inference.provenance import (
    RunSettings,
    input_files,
    model_digests,
    provenance,
    reasons_to_redo,
)
from livianet.inference.result import SegmentationResult, SegmentReport
from livianet.inference.run_files import previous_scans, write_run_files
from livianet.inference.segmenter import Segmenter
from livianet.io import (
    Volume,
    label_name,
    load_volume,
    output_name,
    probability_path,
    save_volume,
    segmentation_path,
    strip_volume_suffix,
)
from livianet.networks import Checkpoint
from livianet.runtime import distributed, release_freed_memory

logger = logging.getLogger(__name__)

PerLabel = dict[int, dict[str, float]]  # label -> metric name -> value
# Told of each scan as it finishes (in the batch's thread): its report, or one with its failure.
ScanDone = Callable[[Job, SegmentReport], None]


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
    brain_extraction: bool = True  # scans without an ROI, for a model trained with ROI masks
    brain_threshold: float = 0.5
    brain_dilation: int = 0
    save_brain: bool = False  # also write the skull-stripped T1 of extracted scans
    run_files: bool = True  # volumes.csv, segmentation.json, report.html (livianet bids: its own)
    command: str | None = None  # the command line, for each scan's provenance


@dataclass
class _Loaded:
    images: list[Volume]
    roi: Volume | None
    reference: Volume | None


def segment_files(
    checkpoints: Checkpoint | list[Checkpoint],
    cases: list[CaseFiles],
    out_dir: Path,
    options: SegmentOptions,
    on_scan: ScanDone | None = None,
) -> SegmentReport:
    """Segment every case, writing outputs under ``out_dir``; this process's share under torchrun.

    ``on_scan`` is called with each scan of this process once its outputs are written (or it
    failed): ``livianet bids`` puts them in place from there.
    """
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
        brain_extraction=options.brain_extraction,
        brain_threshold=options.brain_threshold,
        brain_dilation=options.brain_dilation,
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
    batch = _Batch(segmenter, options, out_dir, names, on_scan)
    batch.settings = run_settings(segmenter, options, [c.path for c in members])
    batch.run(batch.still_to_do(distributed.shard(place_outputs(cases, out_dir), info)))
    report = _gather(batch.report, info.is_main) if info.enabled else batch.report
    if info.is_main and options.run_files:
        write_run_files(
            report, out_dir, names, segmenter, members, options.report, options.original_labels
        )
    return report


def run_settings(segmenter: Segmenter, options: SegmentOptions, models: list[Path]) -> RunSettings:
    """What this run does to every scan, as each scan's provenance records it."""
    brain = (
        f"deepbet, threshold {options.brain_threshold}, dilation {options.brain_dilation} mm"
        if options.brain_extraction
        else "off"
    )
    return RunSettings(
        models=model_digests(models),
        tta=options.tta,
        precision=segmenter.settings.precision,
        device=str(segmenter.settings.device),
        resample=options.resample,
        orientation=options.orientation,
        brain_extraction=brain,
        largest_component=segmenter.settings.largest_component,
        original_labels=options.original_labels,
    )


class _Batch:
    """This process's share of a batch: its scans read, segmented and written, its report."""

    def __init__(
        self,
        segmenter: Segmenter,
        options: SegmentOptions,
        out_dir: Path,
        names: dict[int, str] | None,
        on_scan: ScanDone | None = None,
    ) -> None:
        self.segmenter = segmenter
        self.on_scan = on_scan
        self.options = options
        self.out_dir = out_dir
        self.names = names
        meta = segmenter.members[0].meta
        self.codes = meta.original_labels if options.original_labels else None  # as written
        self.report = SegmentReport()
        self.settings: RunSettings | None = None  # set by segment_files: the scans' provenance
        self.seconds: dict[Path, float] = {}

    def still_to_do(self, jobs: list[Job]) -> list[Job]:
        """``jobs`` less those whose earlier outputs ``--skip-existing`` keeps (reported as kept)."""
        if not self.options.skip_existing:
            return jobs
        previous = previous_scans(self.out_dir)
        return [job for job in jobs if not self._kept(job, previous)]

    def run(self, todo: list[Job]) -> None:
        """Segment ``todo`` in order, each scan read ahead of and written behind the one computed."""
        started = time.perf_counter()  # the progress lines' clock
        with WriteBehind() as writer:
            for position, (job, loaded) in enumerate(read_ahead(todo, self.load), start=1):
                result = self.segment_one(job, loaded)
                if result is not None:
                    writer.submit(
                        functools.partial(self.write, job, loaded, result),
                        functools.partial(self.on_written, job, position, len(todo), started),
                    )

    def load(self, job: Job) -> _Loaded:
        """One scan's inputs (in the reading thread)."""
        orientation = self.options.orientation
        images = [as_volume(path, "image", orientation) for path in job.files.images]
        roi = as_volume(job.files.roi, "ROI", orientation) if job.files.roi else None
        label = job.files.label
        reference = load_label(label, self.segmenter.num_classes) if label else None
        return _Loaded(images, roi, reference)

    def segment_one(
        self, job: Job, loaded: _Loaded | LivianetError | OSError
    ) -> SegmentationResult | None:
        """The scan's segmentation; None when it could not be read or segmented (listed)."""
        options = self.options
        started = time.perf_counter()
        try:
            if not isinstance(loaded, _Loaded):
                raise loaded
            return self.segmenter.segment(
                loaded.images, loaded.roi, probabilities=options.probabilities, tta=options.tta,
                orientation=options.orientation, resample=options.resample, force=options.force,
            )  # fmt: skip
        except EXPECTED as exc:
            self._fail(job, exc)
            return None
        finally:
            release_freed_memory()  # the next scan's tiles differ: kept blocks would fragment
            self.seconds[job.image] = time.perf_counter() - started

    def write(self, job: Job, loaded: _Loaded, result: SegmentationResult) -> SegmentReport:
        """Everything one scan writes, and its rows and manifest entry (in the writing thread)."""
        num_classes = self.segmenter.num_classes
        image_name = _image_name(job, self.out_dir)
        maps = _write_maps(job, result, num_classes, self.codes)
        brain = _write_brain(job, result, self.options.save_brain)
        report = SegmentReport(outputs=maps + [p for p in brain.values() if p is not None])
        tiv = result.brain_mask.volume_mm3 if result.brain_mask is not None else None
        report.volume_rows.append(
            _volume_row(image_name, result.labels, result.source, self.names, num_classes, tiv)
        )
        per_label: PerLabel = {}
        if loaded.reference is not None:
            per_label = _metrics(result, loaded.reference, num_classes)
            report.metric_rows += _metric_rows(image_name, per_label, self.names)
        snapshot = None
        if self.options.snapshot:
            snapshot = _snapshot(job, result, loaded.reference, self.names, num_classes)
        mosaic = _mosaic(job, result, self.names) if self.options.report else None
        entry = _manifest_entry(
            job, image_name, result, num_classes,
            files={"segmentation": maps[0], **brain, "qa_picture": snapshot, "mosaic": mosaic},
            out_dir=self.out_dir, metrics=per_label,
        )  # fmt: skip
        if self.settings is not None:
            inputs = input_files(list(job.files.images), job.files.roi)
            seconds = self.seconds.get(job.image, 0.0)
            entry["provenance"] = provenance(self.settings, inputs, seconds, self.options.command)
        report.scans.append(entry)
        return report

    def on_written(
        self,
        job: Job,
        position: int,
        total: int,
        started: float,
        outcome: SegmentReport | LivianetError | OSError,
    ) -> None:
        """A scan's writing finished (in the batch's thread): its report added, or its failure."""
        if not isinstance(outcome, SegmentReport):
            self._fail(job, outcome)
            return
        self.report.add(outcome)
        elapsed, took = time.perf_counter() - started, self.seconds.get(job.image, 0.0)
        logger.info(
            "%s: segmented (%d of %d, %d left) %s", job.image.name, position, total,
            total - position, progress_note(took, elapsed, position, total),
        )  # fmt: skip
        if self.on_scan is not None:
            self.on_scan(job, outcome)

    def _fail(self, job: Job, exc: LivianetError | OSError) -> None:
        failure = SegmentReport()
        _failed(failure, job, exc)
        self.report.add(failure)
        if self.on_scan is not None:
            self.on_scan(job, failure)

    def _kept(self, job: Job, previous: dict[str, dict[str, Any]]) -> bool:
        """With ``--skip-existing``: keep a loadable earlier output (its rows re-read from it)."""
        target = segmentation_path(job.out_dir, job.image)
        if not target.is_file():
            return False
        try:
            existing = load_volume(target)
        except LivianetError as exc:
            logger.warning("%s: existing output cannot be read (%s): segmenting again", target, exc)
            return False
        image_name = _image_name(job, self.out_dir)
        record = (previous.get(image_name) or {}).get("provenance")
        if record is not None and self.settings is not None:
            reasons = reasons_to_redo(
                record, self.settings, input_files(list(job.files.images), job.files.roi)
            )
            if reasons:
                logger.warning(
                    "%s: the existing %s was made otherwise (%s): segmenting again",
                    job.image.name, target.name, "; ".join(reasons),
                )  # fmt: skip
                return False
        labels = np.asarray(existing.data).astype(np.int64)
        num_classes = self.segmenter.num_classes
        self.report.outputs.append(target)
        tiv = (previous.get(image_name) or {}).get("tiv_mm3")
        self.report.volume_rows.append(
            _volume_row(image_name, labels, existing, self.names, num_classes, tiv)
        )
        self.report.scans.append(
            previous.get(image_name)
            or {
                "image": image_name,
                "input": str(job.image),
                "segmentation": target.relative_to(self.out_dir).as_posix(),
                "warnings": [],
            }
        )
        logger.info("%s: kept the existing %s", job.image.name, target.name)
        return True


def _failed(report: SegmentReport, job: Job, exc: LivianetError | OSError) -> None:
    """One scan's failure, logged and listed; the batch goes on."""
    message = str(exc) if isinstance(exc, LivianetError) else os_error_message(exc)
    logger.error("%s: not segmented: %s", job.image, message)
    report.failures.append({"input": str(job.image), "error": message})


def _image_name(job: Job, out_dir: Path) -> str:
    """The ``image`` column: the input's name, with its folder when outputs mirror folders."""
    relative = (job.out_dir / job.image.name).relative_to(out_dir)
    return relative.as_posix()


def _write_maps(
    job: Job, result: SegmentationResult, num_classes: int, codes: dict[int, int] | None
) -> list[Path]:
    """The label map (in the original ``codes`` when given), then each structure's probabilities."""
    labels = original_codes(result.labels, codes) if codes is not None else result.labels
    target = segmentation_path(job.out_dir, job.image)
    written = [save_volume(labels, target, result.source, kind="label")]
    if result.probabilities is not None:
        for k in range(1, num_classes):
            target = probability_path(job.out_dir, job.image, k)
            written.append(save_volume(result.probabilities[k], target, result.source, kind="prob"))
    return written


def _write_brain(job: Job, result: SegmentationResult, save_brain: bool) -> dict[str, Path | None]:
    """An extracted scan's ``BrainMask_`` (uint8 labels) and, asked for, ``SkullStripped_`` T1."""
    brain = result.brain_mask
    if brain is None:
        return {}
    target = job.out_dir / output_name("BrainMask_", job.image)
    written: dict[str, Path | None] = {
        "brain_mask": save_volume(brain.mask.astype(np.uint8), target, result.source, kind="label")
    }
    if save_brain:
        target = job.out_dir / output_name("SkullStripped_", job.image)
        stripped = skull_stripped(np.asarray(result.source.data), brain.mask)
        written["skull_stripped"] = save_volume(stripped, target, result.source)
    return written


def _volume_row(
    image_name: str,
    labels: np.ndarray,
    grid: Volume,
    names: dict[int, str] | None,
    num_classes: int,
    tiv_mm3: float | None = None,
) -> dict[str, Any]:
    """One scan's ``volumes.csv`` row: mm3 per structure, then the extracted brain's (TIV)."""
    voxel_mm3 = float(np.prod(grid.spacing))
    counts = label_counts(labels, num_classes)
    row: dict[str, Any] = {"image": image_name}
    for k in range(1, num_classes):
        row[f"{label_name(names, k)}_mm3"] = float(counts[k]) * voxel_mm3
    if tiv_mm3 is not None:
        row["TIV_mm3"] = tiv_mm3
    return row


def _metrics(result: SegmentationResult, reference: Volume, num_classes: int) -> PerLabel:
    """Each structure's agreement with the reference label map (which must share the scan's grid)."""
    from livianet.evaluation import metrics_per_label

    check_same_grid(result.source, reference, "reference")
    return metrics_per_label(
        result.labels, reference.data, result.source.spacing, labels=list(range(1, num_classes))
    )


def _metric_rows(
    image_name: str, per_label: PerLabel, names: dict[int, str] | None
) -> list[dict[str, Any]]:
    return [
        {"image": image_name, "label": k, "name": label_name(names, k), **values}
        for k, values in per_label.items()
    ]


def _snapshot(
    job: Job,
    result: SegmentationResult,
    reference: Volume | None,
    names: dict[int, str] | None,
    num_classes: int,
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
        reference=reference.data if reference is not None else None,
        affine=result.source.affine,  # shown like the mosaic: radiological, L and R marked
    )


def _mosaic(job: Job, result: SegmentationResult, names: dict[int, str] | None) -> Path | None:
    """The report's thumbnail: three planes through the structures, L and R marked."""
    from livianet.reporting import save_mosaic

    path = job.out_dir / f"Mosaic_{strip_volume_suffix(job.image.name)}.png"
    outline = result.brain_mask.mask if result.brain_mask is not None else None
    try:
        return save_mosaic(
            result.source.channels[0], result.labels, result.affine, path, names,
            brain_mask=outline,
        )  # fmt: skip
    except (ValueError, OSError) as exc:  # a picture must never cost the segmentation
        logger.warning("%s: no mosaic for the report (%s)", job.image.name, exc)
        return None


def _manifest_entry(
    job: Job,
    image_name: str,
    result: SegmentationResult,
    num_classes: int,
    *,
    files: dict[str, Path | None],
    out_dir: Path,
    metrics: PerLabel,
) -> dict[str, Any]:
    """The scan's entry in ``segmentation.json``: its files (relative), grid, volumes, warnings."""
    relative = {key: p.relative_to(out_dir).as_posix() if p else None for key, p in files.items()}
    summary = {str(k): {"dice": v["dice"], "hd95_mm": v["hd95_mm"]} for k, v in metrics.items()}
    return {
        "image": image_name,
        "input": str(job.image),
        **relative,
        "geometry": result.geometry.as_dict(),
        "volumes_mm3": {
            str(k): v for k, v in zip(range(1, num_classes), result.volumes.values(), strict=True)
        },
        "components": structure_components(result.labels, num_classes),
        **places_entry(result.labels, result.affine, num_classes, result.frame),
        **_brain_entry(result, num_classes),
        **({"metrics": summary} if summary else {}),
        "warnings": list(result.warnings),
    }


def _brain_entry(result: SegmentationResult, num_classes: int) -> dict[str, Any]:
    """An extracted scan's TIV, each structure's fraction of it, and its labels on the mask's edge."""
    brain = result.brain_mask
    if brain is None:
        return {}
    tiv = brain.volume_mm3
    volumes = dict(zip(range(1, num_classes), result.volumes.values(), strict=True))
    return {
        "tiv_mm3": tiv,
        "volume_fractions_of_tiv": {str(k): v for k, v in volume_fractions(volumes, tiv).items()},
        "labels_on_brain_edge": {
            str(k): n for k, n in labels_on_edge(result.labels, brain.mask, num_classes).items()
        },
    }


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


__all__ = ["SegmentOptions", "SegmentReport", "segment_files"]
