"""Training: epochs of sub-epochs of patch batches, validation, per-epoch checkpoints.

``train(config, options)`` is the whole loop. Everything random in a sub-epoch
derives from ``(seed, epoch, sub_epoch)`` and the learning rate from the epoch,
so a run stopped after epoch k and resumed ends with the same weights as one
that never stopped. Under ``torchrun`` each process takes its slice of every
global batch; rank 0 alone validates and writes.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import distributed
from .batches import prepare_cases, steps_per_subepoch, subepoch_batches, torch_seed
from .checkpoint import (
    check_compatible,
    checkpoint_name,
    list_epoch_checkpoints,
    load_checkpoint,
    load_model_state,
    save_checkpoint,
    stored_model_config,
)
from .config import TrainingConfig, to_plain
from .data import Case, check_channels, list_cases, load_case
from .errors import CheckpointError, DataError, TrainingError
from .fileutil import check_writable
from .inference import InferenceSettings, case_dice, predict_case
from .losses import SegmentationLoss
from .model import LiviaNet, build_model, count_parameters
from .optim import build_optimizer, learning_rate, set_learning_rate
from .precision import autocast, resolve_device, resolve_precision
from .reporting import TensorBoard, log_run_header, run_log, write_curves, write_metrics_table
from .transfer import freeze_layers, load_npy_weights, transfer_layers

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainOptions:
    resume: Path | None = None
    overwrite: bool = False
    device: str = "auto"
    init_from: Path | None = None
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


@dataclass(frozen=True)
class RunPaths:
    run_dir: Path
    networks: Path
    metrics: Path
    curves: Path
    log: Path
    validation: Path
    tensorboard: Path

    @classmethod
    def of(cls, config: TrainingConfig) -> RunPaths:
        run, name = config.run_dir, config.network_name
        return cls(
            run_dir=run,
            networks=run / "Networks",
            metrics=run / f"{name}_metrics.csv",
            curves=run / f"{name}_training_curves.png",
            log=run / f"{name}.log",
            validation=run / "Pred" / "Validation",
            tensorboard=run / "tensorboard" / name,
        )


def check_fresh_start(
    paths: RunPaths, network_name: str, resume: Path | None, overwrite: bool
) -> None:
    """Refuse to train from scratch over an existing run's checkpoints."""
    existing = list_epoch_checkpoints(paths.networks, network_name)
    if existing and resume is None and not overwrite:
        last = existing[-1][1]
        raise TrainingError(
            f"{paths.networks}: checkpoints of '{network_name}' already exist (latest {last.name}); "
            f"continue with --resume {last} or start again with --overwrite"
        )


def load_cases(config: TrainingConfig, indexes: tuple[int, ...], role: str) -> list[Case]:
    if not indexes:
        return []
    files = list_cases(config.data, indexes, role)
    cases = [load_case(f, config.train.normalization, config.model.num_classes, need_label=True) for f in files]
    for case in cases:
        check_channels(case, config.model.in_channels)
    return cases


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
        state = load_checkpoint(source)
        copied = transfer_layers(model, state["model_state"])
        logger.info("initialised %s from %s", ", ".join(copied), source)
        transferred += [name for name in copied if name not in transferred]
    if config.transfer.freeze and transferred:
        freeze_layers(model, transferred)
        logger.info("frozen layers: %s", ", ".join(transferred))
    return model, transferred


def _spacing_info(cases: list[Case]) -> dict[str, Any]:
    reference = cases[0].reference
    return {
        "training_spacing": list(reference.spacing),
        "training_orientation": reference.orientation,
    }


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
        try:
            return _train(config, options, device, info, paths)
        finally:
            distributed.barrier()


