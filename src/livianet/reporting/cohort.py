"""The cohort figure: each structure's volumes across a run's scans, flagged scans marked.

One panel per structure (their sizes differ tenfold, so each has its own axis): a box of the
volumes (median, quartiles, whiskers to 1.5 IQR) and every scan as a point, in the structure's
colour, flagged ones in red with a black edge. Drawn from an
:class:`~livianet.evaluation.quality.Assessment`, so the points are what the report's tables
list. ``livianet bids ... group`` writes it as ``group/volumes.png`` and inline in its report.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from livianet.evaluation.quality import Assessment
from livianet.reporting.drawing import DPI, FIGURE_WIDTH_IN, label_colour, note

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

_COLUMNS = 4
_PANEL_HEIGHT_IN = 2.6
FLAGGED_COLOUR = "#c92a2a"


def volume_distribution_figure(assessment: Assessment, title: str | None = None) -> Figure:
    """One panel per structure of ``assessment``: its volumes over the scans that were segmented."""
    from matplotlib.figure import Figure

    labels = assessment.labels or [0]
    columns = min(_COLUMNS, len(labels))
    rows = math.ceil(len(labels) / columns)
    figure = Figure(
        figsize=(FIGURE_WIDTH_IN, _PANEL_HEIGHT_IN * rows + 0.4), dpi=DPI, layout="constrained"
    )
    axes = np.atleast_1d(figure.subplots(rows, columns, squeeze=False)).ravel()
    for ax, label in zip(axes, labels, strict=False):
        if assessment.labels:
            _structure_panel(ax, assessment, label)
        else:
            note(ax, "no structure")
    for ax in axes[len(labels) :]:
        ax.set_visible(False)
    if title:
        figure.suptitle(title, fontsize=12)
    return figure


def _structure_panel(ax: Axes, assessment: Assessment, label: int) -> None:
    points = [
        (item.volume, item.flagged)
        for scan in assessment.scans
        if not scan.failed
        for item in scan.structures
        if item.label == label and item.volume is not None
    ]
    ax.set_title(assessment.names[label], fontsize=10)
    ax.set_gid(f"volumes-{label}")
    if not points:
        note(ax, "no volume")
        return
    volumes = [v for v, _ in points]
    colour = label_colour(label)
    ax.boxplot(volumes, widths=0.5, showfliers=False, medianprops={"color": "black"})
    spread = np.linspace(-0.12, 0.12, len(points)) if len(points) > 1 else np.zeros(1)
    for (volume, flagged), offset in zip(points, spread, strict=True):
        ax.scatter(
            1 + offset, volume, s=22 if flagged else 14, zorder=3,
            color=FLAGGED_COLOUR if flagged else colour, edgecolors="black" if flagged else "none",
        )  # fmt: skip
    ax.set_xticks([])
    ax.set_ylabel("mm³", fontsize=9)
    ax.grid(axis="y", alpha=0.3)
