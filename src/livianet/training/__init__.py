"""Training: patch sampling, the batch stream, augmentation, losses, optimisers, the epoch loop."""

from livianet.training.run_dir import (
    EpochRecord,
    RunPaths,
    RunRecord,
    check_fresh_start,
    save_epoch,
)
from livianet.training.trainer import TrainOptions, TrainResult, train

__all__ = [
    "EpochRecord",
    "RunPaths",
    "RunRecord",
    "TrainOptions",
    "TrainResult",
    "check_fresh_start",
    "save_epoch",
    "train",
]
