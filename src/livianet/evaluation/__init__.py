"""Scores: Dice, Jaccard, HD95, ASSD and volumes, per label, for files and folders."""

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

__all__ = [
    "COLUMNS",
    "assd",
    "case_dice",
    "dice",
    "dice_per_class",
    "evaluate_files",
    "evaluate_pair",
    "format_metrics_table",
    "hd95",
    "jaccard",
    "metrics_per_label",
    "pair_files",
    "summary_by_label",
    "write_metrics_csv",
]
