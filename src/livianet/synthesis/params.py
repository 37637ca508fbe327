"""The random draws behind one synthetic sample, each from that sample's own generator.

Everything random about a sample (which map, where, how deformed, which intensities,
which scanner) is drawn here, in a fixed order, as small arrays; the renderer then
computes the image from them. One generator per sample, seeded from the run's seed and
the sample's place in the stream, makes every sample reproducible on its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from livianet.config.schema import SynthesisConfig
from livianet.synthesis.codes import CodeTable
from livianet.synthesis.priors import FREESURFER_TISSUES, IntensityPriors, Prior

ELASTIC_SPACING_MM = 24.0  # between the control points of the elastic displacement
BIAS_SPACING_MM = 48.0  # between the control points of the bias field
DARK_BACKGROUND = 0.3  # share of random-intensity samples whose background (code 0) is dark
DARK_MEAN, DARK_STD = 15.0, 5.0  # a dark background's mean and SD are below these
T1_CENTRE, T1_SCALE = 110.0, 35.0  # normalised T1 intensity z is drawn at T1_CENTRE + T1_SCALE z
T1_STD_FACTOR = (0.5, 1.0)  # a prior's SD within a structure is scaled by U(these)
NATIVE_SHARE = 0.05  # share of samples acquired at the model's own voxel size
ISOTROPIC_SHARE = 0.1  # of the others: isotropic voxels (else thick slices on one axis)
BLUR_PER_MM = 0.75  # Gaussian SD, in voxels of the acquisition, of the slice profile
NATIVE_BLUR = 0.5  # partial-volume blur SD (voxels) at the model's own resolution
BLUR_JITTER = 1.03  # the blur SD is scaled by U(1 / this, this)


@dataclass(frozen=True)
class Geometry:
    """Where a patch is taken from and how it is deformed.

    ``linear`` maps an offset from the patch centre in model voxels to one in map
    voxels (rotation, scaling, shear, the flip and both grids' voxel sizes);
    ``elastic`` holds displacements in map voxels at control points spanning the patch.
    """

    map_index: int
    centre: np.ndarray  # (3,) map voxel
    linear: np.ndarray  # (3, 3)
    elastic: np.ndarray | None  # (3, n, n, n)
    flipped: bool


@dataclass(frozen=True)
class Appearance:
    """How a sample looks: per channel and generation class, then per channel.

    ``resolution`` is the simulated voxel size over the model's, per axis (1: native);
    ``blur`` the slice profile's SD in model voxels.
    """

    means: np.ndarray  # (C, G)
    stds: np.ndarray  # (C, G)
    bias: np.ndarray | None  # (C, n, n, n) log field at control points
    gamma: np.ndarray  # (C,)
    noise: np.ndarray  # (C,)
    blur: np.ndarray  # (3,)
    resolution: np.ndarray  # (3,)
    stripped: bool


def control_points(extent_mm: np.ndarray, spacing_mm: float) -> tuple[int, int, int]:
    """Control points per axis of a smooth random field over ``extent_mm``.

    >>> control_points(np.array([38.0, 38.0, 255.0]), 24.0)
    (3, 3, 12)
    """
    return tuple(max(2, math.ceil(e / spacing_mm) + 1) for e in extent_mm)


def affine_part(rng: np.random.Generator, config: SynthesisConfig, flip: bool) -> np.ndarray:
    """Rotation x shear x scaling (x a left-right mirror), acting on offsets in mm."""
    angles = np.deg2rad(rng.uniform(-config.rotation_deg, config.rotation_deg, size=3))
    scales = 1.0 + rng.uniform(-config.scaling, config.scaling, size=3)
    shear = np.eye(3)
    shear[~np.eye(3, dtype=bool)] = rng.uniform(-config.shear, config.shear, size=6)
    matrix = shear @ np.diag(scales)
    for axis, angle in enumerate(angles):
        a, b = [i for i in range(3) if i != axis]
        turn = np.eye(3)
        turn[a, a] = turn[b, b] = np.cos(angle)
        turn[a, b], turn[b, a] = -np.sin(angle), np.sin(angle)
        matrix = turn @ matrix
    return matrix @ np.diag([-1.0, 1.0, 1.0]) if flip else matrix


def draw_geometry(
    rng: np.random.Generator,
    config: SynthesisConfig,
    map_index: int,
    centre: np.ndarray,
    extent_mm: np.ndarray,
    model_spacing: np.ndarray,
    map_spacing: np.ndarray,
    spatial: bool = True,
) -> Geometry:
    """The deformation of one sample; ``spatial=False`` keeps the map's own geometry."""
    flip = bool(config.flip and rng.random() < 0.5)
    if not spatial:
        linear = np.diag(model_spacing / map_spacing)
        return Geometry(map_index, centre, linear, None, False)
    matrix = affine_part(rng, config, flip)
    linear = np.diag(1.0 / map_spacing) @ matrix @ np.diag(model_spacing)
    elastic = None
    if config.elastic_mm > 0:
        shape = control_points(extent_mm, ELASTIC_SPACING_MM)
        sd = rng.uniform(0.0, config.elastic_mm)
        elastic = rng.normal(0.0, sd, size=(3, *shape)) / map_spacing[:, None, None, None]
    return Geometry(map_index, centre, linear, elastic, flip)


def generation_priors(
    table: CodeTable, priors: IntensityPriors | None
) -> list[list[Prior | None]] | None:
    """Per channel and generation class: the T1-like prior its codes follow (None: random)."""
    if priors is None:
        return None
    chosen: list[list[Prior | None]] = []
    for c in range(priors.channels):
        row: list[Prior | None] = []
        for codes in table.generation_codes():
            classes = [int(table.classes[np.searchsorted(table.codes, code)]) for code in codes]
            structure = next((k for k in classes if k > 0), None)
            tissue = next((FREESURFER_TISSUES[k] for k in codes if k in FREESURFER_TISSUES), None)
            if structure is not None:
                row.append(priors.classes[c][structure])
            elif tissue is not None:
                row.append(priors.tissues[c][tissue])
            else:
                row.append(None)
        chosen.append(row)
    return chosen


def draw_intensities(
    rng: np.random.Generator,
    config: SynthesisConfig,
    table: CodeTable,
    channels: int,
    t1: list[list[Prior | None]] | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and SD of every generation class, per channel: random, or T1-like where ``t1``."""
    count = table.num_generation
    means = rng.uniform(*config.means, size=(channels, count))
    stds = rng.uniform(*config.stds, size=(channels, count))
    dark = t1 is not None or rng.random() < DARK_BACKGROUND
    for c in range(channels):
        if t1 is not None and c < len(t1):
            for g, prior in enumerate(t1[c]):
                if prior is not None:
                    means[c, g] = T1_CENTRE + T1_SCALE * rng.normal(prior.mean, prior.spread)
                    stds[c, g] = T1_SCALE * prior.std * rng.uniform(*T1_STD_FACTOR)
        if dark and table.background >= 0:
            means[c, table.background] = rng.uniform(0.0, DARK_MEAN)
            stds[c, table.background] = rng.uniform(0.0, DARK_STD)
    return means, stds


def draw_resolution(
    rng: np.random.Generator, config: SynthesisConfig, model_spacing: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A simulated acquisition: voxel size over the model's per axis, and the blur SD (voxels).

    The slice thickness is drawn between the model's voxel size and the spacing, and
    blurs as a Gaussian of SD 0.75 thickness (0.5 voxel at the model's own resolution).
    """
    native = model_spacing.copy()
    choice = rng.random()
    iso = rng.random() < ISOTROPIC_SHARE
    axis = int(rng.integers(3))
    size = native.copy()
    if choice >= NATIVE_SHARE:
        if iso:
            high = max(float(native.min()), config.max_voxel_size)
            size[:] = np.maximum(native, rng.uniform(native.min(), high))
        else:
            high = max(float(native[axis]), config.max_slice_spacing)
            size[axis] = rng.uniform(native[axis], high)
    thickness = rng.uniform(native, size)
    blur = np.where(thickness > native * 1.001, BLUR_PER_MM * thickness / native, NATIVE_BLUR)
    blur = blur * rng.uniform(1.0 / BLUR_JITTER, BLUR_JITTER, size=3)
    return size / native, blur


def draw_appearance(
    rng: np.random.Generator,
    config: SynthesisConfig,
    table: CodeTable,
    channels: int,
    extent_mm: np.ndarray,
    model_spacing: np.ndarray,
    t1: list[list[Prior | None]] | None,
) -> Appearance:
    """Intensities, bias field, contrast, noise, resolution and brain extraction of one sample."""
    means, stds = draw_intensities(rng, config, table, channels, t1)
    bias = None
    if config.bias_field > 0:
        shape = control_points(extent_mm, BIAS_SPACING_MM)
        sd = rng.uniform(0.0, config.bias_field, size=(channels, 1, 1, 1))
        bias = rng.normal(0.0, 1.0, size=(channels, *shape)) * sd
    gamma = np.exp(rng.uniform(-config.gamma, config.gamma, size=channels))
    noise = rng.uniform(0.0, config.noise, size=channels)
    resolution, blur = draw_resolution(rng, config, model_spacing)
    stripped = bool(rng.random() < config.skull_stripped_share)
    return Appearance(means, stds, bias, gamma, noise, blur, resolution, stripped)
