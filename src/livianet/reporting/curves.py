"""The training curves: loss, validation Dice, learning rate and speed per epoch.

One figure, drawn with matplotlib: the run's ``<network>_training_curves.png`` and the
training report's "Curves" (the same figure as inline SVG) both come from
:func:`training_curves_figure`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from livianet.reporting.drawing import DPI, FIGURE_WIDTH_IN, label_colour, note, save_figure
from livianet.reporting.training_run import DICE_PREFIX

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

PANELS = ("loss", "dice", "lr", "speed")  # each panel's SVG group id is ``curve-<name>``
_MARKERS_UP_TO = 50  # points per line with markers (a single epoch stays visible)


def save_training_curves(
    rows: Sequence[Mapping[str, Any]],
    path: str | os.PathLike[str],
    title: str | None = None,
    names: Mapping[int, str] | None = None,
) -> Path:
    """Write a PNG of the training curves; see :func:`training_curves_figure` for the picture.

    Args:
        rows: One dict per epoch, as appended to ``metrics.csv``.
        path: Output ``.png`` path; written atomically.
        title: Figure title.
        names: Structure names by label, for the Dice legend.

    Returns:
        ``path`` as a ``Path``.

    Raises:
        OSError: If the file cannot be written.
    """
    final = Path(path)
    save_figure(training_curves_figure(rows, title=title, names=names), final)
    return final


def training_curves_figure(
    rows: Sequence[Mapping[str, Any]],
    title: str | None = None,
    names: Mapping[int, str] | None = None,
) -> Figure:
    """The four panels of the training curves, against ``epoch``.

    Loss: ``train_loss`` and ``val_loss`` (log scale when they span more than a decade).
    Validation Dice: every ``val_dice_<k>`` column, labelled with ``names[k]`` (else ``<k>``)
    in label ``k``'s colour, and ``val_dice_mean`` as a thick black line, on [0, 1].
    Learning rate: ``lr`` (log scale when it spans more than a factor of 3). Speed:
    ``samples_per_s``. Missing, empty, non-numeric and NaN values are skipped, so rows read
    back from a CSV (all strings) work too.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(FIGURE_WIDTH_IN, 7.0), dpi=DPI, layout="constrained")
    (loss_ax, dice_ax), (lr_ax, speed_ax) = figure.subplots(2, 2)
    epochs = [_number(row.get("epoch", i + 1)) for i, row in enumerate(rows)]
    _loss_panel(loss_ax, rows, epochs)
    _dice_panel(dice_ax, rows, epochs, names or {})
    _single_panel(lr_ax, rows, epochs, "lr", ("learning rate", "lr"), log_above=3.0)
    _single_panel(speed_ax, rows, epochs, "samples_per_s", ("speed", "samples/s"), colour="#2b8a3e")
    for ax, name in zip((loss_ax, dice_ax, lr_ax, speed_ax), PANELS, strict=True):
        ax.set_gid(f"curve-{name}")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    if title:
        figure.suptitle(title, fontsize=12)
    return figure


def dice_keys(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """``val_dice_<k>`` keys except the mean: numeric ``k`` in order, then names as first seen."""
    keys: dict[str, None] = {}
    for row in rows:
        for key in row:
            if key.startswith(DICE_PREFIX) and key not in ("val_dice_mean", DICE_PREFIX):
                keys[key] = None
    cut = len(DICE_PREFIX)
    numeric = sorted((k for k in keys if k[cut:].isdigit()), key=lambda k: int(k[cut:]))
    return numeric + [k for k in keys if k not in numeric]


def _loss_panel(ax: Axes, rows: Sequence[Mapping[str, Any]], epochs: list[float]) -> None:
    values: list[float] = []
    for key, label in (("train_loss", "training"), ("val_loss", "validation")):
        xs, ys = _series(rows, epochs, key)
        if ys:
            _plot(ax, xs, ys, label=label)
            values += ys
    _log_scale_if_wide(ax, values, 10.0)
    if values:
        ax.legend(fontsize=9)
    else:
        note(ax, "no training yet")
    ax.set_ylabel("loss")
    ax.set_title("loss", fontsize=11)


def _dice_panel(
    ax: Axes, rows: Sequence[Mapping[str, Any]], epochs: list[float], names: Mapping[int, str]
) -> None:
    plotted = 0
    for position, key in enumerate(dice_keys(rows), start=1):
        xs, ys = _series(rows, epochs, key)
        suffix = key[len(DICE_PREFIX) :]
        label = int(suffix) if suffix.isdigit() else None
        colour = label_colour(label if label else position)
        if ys:
            _plot(ax, xs, ys, label=names.get(label, suffix) if label else suffix, color=colour)
            plotted += 1
    xs, ys = _series(rows, epochs, "val_dice_mean")
    if ys:
        _plot(ax, xs, ys, label="mean", color="black", linewidth=2.5)
        plotted += 1
    if plotted:
        ax.legend(fontsize=9, ncols=2 if plotted > 6 else 1)
    else:
        note(ax, "no validation yet")
    ax.set_ylim(0.0, 1.0)
    ax.set_ylabel("Dice")
    ax.set_title("validation Dice", fontsize=11)


def _single_panel(
    ax: Axes,
    rows: Sequence[Mapping[str, Any]],
    epochs: list[float],
    key: str,
    titles: tuple[str, str],
    *,
    colour: str | None = None,
    log_above: float | None = None,
) -> None:
    """One column against the epochs; ``titles``: the panel's and the y axis'."""
    xs, ys = _series(rows, epochs, key)
    if ys:
        _plot(ax, xs, ys, **({"color": colour} if colour else {}))
        if log_above is not None:
            _log_scale_if_wide(ax, ys, log_above)
    else:
        note(ax, "no data yet")
    ax.set_title(titles[0], fontsize=11)
    ax.set_ylabel(titles[1])


def _log_scale_if_wide(ax: Axes, values: list[float], ratio: float) -> None:
    """A log y axis for positive values whose largest is more than ``ratio`` times the least."""
    positive = [v for v in values if v > 0]
    if positive and len(positive) == len(values) and max(positive) > ratio * min(positive):
        ax.set_yscale("log")


def _number(value: Any) -> float:
    """``value`` as a float, NaN if it is missing, empty or not a number."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _series(
    rows: Sequence[Mapping[str, Any]], epochs: list[float], key: str
) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for epoch, row in zip(epochs, rows, strict=True):
        value = _number(row.get(key))
        if math.isfinite(epoch) and math.isfinite(value):
            xs.append(epoch)
            ys.append(value)
    return xs, ys


def _plot(ax: Axes, xs: list[float], ys: list[float], **style: Any) -> None:
    # Markers keep a single epoch visible; past ~50 points they only add clutter.
    if len(xs) <= _MARKERS_UP_TO:
        style.setdefault("marker", "o")
        style.setdefault("markersize", 3)
    ax.plot(xs, ys, **style)
