"""What a training run leaves beside its checkpoints: metrics table, curves, log, TensorBoard."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import platform
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

CONFIG_PREFIX = "resolved config: "  # the run log's line holding the parsed config as JSON


def write_curves(
    rows: list[dict[str, Any]], path: Path, title: str, names: dict[int, str] | None = None
) -> None:
    """The training-curve picture; structures carry their names when known."""
    # Imported here: the curves read the metrics' column names from training_run, which
    # imports this module.
    from livianet.reporting.curves import save_training_curves

    save_training_curves(rows, path, title=title, names=names)


@contextlib.contextmanager
def run_log(path: Path | None) -> Iterator[None]:
    """Copy livianet's log records into the run's log file while training."""
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.INFO)
    root = logging.getLogger("livianet")
    previous = root.level
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
        handler.close()


def log_run_header(
    log_file: Path | None, config_plain: dict[str, Any], seed: int, device: str, precision: str
) -> None:
    """Versions, device and seed to the log; the resolved config to the run's log file only."""
    import numpy
    import torch

    from livianet.version import __version__

    logger.info(
        "livianet %s, torch %s, numpy %s, python %s; device %s, precision %s, seed %d",
        __version__,
        torch.__version__,
        numpy.__version__,
        platform.python_version(),
        device,
        precision,
        seed,
    )
    if log_file is not None:
        from livianet.reporting.machine import MACHINE_PREFIX, machine_info

        with open(log_file, "a", encoding="utf-8") as handle:
            handle.write(CONFIG_PREFIX + json.dumps(config_plain, sort_keys=True) + "\n")
            handle.write(MACHINE_PREFIX + json.dumps(machine_info(device), sort_keys=True) + "\n")


class TensorBoard:
    """Scalars to TensorBoard when the ``tensorboard`` package is installed; silent otherwise."""

    def __init__(self, folder: Path | None) -> None:
        self.writer = None
        if folder is None:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            return
        self.writer = SummaryWriter(log_dir=str(folder))

    def scalars(self, row: dict[str, Any], step: int) -> None:
        if self.writer is None:
            return
        for key, value in row.items():
            if isinstance(value, (int, float)) and key != "epoch" and math.isfinite(value):
                self.writer.add_scalar(key, value, step)
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


@dataclass(frozen=True)
class Budget:
    """A training time budget as the epoch line needs it.

    Attributes:
        total_s: the budget in seconds.
        elapsed_s: seconds of it spent when the epoch ended.
        epochs_done: epochs trained in this session (the budget counts from its start).
    """

    total_s: float
    elapsed_s: float
    epochs_done: int

    def ends_run_before(self, epochs_left: int) -> bool:
        """Whether the budget runs out before ``epochs_left`` more epochs at the pace so far."""
        if epochs_left <= 0:
            return False
        per_epoch = self.elapsed_s / max(self.epochs_done, 1)
        return self.elapsed_s + epochs_left * per_epoch > self.total_s


def epoch_line(row: dict[str, Any], num_epochs: int, budget: Budget | None = None) -> str:
    """The one log line per epoch.

    It starts ``epoch k/N``; when a time budget will end the run before epoch N, it says how
    much of the budget is used and left instead, since N would never be reached.

    >>> row = {"epoch": 6, "train_loss": 0.5, "lr": 0.001, "samples_per_s": 50.0, "seconds": 30.0}
    >>> epoch_line(row, 300).split(", ")[0]
    'epoch 6/300'
    >>> epoch_line(row, 300, Budget(300.0, 190.0, 6)).split(", ")[:2]
    ['epoch 6', '3.2 of 5.0 min used (1.8 min left)']
    """
    epoch = int(row["epoch"])
    if budget is not None and budget.ends_run_before(num_epochs - epoch):
        left = max(budget.total_s - budget.elapsed_s, 0.0)
        # minutes, as budgets are given; seconds for budgets too short to show in minutes
        scale, unit = (60, "min") if budget.total_s >= 120 else (1, "s")
        parts = [
            f"epoch {epoch}",
            f"{budget.elapsed_s / scale:.1f} of {budget.total_s / scale:.1f} {unit} used"
            f" ({left / scale:.1f} {unit} left)",
        ]
    else:
        parts = [f"epoch {epoch}/{num_epochs}"]
    parts += [
        f"loss {row['train_loss']:.4f}",
        f"lr {row['lr']:.3g}",
        f"{row['samples_per_s']:.1f} samples/s",
    ]
    if "val_dice_mean" in row:
        keys = sorted(
            (k for k in row if k.startswith("val_dice_") and k != "val_dice_mean"),
            key=lambda k: int(k.rsplit("_", 1)[1]),
        )
        parts.append(
            f"val Dice {row['val_dice_mean']:.4f} [{' '.join(f'{row[k]:.3f}' for k in keys)}]"
        )
    parts.append(f"{row['seconds']:.1f} s")
    if row.get("cut_short"):
        parts.append("cut short by the time budget")
    return ", ".join(parts)
