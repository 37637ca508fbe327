"""Training: epochs of sub-epochs of patch batches, validation, per-epoch checkpoints.

``train(config, options)`` is the whole run. Everything random in a sub-epoch
derives from ``(seed, epoch, sub_epoch)`` and the learning rate from the epoch,
so a run stopped after epoch k and resumed ends with the same weights as one
that never stopped. Under ``torchrun`` each process takes its slice of every
global batch; rank 0 alone validates and writes.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from livianet.atomic import check_writable
from livianet.config import TrainingConfig, to_plain
from livianet.errors import CheckpointError
from livianet.inference import InferenceSettings
from livianet.io import write_csv
from livianet.networks import (
    LiviaNet,
    build_model,
    check_compatible,
    count_parameters,
    freeze_layers,
    load_checkpoint,
    load_model_state,
    load_npy_weights,
    stored_model_config,
    transfer_layers,
)
from livianet.networks.pretrained import resolve_model
from livianet.reporting import (
    Budget,
    TensorBoard,
    epoch_line,
    log_run_header,
    run_log,
    write_curves,
    write_training_report,
)
from livianet.runtime import DistInfo, distributed, resolve_device, resolve_precision
from livianet.training.batches import prepare_cases
from livianet.training.best_model import update_best
from livianet.training.epoch import Session, train_epoch
from livianet.training.losses import SegmentationLoss
from livianet.training.optim import build_optimizer, learning_rate
from livianet.training.run_dir import RunPaths, RunRecord, check_fresh_start, save_epoch
from livianet.training.training_data import load_training_cases, model_meta
from livianet.training.validation import validate

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


@dataclass
class TrainResult:
    run_dir: Path
    last_checkpoint: Path | None
    best_checkpoint: Path | None
    history: list[dict[str, Any]] = field(default_factory=list)
    epochs_completed: int = 0
    model: torch.nn.Module | None = None  # the trained network (this process's copy)


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
        copied = transfer_layers(model, resolve_model(source).state["model_state"])
        logger.info("initialised %s from %s", ", ".join(copied), source)
        transferred += [name for name in copied if name not in transferred]
    if config.transfer.freeze and transferred:
        freeze_layers(model, transferred)
        logger.info("frozen layers: %s", ", ".join(transferred))
    return model, transferred


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


def _model_and_state(
    config: TrainingConfig, options: TrainOptions
) -> tuple[LiviaNet, list[str], dict[str, Any] | None]:
    """The network to train, its frozen layers, and the checkpoint it resumes from (if any)."""
    if options.resume is None:
        model, transferred = _initial_model(config, options)
        return model, (transferred if config.transfer.freeze else []), None
    state = load_checkpoint(options.resume)
    check_compatible(config.model, stored_model_config(state, options.resume), options.resume)
    model = LiviaNet(config.model)
    load_model_state(model, state["model_state"], options.resume)
    frozen = list(state.get("frozen_layers", []))
    if frozen:
        freeze_layers(model, frozen)
    return model, frozen, state


def _session(
    config: TrainingConfig,
    options: TrainOptions,
    device: torch.device,
    info: DistInfo,
    precision: str,
    prepared,
) -> tuple[Session, dict[str, Any] | None]:
    model, frozen, state = _model_and_state(config, options)
    model = model.to(
        device
    )  # training runs fastest in the default layout (channels-last slows its backward)
    if info.enabled and config.model.batch_norm:
        model = distributed.synchronise_batch_norm(model, device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = (
            True  # fixed patch shapes: let cuDNN pick its fastest kernels
        )
    runner: torch.nn.Module = model
    if info.enabled:
        runner = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    optim = config.train.optim
    optimizer = build_optimizer((p for p in model.parameters() if p.requires_grad), optim)
    if state is not None and "optimizer_state" in state:
        try:
            optimizer.load_state_dict(state["optimizer_state"])
        except (ValueError, KeyError) as exc:
            raise CheckpointError(
                f"{options.resume}: optimiser state does not fit this optimiser ({exc})"
            ) from None
    scaler = _grad_scaler(precision, device)
    if state is not None:
        _restore_scaler(scaler, state, options.resume)
    loss_fn = SegmentationLoss(
        config.train.loss, config.model.num_classes, config.train.class_weights, optim.l1, optim.l2
    )
    session = Session(
        config=config,
        model=runner,
        core=model,
        frozen=frozen,
        optimizer=optimizer,
        scaler=scaler,
        loss_fn=loss_fn.to(device),
        prepared=prepared,
        device=device,
        precision=precision,
        info=info,
        progress=options.progress,
    )
    return session, state


def _grad_scaler(precision: str, device: torch.device) -> torch.amp.GradScaler:
    """Loss scaling for fp16 on CUDA; a disabled scaler (a no-op) otherwise."""
    return torch.amp.GradScaler("cuda", enabled=precision == "fp16" and device.type == "cuda")


def _restore_scaler(scaler: torch.amp.GradScaler, state: dict[str, Any], path: Path | None) -> None:
    """The loss scale (and its growth counter) where the checkpoint's run left them."""
    saved = state.get("scaler_state") or {}
    if not scaler.is_enabled():
        return
    if not saved:
        logger.info("%s holds no fp16 loss scale: starting from the default scale", path)
        return
    try:
        scaler.load_state_dict(saved)
    except (RuntimeError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{path}: gradient-scaler state does not load ({exc})") from None


def _warn_about_inexact_resume(
    state: dict[str, Any], train_cfg, path: Path | None, start_epoch: int
) -> None:
    """A resumed run is the uninterrupted one only from a whole epoch and with the same seed."""
    saved_seed = state.get("seed")
    if saved_seed is not None and int(saved_seed) != train_cfg.seed:
        logger.warning(
            "%s was trained with seed %s, the config now says %d: the resumed run draws other patches than the original would have",
            path,
            saved_seed,
            train_cfg.seed,
        )
    metrics = state.get("metrics") or []
    if metrics and metrics[-1].get("cut_short"):
        logger.warning(
            "%s: epoch %d was cut short by the time budget; resuming starts at epoch %d, so the rest of epoch %d is never trained",
            path,
            start_epoch,
            start_epoch + 1,
            start_epoch,
        )


def _train(
    config: TrainingConfig,
    options: TrainOptions,
    device: torch.device,
    info: DistInfo,
    paths: RunPaths,
) -> TrainResult:
    train_cfg = config.train
    precision = resolve_precision(train_cfg.precision, device)
    plain_config = to_plain(config)
    log_run_header(
        paths.log if info.is_main else None, plain_config, train_cfg.seed, str(device), precision
    )
    cases, validation, grid = load_training_cases(config, with_validation=info.is_main)
    meta = model_meta(config, grid, cases, options.label_names)
    record = RunRecord(config, plain_config, meta)
    session, state = _session(
        config, options, device, info, precision, prepare_cases(cases, train_cfg, config.model)
    )
    del cases

    start_epoch = int(state["epoch"]) if state else 0
    history: list[dict[str, Any]] = list(state.get("metrics", [])) if state else []
    best: dict[str, Any] = {
        "dice": -math.inf,
        "epoch": None,
        "stale": 0,
        **(state.get("best", {}) if state else {}),
    }
    if state:
        logger.info("resuming from %s after epoch %d", options.resume, start_epoch)
        _warn_about_inexact_resume(state, train_cfg, options.resume, start_epoch)
    if start_epoch >= train_cfg.num_epochs:
        logger.info(
            "already trained %d of %d epochs: nothing to do", start_epoch, train_cfg.num_epochs
        )
        return TrainResult(
            paths.run_dir, options.resume, paths.existing_best(), history, start_epoch, session.core
        )
    if info.is_main:
        logger.info(
            "network: %d parameters, receptive field %s, patches %s -> %s; %d training and %d validation cases",
            count_parameters(session.core),
            list(config.model.receptive_field),
            list(train_cfg.patch_size),
            list(config.model.output_size(train_cfg.patch_size)),
            len(session.prepared),
            len(validation),
        )
    settings = InferenceSettings(
        device=device, precision=precision, largest_component=train_cfg.largest_component
    )
    board = TensorBoard(paths.tensorboard if info.is_main else None)
    planned = train_cfg.num_epochs
    started = time.perf_counter()
    if options.time_budget_s is not None:
        session.deadline = started + options.time_budget_s
    last_path = options.resume
    epoch = start_epoch
    try:
        for epoch in range(start_epoch, train_cfg.num_epochs):
            epoch_start = time.perf_counter()
            stats = train_epoch(session, epoch, planned)
            seconds = max(time.perf_counter() - epoch_start, 1e-9)
            row: dict[str, Any] = {
                "epoch": epoch + 1,
                "train_loss": stats.loss,
                "lr": learning_rate(train_cfg.optim, epoch, 0.0, planned),
                "samples_per_s": stats.samples / seconds,
                "train_seconds": seconds,
                "compute_share": stats.compute_seconds / seconds,
            }
            if stats.cut_short:
                row["cut_short"] = True
            due = (
                (epoch + 1) % train_cfg.validation_frequency == 0
                or epoch + 1 == train_cfg.num_epochs
                or stats.cut_short
            )
            if info.is_main and validation and due:
                row.update(
                    validate(
                        session.core,
                        validation,
                        settings,
                        paths.validation if options.save_validation else None,
                    )
                )
            row["seconds"] = time.perf_counter() - epoch_start
            history.append(row)
            improved = update_best(best, row, epoch + 1)
            if info.is_main:
                last_path = save_epoch(
                    record,
                    session.core,
                    session.optimizer,
                    session.scaler,
                    epoch + 1,
                    history,
                    best,
                    session.frozen,
                    paths,
                    improved,
                )
                write_csv(history, paths.metrics)
                write_curves(history, paths.curves, config.network_name, options.label_names)
                board.scalars(row, epoch + 1)
                logger.info(
                    epoch_line(
                        row, train_cfg.num_epochs, _budget(options, started, epoch, start_epoch)
                    )
                )
                _write_report(paths.run_dir, config.network_name)
            planned, stop_reason = _plan(train_cfg, options, best, epoch, start_epoch, started)
            if stats.cut_short:
                stop_reason = f"time budget of {options.time_budget_s / 60:.1f} min reached (epoch {epoch + 1} cut short)"
            stop_reason = distributed.broadcast(stop_reason)
            if stop_reason:
                logger.info("%s after epoch %d", stop_reason, epoch + 1)
                if info.is_main:  # again, so that the report says why the run stopped
                    _write_report(paths.run_dir, config.network_name)
                break
    finally:
        board.close()
    return TrainResult(
        paths.run_dir, last_path, paths.existing_best(), history, epoch + 1, session.core
    )


def _write_report(run_dir: Path, network_name: str) -> None:
    """Rewrite the run's report.html; a report that cannot be written never stops training."""
    try:
        write_training_report(run_dir, network_name)
    except Exception as exc:  # noqa: BLE001 - any failure here is only a missing page
        logger.warning("%s: training report not written (%s: %s)", run_dir, type(exc).__name__, exc)


def _budget(options: TrainOptions, started: float, epoch: int, start_epoch: int) -> Budget | None:
    if options.time_budget_s is None:
        return None
    return Budget(options.time_budget_s, time.perf_counter() - started, epoch + 1 - start_epoch)


def _plan(
    train_cfg,
    options: TrainOptions,
    best: dict[str, Any],
    epoch: int,
    start_epoch: int,
    started: float,
) -> tuple[int, str]:
    """The epochs the schedule should plan for, and why to stop now (empty: go on)."""
    planned = train_cfg.num_epochs
    patience = train_cfg.early_stopping_patience
    reason = ""
    if patience is not None and best["stale"] >= patience:
        reason = f"early stopping: no better validation Dice for {patience} epochs"
    if options.time_budget_s is not None:
        elapsed = time.perf_counter() - started
        per_epoch = elapsed / (epoch + 1 - start_epoch)
        remaining = options.time_budget_s - elapsed
        # The last epoch may be cut short at the deadline, so plan for the partial one too.
        planned = min(train_cfg.num_epochs, epoch + 1 + max(0, math.ceil(remaining / per_epoch)))
        if remaining <= 0:
            reason = reason or f"time budget of {options.time_budget_s / 60:.1f} min reached"
    return planned, reason
