"""What every livianet picture shares: label colours, page size, and atomic PNG output.

Matplotlib is imported inside the functions and drawn through
``matplotlib.figure.Figure`` with the Agg canvas, so importing these modules is
cheap and no global ``pyplot`` state is touched.
"""

from __future__ import annotations

import colorsys
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
