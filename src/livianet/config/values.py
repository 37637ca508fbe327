"""Parsers for single INI values, shared by the key table in :mod:`livianet.config.keys`.

The original read numbers and lists with ``json.loads`` and kept paths as raw
strings; these parsers accept the same text (plus a few friendly extras such as
names in place of integer codes) and raise :class:`ValueError` with the
expectation, which the loader turns into a :class:`ConfigError` naming the file,
section and key.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

Parser = Callable[[str], Any]

# Larger integers fit no tensor size or index (and overflow float conversion).
MAX_INT = 2**31 - 1


class ValueProblem(ValueError):
    """A value does not match what its key expects; the text is the expectation."""


def json_or_text(raw: str) -> Any:
    """JSON when it parses (numbers, lists, booleans), else the stripped text."""
    text = raw.strip()
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return text


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    if not (_is_int(value) or isinstance(value, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer beyond the float range
        return False


def _check_max(values: Any) -> None:
    if any(v > MAX_INT for v in values):
        raise ValueProblem(f"expected integers <= {MAX_INT}")


def integer(minimum: int | None = None) -> Parser:
    def parse(raw: str) -> int:
        value = json_or_text(raw)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not _is_int(value) or (minimum is not None and value < minimum):
            bound = f" >= {minimum}" if minimum is not None else ""
            raise ValueProblem(f"expected an integer{bound}")
        _check_max([value])
        return value

    return parse


def optional_integer(minimum: int) -> Parser:
    plain = integer(minimum)

    def parse(raw: str) -> int | None:
        if raw.strip().lower() in ("", "none", "null", "[]", "off"):
            return None
        try:
            return plain(raw)
        except ValueProblem:
            raise ValueProblem(f"expected an integer >= {minimum}, or none") from None

    return parse


def number(
    minimum: float | None = None, maximum: float | None = None, strict_min: bool = False
) -> Parser:
    def parse(raw: str) -> float:
        value = json_or_text(raw)
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                value = None
        ok = value is not None and _is_number(value)
        if ok and minimum is not None:
            ok = value > minimum if strict_min else value >= minimum
        if ok and maximum is not None:
            ok = value <= maximum
        if not ok:
            parts = []
            if minimum is not None:
                parts.append(f"{'>' if strict_min else '>='} {minimum:g}")
            if maximum is not None:
                parts.append(f"<= {maximum:g}")
            raise ValueProblem("expected a number" + (" " + " and ".join(parts) if parts else ""))
        return float(value)

    return parse


def flag(raw: str) -> bool:
    value = json_or_text(raw)
    if isinstance(value, str):
        value = value.lower()
    if value in (0, False, "no", "false", "off"):
        return False
    if value in (1, True, "yes", "true", "on"):
        return True
    raise ValueProblem("expected 0 or 1 (or true/false)")


def int_list(minimum: int | None = None, allow_empty: bool = True) -> Parser:
    def parse(raw: str) -> tuple[int, ...]:
        value = json_or_text(raw)
        if _is_int(value):
            value = [value]
        if not isinstance(value, list) or not all(_is_int(v) for v in value):
            raise ValueProblem("expected a list of integers such as [0, 1, 2]")
        if minimum is not None and any(v < minimum for v in value):
            raise ValueProblem(f"expected integers >= {minimum}")
        if not allow_empty and not value:
            raise ValueProblem("expected a non-empty list of integers")
        _check_max(value)
        return tuple(value)

    return parse


def number_list(minimum: float | None = None, maximum: float | None = None) -> Parser:
    def parse(raw: str) -> tuple[float, ...]:
        value = json_or_text(raw)
        if _is_number(value):
            value = [value]
        if not isinstance(value, list) or not all(_is_number(v) for v in value):
            raise ValueProblem("expected a list of numbers such as [0.25, 0.5]")
        if minimum is not None and any(v < minimum for v in value):
            raise ValueProblem(f"expected numbers >= {minimum:g}")
        if maximum is not None and any(v > maximum for v in value):
            raise ValueProblem(f"expected numbers <= {maximum:g}")
        return tuple(float(v) for v in value)

    return parse


def optional_number_list(minimum: float = 0.0) -> Parser:
    plain = number_list(minimum)

    def parse(raw: str) -> tuple[float, ...] | None:
        if raw.strip().lower() in ("", "none", "null", "[]"):
            return None
        return plain(raw)

    return parse


def size3(raw: str) -> tuple[int, int, int]:
    """A patch size: ``[27, 27, 27]`` or a single integer for a cube."""
    value = json_or_text(raw)
    if _is_int(value):
        value = [value, value, value]
    if not (
        isinstance(value, list) and len(value) == 3 and all(_is_int(v) and v > 0 for v in value)
    ):
        raise ValueProblem("expected 3 positive ints such as [27, 27, 27]")
    _check_max(value)
    return tuple(value)


def kernel_shapes(raw: str) -> tuple[tuple[int, ...], ...]:
    """Kernel shapes: 3-element lists are conv layers, ``[1]`` a 1x1x1 layer."""
    value = json_or_text(raw)
    if not isinstance(value, list) or not value:
        raise ValueProblem("expected a non-empty list of kernel shapes such as [[3, 3, 3], [1]]")
    shapes = []
    for position, shape in enumerate(value):
        if not (isinstance(shape, list) and all(_is_int(v) and v > 0 for v in shape)):
            raise ValueProblem(f"entry {position} ({shape!r}) is not a list of positive integers")
        if len(shape) == 1 and shape[0] != 1:
            raise ValueProblem(
                f"entry {position} is [{shape[0]}]: a one-element kernel must be [1] "
                "(a 1x1x1 layer); give 3 sizes for a conv layer"
            )
        if len(shape) not in (1, 3):
            raise ValueProblem(f"entry {position} ({shape!r}) must have 3 sizes, or be [1]")
        _check_max(shape)
        shapes.append(tuple(shape))
    return tuple(shapes)


def choice(codes: dict[int, str], names: dict[str, str]) -> Parser:
    """An option given by the original's integer code or by name."""

    def parse(raw: str) -> str:
        value = json_or_text(raw)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if _is_int(value) and value in codes:
            return codes[value]
        if isinstance(value, str):
            key = value.strip().lower().replace("-", "_").replace(" ", "_")
            if key in names:
                return names[key]
        options = [f"{c} ({n})" for c, n in codes.items()]
        extra = sorted(set(names.values()) - set(codes.values()))
        listing = ", ".join(options + extra)
        raise ValueProblem(f"expected one of {listing}")

    parse.codes = dict(codes)  # type: ignore[attr-defined]  # read by config_docs
    parse.names = dict(names)  # type: ignore[attr-defined]
    return parse


