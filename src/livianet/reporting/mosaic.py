"""The mosaic: axial, coronal and sagittal slices through the labelled structures, as PNG.

Like the QA snapshot, the mosaic is brought to one display convention from the scan's affine
(:mod:`livianet.reporting.display`: radiological, the patient's left on the image's right), so
every scan of a report looks the same way whatever its storage order (RAS, LIA, PSR
sagittal...). The convention is written in the picture, marked with L and R on the axial and
coronal panels, and stored in the PNG's text entry ``livianet:convention`` for the report to
state. A brain mask, when
the scan's was extracted, is drawn as an outline and the panels widen to show all of it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from nibabel import affines, orientations

from livianet.data.relabel import distinct_values
from livianet.reporting.display import (
    CONVENTIONS,
    DISPLAY_CONVENTION,
    as_labels,
    check_convention,
    checked_affine,
    draw_edge_marks,
    flips_columns,
    panel_edges,
    ras_affine,
    ras_transform,
    slice_centre,
    window,
)
from livianet.reporting.drawing import DPI, label_colours, label_legend, overlay, save_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

CONVENTION_KEY = "livianet:convention"  # the PNG text entry naming the convention
MARGIN_MM = 25.0  # context shown around the labelled structures
OUTLINE_MARGIN_MM = 5.0  # around the brain mask, when its outline is drawn
OUTLINE_COLOUR = "#ffd400"  # the brain mask's outline: yellow, apart from the label colours
WIDTH_IN = 9.0  # 900 px: sharp when clicked open, light as a thumbnail


@dataclass(frozen=True)
class Panel:
    """One slice as displayed: rows top to bottom, columns left to right.

    Attributes:
        name: ``axial``, ``coronal`` or ``sagittal``.
        grey: windowed intensities in [0, 1], ``(rows, cols)``.
        labels: label values on the same pixels.
        size_mm: ``(width, height)`` of the panel in mm.
        edges: the patient direction at the ``left``, ``right``, ``top`` and ``bottom`` edges.
        position: ``(axis letter, world mm)`` of the slice, e.g. ``("z", 12.0)``.
        outline: the brain mask on the same pixels, when one is drawn.
    """

    name: str
    grey: npt.NDArray[np.float32]
    labels: npt.NDArray[np.int64]
    size_mm: tuple[float, float]
    edges: dict[str, str]
    position: tuple[str, float]
    outline: npt.NDArray[np.bool_] | None = None


def save_mosaic(
    image: npt.ArrayLike,
    labels: npt.ArrayLike,
    affine: npt.ArrayLike,
    path: str | os.PathLike[str],
    names: Mapping[int, str] | None = None,
    *,
    convention: str = DISPLAY_CONVENTION,
    title: str | None = None,
    brain_mask: npt.ArrayLike | None = None,
) -> Path:
    """Write the mosaic of a scan and its labels to a PNG (atomically).

    Args:
        image: the T1 on the scan's own grid, ``(X, Y, Z)`` in any storage order
            (``(C, X, Y, Z)``: the first channel is shown).
        labels: integer label map on the same grid; 0 is background.
        affine: the scan's voxel-to-world matrix (4x4), from which the orientation is read.
        path: output ``.png``.
        names: display names by label (the legend); missing ones read ``label k``.
        convention: ``radiological`` (patient's left on the image's right) or ``neurological``.
        title: heading; default the file name without ``Mosaic_`` and ``.png``.
        brain_mask: the extracted brain mask on the same grid, drawn as an outline.

    Returns:
        ``path`` as a ``Path``.

    Raises:
        ValueError: shapes that differ, an affine that is not an invertible 4x4 matrix, or an
            unknown convention.
        OSError: the file cannot be written.
    """
    final = Path(path)
    if title is None:
        title = final.stem.removeprefix("Mosaic_")
    figure = mosaic_figure(
        image, labels, affine, names, convention=convention, title=title, brain_mask=brain_mask
    )
    save_figure(figure, final, metadata={CONVENTION_KEY: convention})
    return final


def display_panels(
    image: npt.ArrayLike,
    labels: npt.ArrayLike,
    affine: npt.ArrayLike,
    convention: str = DISPLAY_CONVENTION,
    brain_mask: npt.ArrayLike | None = None,
) -> list[Panel]:
    """The three slices as they are drawn, after bringing the scan to the display convention.

    The volume is reoriented to RAS (a lossless permutation and flips chosen from the affine's
    nearest axes). Axial and coronal slices go through the labels' centre of mass, the
    sagittal one through the sagittal slice holding most labelled voxels (a midline slice
    would miss the paired structures); all are cropped to the labels plus ``MARGIN_MM``, or,
    with a ``brain_mask``, to the mask plus ``OUTLINE_MARGIN_MM``.
    """
    check_convention(convention)
    volume = np.asarray(image, dtype=np.float32)
    if volume.ndim == 4:
        volume = volume[0]
    if volume.ndim != 3:
        raise ValueError(f"image must be 3-D (X, Y, Z), got shape {volume.shape}")
    label_map = as_labels(labels, volume.shape, "labels")
    ras_grey, ras_labels, ras_outline, ras_affine = _as_ras(
        volume, label_map, checked_affine(affine), brain_mask
    )
    spacing = tuple(float(s) for s in affines.voxel_sizes(ras_affine))

    mask = ras_labels > 0
    centre = list(slice_centre(mask))
    if mask.any():
        counts = mask.sum(axis=(1, 2))
        fullest = np.flatnonzero(counts == counts.max())
        centre[0] = int(fullest[np.argmin(np.abs(fullest - centre[0]))])
    if ras_outline is not None and ras_outline.any():
        box = _box(ras_outline, spacing, OUTLINE_MARGIN_MM)
    else:
        box = _box(mask if mask.any() else ras_grey > 0, spacing)
    world = ras_affine @ np.array([*centre, 1.0])

    specs = (("axial", 2, (0, 1)), ("coronal", 1, (0, 2)), ("sagittal", 0, (1, 2)))
    panels = []
    for name, axis, (col_axis, row_axis) in specs:  # slice axis, (column axis, row axis)
        flip_cols, edges = flips_columns(name, convention), panel_edges(name, convention)
        crop = [slice(*b) for b in box]
        crop[axis] = slice(centre[axis], centre[axis] + 1)
        grey_2d, label_2d = (_displayed(v[tuple(crop)].squeeze(axis), flip_cols)
                             for v in (ras_grey, ras_labels))  # fmt: skip
        outline_2d = None
        if ras_outline is not None:
            outline_2d = np.ascontiguousarray(
                _displayed(ras_outline[tuple(crop)].squeeze(axis), flip_cols)
            )
        size = (
            grey_2d.shape[1] * spacing[col_axis],
            grey_2d.shape[0] * spacing[row_axis],
        )
        panels.append(
            Panel(
                name,
                np.ascontiguousarray(grey_2d, dtype=np.float32),
                np.ascontiguousarray(label_2d),
                size,
                edges,
                ("xyz"[axis], float(world[axis])),
                outline_2d,
            )
        )
    return panels


def _as_ras(
    volume: np.ndarray,
    label_map: np.ndarray,
    matrix: np.ndarray,
    brain_mask: npt.ArrayLike | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
    """The windowed grey, the labels and the mask reoriented to RAS, and the RAS affine."""
    transform = ras_transform(matrix)
    ras_grey = orientations.apply_orientation(window(volume), transform)
    ras_labels = orientations.apply_orientation(label_map, transform)
    ras_outline = None
    if brain_mask is not None:
        outline_map = np.asarray(brain_mask, dtype=bool)
        if outline_map.shape != volume.shape:
            raise ValueError(
                f"brain_mask shape {outline_map.shape} does not match image shape {volume.shape}"
            )
        ras_outline = orientations.apply_orientation(outline_map, transform).astype(bool)
    return ras_grey, ras_labels, ras_outline, ras_affine(matrix, transform, volume.shape)


def _displayed(plane: np.ndarray, flip_cols: bool) -> np.ndarray:
    """(column axis, row axis) -> (rows, cols), the row axis' positive end at the top."""
    shown = plane.T[::-1]
    return shown[:, ::-1] if flip_cols else shown


