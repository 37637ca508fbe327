"""A training run's files: where they go, the refusal to overwrite, and each epoch's checkpoint."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from livianet.config import TrainingConfig, to_plain
from livianet.errors import TrainingError
from livianet.networks import (
    BestEpoch,
    CheckpointContents,
    ModelMeta,
    checkpoint_name,
    list_epoch_checkpoints,
    save_checkpoint,
)


@dataclass(frozen=True)
class RunPaths:
    run_dir: Path
    networks: Path
    metrics: Path
    curves: Path
    log: Path
    validation: Path
    tensorboard: Path
    best: Path

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
            best=run / "Networks" / f"{name}_best.pt",
        )

    def existing_best(self) -> Path | None:
        return self.best if self.best.exists() else None


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


@dataclass(frozen=True)
class RunRecord:
    """What every checkpoint of a run repeats: its config and how its data were treated."""

    config: TrainingConfig
    plain_config: dict[str, Any]
    meta: ModelMeta


@dataclass(frozen=True)
class EpochRecord:
    """One finished epoch, as its checkpoint records it."""

    epoch: int  # 1-based: the number of epochs trained
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    history: list[dict[str, Any]]  # every epoch's metrics row so far
    best: BestEpoch
    frozen: list[str]
    improved: bool  # a new best validation Dice: the checkpoint is also the run's best


def save_epoch(run: RunRecord, paths: RunPaths, done: EpochRecord) -> Path:
    """Write ``<network>_Epoch<epoch>.pt`` (and ``_best.pt`` when validation improved)."""
    config = run.config
    contents = CheckpointContents(
        network_name=config.network_name,
        epoch=done.epoch,
        model_config=to_plain(config.model),
        model_state={k: v.detach().cpu() for k, v in done.model.state_dict().items()},
        meta=run.meta,
        optimizer_state=done.optimizer.state_dict(),
        scaler_state=done.scaler.state_dict() if done.scaler.is_enabled() else {},
        config=run.plain_config,
        metrics=done.history,
        best=done.best,
        frozen_layers=tuple(done.frozen),
        seed=int(config.train.seed),
    )
    state = contents.to_state()
    path = save_checkpoint(state, paths.networks / checkpoint_name(config.network_name, done.epoch))
    if done.improved:
        save_checkpoint(state, paths.best)
    return path
