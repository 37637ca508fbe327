"""The QA snapshot: three orthogonal slices of a scan with its labels drawn over it, as PNG.

Volumes are ``(X, Y, Z)`` in stored voxel order (not necessarily RAS); slices
show array axes as they are.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

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
) -> Figure:
    """Build the snapshot figure that :func:`save_snapshot` writes.

    Same arguments as :func:`save_snapshot` less ``path``. One panel per array
    axis, each a slice through the centre of mass of the labelled voxels (or
    the slice holding most labels if that one holds none; the volume centre if
    there are none), cropped to the bounding box of nonzero image and label
    voxels plus a margin. The grey image is windowed to the 1st-99th
    percentile of its nonzero voxels; each slice is transposed so the later
    array axis runs upwards.
    """
    from matplotlib.figure import Figure

    volume = np.asarray(image, dtype=np.float32)  # _window reads non-finite voxels as 0
    if volume.ndim != 3:
        raise ValueError(f"image must be 3-D (X, Y, Z), got shape {volume.shape}")
    rows = [("segmentation", _as_labels(labels, volume.shape, "labels"))]
    if reference is not None:
        rows.append(("reference", _as_labels(reference, volume.shape, "reference")))
    sizes = tuple(float(s) for s in spacing)
    if len(sizes) != 3 or not all(math.isfinite(s) and s > 0 for s in sizes):
        raise ValueError(f"spacing must be 3 positive numbers, got {tuple(spacing)}")

    labelled = np.zeros(volume.shape, dtype=bool)
    for _, label_volume in rows:
        labelled |= label_volume > 0
    centre = _centre(rows[0][1] > 0 if rows[0][1].any() else labelled)
    box = _crop_box(((volume != 0) & np.isfinite(volume)) | labelled)
    grey = _window(volume)

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
            if row == 0:
                ax.set_title(f"{_AXIS_NAMES[axis]} = {centre[axis]}", fontsize=10)
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


def _as_labels(labels: npt.ArrayLike, shape: tuple[int, ...], what: str) -> npt.NDArray[np.integer]:
    """An integer label map as it is (a 64-bit copy of a 256^3 map is 128 MiB); others rounded."""
    array = np.asarray(labels)
    if array.shape != shape:
        raise ValueError(f"{what} shape {array.shape} does not match image shape {shape}")
    if np.issubdtype(array.dtype, np.integer):
        return array
    return np.rint(np.nan_to_num(array.astype(np.float64))).astype(np.int64)


def _centre(mask: npt.NDArray[np.bool_]) -> tuple[int, int, int]:
    """Slice index per axis: through the centre of mass of ``mask``.

    Where that slice holds none of ``mask`` (two blobs either side of their
    centre of mass), the slice holding most of it is used instead (the one
    nearest the centre on ties), so every panel shows labels. An empty mask
    gives the volume centre.
    """
    if not mask.any():
        return tuple(s // 2 for s in mask.shape)
    centre = np.argwhere(mask).mean(axis=0)
    indices = []
    for axis, size in enumerate(mask.shape):
        index = int(np.clip(round(centre[axis]), 0, size - 1))
        counts = mask.sum(axis=tuple(a for a in range(3) if a != axis))
        if counts[index] == 0:
            fullest = np.flatnonzero(counts == counts.max())
            index = int(fullest[np.argmin(np.abs(fullest - index))])
        indices.append(index)
    return tuple(indices)  # type: ignore[return-value]


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


WINDOW_SAMPLE = 1 << 20  # voxels the display window's percentiles are taken from


def _window(volume: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Scale to [0, 1] between the 1st and 99th percentile of nonzero voxels; non-finite ones as 0.

    The percentiles come from an even sample of about a million voxels: a
    display window needs no more, and a 256^3 scan's full sort took a second.
    The one output array is the only full-size copy made.
    """
    flat = volume.ravel(order="K")  # no copy, whatever the memory order
    sample = np.nan_to_num(flat[:: max(1, flat.size // WINDOW_SAMPLE)], posinf=0.0, neginf=0.0)
    values = sample[sample != 0]
    if values.size == 0:
        values = sample
    low, high = np.percentile(values, [1, 99]) if values.size else (0.0, 1.0)
    if high <= low:
        high = low + 1.0
    scaled = np.subtract(volume, low, dtype=np.float32)
    scaled /= np.float32(high - low)
    scaled[~np.isfinite(scaled)] = np.float32(-low / (high - low))  # where the input was not finite
    return np.clip(scaled, 0.0, 1.0, out=scaled)


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