def mosaic_figure(
    image: npt.ArrayLike,
    labels: npt.ArrayLike,
    affine: npt.ArrayLike,
    names: Mapping[int, str] | None = None,
    *,
    convention: str = DISPLAY_CONVENTION,
    title: str | None = None,
    brain_mask: npt.ArrayLike | None = None,
) -> Figure:
    """Build the figure :func:`save_mosaic` writes (same arguments less the path)."""
    from matplotlib.figure import Figure

    panels = display_panels(image, labels, affine, convention, brain_mask)
    present = sorted(set().union(*(np.unique(p.labels[p.labels > 0]).tolist() for p in panels)))
    all_labels = distinct_values(as_labels(labels, np.asarray(image).shape[-3:], "labels"))
    listed = sorted(set(present) | {int(k) for k in all_labels if k > 0})
    colours = label_colours(max([*listed, 0]) + 1)

    widths = [p.size_mm[0] for p in panels]
    height_mm = max(p.size_mm[1] for p in panels)
    panel_height_in = WIDTH_IN * height_mm / sum(widths)
    figure = Figure(
        figsize=(WIDTH_IN, min(max(panel_height_in, 1.6), 6.0) + 0.95),
        dpi=DPI,
        layout="constrained",
    )
    axes = figure.subplots(1, 3, width_ratios=widths)
    for ax, panel in zip(axes, panels, strict=True):
        _draw_panel(ax, panel, colours)
    label_legend(
        figure,
        listed,
        colours,
        names or {},
        shown=present,
        not_shown="not in slices",
        columns=4,
        fontsize=8,
    )
    heading = f"{convention} view: {CONVENTIONS[convention]}"
    figure.suptitle(f"{title}   ({heading})" if title else heading, fontsize=10)
    return figure


