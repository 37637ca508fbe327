"""Training: patch sampling, the batch stream, augmentation, losses, optimisers, the epoch loop."""

from livianet.training.run_dir import RunPaths, RunRecord, check_fresh_start, save_epoch
from livianet.training.trainer import TrainOptions, TrainResult, load_cases, train

__all__ = [
    "RunPaths",
    "RunRecord",
    "TrainOptions",
    "TrainResult",
    "check_fresh_start",
    "load_cases",
    "save_epoch",
    "train",
]
