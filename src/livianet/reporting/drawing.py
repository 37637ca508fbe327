"""What every livianet picture shares: label colours and their key, page size, PNG and SVG output.

Matplotlib is imported inside the functions and drawn through
``matplotlib.figure.Figure`` with the Agg canvas, so importing these modules is
cheap and no global ``pyplot`` state is touched.
"""

from __future__ import annotations

import colorsys
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from livianet.atomic import atomic_path

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DPI = 100
FIGURE_WIDTH_IN = 12.0  # 1200 px at DPI
OVERLAY_ALPHA = 0.45
"""Opacity of the label colours drawn over the grey image."""

# Saturated, mutually distinct colours that stay visible over grey at 45 %;
# labels past the table get golden-ratio hues, so label k's colour never
# depends on how many labels there are.
_PALETTE = (  # red, green, blue, yellow, cyan, magenta, orange, violet, lime, pink, brown, teal
    (0.90, 0.10, 0.10),
    (0.10, 0.75, 0.20),
    (0.15, 0.40, 1.00),
    (1.00, 0.85, 0.00),
    (0.00, 0.85, 0.85),
    (0.90, 0.20, 0.90),
    (1.00, 0.50, 0.00),
    (0.55, 0.30, 0.95),
    (0.60, 0.90, 0.20),
    (0.95, 0.45, 0.60),
    (0.55, 0.35, 0.15),
    (0.00, 0.50, 0.50),
)


def label_colours(num_labels: int) -> npt.NDArray[np.float64]:
    """Fixed RGB colour per label; row ``k`` is label ``k``'s colour.

    Row 0 (background) is all zeros and never drawn. Label ``k`` has the same
    colour whatever ``num_labels`` is, so pictures of different cases match.

    Args:
        num_labels: Number of rows, background included.

    Returns:
        Array of shape ``(num_labels, 3)``, floats in ``[0, 1]``.

    Raises:
        ValueError: If ``num_labels`` is negative.

    >>> label_colours(3)
    array([[0.  , 0.  , 0.  ],
           [0.9 , 0.1 , 0.1 ],
           [0.1 , 0.75, 0.2 ]])
    """
    if num_labels < 0:
        raise ValueError(f"num_labels must be >= 0, got {num_labels}")
    colours = np.zeros((num_labels, 3))
    for label in range(1, num_labels):
        colours[label] = label_colour(label)
    return colours


def label_colour(label: int) -> tuple[float, float, float]:
    if label <= len(_PALETTE):
        return _PALETTE[label - 1]
    hue = (label * 0.6180339887498949) % 1.0
    return colorsys.hsv_to_rgb(hue, 0.75, 0.95)


def overlay(
    grey: npt.NDArray[np.floating],
    labels: npt.NDArray[np.integer],
    colours: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """RGB of a grey slice in [0, 1] with each label's colour blended in at ``OVERLAY_ALPHA``."""
    rgb = np.repeat(grey[..., None], 3, axis=-1).astype(np.float64)
    drawn = labels > 0
    rgb[drawn] = (1 - OVERLAY_ALPHA) * rgb[drawn] + OVERLAY_ALPHA * colours[labels[drawn]]
    return rgb


def label_legend(
    figure: Figure,
    listed: Sequence[int],
    colours: npt.NDArray[np.float64],
    names: Mapping[int, str],
    *,
    shown: Sequence[int],
    not_shown: str,
    columns: int,
    fontsize: float,
) -> None:
    """The key of the labels under the panels: one swatch per listed label, as it is blended.

    Labels in ``listed`` but not in ``shown`` (absent from what is drawn) get ``not_shown``
    after their name; with no label at all, a note says so.
    """
    from matplotlib.patches import Patch

    if not listed:
        figure.text(0.5, 0.01, "no labelled voxels", ha="center", va="bottom", fontsize=9)
        return
    handles = [
        Patch(
            facecolor=(*colours[k], OVERLAY_ALPHA),
            edgecolor=colours[k],
            label=names.get(k, f"label {k}") + ("" if k in shown else f" ({not_shown})"),
        )
        for k in listed
    ]
    figure.legend(
        handles=handles,
        loc="outside lower center",
        ncols=min(len(handles), columns),
        fontsize=fontsize,
        frameon=False,
    )


def note(ax: Axes, text: str) -> None:
    ax.text(
        0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=12, color="0.4"
    )


def save_figure(figure: Figure, path: Path, metadata: dict[str, str] | None = None) -> None:
    """Render ``figure`` to a PNG at ``path`` through a temporary file.

    ``metadata`` become the PNG's text entries (the reports read some of them back).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=DPI, metadata=metadata)


def figure_svg(figure: Figure) -> str:
    """``figure`` as an ``<svg>`` element to put inside an HTML page (no XML prologue).

    Text stays text (searchable, escaped by matplotlib's writer), and the element ids
    are fixed by the content and not by chance, so the same figure gives the same page.
    """
    import matplotlib as mpl

    buffer = io.StringIO()
    with mpl.rc_context({"svg.fonttype": "none", "svg.hashsalt": "livianet"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :].strip()