def _draw_panel(ax: Axes, panel: Panel, colours: npt.NDArray[np.float64]) -> None:
    rgb = overlay(panel.grey, panel.labels, colours)
    width, height = panel.size_mm
    ax.imshow(
        rgb, origin="upper", interpolation="nearest", extent=(0, width, 0, height), aspect="equal"
    )
    if panel.outline is not None and panel.outline.any():
        _draw_outline(ax, panel.outline, width, height)
    ax.set_xticks([])
    ax.set_yticks([])
    letter, mm = panel.position
    ax.set_title(f"{panel.name}  {letter} = {mm:.0f} mm", fontsize=9)
    draw_edge_marks(ax, panel.name, panel.edges)


def _draw_outline(ax: Axes, outline: npt.NDArray[np.bool_], width: float, height: float) -> None:
    """The brain mask's edge on a panel whose pixels span ``width`` x ``height`` mm."""
    rows, cols = outline.shape
    x = (np.arange(cols) + 0.5) * width / cols
    y = height - (np.arange(rows) + 0.5) * height / rows  # row 0 at the top
    ax.contour(x, y, outline.astype(np.float32), levels=[0.5], colors=OUTLINE_COLOUR,
               linewidths=0.9)  # fmt: skip
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)


def _box(
    mask: npt.NDArray[np.bool_], spacing: tuple[float, ...], margin_mm: float = MARGIN_MM
) -> list[tuple[int, int]]:
    """``mask``'s bounding box plus ``margin_mm`` each side, within the volume."""
    if not mask.any():
        return [(0, s) for s in mask.shape]
    points = np.argwhere(mask)
    box = []
    for axis, size in enumerate(mask.shape):
        margin = int(np.ceil(margin_mm / spacing[axis]))
        start = max(int(points[:, axis].min()) - margin, 0)
        stop = min(int(points[:, axis].max()) + 1 + margin, size)
        box.append((start, stop))
    return box
