"""Small file operations of the derivatives dataset: digests, atomic moves, JSON and TSV files."""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from livianet.atomic import atomic_path, write_text_atomic
from livianet.io import write_csv

MISSING = "n/a"  # what BIDS tables hold where a value is unknown


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def move_into_place(source: Path, target: Path) -> None:
    """Move a finished file to ``target`` atomically: a rename, or a copy across file systems.

    Across file systems the copy goes through a temporary file beside ``target``, so the
    file appears whole or not at all either way.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(source, target)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        with atomic_path(target) as tmp:
            shutil.copyfile(source, tmp)
        source.unlink()


def write_json(path: Path, value: Any) -> None:
    write_text_atomic(path, json.dumps(_finite(value), indent=2) + "\n")


def read_json(path: Path) -> Any:
    """The JSON value in ``path``; None when it is missing or unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None


def write_tsv(rows: Sequence[Mapping[str, Any]], path: Path, columns: Sequence[str]) -> Path:
    """A BIDS table: tab-separated, ``n/a`` where a value is missing or not a number."""
    filled = [{c: _cell(row.get(c)) for c in columns} for row in rows]
    return write_csv(filled, path, columns, delimiter="\t")


def _cell(value: Any) -> Any:
    if value is None or value == "" or (isinstance(value, float) and not math.isfinite(value)):
        return MISSING
    return value


def _finite(value: Any) -> Any:
    """JSON has no NaN or inf: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