def text(raw: str) -> str:
    value = raw.strip()
    if not value:
        raise ValueProblem("expected a non-empty name")
    return value


def name_like(raw: str) -> str:
    """A name used in file names: no path separators."""
    value = text(raw)
    if "/" in value or "\\" in value or value in (".", ".."):
        raise ValueProblem("expected a plain name without '/' (it becomes part of file names)")
    return value


def path_or_none(raw: str) -> str | None:
    """A folder path; empty, ``[]`` or ``none`` means not given (as the original's ``ROIFolder = []``)."""
    value = raw.strip()
    if value.lower() in ("", "[]", "none", "null", "''", '""'):
        return None
    return value


def path_list(raw: str) -> tuple[str, ...] | None:
    """One folder, or a JSON list of folders (one per input channel)."""
    value = raw.strip()
    if value.startswith("["):
        parsed = json_or_text(value)
        if isinstance(parsed, list) and all(isinstance(p, str) and p.strip() for p in parsed):
            return tuple(p.strip() for p in parsed) or None
        raise ValueProblem('expected a folder, or a list of folders such as ["T1/", "T2/"]')
    single = path_or_none(value)
    return None if single is None else (single,)


def label_pairs(raw: str) -> tuple[tuple[int, int], ...]:
    """Left/right label pairs swapped by a flip, e.g. ``[[1, 5], [2, 6]]``."""
    value = json_or_text(raw)
    if value in ("", None):
        return ()
    ok = isinstance(value, list) and all(
        isinstance(p, list) and len(p) == 2 and all(_is_int(v) and v >= 0 for v in p) for p in value
    )
    if not ok:
        raise ValueProblem("expected a list of label pairs such as [[1, 5], [2, 6]]")
    _check_max([v for pair in value for v in pair])
    return tuple((int(a), int(b)) for a, b in value)


