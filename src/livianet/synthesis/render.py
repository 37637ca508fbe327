"""From a label patch to an image: PyTorch operations, on the CPU or a GPU alike.

Pure functions on tensors: sampling a map through a deformation (nearest, so labels stay
labels), Gaussian-mixture intensities, and every smooth or linear step (upsampling a field
of control points, the slice profile's blur, down-sampling to a simulated acquisition and
back) as one small matrix per axis, applied axis by axis: a patch's axes are short, so
three matrix products beat a convolution and an interpolation on a CPU. Random numbers
come from a ``torch.Generator`` seeded by the sample's own generator.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
import torch

GAMMA_RANGE = 255.0  # gamma acts on intensity / GAMMA_RANGE (the scale of the random means)
HERMITE_NODES, _HERMITE = np.polynomial.hermite_e.hermegauss(12)
HERMITE_WEIGHTS = _HERMITE / _HERMITE.sum()

Matrices = Sequence[torch.Tensor | None]  # per axis, (new length, old length); None: unchanged


def offsets(size: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """``(3, X*Y*Z)`` voxel offsets of a grid of ``size`` from its centre."""
    axes = [torch.arange(s, dtype=torch.float32, device=device) - (s - 1) / 2 for s in size]
    return torch.stack(torch.meshgrid(*axes, indexing="ij")).reshape(3, -1)


def separable(volume: torch.Tensor, matrices: Matrices) -> torch.Tensor:
    """``(C, X, Y, Z)`` with matrix ``a`` applied along axis ``a`` (each optional)."""
    out = volume
    for axis, matrix in enumerate(matrices):
        if matrix is None:
            continue
        matrix = matrix.to(out.device)
        if axis == 2:
            out = out @ matrix.T
        else:
            out = (out.movedim(axis + 1, -1) @ matrix.T).movedim(-1, axis + 1)
    return out


@functools.lru_cache(maxsize=256)
def interpolation(new: int, old: int) -> torch.Tensor:
    """``(new, old)``: linear interpolation between grids of ``old`` and ``new`` points over one extent.

    >>> interpolation(3, 2).tolist()
    [[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]]
    """
    matrix = np.zeros((new, old), dtype=np.float32)
    if old == 1 or new == 1:
        matrix[:, 0 if old == 1 else (old - 1) // 2] = 1.0
        return torch.from_numpy(matrix)
    where = np.arange(new) * (old - 1) / (new - 1)
    low = np.minimum(np.floor(where).astype(np.int64), old - 2)
    frac = (where - low).astype(np.float32)
    rows = np.arange(new)
    matrix[rows, low] = 1.0 - frac
    matrix[rows, low + 1] += frac
    return torch.from_numpy(matrix)


def gaussian_matrix(size: int, sigma: float) -> torch.Tensor | None:
    """``(size, size)``: a Gaussian blur of SD ``sigma`` voxels, the edge voxel repeated outside."""
    if sigma < 0.1:
        return None
    radius = max(1, math.ceil(3.0 * sigma))
    steps = np.arange(-radius, radius + 1)
    weights = np.exp(-0.5 * (steps / sigma) ** 2)
    weights /= weights.sum()
    rows = np.repeat(np.arange(size), steps.size)
    columns = np.clip(np.arange(size)[:, None] + steps[None, :], 0, size - 1).ravel()
    matrix = np.zeros((size, size), dtype=np.float64)
    np.add.at(matrix, (rows, columns), np.tile(weights, size))
    return torch.from_numpy(matrix.astype(np.float32))


def upsample(control: torch.Tensor, size: tuple[int, ...]) -> torch.Tensor:
    """``(C, n, n, n)`` control points as a smooth ``(C, *size)`` field (trilinear, corners kept)."""
    return separable(
        control, [interpolation(s, n) for s, n in zip(size, control.shape[1:], strict=True)]
    )


def map_coordinates(
    grid: torch.Tensor,
    size: tuple[int, ...],
    centre: np.ndarray,
    linear: np.ndarray,
    elastic: np.ndarray | None,
) -> torch.Tensor:
    """``(3, X*Y*Z)`` map voxel coordinates of every patch voxel."""
    matrix = torch.as_tensor(linear, dtype=torch.float32, device=grid.device)
    shift = torch.as_tensor(centre, dtype=torch.float32, device=grid.device)[:, None]
    coords = torch.addmm(shift, matrix, grid)
    if elastic is not None:
        field = torch.as_tensor(elastic, dtype=torch.float32, device=grid.device)
        coords += upsample(field, size).reshape(3, -1)
    return coords


def nearest(volume: torch.Tensor, coords: torch.Tensor, size: tuple[int, ...]) -> torch.Tensor:
    """``volume`` (3-D) at the nearest voxel of each coordinate, the edge repeated outside."""
    shape = volume.shape
    high = torch.tensor([[s - 1] for s in shape], dtype=coords.dtype, device=coords.device)
    voxel = torch.clamp(coords.round(), min=torch.zeros_like(high), max=high).to(torch.int64)
    index = (voxel[0] * shape[1] + voxel[1]) * shape[2] + voxel[2]
    return volume.reshape(-1).take(index).reshape(size)


def mixture_image(
    generation: torch.Tensor, means: np.ndarray, stds: np.ndarray, noise: torch.Tensor
) -> torch.Tensor:
    """``(C, *shape)`` intensities: per voxel, its generation class's mean + SD x ``noise``."""
    device = generation.device
    flat = generation.reshape(-1)
    channels = []
    for c in range(means.shape[0]):
        mean = torch.as_tensor(means[c], dtype=torch.float32, device=device).take(flat)
        sd = torch.as_tensor(stds[c], dtype=torch.float32, device=device).take(flat)
        channels.append(torch.addcmul(mean, sd, noise[c].reshape(-1)))
    return torch.stack(channels).reshape(means.shape[0], *generation.shape)


