"""Names of label values, read from a small text or JSON file.

Accepted formats, chosen by the file suffix:

- ``.json``: an object ``{"1": "Left-Thalamus", "2": "Left-Caudate"}`` (keys are
  integer labels written as strings), or a list whose index is the label
  (``["Background", "Left-Thalamus"]``; ``null`` entries have no name).
- anything else (``.tsv``, ``.csv``, ``.txt``): one label per line, an integer
  label then its name, separated by a tab, a comma or spaces. Blank lines and
  lines starting with ``#`` are skipped; the first line may be a header (its
  first field is not an integer, as in BIDS ``dseg.tsv``: ``index  name ...``).
  Further tab or comma columns are ignored. With space separation the name is
  the rest of the line, except that FreeSurfer's ``FreeSurferColorLUT.txt``
  layout (``label name R G B A``) gives just ``name``.

Labels are non-negative integers and appear once; names are non-empty.
Malformed input raises :class:`~livianet.errors.DataError` naming the file and line.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from livianet.errors import DataError

__all__ = ["label_name", "left_right_pairs", "load_label_names", "write_dseg"]


def load_label_names(path: str | os.PathLike[str]) -> dict[int, str]:
    """Read ``{label: name}`` from a JSON, TSV, CSV or whitespace-separated file.

    Raises:
        DataError: the file is missing, unreadable, empty or malformed.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DataError(f"{file}: label-name file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{file}: cannot read label names ({exc})") from None
    names = _parse_json(file, text) if file.suffix.lower() == ".json" else _parse_table(file, text)
    if not names:
        raise DataError(f"{file}: no label names found, expected lines such as '1<TAB>Thalamus'")
    return names


def label_name(names: Mapping[int, str] | None, label: int) -> str:
    """The name of ``label``, or ``label_<n>`` when it has none.

    >>> label_name({1: "Thalamus"}, 1), label_name({1: "Thalamus"}, 2), label_name(None, 3)
    ('Thalamus', 'label_2', 'label_3')
    """
    if names and int(label) in names:
        return names[int(label)]
    return f"label_{int(label)}"


def _parse_json(file: Path, text: str) -> dict[int, str]:
    try:
        content: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{file}: line {exc.lineno}: invalid JSON ({exc.msg})") from None
    if isinstance(content, list):
        items = [(str(index), name) for index, name in enumerate(content) if name is not None]
    elif isinstance(content, dict):
        items = list(content.items())
    else:
        raise DataError(
            f"{file}: JSON holds a {type(content).__name__}, expected an object "
            '{"1": "name", ...} or a list of names'
        )
    names: dict[int, str] = {}
    for key, name in items:
        where = f"{file}: entry {key!r}"
        label = _parse_label(key)
        if label is None:
            raise DataError(f"{where}: expected a non-negative integer label as the key")
        if not isinstance(name, str) or not name.strip():
            raise DataError(f"{where}: expected a non-empty name string, got {name!r}")
        if label in names:
            raise DataError(f"{where}: label {label} appears twice")
        names[label] = name.strip()
    return names


def _parse_table(file: Path, text: str) -> dict[int, str]:
    names: dict[int, str] = {}
    lines_of: dict[int, int] = {}
    seen_data = False
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = _split(line)
        label = _parse_label(fields[0])
        where = f"{file}: line {number}"
        if label is None:
            if not seen_data:
                seen_data = True  # the first line is a header
                continue
            raise DataError(f"{where}: {fields[0]!r} is not a non-negative integer label")
        seen_data = True
        if len(fields) < 2 or not fields[1]:
            raise DataError(f"{where}: expected a label and a name, got {line!r}")
        if label in names:
            raise DataError(f"{where}: label {label} already named on line {lines_of[label]}")
        names[label], lines_of[label] = fields[1], number
    return names


def _split(line: str) -> list[str]:
    """Fields of one line: tab, comma, or whitespace separated."""
    if "\t" in line:
        return [field.strip() for field in line.split("\t")]
    if "," in line:
        return [field.strip() for field in next(csv.reader([line]))]
    fields = line.split()
    if len(fields) == 6 and all(_parse_label(value) is not None for value in fields[2:]):
        return fields[:2]  # FreeSurferColorLUT: label name R G B A
    return line.split(maxsplit=1)


def _parse_label(text: str) -> int | None:
    value = text.strip()
    return int(value) if value.isdecimal() and value.isascii() else None


def write_dseg(
    path: str | os.PathLike[str],
    names: Mapping[int, str] | None,
    num_classes: int,
    codes: Mapping[int, int] | None = None,
) -> Path:
    """BIDS-style ``dseg.tsv`` (``index``, ``name``) for labels ``0..num_classes-1``, atomically.

    Labels without a name get ``label_<n>``; 0 is ``Background`` unless named.
    ``codes`` gives the index written for each label (original codes).
    """
    from livianet.atomic import write_text_atomic

    rows = ["index\tname"]
    for label in range(num_classes):
        default = "Background" if label == 0 else None
        name = names.get(label, default) if names else default
        index = (codes or {}).get(label, label)
        rows.append(f"{index}\t{name or label_name(names, label)}")
    target = Path(path)
    write_text_atomic(target, "\n".join(rows) + "\n")
    return target


_SIDES = (("left-", "right-"), ("left_", "right_"), ("left ", "right "), ("lh-", "rh-"), ("lh_", "rh_"), ("l_", "r_"))  # fmt: skip


def left_right_pairs(names: Mapping[int, str] | None) -> tuple[tuple[int, int], ...]:
    """Label pairs whose names differ only by a left/right prefix (``Left-Thalamus``/``Right-Thalamus``).

    >>> left_right_pairs({1: "Left-Thalamus", 2: "Right-Thalamus", 3: "Brain-Stem"})
    ((1, 2),)
    """
    if not names:
        return ()
    by_name = {name.lower(): label for label, name in names.items()}
    pairs = []
    for label, name in sorted(names.items()):
        lower = name.lower()
        for left, right in _SIDES:
            if lower.startswith(left):
                other = by_name.get(right + lower[len(left) :])
                if other is not None:
                    pairs.append((label, other))
                break
    return tuple(pairs)
