"""The QA snapshot: three orthogonal slices of a scan with its labels drawn over it, as PNG.

Given the scan's affine, the snapshot is shown like the mosaic
(:mod:`livianet.reporting.display`): brought to RAS and drawn in the **radiological**
convention (the patient's left on the image's right), its sagittal, coronal and axial panels
marked with the patient direction at each edge (L and R on the coronal and axial ones).
Without an affine (an array of unknown orientation) it shows array axes ``(X, Y, Z)`` as
stored, named X, Y and Z, with no side marked.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
from nibabel import orientations

from livianet.reporting.display import (
    DISPLAY_CONVENTION,
    as_labels,
    checked_affine,
    draw_edge_marks,
    flips_columns,
    panel_edges,
    ras_affine,
    ras_transform,
    slice_centre,
    window,
)
from livianet.reporting.drawing import (
    DPI,
    FIGURE_WIDTH_IN,
    label_colours,
    label_legend,
    overlay,
    save_figure,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

_AXIS_NAMES = ("X", "Y", "Z")
_PANEL_NAMES = ("sagittal", "coronal", "axial")  # the slice axis of a RAS volume


def save_snapshot(
    image: npt.ArrayLike,
    labels: npt.ArrayLike,
    path: str | os.PathLike[str],
    spacing: Sequence[float] = (1.0, 1.0, 1.0),
    names: Mapping[int, str] | None = None,
    title: str | None = None,
    num_classes: int | None = None,
    *,
    reference: npt.ArrayLike | None = None,
    contours: bool = True,
    affine: npt.ArrayLike | None = None,
) -> Path:
    """Write a PNG of three orthogonal slices with the labels drawn over the image.

    See :func:`snapshot_figure` for the picture; ``title`` defaults to the
    file name without its suffix.

    Args:
        image: Intensity volume ``(X, Y, Z)``.
        labels: Integer label volume of the same shape; 0 is background.
        path: Output ``.png`` path; written atomically.
        spacing: Voxel size along X, Y, Z (sets the pixel aspect).
        names: Display names by label; missing ones read ``label k``.
        title: Figure title.
        num_classes: If given, the legend also lists classes ``1..num_classes-1``
            absent from the picture, marked ``(absent)``.
        reference: Optional reference label volume shown in a second row.
        contours: Draw a thin outline around each label.
        affine: The scan's voxel-to-world matrix: the picture is then shown in
            RAS, radiological, with L and R marked (its voxel sizes replace ``spacing``).

    Returns:
        ``path`` as a ``Path``.

    Raises:
        ValueError: If shapes or spacing do not fit.
        OSError: If the file cannot be written.
    """
    final = Path(path)
    figure = snapshot_figure(
        image,
        labels,
        spacing=spacing,
        names=names,
        title=final.stem if title is None else title,
        num_classes=num_classes,
        reference=reference,
        contours=contours,
        affine=affine,
    )
    save_figure(figure, final)
    return final


def snapshot_figure(
    image: npt.ArrayLike,
    labels: npt.ArrayLike,
    spacing: Sequence[float] = (1.0, 1.0, 1.0),
    names: Mapping[int, str] | None = None,
    title: str | None = None,
    num_classes: int | None = None,
    *,
    reference: npt.ArrayLike | None = None,
    contours: bool = True,
    affine: npt.ArrayLike | None = None,
) -> Figure:
    """Build the snapshot figure that :func:`save_snapshot` writes.

    Same arguments as :func:`save_snapshot` less ``path``. One panel per array
    axis, each a slice through the centre of mass of the labelled voxels (or
    the slice holding most labels if that one holds none; the volume centre if
    there are none), cropped to the bounding box of nonzero image and label
    voxels plus a margin. The grey image is windowed to the 1st-99th
    percentile of its nonzero voxels; each slice is transposed so the later
    array axis runs upwards. With ``affine``, the volumes are first brought to
    RAS and shown radiological, each panel titled by its plane and world
    position and marked at its edges.
    """
    from matplotlib.figure import Figure

    volume = np.asarray(image, dtype=np.float32)  # window() reads non-finite voxels as 0
    if volume.ndim != 3:
        raise ValueError(f"image must be 3-D (X, Y, Z), got shape {volume.shape}")
    rows = [("segmentation", as_labels(labels, volume.shape, "labels"))]
    if reference is not None:
        rows.append(("reference", as_labels(reference, volume.shape, "reference")))
    sizes = tuple(float(s) for s in spacing)
    if len(sizes) != 3 or not all(math.isfinite(s) and s > 0 for s in sizes):
        raise ValueError(f"spacing must be 3 positive numbers, got {tuple(spacing)}")
    world = None
    if affine is not None:
        volume, rows, world = _as_ras(volume, rows, checked_affine(affine))
        sizes = tuple(float(s) for s in np.sqrt((world[:3, :3] ** 2).sum(axis=0)))

    labelled = np.zeros(volume.shape, dtype=bool)
    for _, label_volume in rows:
        labelled |= label_volume > 0
    centre = slice_centre(rows[0][1] > 0 if rows[0][1].any() else labelled)
    box = _crop_box(((volume != 0) & np.isfinite(volume)) | labelled)
    grey = window(volume)

    present = sorted(set().union(*(np.unique(lv[lv > 0]).tolist() for _, lv in rows)))
    listed = sorted(set(present) | set(range(1, num_classes or 0)))
    colours = label_colours(max([*listed, 0]) + 1)

    panel_ratio = max(_panel_ratio(axis, box, sizes) for axis in range(3))
    row_height = min(max(FIGURE_WIDTH_IN / 3 * panel_ratio, 2.0), 6.0)
    figure = Figure(
        figsize=(FIGURE_WIDTH_IN, row_height * len(rows) + 1.0), dpi=DPI, layout="constrained"
    )
    grid = figure.subplots(len(rows), 3, squeeze=False)
    for row, (row_name, label_volume) in enumerate(rows):
        for axis in range(3):
            ax = grid[row][axis]
            _draw_slice(ax, grey, label_volume, axis, centre[axis], box, sizes, colours, contours)
            if world is not None:
                _as_panel(ax, axis)
            if row == 0:
                ax.set_title(_panel_title(axis, centre, world), fontsize=10)
        if len(rows) > 1:
            _row_name(grid[row][0], row_name)
    label_legend(
        figure,
        listed,
        colours,
        names or {},
        shown=present,
        not_shown="absent",
        columns=8,
        fontsize=9,
    )
    if title:
        figure.suptitle(title, fontsize=12)
    return figure


def _as_ras(
    volume: npt.NDArray[np.float32],
    rows: list[tuple[str, npt.NDArray[np.integer]]],
    matrix: np.ndarray,
) -> tuple[npt.NDArray[np.float32], list[tuple[str, npt.NDArray[np.integer]]], np.ndarray]:
    """The image and label rows reoriented to RAS (lossless), and the RAS affine."""
    transform = ras_transform(matrix)
    turned = [(name, orientations.apply_orientation(lv, transform)) for name, lv in rows]
    grey = orientations.apply_orientation(volume, transform)
    return grey, turned, ras_affine(matrix, transform, volume.shape)


def _as_panel(ax: Axes, axis: int) -> None:
    """A RAS slice as the display convention shows it: columns flipped, edges marked."""
    name = _PANEL_NAMES[axis]
    if flips_columns(name, DISPLAY_CONVENTION):
        ax.invert_xaxis()
    ax.set_xlabel("")
    ax.set_ylabel("")
    draw_edge_marks(ax, name, panel_edges(name, DISPLAY_CONVENTION))


def _panel_title(axis: int, centre: tuple[int, int, int], world: np.ndarray | None) -> str:
    """``X = 20`` (voxel index) for stored arrays, ``axial  z = 12 mm`` for RAS ones."""
    if world is None:
        return f"{_AXIS_NAMES[axis]} = {centre[axis]}"
    position = world @ np.array([*centre, 1.0])
    return f"{_PANEL_NAMES[axis]}  {'xyz'[axis]} = {position[axis]:.0f} mm"


def _row_name(ax: Axes, name: str) -> None:
    """``segmentation`` or ``reference``, written up the left side of a row."""
    ax.annotate(
        name,
        xy=(-0.12, 0.5),
        xycoords="axes fraction",
        rotation=90,
        ha="center",
        va="center",
        fontsize=11,
    )


def _crop_box(mask: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    """Half-open ``(start, stop)`` per axis: ``mask``'s bounding box plus 5 % (>= 2 voxels)."""
    if not mask.any():
        return [(0, s) for s in mask.shape]
    points = np.argwhere(mask)
    box = []
    for axis, size in enumerate(mask.shape):
        margin = max(2, round(0.05 * size))
        start = max(int(points[:, axis].min()) - margin, 0)
        stop = min(int(points[:, axis].max()) + 1 + margin, size)
        box.append((start, stop))
    return box


