"""Numbers as manifests and tables hold them (text, gaps, NaN) and as people read them.

The QC flags quote volumes in their reasons and the reports show the same figures, so both
read and write numbers through these two functions.
"""

from __future__ import annotations

import math
import numbers


def as_float(value: object) -> float | None:
    """``value`` as a finite float, or None (missing, empty, text, NaN, infinite)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]  # any object: what float() refuses is None
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def fmt(value: object, digits: int = 3) -> str:
    """A number for people: ``digits`` significant digits, thousands grouped, blank when missing.

    >>> fmt(8012.5, 3), fmt(0.91234), fmt(None), fmt(float("nan")), fmt(12), fmt("x")
    ('8,012', '0.912', '', '', '12', 'x')
    """
    number = as_float(value)
    if number is None:
        return "" if value is None or isinstance(value, float) else str(value)
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    if number == 0:
        return "0"
    if abs(number) >= 10 ** (digits - 1):
        return f"{number:,.0f}"
    return f"{number:.{digits}g}" if abs(number) < 1e-3 else _fixed(number, digits)


def _fixed(number: float, digits: int) -> str:
    decimals = max(digits - 1 - int(math.floor(math.log10(abs(number)))), 0)
    return f"{number:,.{decimals}f}"
