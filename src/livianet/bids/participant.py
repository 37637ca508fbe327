"""``livianet bids BIDS_DIR OUT_DIR participant``: every selected T1w segmented into OUT_DIR.

The scans go through the batch driver of ``livianet segment``
(:func:`livianet.inference.segment_files`: reading ahead, writing behind, one failure never
costing the others, each ``torchrun`` process its share) into a work folder, and each
finished scan is put in place under its BIDS name (:mod:`livianet.bids.publish`). Scans whose
outputs are still those this run would write (their records, checked against the files'
contents: :mod:`livianet.bids.records`) are kept unless ``--overwrite``. Under ``torchrun``
the main process decides what is left to do and writes the dataset-level files; every process
segments and publishes its share; the main one writes the subjects' reports at the end.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from livianet.atomic import check_writable
from livianet.bids.dataset import (
    ModelIdentity,
    RunFacts,
    check_output_dir,
    check_same_model,
    write_dataset_files,
)
from livianet.bids.files import file_sha256, write_json
from livianet.bids.layout import (
    Selection,
    T1wScan,
    index_t1w,
    link_problem,
    read_description,
    select,
)
from livianet.bids.masks import MaskIndex, index_masks
from livianet.bids.outputs import LOGS
from livianet.bids.publish import Publisher, ScanPlan
from livianet.bids.records import DONE, ScanSettings, read_record, settled, write_failure
from livianet.bids.reports import MODEL_FILE, write_subject_reports
from livianet.bids.validator import validate_input
from livianet.errors import DataError, LivianetError
from livianet.runtime import distributed

if TYPE_CHECKING:
    from livianet.networks import Checkpoint

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BrainOptions:
    """Brain extraction for scans without a ``--mask-derivatives`` mask, as ``livianet segment``."""

    extraction: bool = True
    threshold: float = 0.5
    dilation: int = 0

    def words(self) -> str:
        """What a scan's record keeps of them: other options, or another extractor, redo it."""
        from livianet.inference.brain import EXTRACTOR

        if not self.extraction:
            return "none"
        return f"{EXTRACTOR}, threshold {self.threshold}, dilation {self.dilation} mm"


@dataclass(frozen=True)
class ParticipantRequest:
    """What one ``participant`` command asks for."""

    bids_dir: Path
    out_dir: Path
    models: tuple[str | Path, ...]
    selection: Selection = Selection()
    mask_derivatives: Path | None = None
    work_dir: Path | None = None
    brain: BrainOptions = BrainOptions()
    validate: bool = True
    overwrite: bool = False
    probabilities: bool = False
    tta: bool = False
    device: str = "auto"
    precision: str = "auto"
    command: str = "livianet bids"


@dataclass(frozen=True)
class ParticipantSummary:
    scans: int
    kept: int
    segmented: int
    failures: tuple[tuple[str, str], ...] = field(default_factory=tuple)  # (source, error)


def run_participant(request: ParticipantRequest) -> ParticipantSummary:
    """Segment the selected T1w scans of ``request.bids_dir`` into ``request.out_dir``."""
    from livianet.networks.pretrained import resolve_model
    from livianet.runtime import resolve_device

    source_description = read_description(request.bids_dir)
    previous = check_output_dir(request.bids_dir, request.out_dir)
    scans = select(index_t1w(request.bids_dir), request.selection)
    checkpoints = [resolve_model(name) for name in request.models]
    model = ModelIdentity.of(checkpoints)
    if previous is not None:
        check_same_model(request.out_dir, previous, model)
    masks = index_masks(request.mask_derivatives) if request.mask_derivatives else None
    plans = [_plan(scan, masks, model, request) for scan in scans]
    info = distributed.env_info()
    if info.is_main and request.validate:
        validate_input(request.bids_dir)
    distributed.init(resolve_device(request.device))
    facts = RunFacts(
        request.bids_dir, source_description, model, _mask_words(request), request.command,
        request.mask_derivatives, _extractor(request, plans),
    )  # fmt: skip
    chosen: list[int] | str | None = None
    if info.is_main:
        try:
            chosen = _prepare(request, plans, facts, checkpoints)
        except LivianetError as exc:
            chosen = str(exc)  # every process stops with it, none waits for the others
    chosen = distributed.broadcast(chosen)
    if isinstance(chosen, str) or chosen is None:
        raise DataError(str(chosen))
    todo = [plans[i] for i in chosen]
    segmentable = [plan for plan in todo if plan.problem is None]
    if segmentable:
        _segment(request, checkpoints, model, segmentable)
    distributed.barrier()
    if not info.is_main:
        return ParticipantSummary(len(plans), len(plans) - len(todo), len(segmentable))
    write_subject_reports(request.out_dir, sorted({plan.scan.subject for plan in plans}))
    return _summary(request.out_dir, plans, todo)