def _panel_ratio(axis: int, box: list[tuple[int, int]], spacing: tuple[float, ...]) -> float:
    across, up = (a for a in range(3) if a != axis)
    width = (box[across][1] - box[across][0]) * spacing[across]
    height = (box[up][1] - box[up][0]) * spacing[up]
    return height / width


def _draw_slice(
    ax: Axes,
    grey: npt.NDArray[np.float32],
    labels: npt.NDArray[np.integer],
    axis: int,
    index: int,
    box: list[tuple[int, int]],
    spacing: tuple[float, ...],
    colours: npt.NDArray[np.float64],
    contours: bool,
) -> None:
    across, up = (a for a in range(3) if a != axis)
    crop = [slice(*b) for b in box]
    crop[axis] = slice(index, index + 1)
    # Transposed so the later array axis is vertical; imshow wants (rows, cols).
    grey_2d = grey[tuple(crop)].squeeze(axis).T
    label_2d = labels[tuple(crop)].squeeze(axis).T

    rgb = overlay(grey_2d, label_2d, colours)
    drawn = label_2d > 0
    (x0, x1), (y0, y1) = box[across], box[up]
    ax.imshow(
        rgb,
        origin="lower",
        interpolation="nearest",
        extent=(x0 - 0.5, x1 - 0.5, y0 - 0.5, y1 - 0.5),
        aspect=spacing[up] / spacing[across],
    )
    if contours and min(label_2d.shape) >= 2:
        xs, ys = np.arange(x0, x1), np.arange(y0, y1)
        for label in np.unique(label_2d[drawn]):
            ax.contour(
                xs,
                ys,
                (label_2d == label).astype(np.float32),
                levels=[0.5],
                colors=[colours[label]],
                linewidths=0.7,
            )
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel(_AXIS_NAMES[across], fontsize=9)
    ax.set_ylabel(_AXIS_NAMES[up], fontsize=9)