def _train(
    config: TrainingConfig, options: TrainOptions, device: torch.device, info, paths: RunPaths
) -> TrainResult:
    train_cfg = config.train
    precision = resolve_precision(train_cfg.precision, device)
    plain_config = to_plain(config)
    log_run_header(paths.log if info.is_main else None, plain_config, train_cfg.seed, str(device), precision)
    cases = load_cases(config, config.train_indexes, "training")
    validation = load_cases(config, config.validation_indexes, "validation") if info.is_main else []
    prepared = prepare_cases(cases, train_cfg, config.model)
    spacing = _spacing_info(cases)
    del cases

    state: dict[str, Any] | None = None
    transferred: list[str] = []
    if options.resume is not None:
        state = load_checkpoint(options.resume)
        check_compatible(config.model, stored_model_config(state, options.resume), options.resume)
        model = LiviaNet(config.model)
        load_model_state(model, state["model_state"], options.resume)
        transferred = list(state.get("frozen_layers", []))
        if transferred:
            freeze_layers(model, transferred)
    else:
        model, transferred = _initial_model(config, options)
    frozen = transferred if config.transfer.freeze or (state and state.get("frozen_layers")) else []
    model = model.to(device)  # training runs fastest in the default layout (channels-last slows its backward)
    if info.enabled and config.model.batch_norm:
        model = distributed.synchronise_batch_norm(model, device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed patch shapes: let cuDNN pick its fastest kernels
    core = model
    if info.enabled:
        model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    optimizer = build_optimizer((p for p in core.parameters() if p.requires_grad), train_cfg.optim)
    scaler = torch.amp.GradScaler("cuda", enabled=precision == "fp16" and device.type == "cuda")
    loss_fn = SegmentationLoss(
        train_cfg.loss,
        config.model.num_classes,
        train_cfg.class_weights,
        train_cfg.optim.l1,
        train_cfg.optim.l2,
    ).to(device)

    start_epoch = 0
    history: list[dict[str, Any]] = []
    best = {"dice": -math.inf, "epoch": None, "stale": 0}
    if state is not None:
        if "optimizer_state" in state:
            try:
                optimizer.load_state_dict(state["optimizer_state"])
            except (ValueError, KeyError) as exc:
                raise CheckpointError(
                    f"{options.resume}: optimiser state does not fit this optimiser ({exc})"
                ) from None
        start_epoch = int(state["epoch"])
        history = list(state.get("metrics", []))
        best.update(state.get("best", {}))
        logger.info("resuming from %s after epoch %d", options.resume, start_epoch)
    if start_epoch >= train_cfg.num_epochs:
        logger.info(
            "already trained %d of %d epochs: nothing to do", start_epoch, train_cfg.num_epochs
        )
        return TrainResult(
            paths.run_dir,
            options.resume,
            _existing(paths.networks / f"{config.network_name}_best.pt"),
            history,
            start_epoch,
        )

    if info.is_main:
        logger.info(
            "network: %d parameters, receptive field %s, patches %s -> %s; %d training and %d validation cases",
            count_parameters(core),
            list(config.model.receptive_field),
            list(train_cfg.patch_size),
            list(config.model.output_size(train_cfg.patch_size)),
            len(prepared),
            len(validation),
        )
    settings = InferenceSettings(
        device=device, precision=precision, largest_component=train_cfg.largest_component
    )
    board = TensorBoard(paths.tensorboard if info.is_main else None)
    planned = train_cfg.num_epochs
    started = time.perf_counter()
    last_path = options.resume
    stop_reason = ""
    epoch = start_epoch
    try:
        for epoch in range(start_epoch, train_cfg.num_epochs):
            epoch_start = time.perf_counter()
            loss, samples, fb_seconds = _train_epoch(
                model,
                core,
                frozen,
                optimizer,
                scaler,
                loss_fn,
                prepared,
                config,
                epoch,
                planned,
                device,
                precision,
                info,
                options,
            )
            row: dict[str, Any] = {
                "epoch": epoch + 1,
                "train_loss": loss,
                "lr": learning_rate(train_cfg.optim, epoch, 0.0, planned),
                "samples_per_s": samples / max(time.perf_counter() - epoch_start, 1e-9),
                "train_seconds": time.perf_counter() - epoch_start,
                "compute_share": fb_seconds / max(time.perf_counter() - epoch_start, 1e-9),
            }
            last_epoch = epoch + 1 == train_cfg.num_epochs
            if (
                info.is_main
                and validation
                and ((epoch + 1) % train_cfg.validation_frequency == 0 or last_epoch)
            ):
                row.update(_validate(core, validation, config, settings, paths, options))
            row["seconds"] = time.perf_counter() - epoch_start
            history.append(row)
            improved = _update_best(best, row, epoch + 1)
            if info.is_main:
                last_path = _save_epoch(
                    core,
                    optimizer,
                    config,
                    plain_config,
                    epoch + 1,
                    history,
                    best,
                    spacing,
                    transferred if frozen else [],
                    paths,
                    improved,
                    options,
                )
                write_metrics_table(history, paths.metrics)
                write_curves(history, paths.curves, config.network_name)
                board.scalars(row, epoch + 1)
                logger.info(_epoch_line(row, train_cfg.num_epochs))
            patience = train_cfg.early_stopping_patience
            if patience is not None and best["stale"] >= patience:
                stop_reason = f"early stopping: no better validation Dice for {patience} epochs"
            elapsed = time.perf_counter() - started
            if options.time_budget_s is not None:
                per_epoch = elapsed / (epoch + 1 - start_epoch)
                remaining = options.time_budget_s - elapsed
                planned = min(train_cfg.num_epochs, epoch + 1 + max(0, int(remaining // per_epoch)))
                if remaining < per_epoch:
                    stop_reason = (
                        stop_reason
                        or f"time budget of {options.time_budget_s / 60:.1f} min reached"
                    )
            stop_reason = distributed.broadcast(stop_reason)
            if stop_reason:
                logger.info("%s after epoch %d", stop_reason, epoch + 1)
                break
    finally:
        board.close()
    best_path = _existing(paths.networks / f"{config.network_name}_best.pt")
    return TrainResult(paths.run_dir, last_path, best_path, history, epoch + 1, core)


def _existing(path: Path) -> Path | None:
    return path if path.exists() else None


def _train_epoch(
    model,
    core,
    frozen,
    optimizer,
    scaler,
    loss_fn,
    prepared,
    config,
    epoch,
    planned,
    device,
    precision,
    info,
    options,
):
    """One epoch; returns (mean loss, samples seen by this process, seconds in forward/backward)."""
    train_cfg = config.train
    model.train()
    for name in frozen:
        getattr(core, name).eval()
    steps = steps_per_subepoch(train_cfg, info.world_size)
    total_steps = max(steps * train_cfg.num_subepochs, 1)
    losses: list[float] = []
    samples = 0
    compute = 0.0
    for sub in range(train_cfg.num_subepochs):
        torch.manual_seed(torch_seed(train_cfg.seed, epoch, sub))
        batches = subepoch_batches(
            prepared, train_cfg, config.model, epoch, sub, info.rank, info.world_size
        )
        bar = _progress(
            batches,
            steps,
            f"epoch {epoch + 1}/{train_cfg.num_epochs} sub {sub + 1}/{train_cfg.num_subepochs}",
            options.progress and info.is_main,
        )
        for step, (images, targets) in enumerate(bar):
            rate = learning_rate(
                train_cfg.optim, epoch, (sub * steps + step) / total_steps, planned
            )
            set_learning_rate(optimizer, train_cfg.optim, rate)
            tick = time.perf_counter()
            x = torch.from_numpy(images).to(device, non_blocking=True)
            y = torch.from_numpy(targets).to(device, non_blocking=True)
            with autocast(device, precision):
                logits = model(x)
            loss = loss_fn(logits, y, core)
            value = float(loss.detach())
            if info.enabled:
                value = distributed.mean(value, device)
            if not math.isfinite(value):
                where = f"epoch {epoch + 1}, sub-epoch {sub + 1}, batch {step + 1}"
                if train_cfg.non_finite_loss == "skip":
                    logger.warning("non-finite loss (%s) at %s: batch skipped", value, where)
                    optimizer.zero_grad(set_to_none=True)
                    continue
                raise TrainingError(
                    f"training loss became {value} at {where}; the last checkpoint is kept. "
                    "Lower the learning rate, or set nonFiniteLoss = skip"
                )
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            compute += time.perf_counter() - tick
            losses.append(value)
            samples += images.shape[0]
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(
                    loss=f"{value:.4f}",
                    samples_s=f"{samples * info.world_size / max(bar.format_dict['elapsed'], 1e-9):.1f}",
                )
    mean_loss = float(np.mean(losses)) if losses else float("nan")
    return mean_loss, samples * info.world_size, compute


def _progress(iterable, total: int, description: str, enabled: bool):
    if not enabled:
        return iterable
    try:
        from tqdm import tqdm
    except ImportError:
        return iterable
    import sys

    return tqdm(
        iterable,
        total=total,
        desc=description,
        leave=False,
        disable=not sys.stderr.isatty(),
        unit="batch",
    )


def _validate(
    model: LiviaNet,
    cases: list[Case],
    config: TrainingConfig,
    settings: InferenceSettings,
    paths: RunPaths,
    options: TrainOptions,
) -> dict[str, Any]:
    import copy

    from .inference import prepare_for_inference
    from .io import save_volume
    from .outputs import segmentation_path

    model = prepare_for_inference(copy.deepcopy(model), settings)  # inference layout, training copy untouched
    per_case = []
    for case in cases:
        result = predict_case(model, case, settings)
        assert case.label is not None
        per_case.append(case_dice(result.labels, case.label, config.model.num_classes))
        if options.save_validation:
            save_volume(
                result.labels,
                segmentation_path(paths.validation, case.files.images[0]),
                case.reference,
                kind="label",
            )
    dice = np.vstack(per_case)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)  # mean of an all-NaN class is NaN
        per_class = np.nanmean(dice, axis=0)
        row: dict[str, Any] = {"val_dice_mean": float(np.nanmean(per_class))}
    for k, value in enumerate(per_class, start=1):
        row[f"val_dice_{k}"] = float(value)
    return row


def _update_best(best: dict[str, Any], row: dict[str, Any], epoch: int) -> bool:
    score = row.get("val_dice_mean")
    if score is None or not math.isfinite(score):
        return False
    if score > best["dice"]:
        best.update(dice=score, epoch=epoch, stale=0)
        return True
    best["stale"] = best.get("stale", 0) + 1
    return False


def _save_epoch(
    model,
    optimizer,
    config,
    plain_config,
    epoch,
    history,
    best,
    spacing,
    frozen,
    paths,
    improved,
    options,
) -> Path:
    state = {
        "network_name": config.network_name,
        "epoch": epoch,
        "model_config": to_plain(config.model),
        "model_state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer_state": optimizer.state_dict(),
        "config": plain_config,
        "normalization": config.train.normalization,
        "patch_size": list(config.train.patch_size),
        "segment_patch_size": list(config.train.segment_patch_size),
        "apply_padding": config.train.apply_padding,
        "largest_component": config.train.largest_component,
        "label_names": {str(k): v for k, v in (options.label_names or {}).items()},
        "metrics": history,
        "best": dict(best),
        "frozen_layers": list(frozen),
        "rng": {"torch": torch.get_rng_state(), "seed": config.train.seed},
        **spacing,
    }
    path = save_checkpoint(state, paths.networks / checkpoint_name(config.network_name, epoch))
    if improved:
        save_checkpoint(state, paths.networks / f"{config.network_name}_best.pt")
    return path


def _epoch_line(row: dict[str, Any], num_epochs: int) -> str:
    parts = [
        f"epoch {row['epoch']}/{num_epochs}",
        f"loss {row['train_loss']:.4f}",
        f"lr {row['lr']:.3g}",
        f"{row['samples_per_s']:.1f} samples/s",
    ]
    if "val_dice_mean" in row:
        classes = [
            f"{row[k]:.3f}"
            for k in sorted(
                (k for k in row if k.startswith("val_dice_") and k != "val_dice_mean"),
                key=lambda k: int(k.rsplit("_", 1)[1]),
            )
        ]
        parts.append(f"val Dice {row['val_dice_mean']:.4f} [{' '.join(classes)}]")
    parts.append(f"{row['seconds']:.1f} s")
    return ", ".join(parts)
