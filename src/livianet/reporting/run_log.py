"""What a training run leaves beside its checkpoints: metrics table, curves, log, TensorBoard."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import platform
from collections.abc import Iterator
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def write_curves(
    rows: list[dict[str, Any]], path: Path, title: str, names: dict[int, str] | None = None
) -> None:
    """The loss and validation-Dice picture; classes carry their names when known."""
    if names:
        rows = [{_named(key, names): value for key, value in row.items()} for row in rows]
    try:
        from livianet.reporting.curves import save_training_curves

        save_training_curves(rows, path, title=title)
    except ImportError:
        logger.warning("matplotlib is not installed: no training-curve picture")


def _named(key: str, names: dict[int, str]) -> str:
    suffix = key.removeprefix("val_dice_")
    if suffix != key and suffix.isdigit() and int(suffix) in names:
        return f"val_dice_{names[int(suffix)]}"
    return key


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
        with open(log_file, "a", encoding="utf-8") as handle:
            handle.write("resolved config: " + json.dumps(config_plain, sort_keys=True) + "\n")


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


def epoch_line(row: dict[str, Any], num_epochs: int) -> str:
    """The one log line per epoch."""
    parts = [
        f"epoch {row['epoch']}/{num_epochs}",
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
    return ", ".join(parts)
