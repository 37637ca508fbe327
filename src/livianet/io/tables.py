"""CSV tables written atomically: the one writer behind metrics.csv, volumes.csv and epoch tables."""

from __future__ import annotations

import csv
import io as stdio
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from livianet.atomic import write_text_atomic


def csv_cell(value: Any) -> str | int:
    """Integers as integers, floats with 10 significant digits (``nan``, ``inf`` as such).

    >>> csv_cell(True), csv_cell(np.int64(3)), csv_cell(1 / 3), csv_cell(float("nan")), csv_cell(None)
    (1, 3, '0.3333333333', 'nan', '')
    """
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_, int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.10g}"
    return str(value)


def write_csv(
    rows: Sequence[Mapping[str, Any]],
    path: str | os.PathLike[str],
    columns: Sequence[str] | None = None,
    *,
    delimiter: str = ",",
) -> Path:
    """Write ``rows`` under ``columns`` (default: every key, in first-seen order), atomically.

    A row without a column gets an empty cell. A tab as ``delimiter`` writes a TSV (BIDS tables).
    """
    if columns is None:
        seen: dict[str, None] = {}
        for row in rows:
            seen.update(dict.fromkeys(row))
        columns = list(seen)
    buffer = stdio.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([csv_cell(row.get(column)) for column in columns])
    target = Path(path)
    write_text_atomic(target, buffer.getvalue())
    return target
