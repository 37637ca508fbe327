"""Training: epochs of sub-epochs of patch batches, validation, per-epoch checkpoints.

``train(config, options)`` is the whole run: one loop over named steps (train
an epoch, validate when due, write the epoch's files, apply the stop rule).
Everything random in a sub-epoch derives from ``(seed, epoch, sub_epoch)`` and
the learning rate from the epoch, so a run stopped after epoch k and resumed
ends with the same weights as one that never stopped. Under ``torchrun`` each
process takes its slice of every global batch; rank 0 alone validates and writes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from livianet.atomic import check_writable
from livianet.config import TrainConfig, TrainingConfig, to_plain
from livianet.errors import CheckpointError, TrainingError
from livianet.inference import InferenceSettings
from livianet.io import write_csv
from livianet.networks import (
    BestEpoch,
    Checkpoint,
    CheckpointContents,
    LiviaNet,
    build_model,
    count_parameters,
    freeze_layers,
    load_npy_weights,
    transfer_layers,
)
from livianet.networks.pretrained import resolve_model
from livianet.reporting import (
    TensorBoard,
    epoch_line,
    log_run_header,
    run_log,
    write_curves,
    write_training_report,
)
from livianet.runtime import DistInfo, distributed, resolve_device, resolve_precision
from livianet.training.best_model import update_best
from livianet.training.cached_data import InputWatch
from livianet.training.epoch import EpochStats, Session, train_epoch
from livianet.training.optim import learning_rate
from livianet.training.patch_source import PatchSource
from livianet.training.run_dir import (
    EpochRecord,
    RunPaths,
    RunRecord,
    check_fresh_start,
    save_epoch,
)
from livianet.training.session import place_model, resumed_model, training_loss, training_optimizer
from livianet.training.stopping import RunClock, stop_rule
from livianet.training.synthetic_data import run_data
from livianet.training.training_data import model_meta
from livianet.training.validation import ValidationCase, validate

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainOptions:
    resume: Path | None = None
    overwrite: bool = False
    device: str = "auto"
    init_from: Path | str | None = None  # a checkpoint, or a built-in model's name
    time_budget_s: float | None = None
    progress: bool = True
    label_names: dict[int, str] | None = None
    save_validation: bool = True
    cache: Path | None = None  # the cache folder (None: the config's cacheFolder, else in the run)
    jobs: int = 1  # processes that preprocess cases into the cache


@dataclass
class TrainResult:
    run_dir: Path
    last_checkpoint: Path | None
    best_checkpoint: Path | None
    history: list[dict[str, Any]] = field(default_factory=list)
    epochs_completed: int = 0
    model: torch.nn.Module | None = None  # the trained network (this process's copy)


@dataclass(frozen=True)
class _Run:
    """What every epoch of one ``train`` call shares, set up before the first."""

    config: TrainingConfig
    options: TrainOptions
    paths: RunPaths
    record: RunRecord
    session: Session
    validation: list[ValidationCase]
    settings: InferenceSettings
    board: TensorBoard
    clock: RunClock
    watch: InputWatch

    @property
    def is_main(self) -> bool:
        return self.session.info.is_main


def train(config: TrainingConfig, options: TrainOptions | None = None) -> TrainResult:
    """Train (or resume) the network described by ``config``.

    Raises:
        DataError, CheckpointError, TrainingError: with one-line messages.
    """
    options = options or TrainOptions()
    device = resolve_device(options.device)
    info = distributed.init(device)
    paths = RunPaths.of(config)
    if info.is_main:
        check_fresh_start(paths, config.network_name, options.resume, options.overwrite)
        check_writable(paths.networks, min_free_bytes=64 << 20)
    distributed.barrier()
    with run_log(paths.log if info.is_main else None):
        result = _train(config, options, device, info, paths)
    # Every process has finished (rank 0 has written the run) before any returns. Not after an
    # error: the others may never arrive, and torchrun stops them when this one exits.
    distributed.barrier()
    return result


def _train(
    config: TrainingConfig,
    options: TrainOptions,
    device: torch.device,
    info: DistInfo,
    paths: RunPaths,
) -> TrainResult:
    """Set the run up, then train its epochs; a finished run is left as it is."""
    precision = resolve_precision(config.train.precision, device)
    plain_config = to_plain(config)
    log_run_header(
        paths.log if info.is_main else None, plain_config, config.train.seed, str(device), precision
    )
    data, label_maps = run_data(config, info, options.cache, options.jobs)
    meta = model_meta(config, data.grid, data.summaries, options.label_names)
    record = RunRecord(config, plain_config, meta)
    session, resumed = _session(config, options, device, info, precision, data.sources)
    session.synthetic = label_maps
    validation = data.validation
    start_epoch, history, best = _resume_state(resumed, config.train)
    if start_epoch >= config.train.num_epochs:
        logger.info(
            "already trained %d of %d epochs: nothing to do", start_epoch, config.train.num_epochs
        )
        return TrainResult(
            paths.run_dir, options.resume, paths.existing_best(), history, start_epoch, session.core
        )
    if info.is_main:
        _log_network(config, session, len(validation))
    settings = InferenceSettings(
        device=device, precision=precision, largest_component=config.train.largest_component
    )
    board = TensorBoard(paths.tensorboard if info.is_main else None)
    clock = RunClock(time.perf_counter(), start_epoch, options.time_budget_s)
    session.deadline = clock.deadline
    run = _Run(
        config, options, paths, record, session, validation, settings, board, clock, data.watch
    )
    try:
        return _epochs(run, history, best)
    finally:
        board.close()


def _epochs(run: _Run, history: list[dict[str, Any]], best: BestEpoch) -> TrainResult:
    """Epoch after epoch: train, validate when due, write its files, stop when the rule says."""
    planned = run.config.train.num_epochs  # the schedule's horizon (a time budget shortens it)
    last_path = run.options.resume
    epoch = run.clock.start_epoch
    for epoch in range(run.clock.start_epoch, run.config.train.num_epochs):
        row, stats = _train_one_epoch_row(run, epoch, planned)
        history.append(row)
        best, improved = update_best(best, row, epoch + 1)
        if run.is_main:
            last_path = _write_epoch_outputs(
                run, _epoch_record(run, epoch, history, best, improved)
            )
        planned, stop_reason = _stop_reason(run, best, epoch, stats.cut_short)
        if stop_reason:
            _stop(run, stop_reason, epoch)
            break
    return TrainResult(
        run.paths.run_dir,
        last_path,
        run.paths.existing_best(),
        history,
        epoch + 1,
        run.session.core,
    )


# ----------------------------------------------------------------------------- setting up


def _session(
    config: TrainingConfig,
    options: TrainOptions,
    device: torch.device,
    info: DistInfo,
    precision: str,
    prepared: Sequence[PatchSource],
) -> tuple[Session, Checkpoint | None]:
    """Everything a training step needs, and the checkpoint it resumes from (if any)."""
    resumed = None if options.resume is None else Checkpoint.read(options.resume)
    model, frozen = _model(config, options, resumed)
    core, runner = place_model(model, config, device, info)
    optimizer = training_optimizer(core, config.train.optim, resumed)
    scaler = _grad_scaler(precision, device)
    if resumed is not None:
        _restore_scaler(scaler, resumed)
    session = Session(
        config=config,
        model=runner,
        core=core,
        frozen=frozen,
        optimizer=optimizer,
        scaler=scaler,
        loss_fn=training_loss(config, device),
        prepared=prepared,
        device=device,
        precision=precision,
        info=info,
        progress=options.progress,
    )
    return session, resumed


def _model(
    config: TrainingConfig, options: TrainOptions, resumed: Checkpoint | None
) -> tuple[LiviaNet, list[str]]:
    """The network to train and its frozen layers: the checkpoint's when resuming, else a new one."""
    if resumed is not None:
        return resumed_model(config, resumed)
    model, transferred = _initial_model(config, options)
    return model, (transferred if config.transfer.freeze else [])


