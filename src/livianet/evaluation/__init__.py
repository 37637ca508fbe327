"""Scores and checks: Dice, Jaccard, HD95, ASSD and volumes per label; the QC flags of a run."""

from livianet.evaluation.evaluate import (
    COLUMNS,
    evaluate_files,
    evaluate_pair,
    format_metrics_table,
    pair_files,
    summary_by_label,
    write_metrics_csv,
)
from livianet.evaluation.metrics import (
    assd,
    case_dice,
    dice,
    dice_per_class,
    hd95,
    jaccard,
    metrics_per_label,
)
from livianet.evaluation.qc_table import qc_rows
from livianet.evaluation.quality import (
    Assessment,
    Cohort,
    PairQC,
    ScanQC,
    StructureQC,
    assess,
    asymmetry,
    pair_name,
)
from livianet.evaluation.thresholds import Thresholds
from livianet.evaluation.values import as_float, fmt

__all__ = [
    "COLUMNS",
    "Assessment",
    "Cohort",
    "PairQC",
    "ScanQC",
    "StructureQC",
    "Thresholds",
    "as_float",
    "assd",
    "assess",
    "asymmetry",
    "case_dice",
    "dice",
    "dice_per_class",
    "evaluate_files",
    "evaluate_pair",
    "fmt",
    "format_metrics_table",
    "hd95",
    "jaccard",
    "metrics_per_label",
    "pair_files",
    "pair_name",
    "qc_rows",
    "summary_by_label",
    "write_metrics_csv",
]
