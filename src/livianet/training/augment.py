"""Patch augmentation (off unless configured): flips with left/right label swaps, small
rotations and scalings, intensity jitter, coil bias, contrast (gamma), blur and noise.

Training patches come from scans brought to the RAS space, so axis 0 runs
between left and right whatever the scans' stored orientation: flipping it
mirrors the anatomy, and left/right label pairs are swapped with it. Scans of
unknown orientation are refused label swaps before training starts.
"""

from __future__ import annotations

import numpy as np

from livianet.config import AugmentConfig
from livianet.config.values import LEFT_RIGHT_AXIS
from livianet.synthesis.codes import swap_table


def augment_batch(
    images: np.ndarray,
    labels: np.ndarray,
    config: AugmentConfig,
    num_classes: int,
    rngs: list[np.random.Generator],
) -> tuple[np.ndarray, np.ndarray]:
    """Randomly flip and jitter each sample of a batch with its own generator.

    One generator per sample keeps augmentation independent of how a global
    batch is split across processes.

    Args:
        images: ``(N, C, X, Y, Z)`` float patches.
        labels: ``(N, x, y, z)`` integer targets (centred in the image patches,
            so flipping both about their centres keeps them aligned).
    """
    if not config.enabled:
        return images, labels
    images, labels = images.copy(), labels.copy()
    swap = swap_table(config.flip_label_pairs, num_classes) if config.flip_label_pairs else None
    channels = images.shape[1]
    for n, rng in enumerate(rngs):
        for axis in config.flip_axes:
            if rng.random() < 0.5:
                images[n] = np.flip(images[n], axis=axis + 1)
                labels[n] = np.flip(labels[n], axis=axis)
                if axis == LEFT_RIGHT_AXIS and swap is not None:
                    labels[n] = swap[labels[n]]
        if config.intensity_scale > 0 or config.intensity_shift > 0:
            scale = 1.0 + rng.uniform(
                -config.intensity_scale, config.intensity_scale, size=(channels, 1, 1, 1)
            )
            shift = rng.uniform(
                -config.intensity_shift, config.intensity_shift, size=(channels, 1, 1, 1)
            )
            images[n] = images[n] * scale + shift
        images[n] = scanner_look(images[n], config, rng)
    return images, labels


def scanner_look(patch: np.ndarray, config: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """A patch ``(C, X, Y, Z)`` as another scanner might show it: coil bias, contrast, blur, noise.

    Bias and gamma act on the patch's own intensity range (its darkest voxel
    stays put), so they work on z-scored intensities too.
    """
    if config.bias_field > 0:
        coords = np.meshgrid(*[np.linspace(-1.0, 1.0, s) for s in patch.shape[1:]], indexing="ij")
        linear, square = rng.uniform(-1, 1, size=(2, 3)) * config.bias_field / 2
        log_field = sum(
            a * c + b * (c * c - 1 / 3) for a, b, c in zip(linear, square, coords, strict=True)
        )
        low = patch.min(axis=(1, 2, 3), keepdims=True)
        patch = (patch - low) * np.exp(log_field)[None].astype(np.float32) + low
    if config.gamma > 0:
        low = patch.min(axis=(1, 2, 3), keepdims=True)
        span = np.maximum(patch.max(axis=(1, 2, 3), keepdims=True) - low, 1e-6)
        gamma = np.float32(np.exp(rng.uniform(-config.gamma, config.gamma)))
        patch = ((patch - low) / span) ** gamma * span + low
    if config.blur > 0:
        from scipy import ndimage

        sigma = rng.uniform(0.0, config.blur, size=3)
        patch = np.stack([ndimage.gaussian_filter(c, sigma, mode="nearest") for c in patch])
    if config.noise > 0:
        sd = np.float32(rng.uniform(0.0, config.noise))
        patch = patch + sd * rng.standard_normal(size=patch.shape, dtype=np.float32)
    return patch.astype(np.float32, copy=False)


def spatial_matrix(rng: np.random.Generator, config: AugmentConfig) -> np.ndarray:
    """A random 3x3 rotation (about each axis) times scaling, near the identity."""
    angles = np.deg2rad(rng.uniform(-config.rotation_deg, config.rotation_deg, size=3))
    scales = 1.0 + rng.uniform(-config.scaling, config.scaling, size=3)
    matrix = np.diag(scales)
    for axis, angle in enumerate(angles):
        a, b = [i for i in range(3) if i != axis]
        turn = np.eye(3)
        turn[a, a] = turn[b, b] = np.cos(angle)
        turn[a, b], turn[b, a] = -np.sin(angle), np.sin(angle)
        matrix = turn @ matrix
    return matrix


def warped_patch(
    volume: np.ndarray,
    centre: np.ndarray,
    size: tuple[int, ...],
    matrix: np.ndarray,
    order: int,
    origin: tuple[int, ...] = (0, 0, 0),
) -> np.ndarray:
    """A patch of ``size`` around ``centre`` (voxel coordinates of ``volume``'s last 3 axes),
    sampled through ``matrix`` about the patch centre: linear for images, nearest for labels.

    ``volume`` may be a box of the whole volume that starts at ``origin`` (``centre`` stays
    in the whole volume's coordinates) and holds every voxel the patch reads. Only the
    block of ``volume`` around the patch is interpolated from: the same values, since the
    coordinates move by whole voxels (exactly, in float32) and the block's edges are the
    volume's wherever a coordinate falls outside it.
    """
    from scipy import ndimage

    grid = np.indices(size, dtype=np.float32).reshape(3, -1)
    grid -= ((np.asarray(size, dtype=np.float32) - 1) / 2)[:, None]
    coords = (matrix.astype(np.float32) @ grid) + np.asarray(centre, dtype=np.float32)[:, None]
    coords -= np.asarray(origin, dtype=np.float32)[:, None]
    block, coords = _block_around(volume, coords)
    dtype = np.dtype(np.float32) if volume.dtype == np.float16 else volume.dtype
    block = np.asarray(block, dtype=dtype)  # ndimage has no float16
    if block.ndim == 3:
        out = ndimage.map_coordinates(block, coords, order=order, mode="nearest")
        return out.reshape(size).astype(dtype, copy=False)
    return np.stack(
        [
            ndimage.map_coordinates(c, coords, order=order, mode="nearest").reshape(size)
            for c in block
        ]
    ).astype(dtype, copy=False)


def _block_around(volume: np.ndarray, coords: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The block of ``volume`` that linear interpolation at ``coords`` reads, and the coords in it."""
    shape = volume.shape[-3:]
    low, high = [], []
    for axis, extent in enumerate(shape):
        start = min(max(int(np.floor(coords[axis].min())) - 1, 0), extent - 1)
        low.append(start)
        high.append(min(max(int(np.floor(coords[axis].max())) + 2, start + 1), extent))
    block = volume[..., low[0] : high[0], low[1] : high[1], low[2] : high[2]]
    return block, coords - np.asarray(low, dtype=np.float32)[:, None]
