"""What runs leave for people to read: the run log, training curves and QA pictures."""

from livianet.reporting.curves import save_training_curves, training_curves_figure
from livianet.reporting.drawing import label_colours
from livianet.reporting.run_log import (
    TensorBoard,
    epoch_line,
    log_run_header,
    run_log,
    write_curves,
)
from livianet.reporting.snapshot import OVERLAY_ALPHA, save_snapshot, snapshot_figure

__all__ = [
    "OVERLAY_ALPHA",
    "TensorBoard",
    "epoch_line",
    "label_colours",
    "log_run_header",
    "run_log",
    "save_snapshot",
    "save_training_curves",
    "snapshot_figure",
    "training_curves_figure",
    "write_curves",
]
