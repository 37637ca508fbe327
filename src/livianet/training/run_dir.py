"""A training run's files: where they go, the refusal to overwrite, and each epoch's checkpoint."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from livianet.config import TrainingConfig
from livianet.errors import TrainingError
from livianet.networks import (
    ModelMeta,
    checkpoint_name,
    list_epoch_checkpoints,
    save_checkpoint,
    training_checkpoint,
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


def save_epoch(
    record: RunRecord,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    epoch: int,
    history: list[dict[str, Any]],
    best: dict[str, Any],
    frozen: list[str],
    paths: RunPaths,
    improved: bool,
) -> Path:
    """Write ``<network>_Epoch<epoch>.pt`` (and ``_best.pt`` when validation improved)."""
    config = record.config
    state = training_checkpoint(
        network_name=config.network_name,
        epoch=epoch,
        model_config=config.model,
        model_state={k: v.detach().cpu() for k, v in model.state_dict().items()},
        meta=record.meta,
        optimizer_state=optimizer.state_dict(),
        scaler_state=scaler.state_dict() if scaler.is_enabled() else {},
        config=record.plain_config,
        metrics=history,
        best=best,
        frozen_layers=frozen,
        seed=config.train.seed,
    )
    path = save_checkpoint(state, paths.networks / checkpoint_name(config.network_name, epoch))
    if improved:
        save_checkpoint(state, paths.best)
    return path