def _initial_model(config: TrainingConfig, options: TrainOptions) -> tuple[LiviaNet, list[str]]:
    """A new network, with transferred layers (``.npy`` files, another checkpoint) loaded."""
    model = build_model(config.model, seed=config.train.seed)
    transferred: list[str] = []
    if config.transfer.weights_folder is not None:
        transferred += load_npy_weights(
            model, config.transfer.weights_folder, config.transfer.weights_indexes
        )
    source = options.init_from or config.transfer.init_from
    if source is not None:
        copied = transfer_layers(model, resolve_model(source).contents.model_state)
        logger.info("initialised %s from %s", ", ".join(copied), source)
        transferred += [name for name in copied if name not in transferred]
    if config.transfer.freeze and transferred:
        freeze_layers(model, transferred)
        logger.info("frozen layers: %s", ", ".join(transferred))
    return model, transferred


def _grad_scaler(precision: str, device: torch.device) -> torch.amp.GradScaler:
    """Loss scaling for fp16 on CUDA; a disabled scaler (a no-op) otherwise."""
    return torch.amp.GradScaler("cuda", enabled=precision == "fp16" and device.type == "cuda")


def _restore_scaler(scaler: torch.amp.GradScaler, resumed: Checkpoint) -> None:
    """The loss scale (and its growth counter) where the checkpoint's run left them."""
    saved = resumed.contents.scaler_state
    if not scaler.is_enabled():
        return
    if not saved:
        logger.info("%s holds no fp16 loss scale: starting from the default scale", resumed.path)
        return
    try:
        scaler.load_state_dict(saved)
    except (RuntimeError, KeyError, TypeError) as exc:
        raise CheckpointError(
            f"{resumed.path}: gradient-scaler state does not load ({exc})"
        ) from None


def _resume_state(
    resumed: Checkpoint | None, train_cfg: TrainConfig
) -> tuple[int, list[dict[str, Any]], BestEpoch]:
    """The epochs already trained, their metrics rows and the best epoch among them."""
    if resumed is None:
        return 0, [], BestEpoch()
    contents = resumed.contents
    logger.info("resuming from %s after epoch %d", resumed.path, contents.epoch)
    _warn_about_inexact_resume(contents, train_cfg, resumed.path)
    return contents.epoch, list(contents.metrics), contents.best


