"""The stop rule: early stopping's patience, the time budget, and the schedule's horizon under it."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from livianet.config import TrainConfig
from livianet.networks import BestEpoch
from livianet.reporting import Budget


@dataclass(frozen=True)
class RunClock:
    """When this call's first epoch started, after how many epochs, and its time budget."""

    started: float  # time.perf_counter() before the first epoch
    start_epoch: int  # epochs trained before this call (a resumed run's)
    budget_s: float | None = None  # None: no time budget

    @property
    def deadline(self) -> float | None:
        """The ``time.perf_counter()`` after which an epoch ends early."""
        return None if self.budget_s is None else self.started + self.budget_s

    def budget(self, epochs_done: int) -> Budget | None:
        """The budget as the epoch line shows it (time used, epochs run in this call)."""
        if self.budget_s is None:
            return None
        return Budget(
            self.budget_s, time.perf_counter() - self.started, epochs_done - self.start_epoch
        )


def stop_rule(
    train_cfg: TrainConfig, clock: RunClock, best: BestEpoch, epoch: int, cut_short: bool
) -> tuple[int, str]:
    """After 0-based ``epoch``: the epochs the schedule should plan for, and why to stop (empty: go on)."""
    planned, reason = _plan(train_cfg, clock, best, epoch)
    if cut_short and clock.budget_s is not None:  # only the time budget cuts an epoch short
        reason = f"{_budget_spent(clock.budget_s)} (epoch {epoch + 1} cut short)"
    return planned, reason


def _plan(train_cfg: TrainConfig, clock: RunClock, best: BestEpoch, epoch: int) -> tuple[int, str]:
    planned = train_cfg.num_epochs
    patience = train_cfg.early_stopping_patience
    reason = ""
    if patience is not None and best.stale >= patience:
        reason = f"early stopping: no better validation Dice for {patience} epochs"
    if clock.budget_s is not None:
        elapsed = time.perf_counter() - clock.started
        per_epoch = elapsed / (epoch + 1 - clock.start_epoch)
        remaining = clock.budget_s - elapsed
        # The last epoch may be cut short at the deadline, so plan for the partial one too.
        planned = min(train_cfg.num_epochs, epoch + 1 + max(0, math.ceil(remaining / per_epoch)))
        if remaining <= 0:
            reason = reason or _budget_spent(clock.budget_s)
    return planned, reason


def _budget_spent(budget_s: float) -> str:
    return f"time budget of {budget_s / 60:.1f} min reached"