def _plan(
    scan: T1wScan, masks: MaskIndex | None, model: ModelIdentity, request: ParticipantRequest
) -> ScanPlan:
    """The scan with its mask and settings; a problem found now fails the scan, not the run."""
    problem, mask = link_problem(scan.path), None
    if masks is not None and problem is None:
        try:
            mask = masks.for_scan(scan)
        except DataError as exc:
            problem = str(exc)
        if mask is None and problem is None:
            logger.warning(
                "%s: no desc-brain_mask for it in %s: segmented as without a mask",
                scan.relative, masks.root,
            )  # fmt: skip
        elif mask is not None:
            problem = link_problem(mask)
    digest = None
    if mask is not None and problem is None:
        digest = file_sha256(mask)
    settings = ScanSettings(
        model.sha256, request.probabilities, request.tta,
        mask.relative_to(masks.root).as_posix() if mask is not None and masks else None, digest,
        request.brain.words() if mask is None else None,
    )  # fmt: skip
    return ScanPlan(scan, settings, mask, problem)


def _prepare(
    request: ParticipantRequest,
    plans: Sequence[ScanPlan],
    facts: RunFacts,
    checkpoints: Sequence[Checkpoint],
) -> list[int]:
    """(Main process.) The dataset-level files written; which plans are left to do."""
    from livianet.inference.run_files import model_summary

    out = request.out_dir
    check_writable(out)
    write_dataset_files(out, facts)
    names = dict(checkpoints[0].meta.label_names) or None
    write_json(
        out / LOGS / MODEL_FILE, model_summary(list(checkpoints), names, checkpoints[0].meta)
    )
    todo = []
    for index, plan in enumerate(plans):
        if plan.problem is not None:
            logger.error("%s: not segmented: %s", plan.scan.relative, plan.problem)
            write_failure(out, plan.scan, plan.settings, plan.problem)
        elif not request.overwrite and settled(out, plan.scan, plan.settings):
            continue
        todo.append(index)
    kept = len(plans) - len(todo)
    if kept:
        logger.info(
            "%d of %d T1w scans settled by an earlier run (done, or failed on the same T1w): "
            "kept (--overwrite redoes them)", kept, len(plans),
        )  # fmt: skip
    return todo


def _segment(
    request: ParticipantRequest,
    checkpoints: list[Checkpoint],
    model: ModelIdentity,
    plans: Sequence[ScanPlan],
) -> None:
    """Segment ``plans`` through the batch driver into a work folder; publish each scan."""
    from livianet.data import CaseFiles
    from livianet.inference import SegmentOptions, segment_files

    if request.work_dir is not None:
        request.work_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="livianet-bids-", dir=request.work_dir))
    cases = [CaseFiles(i, (plan.scan.path,), None, plan.mask) for i, plan in enumerate(plans)]
    options = SegmentOptions(
        device=request.device, precision=request.precision, probabilities=request.probabilities,
        tta=request.tta, report=True, run_files=False,
        brain_extraction=request.brain.extraction, brain_threshold=request.brain.threshold,
        brain_dilation=request.brain.dilation,
    )  # fmt: skip
    publisher = Publisher(request.out_dir, work, model, plans)
    try:
        segment_files(checkpoints, cases, work, options, on_scan=publisher)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _summary(
    out_dir: Path, plans: Sequence[ScanPlan], todo: Sequence[ScanPlan]
) -> ParticipantSummary:
    """What this run did and what stands failed, from the records every process wrote."""
    failures, segmented = [], 0
    tried = {plan.scan.relative for plan in todo}
    for plan in plans:
        record: dict[str, Any] = read_record(out_dir, plan.scan) or {}
        if record.get("status") != DONE:
            failures.append((plan.scan.relative, str(record.get("error") or "no record written")))
        elif plan.scan.relative in tried:
            segmented += 1
    return ParticipantSummary(len(plans), len(plans) - len(todo), segmented, tuple(failures))


def _mask_words(request: ParticipantRequest) -> str:
    given = (
        f"desc-brain_mask files from {request.mask_derivatives}, else "
        if request.mask_derivatives is not None
        else ""
    )
    if not request.brain.extraction:
        return f"{given}none (--no-brain-extraction: each scan normalised over its nonzero voxels)"
    return (
        f"{given}as `livianet segment` without --roi: extracted by {request.brain.words()} "
        "(each dseg sidecar's BrainMask says which mask a scan had)"
    )


def _extractor(request: ParticipantRequest, plans: Sequence[ScanPlan]) -> str | None:
    """What to cite for extracted brain masks, when some scan has no given mask."""
    from livianet.inference.brain import CITATION

    return CITATION if request.brain.extraction and any(p.mask is None for p in plans) else None
