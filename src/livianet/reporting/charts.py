"""Line charts as inline SVG: crisp on screen and in print, and no picture files to carry.

Only what the reports need: lines against a shared x axis, linear or log y, nice ticks, and a
tooltip per point. Colours are CSS colours; labels are escaped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from livianet.reporting.html import Markup, esc, fmt, join, tag

WIDTH, HEIGHT = 560, 250
_LEFT, _RIGHT, _TOP, _BOTTOM = 58, 14, 12, 34
_MARKERS_UP_TO = 60  # points per line with a dot (and tooltip); past that, only the line


@dataclass(frozen=True)
class Series:
    label: str
    xs: Sequence[float]
    ys: Sequence[float]
    colour: str = "#1f5fa8"
    width: float = 1.6


def hex_colour(rgb: Sequence[float]) -> str:
    """``(r, g, b)`` in [0, 1] as ``#rrggbb``.

    >>> hex_colour((1.0, 0.5, 0.0))
    '#ff8000'
    """
    return "#" + "".join(f"{round(max(0.0, min(1.0, c)) * 255):02x}" for c in rgb)


def line_chart(
    title: str,
    series: Sequence[Series],
    *,
    y_label: str = "",
    x_label: str = "epoch",
    log_y: bool = False,
    y_range: tuple[float, float] | None = None,
    empty: str = "no data yet",
) -> Markup:
    """A titled chart with a legend below it; non-finite and (on log axes) non-positive points
    are left out."""
    clean = [_finite(s, log_y) for s in series]
    clean = [s for s in clean if s.xs]
    svg = _svg(title, clean, y_label, x_label, log_y, y_range, empty)
    legend = ""
    if len(clean) > 1:
        legend = tag(
            "div",
            join(
                join([tag("span", "", class_="key", style=f"background:{s.colour}"), s.label])
                for s in clean
            ),
            class_="legend",
        )
    return tag("figure", join([tag("h3", title), svg, legend]), class_="chart")


def _finite(series: Series, log_y: bool) -> Series:
    points = [
        (float(x), float(y))
        for x, y in zip(series.xs, series.ys, strict=True)
        if x is not None
        and y is not None
        and math.isfinite(float(x))
        and math.isfinite(float(y))
        and (float(y) > 0 or not log_y)
    ]
    return Series(
        series.label, [p[0] for p in points], [p[1] for p in points], series.colour, series.width
    )


def _svg(
    title: str,
    series: list[Series],
    y_label: str,
    x_label: str,
    log_y: bool,
    y_range: tuple[float, float] | None,
    empty: str,
) -> Markup:
    inner_w, inner_h = WIDTH - _LEFT - _RIGHT, HEIGHT - _TOP - _BOTTOM
    parts: list[str] = [
        f'<rect x="{_LEFT}" y="{_TOP}" width="{inner_w}" height="{inner_h}" '
        'fill="none" stroke="#c5ccd3"/>'
    ]
    if not series:
        parts.append(
            f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" fill="#5d6873" '
            f'font-size="14">{esc(empty)}</text>'
        )
        return _wrap(title, parts)
    xs = [x for s in series for x in s.xs]
    ys = [y for s in series for y in s.ys]
    x0, x1 = min(xs), max(xs)
    if x1 - x0 < 1e-12:
        x0, x1 = x0 - 0.5, x1 + 0.5
    if log_y:
        lo, hi = math.log10(min(ys)), math.log10(max(ys))
        if hi - lo < 1e-9:
            lo, hi = lo - 0.5, hi + 0.5
        y_ticks = _log_ticks(lo, hi)
        lo, hi = min(lo, math.log10(y_ticks[0])), max(hi, math.log10(y_ticks[-1]))
    else:
        lo, hi = y_range if y_range else (min(ys), max(ys))
        if hi - lo < 1e-12:
            pad = abs(hi) * 0.1 or 0.5
            lo, hi = lo - pad, hi + pad
        y_ticks = _nice_ticks(lo, hi)
        if not y_range:
            lo, hi = min(lo, y_ticks[0]), max(hi, y_ticks[-1])

    def px(x: float) -> float:
        return _LEFT + (x - x0) / (x1 - x0) * inner_w

    def py(y: float) -> float:
        value = math.log10(y) if log_y else y
        return _TOP + (hi - value) / (hi - lo) * inner_h

    for tick in y_ticks:
        y = py(tick)
        if _TOP - 0.5 <= y <= _TOP + inner_h + 0.5:
            parts.append(
                f'<line x1="{_LEFT}" x2="{_LEFT + inner_w}" y1="{y:.1f}" y2="{y:.1f}" '
                'stroke="#e3e7eb"/>'
                f'<text x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
                f'fill="#5d6873">{esc(_tick_label(tick))}</text>'
            )
    for tick in _x_ticks(x0, x1):
        x = px(tick)
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{_TOP + inner_h}" y2="{_TOP + inner_h + 4}" '
            'stroke="#8a96a3"/>'
            f'<text x="{x:.1f}" y="{_TOP + inner_h + 16}" text-anchor="middle" font-size="11" '
            f'fill="#5d6873">{esc(_tick_label(tick))}</text>'
        )
    parts.append(
        f'<text x="{_LEFT + inner_w / 2}" y="{HEIGHT - 3}" text-anchor="middle" font-size="11" '
        f'fill="#5d6873">{esc(x_label)}</text>'
    )
    if y_label:
        parts.append(
            f'<text transform="translate(12 {_TOP + inner_h / 2}) rotate(-90)" '
            f'text-anchor="middle" font-size="11" fill="#5d6873">{esc(y_label)}</text>'
        )
    for s in series:
        points = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in zip(s.xs, s.ys, strict=True))
        colour = esc(s.colour)
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{colour}" '
            f'stroke-width="{s.width}" stroke-linejoin="round"/>'
        )
        if len(s.xs) <= _MARKERS_UP_TO:
            for x, y in zip(s.xs, s.ys, strict=True):
                tip = esc(f"{s.label}: {x_label} {fmt(x)}, {fmt(y, 4)}")
                parts.append(
                    f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="2.6" fill="{colour}">'
                    f"<title>{tip}</title></circle>"
                )
    return _wrap(title, parts)


def _wrap(title: str, parts: list[str]) -> Markup:
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{esc(title)}" font-family="system-ui, sans-serif">{"".join(parts)}</svg>'
    )


def _nice_step(span: float, count: int) -> float:
    raw = span / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude


def _nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi].

    >>> _nice_ticks(0.0, 1.0)
    [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    """
    step = _nice_step(hi - lo, count)
    first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    return [round(k * step, 12) for k in range(first, last + 1)]


def _log_ticks(lo: float, hi: float) -> list[float]:
    """Decades (and 2, 5 within them when the span is short) covering 10**lo..10**hi."""
    first, last = math.floor(lo), math.ceil(hi)
    factors = (1, 2, 5) if last - first <= 2 else (1,)
    ticks = [f * 10.0**d for d in range(first, last + 1) for f in factors]
    inside = [t for t in ticks if 10**lo / 1.0001 <= t <= 10**hi * 1.0001]
    if len(inside) >= 2:
        return inside
    return [10.0**first, 10.0**last]


def _x_ticks(x0: float, x1: float) -> list[float]:
    step = max(1.0, _nice_step(x1 - x0, 8))  # epochs are whole numbers
    step = float(math.ceil(step))
    start = math.ceil(x0 / step) * step
    ticks = []
    value = start
    while value <= x1 + 1e-9:
        ticks.append(value)
        value += step
    return ticks


def _tick_label(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1e5 or abs(value) < 1e-3:
        return f"{value:.0e}".replace("e-0", "e-").replace("e+0", "e")
    return f"{value:.4g}"