def axes(raw: str) -> tuple[int, ...]:
    value = json_or_text(raw)
    if _is_int(value):
        value = [value]
    if not (isinstance(value, list) and all(_is_int(v) and 0 <= v <= 2 for v in value)):
        raise ValueProblem("expected a list of array axes among 0, 1, 2 such as [0]")
    if len(set(value)) != len(value):
        raise ValueProblem("expected each axis at most once")
    return tuple(value)


_OPPOSITE_CODES = {"L": "R", "R": "L", "A": "P", "P": "A", "S": "I", "I": "S"}
CANONICAL_ORIENTATION = "RAS"  # the space every model of known orientation is trained in
LEFT_RIGHT_AXIS = CANONICAL_ORIENTATION.index("R")  # 0: flipping it mirrors left and right


def check_axis_codes(codes: str) -> str:
    """Upper-case axis codes after checking they name three different anatomical axes.

    The one definition of valid orientation codes: INI files, ``--orientation``
    and the Python API all go through it.

    >>> check_axis_codes("ila")
    'ILA'
    """
    text = str(codes).strip().upper()
    if len(text) != 3 or any(c not in _OPPOSITE_CODES for c in text):
        raise ValueProblem("expected three axis codes from L/R, A/P, S/I such as RAS or ILA")
    if len({frozenset((c, _OPPOSITE_CODES[c])) for c in text}) != 3:
        raise ValueProblem("expected three distinct axes (one of L/R, one of A/P, one of S/I)")
    return text


def axis_codes_or_none(raw: str) -> str | None:
    """Orientation codes such as ``ILA``; empty or ``none`` means not given."""
    value = raw.strip()
    if value.lower() in ("", "[]", "none", "null", "unknown"):
        return None
    return check_axis_codes(value)


def code_groups(raw: str) -> tuple[tuple[int, ...], ...]:
    """Groups of label codes: ``[10, [11, 12]]`` is ``((10,), (11, 12))``; a bare code is a group of one."""
    value = json_or_text(raw)
    if value in ("", None):
        return ()
    ok = isinstance(value, list) and all(
        (_is_int(g) and g >= 0)
        or (isinstance(g, list) and g and all(_is_int(c) and c >= 0 for c in g))
        for g in value
    )
    if not ok:
        raise ValueProblem(
            "expected a list of label codes or lists of codes such as [10, 11, [12, 13]]"
        )
    groups = tuple(tuple(g) if isinstance(g, list) else (g,) for g in value)
    _check_max([c for g in groups for c in g])
    return groups


def optional_codes(raw: str) -> tuple[int, ...] | None:
    """Label codes such as ``[2, 3, 41, 42]``; empty or ``none`` means not given."""
    if raw.strip().lower() in ("", "none", "null", "[]"):
        return None
    return int_list(0, allow_empty=False)(raw)


def optional_int_list(minimum: int = 0) -> Parser:
    plain = int_list(minimum)

    def parse(raw: str) -> tuple[int, ...] | None:
        if raw.strip().lower() in ("", "none", "null", "all"):
            return None
        return plain(raw)

    return parse


def optional_number(minimum: float, maximum: float) -> Parser:
    plain = number(minimum, maximum)

    def parse(raw: str) -> float | None:
        if raw.strip().lower() in ("", "none", "null"):
            return None
        return plain(raw)

    return parse


def number_range(minimum: float, maximum: float) -> Parser:
    """``[low, high]`` with ``minimum <= low <= high <= maximum``."""
    plain = number_list(minimum, maximum)

    def parse(raw: str) -> tuple[float, float]:
        value = plain(raw)
        if len(value) != 2 or value[0] > value[1]:
            raise ValueProblem(
                f"expected [low, high] with {minimum:g} <= low <= high <= {maximum:g}"
            )
        return (value[0], value[1])

    return parse
