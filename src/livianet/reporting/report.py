"""``livianet report DIR``: rebuild whichever report a folder's files make."""

from __future__ import annotations

import os
from pathlib import Path

from livianet.errors import DataError
from livianet.reporting.segmentation_report import MANIFEST_NAME, write_segmentation_report
from livianet.reporting.training_report import NETWORKS, write_training_report


def report_kind(folder: str | os.PathLike[str]) -> str | None:
    """``"segmentation"`` (a ``segmentation.json`` inside), ``"training"`` (``Networks/``), or None."""
    path = Path(folder)
    if (path / MANIFEST_NAME).is_file():
        return "segmentation"
    if (path / NETWORKS).is_dir():
        return "training"
    return None


def write_report(folder: str | os.PathLike[str]) -> Path:
    """Rebuild the folder's ``report.html`` (and ``qc.csv`` for a segmentation); its path.

    Raises:
        DataError: the folder is missing, or is neither a training run nor a segmentation output.
    """
    path = Path(folder)
    if not path.is_dir():
        raise DataError(f"{path}: folder not found")
    kind = report_kind(path)
    if kind == "segmentation":
        return write_segmentation_report(path)
    if kind == "training":
        return write_training_report(path)
    raise DataError(
        f"{path}: neither a training run folder (no {NETWORKS}/ inside) nor a segmentation"
        f" output folder (no {MANIFEST_NAME} inside)"
    )