def low_resolution_size(size: tuple[int, ...], factor: np.ndarray) -> tuple[int, ...]:
    """Grid points of an acquisition ``factor`` times coarser over the same extent (ends kept).

    >>> low_resolution_size((39, 39, 39), np.array([1.0, 1.0, 5.0]))
    (39, 39, 9)
    """
    return tuple(
        n if f <= 1.0 else max(2, round((n - 1) / f) + 1) for n, f in zip(size, factor, strict=True)
    )


def acquisition(
    size: tuple[int, ...], blur_sd: np.ndarray, factor: np.ndarray
) -> tuple[list[torch.Tensor | None], list[torch.Tensor | None]]:
    """Per axis, the matrices that blur by the slice profile and sample the acquisition's grid,
    and those that bring it back to ``size``."""
    low = low_resolution_size(size, factor)
    down: list[torch.Tensor | None] = []
    up: list[torch.Tensor | None] = []
    for n, m, sd in zip(size, low, blur_sd, strict=True):
        profile = gaussian_matrix(n, float(sd))
        if m == n:
            down.append(profile)
            up.append(None)
            continue
        sample = interpolation(m, n)
        down.append(sample if profile is None else sample @ profile)
        up.append(interpolation(n, m))
    return down, up


def acquire(
    image: torch.Tensor,
    blur_sd: np.ndarray,
    factor: np.ndarray,
    noise_sd: np.ndarray,
    generator: torch.Generator,
) -> torch.Tensor:
    """``image`` as an acquisition ``factor`` times coarser would record it: blurred by the slice
    profile, sampled on the coarse grid, noisy there, and interpolated back."""
    down, up = acquisition(tuple(image.shape[1:]), blur_sd, factor)
    coarse = separable(image, down)
    noise = torch.randn(coarse.shape, generator=generator).to(image.device)
    sd = torch.as_tensor(noise_sd, dtype=torch.float32, device=image.device)[:, None, None, None]
    return separable(coarse.add_(noise.mul_(sd)), up)


def gamma_contrast(image: torch.Tensor, gamma: np.ndarray) -> torch.Tensor:
    """``GAMMA_RANGE x (image / GAMMA_RANGE) ^ gamma`` per channel (negative values to 0)."""
    power = torch.as_tensor(gamma, dtype=torch.float32, device=image.device)[:, None, None, None]
    return (image.clamp(min=0.0) / GAMMA_RANGE).pow_(power).mul_(GAMMA_RANGE)


def noise_factors(blur_sd: np.ndarray, factor: np.ndarray) -> tuple[float, float]:
    """How much the acquisition keeps of the variance of voxel-wise noise: noise drawn with
    the intensities (blurred, sampled, brought back), and noise added on the coarse grid
    (brought back). Read off the operators of a long axis, away from its ends."""
    length = 129
    down, up = acquisition((length,) * 3, blur_sd, factor)
    kept_before, kept_after = 1.0, 1.0
    for d, u in zip(down, up, strict=True):
        whole = d if u is None else (u @ d if d is not None else u)
        if whole is not None:
            kept_before *= float((whole[length // 2] ** 2).sum())
        if u is not None:
            kept_after *= float((u[length // 4 : 3 * length // 4] ** 2).sum(dim=1).mean())
    return kept_before, kept_after


def region_statistics(
    weights: np.ndarray,
    means: np.ndarray,
    stds: np.ndarray,
    gamma: np.ndarray,
    noise_sd: np.ndarray,
    kept: tuple[float, float] = (1.0, 1.0),
) -> tuple[np.ndarray, np.ndarray]:
    """Per channel, the mean and SD that z-scoring a whole rendered ROI would find.

    The ROI is a mixture of generation classes (``weights``, summing to 1), each a
    Gaussian put through the gamma contrast; its moments come from Gauss-Hermite
    quadrature, so a patch is normalised as its whole map would be, without rendering it.
    Blur keeps the share ``kept[0]`` of the variance within each class, and the
    acquisition's noise adds its own (of which ``kept[1]`` is kept). The bias field is
    left out.
    """
    values = means[:, :, None] + stds[:, :, None] * HERMITE_NODES[None, None, :]  # (C, G, Q)
    mapped = (np.clip(values, 0.0, None) / GAMMA_RANGE) ** gamma[:, None, None] * GAMMA_RANGE
    class_mean = (mapped * HERMITE_WEIGHTS).sum(axis=2)  # (C, G)
    class_var = np.maximum((mapped**2 * HERMITE_WEIGHTS).sum(axis=2) - class_mean**2, 0.0)
    first = class_mean @ weights
    between = (class_mean - first[:, None]) ** 2 @ weights
    variance = between + kept[0] * (class_var @ weights) + kept[1] * noise_sd**2
    return first, np.sqrt(variance)
