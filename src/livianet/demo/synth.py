"""Random pseudo-subjects from one labelled template: warps and intensity changes.

Pure array functions with an explicit :class:`numpy.random.Generator`; volumes
are ``(X, Y, Z)`` and sizes are in voxels (millimetres at 1 mm voxels). The image and its labels are warped
through the same sampling coordinates, so they stay consistent: linear
interpolation for the image, nearest neighbour for the labels.

Smooth fields (the displacement and the bias field) are cubic B-spline
free-form fields: random values on a coarse control grid, expanded to the full
grid one axis at a time, which is smooth (C2) and takes a fraction of a second
where ``scipy.ndimage.zoom(order=3)`` takes seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np
import numpy.typing as npt
from scipy import ndimage

__all__ = [
    "SynthParams",
    "add_noise",
    "adjust_gamma",
    "brain_mask",
    "pseudo_subject",
    "random_affine",
    "random_bias_field",
    "random_displacement",
    "sampling_coordinates",
    "warp",
]

Shape3 = tuple[int, int, int]


@dataclass(frozen=True)
class SynthParams:
    """How far a pseudo-subject may differ from the template."""

    max_scale: float = 0.05  # per-axis scaling drawn from [1 - s, 1 + s]
    max_rotation_deg: float = 4.0  # rotation about each axis, degrees
    max_shift: float = 2.0  # translation per axis, voxels
    control_spacing: float = 16.0  # B-spline control-point spacing of the warp, voxels
    displacement_sd: float = 3.0  # SD of control-point values, voxels: RMS ~1.8, peaks ~4
    bias_strength: float = 0.3  # SD of the log bias at control points: field ~0.8..1.25
    bias_control_points: int = 4  # per axis (at least 4)
    max_log_gamma: float = 0.25  # gamma drawn from exp(U(-g, g)): about 0.78..1.28
    noise_range: tuple[float, float] = (0.01, 0.03)  # Gaussian SD, fraction of the maximum


def _bspline_matrix(size: int, spacing: float) -> npt.NDArray[np.float32]:
    """Weights ``(size, num_controls)`` of cubic B-spline control points on a line.

    Row ``i`` holds the four non-zero weights for sample ``i``; they sum to one.
    """
    num_controls = int(np.floor((size - 1) / spacing)) + 4
    u = np.arange(size, dtype=np.float64) / spacing + 1.0
    base = np.floor(u).astype(int)
    f = u - base
    weights = (
        np.stack([(1 - f) ** 3, 3 * f**3 - 6 * f**2 + 4, -3 * f**3 + 3 * f**2 + 3 * f + 1, f**3])
        / 6.0
    )
    matrix = np.zeros((size, num_controls), dtype=np.float32)
    rows = np.arange(size)
    for m in range(4):
        matrix[rows, base - 1 + m] = weights[m]
    return matrix


def _control_grid_shape(shape: Shape3, spacing: float) -> Shape3:
    return tuple(_bspline_matrix(n, spacing).shape[1] for n in shape)


def _expand(controls: npt.NDArray[np.float32], shape: Shape3, spacing: float) -> np.ndarray:
    """Evaluate a B-spline field with control values ``controls`` on the full grid."""
    mx, my, mz = (_bspline_matrix(n, spacing) for n in shape)
    field = np.tensordot(mx, controls, axes=(1, 0))  # (X, cy, cz)
    field = np.tensordot(field, my, axes=(1, 1))  # (X, cz, Y)
    field = np.tensordot(field, mz, axes=(1, 1))  # (X, Y, Z)
    return field.astype(np.float32, copy=False)


def random_affine(
    rng: np.random.Generator,
    max_scale: float = 0.05,
    max_rotation_deg: float = 4.0,
    max_shift: float = 2.0,
) -> npt.NDArray[np.float64]:
    """A random 4x4 voxel-space matrix: scaling, then rotation, then translation.

    It maps an output voxel (relative to the volume centre) to the input voxel
    to sample, as :func:`sampling_coordinates` applies it.
    """
    scale = rng.uniform(1 - max_scale, 1 + max_scale, size=3)
    ax, ay, az = np.deg2rad(rng.uniform(-max_rotation_deg, max_rotation_deg, size=3))
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    matrix = np.eye(4)
    matrix[:3, :3] = rz @ ry @ rx @ np.diag(scale)
    matrix[:3, 3] = rng.uniform(-max_shift, max_shift, size=3)
    return matrix


def random_displacement(
    rng: np.random.Generator, shape: Shape3, control_spacing: float = 16.0, sd: float = 3.0
) -> npt.NDArray[np.float32]:
    """A smooth random displacement field ``(3, X, Y, Z)`` in voxels.

    Control-point values are Gaussian with SD ``sd`` (clipped at 3 SD). With the
    defaults the largest gradient stays well below 1, so the warp does not fold.
    """
    grid = _control_grid_shape(shape, control_spacing)
    controls = np.clip(rng.normal(0.0, sd, size=(3, *grid)), -3 * sd, 3 * sd).astype(np.float32)
    return np.stack([_expand(c, shape, control_spacing) for c in controls])


def sampling_coordinates(
    shape: Shape3,
    matrix: npt.NDArray[np.float64] | None = None,
    displacement: npt.NDArray[np.float32] | None = None,
) -> npt.NDArray[np.float32]:
    """Input voxel coordinates ``(3, X, Y, Z)`` to sample for every output voxel.

    ``matrix`` acts about the volume centre; ``displacement`` is added after it.
    """
    centre = (np.asarray(shape, dtype=np.float32) - 1) / 2
    # float32 throughout; numpy's stubs type the difference as float64
    coords = cast(
        npt.NDArray[np.float32], np.indices(shape, dtype=np.float32) - centre[:, None, None, None]
    )
    if matrix is not None:
        linear = np.asarray(matrix[:3, :3], dtype=np.float32)
        coords = np.tensordot(linear, coords, axes=(1, 0))
        coords += np.asarray(matrix[:3, 3], dtype=np.float32)[:, None, None, None]
    coords += centre[:, None, None, None]
    if displacement is not None:
        coords += displacement
    return coords


def warp(volume: np.ndarray, coordinates: npt.NDArray[np.float32], order: int) -> np.ndarray:
    """Sample ``volume`` at ``coordinates``; outside the volume is 0.

    Use ``order=1`` for images and ``order=0`` for label maps (labels keep their
    dtype and never take values that were not in the input).
    """
    if order == 0:
        out = np.empty(coordinates.shape[1:], dtype=volume.dtype)
    else:
        out = np.empty(coordinates.shape[1:], dtype=np.float32)
    ndimage.map_coordinates(volume, coordinates, output=out, order=order, mode="constant", cval=0)
    return out


def random_bias_field(
    rng: np.random.Generator, shape: Shape3, strength: float = 0.3, control_points: int = 4
) -> npt.NDArray[np.float32]:
    """A smooth positive multiplicative field, ``exp`` of a B-spline field."""
    # A cubic B-spline over n - 1 voxels with spacing s has floor((n - 1) / s) + 4 controls.
    longest = max(shape)
    spacing = (longest - 1) / (control_points - 4) if control_points > 4 else float(longest)
    grid = _control_grid_shape(shape, spacing)
    controls = rng.normal(0.0, strength, size=grid).astype(np.float32)
    return np.exp(_expand(controls, shape, spacing))


def adjust_gamma(image: npt.NDArray[np.float32], gamma: float) -> npt.NDArray[np.float32]:
    """``image ** gamma`` for intensities in ``[0, 1]`` (values outside are clipped).

    >>> adjust_gamma(np.array([0.0, 0.25, 1.0], dtype=np.float32), 0.5).tolist()
    [0.0, 0.5, 1.0]
    """
    return np.power(np.clip(image, 0.0, 1.0), np.float32(gamma)).astype(np.float32)


def add_noise(
    image: npt.NDArray[np.float32], rng: np.random.Generator, sd: float
) -> npt.NDArray[np.float32]:
    """Add white Gaussian noise of standard deviation ``sd``."""
    return image + np.float32(sd) * rng.standard_normal(size=image.shape, dtype=np.float32)


def brain_mask(image: np.ndarray, threshold: float = 0.0) -> npt.NDArray[np.bool_]:
    """``image > threshold`` with enclosed holes filled."""
    return ndimage.binary_fill_holes(image > threshold)


def pseudo_subject(
    image: npt.NDArray[np.float32],
    labels: np.ndarray,
    rng: np.random.Generator,
    params: SynthParams = SynthParams(),  # noqa: B008 - frozen, immutable default
) -> tuple[npt.NDArray[np.float32], np.ndarray, npt.NDArray[np.bool_]]:
    """One random pseudo-subject from a template.

    Args:
        image: template intensities scaled to ``[0, 1]``, 0 outside the head/brain.
        labels: integer label map on the same grid.
        rng: source of all randomness (same state, same subject).
        params: ranges of the random changes.

    Returns:
        ``(image, labels, roi)``: the warped image with a bias field, a gamma
        change and noise inside the ROI (values in ``(0, 1]`` there, 0 outside);
        the labels warped the same way, set to 0 outside the ROI; the ROI, the
        warped template's non-zero voxels with holes filled.
    """
    if image.shape != labels.shape:
        raise ValueError(f"image shape {image.shape} differs from labels shape {labels.shape}")
    shape: Shape3 = image.shape
    matrix = random_affine(rng, params.max_scale, params.max_rotation_deg, params.max_shift)
    displacement = random_displacement(rng, shape, params.control_spacing, params.displacement_sd)
    coords = sampling_coordinates(shape, matrix, displacement)
    del displacement
    warped = warp(image.astype(np.float32, copy=False), coords, order=1)
    warped_labels = warp(labels, coords, order=0)
    del coords
    roi = brain_mask(warped, threshold=1e-3)
    warped *= random_bias_field(rng, shape, params.bias_strength, params.bias_control_points)
    warped /= max(float(warped.max()), 1e-6)
    warped = adjust_gamma(warped, float(np.exp(rng.uniform(-1, 1) * params.max_log_gamma)))
    warped = add_noise(warped, rng, float(rng.uniform(*params.noise_range)))
    # Keep brain voxels strictly positive so that "image > 0" recovers the ROI.
    warped = np.where(roi, np.clip(warped, 1.0 / 255.0, 1.0), 0.0).astype(np.float32)
    warped_labels[~roi] = 0
    return warped, warped_labels, roi