def _warn_about_inexact_resume(
    contents: CheckpointContents, train_cfg: TrainConfig, path: Path
) -> None:
    """A resumed run is the uninterrupted one only from a whole epoch and with the same seed."""
    start_epoch = contents.epoch
    if contents.seed is not None and contents.seed != train_cfg.seed:
        logger.warning(
            "%s was trained with seed %s, the config now says %d: the resumed run draws other patches than the original would have",
            path,
            contents.seed,
            train_cfg.seed,
        )
    if contents.metrics and contents.metrics[-1].get("cut_short"):
        logger.warning(
            "%s: epoch %d was cut short by the time budget; resuming starts at epoch %d, so the rest of epoch %d is never trained",
            path,
            start_epoch,
            start_epoch + 1,
            start_epoch,
        )


def _log_network(config: TrainingConfig, session: Session, validation_cases: int) -> None:
    patch = config.train.patch_size
    logger.info(
        "network: %d parameters, receptive field %s, patches %s -> %s; %d training and %d validation cases",
        count_parameters(session.core),
        list(config.model.receptive_field),
        list(patch),
        list(config.model.output_size(patch)),
        len(session.prepared),
        validation_cases,
    )


# ----------------------------------------------------------------------------- the steps of an epoch


def _train_one_epoch_row(run: _Run, epoch: int, planned: int) -> tuple[dict[str, Any], EpochStats]:
    """Train epoch ``epoch`` (0-based) and validate if due: its metrics row."""
    _check_inputs(run)
    epoch_start = time.perf_counter()
    stats = train_epoch(run.session, epoch, planned)
    seconds = max(time.perf_counter() - epoch_start, 1e-9)
    row: dict[str, Any] = {
        "epoch": epoch + 1,
        "train_loss": stats.loss,
        "lr": learning_rate(run.config.train.optim, epoch, 0.0, planned),
        "samples_per_s": stats.samples / seconds,
        "train_seconds": seconds,
        "compute_share": stats.compute_seconds / seconds,
    }
    if stats.cut_short:
        row["cut_short"] = True
    row.update(_validate_if_due(run, epoch, stats.cut_short))
    row["seconds"] = time.perf_counter() - epoch_start
    return row, stats


def _check_inputs(run: _Run) -> None:
    """Stop when a cached case's input changed on disk (rank 0 decides, every process stops)."""
    problem = distributed.broadcast(run.watch.change() if run.is_main else None)
    if problem:
        raise TrainingError(problem)


def _validate_if_due(run: _Run, epoch: int, cut_short: bool) -> dict[str, Any]:
    """Validation Dice every ``validationFrequency`` epochs, after the last and a cut-short one."""
    train_cfg = run.config.train
    due = (
        (epoch + 1) % train_cfg.validation_frequency == 0
        or epoch + 1 == train_cfg.num_epochs
        or cut_short
    )
    if not (run.is_main and run.validation and due):
        return {}
    save_to = run.paths.validation if run.options.save_validation else None
    return validate(run.session.core, run.validation, run.settings, save_to)


def _epoch_record(
    run: _Run, epoch: int, history: list[dict[str, Any]], best: BestEpoch, improved: bool
) -> EpochRecord:
    session = run.session
    return EpochRecord(
        epoch=epoch + 1,
        model=session.core,
        optimizer=session.optimizer,
        scaler=session.scaler,
        history=history,
        best=best,
        frozen=session.frozen,
        improved=improved,
    )


def _write_epoch_outputs(run: _Run, done: EpochRecord) -> Path:
    """The epoch's checkpoint, metrics table, curves, TensorBoard scalars, log line and report."""
    name, row = run.config.network_name, done.history[-1]
    path = save_epoch(run.record, run.paths, done)
    write_csv(done.history, run.paths.metrics)
    write_curves(done.history, run.paths.curves, name, run.options.label_names)
    run.board.scalars(row, done.epoch)
    logger.info(epoch_line(row, run.config.train.num_epochs, run.clock.budget(done.epoch)))
    _write_report(run.paths.run_dir, name)
    return path


def _stop_reason(run: _Run, best: BestEpoch, epoch: int, cut_short: bool) -> tuple[int, str]:
    """The epochs to plan for, and why to stop now (empty: go on): rank 0's, on every process."""
    planned, reason = stop_rule(run.config.train, run.clock, best, epoch, cut_short)
    return planned, distributed.broadcast(reason)


def _stop(run: _Run, reason: str, epoch: int) -> None:
    logger.info("%s after epoch %d", reason, epoch + 1)
    if run.is_main:  # again, so that the report says why the run stopped
        _write_report(run.paths.run_dir, run.config.network_name)


def _write_report(run_dir: Path, network_name: str) -> None:
    """Rewrite the run's report.html; a report that cannot be written never stops training."""
    try:
        write_training_report(run_dir, network_name)
    except Exception as exc:  # noqa: BLE001 - any failure here is only a missing page
        logger.warning("%s: training report not written (%s: %s)", run_dir, type(exc).__name__, exc)
