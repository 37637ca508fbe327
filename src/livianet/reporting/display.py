"""What the QA snapshot and the mosaic share: one display convention, L and R marked, windowing.

Both pictures bring a scan to RAS from its affine (a lossless permutation and flips chosen
from the affine's nearest axes) and show it in the **radiological** convention (the patient's
left on the image's right, as most radiology viewers do), with the patient direction written
at each edge of a panel: L and R large on the axial and coronal panels, where a swapped side
is the mistake that matters. One module keeps the two from drifting apart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from nibabel import orientations

if TYPE_CHECKING:
    from matplotlib.axes import Axes

CONVENTIONS = {
    "radiological": "patient's left on the image's right",
    "neurological": "patient's left on the image's left",
}
DISPLAY_CONVENTION = "radiological"  # as most radiology viewers show scans
EDGES = ("left", "right", "top", "bottom")
# Where each edge's letter goes, in axes fractions: (x, y, horizontal, vertical alignment).
MARK_PLACES = {
    "left": (0.03, 0.5, "left", "center"),
    "right": (0.97, 0.5, "right", "center"),
    "top": (0.5, 0.97, "center", "top"),
    "bottom": (0.5, 0.03, "center", "bottom"),
}
WINDOW_SAMPLE = 1 << 20  # voxels the display window's percentiles are taken from


def check_convention(convention: str) -> None:
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {sorted(CONVENTIONS)}, got {convention!r}")


def panel_edges(name: str, convention: str = DISPLAY_CONVENTION) -> dict[str, str]:
    """The patient direction at each edge of an ``axial``, ``coronal`` or ``sagittal`` panel.

    >>> panel_edges("axial")
    {'left': 'R', 'right': 'L', 'top': 'A', 'bottom': 'P'}
    """
    check_convention(convention)
    side = (
        {"left": "R", "right": "L"} if convention == "radiological" else {"left": "L", "right": "R"}
    )
    if name == "axial":
        return {**side, "top": "A", "bottom": "P"}
    if name == "coronal":
        return {**side, "top": "S", "bottom": "I"}
    if name == "sagittal":
        return {"left": "A", "right": "P", "top": "S", "bottom": "I"}
    raise ValueError(f"panel must be axial, coronal or sagittal, got {name!r}")


def flips_columns(name: str, convention: str = DISPLAY_CONVENTION) -> bool:
    """Whether a RAS slice's column axis runs right-to-left on screen (R or A on the left)."""
    return name == "sagittal" or convention == "radiological"


def draw_edge_marks(ax: Axes, name: str, edges: dict[str, str]) -> None:
    """The edge letters of a panel, white on a black stroke: L and R large except on sagittal."""
    import matplotlib.patheffects as effects

    outline = [effects.withStroke(linewidth=2.5, foreground="black")]
    style: dict[str, Any] = {"transform": ax.transAxes, "color": "white", "path_effects": outline}
    big = name != "sagittal"
    for edge, (x, y, ha, va) in MARK_PLACES.items():
        text = edges[edge]
        size = 13 if big and text in "LR" else 8
        weight = "bold" if size > 8 else "normal"
        ax.text(x, y, text, ha=ha, va=va, fontsize=size, fontweight=weight, **style)


def checked_affine(affine: npt.ArrayLike) -> np.ndarray:
    matrix = np.asarray(affine, dtype=np.float64)
    if matrix.shape != (4, 4) or not np.isfinite(matrix).all():
        raise ValueError(f"affine must be a finite 4x4 matrix, got {matrix.tolist()}")
    if abs(np.linalg.det(matrix[:3, :3])) < 1e-12:
        raise ValueError(f"affine is singular: {np.round(matrix, 4).tolist()}")
    return matrix


def ras_transform(matrix: np.ndarray) -> np.ndarray:
    """The nibabel orientation transform from the affine's storage order to RAS."""
    return orientations.ornt_transform(
        orientations.io_orientation(matrix), orientations.axcodes2ornt("RAS")
    )


def ras_affine(matrix: np.ndarray, transform: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The voxel-to-world matrix of the volume after ``transform``."""
    return matrix @ orientations.inv_ornt_aff(transform, shape)


def as_labels(labels: npt.ArrayLike, shape: tuple[int, ...], what: str) -> npt.NDArray[np.integer]:
    """An integer label map as it is (a 64-bit copy of a 256^3 map is 128 MiB); others rounded."""
    array = np.asarray(labels)
    if array.shape != shape:
        raise ValueError(f"{what} shape {array.shape} does not match image shape {shape}")
    if np.issubdtype(array.dtype, np.integer):
        return array
    return np.rint(np.nan_to_num(array.astype(np.float64))).astype(np.int64)


def slice_centre(mask: npt.NDArray[np.bool_]) -> tuple[int, int, int]:
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


def window(volume: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
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
