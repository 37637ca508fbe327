"""One training epoch: sub-epochs of batches, one optimiser step each."""

from __future__ import annotations

import contextlib
import logging
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from livianet.config import TrainingConfig
from livianet.errors import TrainingError
from livianet.networks import LiviaNet
from livianet.runtime import DistInfo, autocast, distributed
from livianet.training.batches import (
    SyntheticPatches,
    steps_per_subepoch,
    subepoch_batches,
    torch_seed,
)
from livianet.training.optim import learning_rate, set_learning_rate
from livianet.training.patch_source import PatchSource

logger = logging.getLogger(__name__)


@dataclass
class Session:
    """Everything a training step needs, built once per run."""

    config: TrainingConfig
    model: torch.nn.Module  # what runs the batches (DistributedDataParallel under torchrun)
    core: LiviaNet  # the network itself
    frozen: list[str]
    optimizer: torch.optim.Optimizer
    scaler: Any
    loss_fn: torch.nn.Module
    prepared: Sequence[PatchSource]
    device: torch.device
    precision: str
    info: DistInfo
    progress: bool = True
    deadline: float | None = None  # time.perf_counter() after which the epoch ends early
    synthetic: SyntheticPatches | None = None  # label maps a share of each batch is drawn from


@dataclass(frozen=True)
class EpochStats:
    loss: float
    samples: int  # over all processes
    compute_seconds: float  # this process's time in forward, backward and the optimiser
    cut_short: bool = False  # the deadline ended the epoch before its last step


def train_epoch(session: Session, epoch: int, planned_epochs: int) -> EpochStats:
    """Train one epoch (0-based ``epoch``); ``planned_epochs`` sets the schedule's horizon."""
    train_cfg = session.config.train
    info = session.info
    session.model.train()
    for name in session.frozen:
        getattr(session.core, name).eval()
    steps = steps_per_subepoch(train_cfg, info.world_size)
    total_steps = max(steps * train_cfg.num_subepochs, 1)
    losses: list[float] = []
    samples = 0
    compute = 0.0
    for sub in range(train_cfg.num_subepochs):
        if sub and _past(session):
            return EpochStats(_mean(losses), samples * info.world_size, compute, cut_short=True)
        torch.manual_seed(torch_seed(train_cfg.seed, epoch, sub))
        stream = subepoch_batches(
            session.prepared,
            train_cfg,
            session.config.model,
            epoch,
            sub,
            info.rank,
            info.world_size,
            synthetic=session.synthetic,
        )
        title = f"epoch {epoch + 1}/{train_cfg.num_epochs} sub {sub + 1}/{train_cfg.num_subepochs}"
        # Closed on every way out (the deadline, an error): its prefetch thread ends here.
        with contextlib.closing(stream) as batches:
            bar = _progress(batches, steps, title, session.progress and info.is_main)
            for step, (images, targets) in enumerate(bar):
                if step and _past(session):
                    return EpochStats(
                        _mean(losses), samples * info.world_size, compute, cut_short=True
                    )
                rate = learning_rate(
                    train_cfg.optim, epoch, (sub * steps + step) / total_steps, planned_epochs
                )
                set_learning_rate(session.optimizer, train_cfg.optim, rate)
                tick = time.perf_counter()
                value = _step(
                    session,
                    images,
                    targets,
                    f"epoch {epoch + 1}, sub-epoch {sub + 1}, batch {step + 1}",
                )
                compute += time.perf_counter() - tick
                if value is None:
                    continue
                losses.append(value)
                samples += images.shape[0]
                if hasattr(bar, "set_postfix"):
                    rate_s = samples * info.world_size / max(bar.format_dict["elapsed"], 1e-9)
                    bar.set_postfix(loss=f"{value:.4f}", samples_s=f"{rate_s:.1f}")
    return EpochStats(_mean(losses), samples * info.world_size, compute)


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def _past(session: Session) -> bool:
    """Whether the time budget is spent (decided by rank 0, so every process stops together)."""
    if session.deadline is None:
        return False
    return bool(distributed.broadcast(time.perf_counter() > session.deadline))


def _step(session: Session, images: np.ndarray, targets: np.ndarray, where: str) -> float | None:
    """One optimiser step; the loss (averaged over processes), or None when skipped."""
    x = torch.from_numpy(images).to(session.device, non_blocking=True)
    y = torch.from_numpy(targets).to(session.device, non_blocking=True)
    with autocast(session.device, session.precision):
        logits = session.model(x)
    loss = session.loss_fn(logits, y, session.core)
    value = float(loss.detach())
    if session.info.enabled:
        value = distributed.mean(value, session.device)
    optimizer = session.optimizer
    optimizer.zero_grad(set_to_none=True)
    if not math.isfinite(value):
        if session.config.train.non_finite_loss == "skip":
            logger.warning("non-finite loss (%s) at %s: batch skipped", value, where)
            return None
        raise TrainingError(
            f"training loss became {value} at {where}; the last checkpoint is kept. "
            "Lower the learning rate, or set nonFiniteLoss = skip"
        )
    session.scaler.scale(loss).backward()
    session.scaler.step(optimizer)
    session.scaler.update()
    return value


def _progress(iterable, total: int, description: str, enabled: bool):
    """A progress bar on a terminal (loss, samples/s); plain iteration otherwise."""
    if not enabled or not sys.stderr.isatty():
        return iterable
    try:
        from tqdm import tqdm
    except ImportError:
        return iterable
    return tqdm(iterable, total=total, desc=description, leave=False, unit="batch")
