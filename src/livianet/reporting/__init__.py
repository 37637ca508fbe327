"""What runs leave for people to read: the run log, curves, QA pictures and HTML reports."""

# The QC flags are evaluation (livianet.evaluation.quality); the names stay here for callers.
from livianet.evaluation.qc_table import qc_rows
from livianet.evaluation.quality import assess
from livianet.evaluation.thresholds import Thresholds
from livianet.reporting.curves import save_training_curves, training_curves_figure
from livianet.reporting.drawing import OVERLAY_ALPHA, label_colours
from livianet.reporting.mosaic import DISPLAY_CONVENTION, display_panels, mosaic_figure, save_mosaic
from livianet.reporting.report import report_kind, write_report
from livianet.reporting.run_log import (
    Budget,
    TensorBoard,
    epoch_line,
    log_run_header,
    run_log,
    write_curves,
)
from livianet.reporting.segmentation_report import MANIFEST_NAME, write_segmentation_report
from livianet.reporting.snapshot import save_snapshot, snapshot_figure
from livianet.reporting.training_report import write_training_report

__all__ = [
    "DISPLAY_CONVENTION",
    "MANIFEST_NAME",
    "OVERLAY_ALPHA",
    "Budget",
    "TensorBoard",
    "Thresholds",
    "assess",
    "display_panels",
    "epoch_line",
    "label_colours",
    "log_run_header",
    "mosaic_figure",
    "qc_rows",
    "report_kind",
    "run_log",
    "save_mosaic",
    "save_snapshot",
    "save_training_curves",
    "snapshot_figure",
    "training_curves_figure",
    "write_curves",
    "write_report",
    "write_segmentation_report",
    "write_training_report",
]
