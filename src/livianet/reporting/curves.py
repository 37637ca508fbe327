"""Training curves: loss and validation Dice per epoch, as PNG."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from livianet.reporting.drawing import DPI, FIGURE_WIDTH_IN, label_colour, note, save_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

_DICE_PREFIX = "val_dice_"


def save_training_curves(
    rows: Sequence[Mapping[str, Any]], path: str | os.PathLike[str], title: str | None = None
) -> Path:
    """Write a PNG of the loss and validation Dice per epoch.

    See :func:`training_curves_figure` for the picture.

    Args:
        rows: One dict per epoch, as appended to ``metrics.csv``.
        path: Output ``.png`` path; written atomically.
        title: Figure title.

    Returns:
        ``path`` as a ``Path``.

    Raises:
        OSError: If the file cannot be written.
    """
    final = Path(path)
    save_figure(training_curves_figure(rows, title=title), final)
    return final


def training_curves_figure(rows: Sequence[Mapping[str, Any]], title: str | None = None) -> Figure:
    """Build the figure that :func:`save_training_curves` writes.

    Left: ``train_loss`` and ``val_loss`` against ``epoch`` (log scale when
    they span more than a decade). Right: every ``val_dice_<k>`` column,
    labelled ``<k>``, and ``val_dice_mean`` as a thick black line, on [0, 1].
    Missing, empty, non-numeric and NaN values are skipped, so rows read back
    from a CSV (all strings) work too.
    """
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(FIGURE_WIDTH_IN, 4.5), dpi=DPI, layout="constrained")
    loss_ax, dice_ax = figure.subplots(1, 2)
    epochs = [_number(row.get("epoch", i + 1)) for i, row in enumerate(rows)]

    loss_values: list[float] = []
    for key, label in (("train_loss", "training"), ("val_loss", "validation")):
        xs, ys = _series(rows, epochs, key)
        if ys:
            _plot(loss_ax, xs, ys, label=label)
            loss_values += ys
    positive = [v for v in loss_values if v > 0]
    if positive and len(positive) == len(loss_values) and max(positive) > 10 * min(positive):
        loss_ax.set_yscale("log")
    if loss_values:
        loss_ax.legend(fontsize=9)
    else:
        note(loss_ax, "no training yet")
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("loss")
    loss_ax.set_title("loss", fontsize=11)

    plotted = 0
    for position, key in enumerate(_dice_keys(rows), start=1):
        xs, ys = _series(rows, epochs, key)
        suffix = key[len(_DICE_PREFIX) :]
        colour = label_colour(int(suffix) if suffix.isdigit() and int(suffix) > 0 else position)
        if ys:
            _plot(dice_ax, xs, ys, label=suffix, color=colour)
            plotted += 1
    xs, ys = _series(rows, epochs, "val_dice_mean")
    if ys:
        _plot(dice_ax, xs, ys, label="mean", color="black", linewidth=2.5)
        plotted += 1
    if plotted:
        dice_ax.legend(fontsize=9, ncols=2 if plotted > 6 else 1)
    else:
        note(dice_ax, "no validation yet")
    dice_ax.set_ylim(0.0, 1.0)
    dice_ax.set_xlabel("epoch")
    dice_ax.set_ylabel("Dice")
    dice_ax.set_title("validation Dice", fontsize=11)

    for ax in (loss_ax, dice_ax):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    if title:
        figure.suptitle(title, fontsize=12)
    return figure


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


def _dice_keys(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """``val_dice_<k>`` keys except the mean: numeric ``k`` in order, then names as first seen."""
    keys: dict[str, None] = {}
    for row in rows:
        for key in row:
            if key.startswith(_DICE_PREFIX) and key != "val_dice_mean" and key != _DICE_PREFIX:
                keys[key] = None
    cut = len(_DICE_PREFIX)
    numeric = sorted((k for k in keys if k[cut:].isdigit()), key=lambda k: int(k[cut:]))
    return numeric + [k for k in keys if k not in numeric]


def _plot(ax: Axes, xs: list[float], ys: list[float], **style: Any) -> None:
    # Markers keep a single epoch visible; past ~50 points they only add clutter.
    if len(xs) <= 50:
        style.setdefault("marker", "o")
        style.setdefault("markersize", 3)
    ax.plot(xs, ys, **style)
