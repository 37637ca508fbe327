"""Patch augmentation (off unless configured): flips with left/right label swaps, intensity jitter.

Training patches come from scans brought to the RAS space, so axis 0 runs
between left and right whatever the scans' stored orientation: flipping it
mirrors the anatomy, and left/right label pairs are swapped with it. Scans of
unknown orientation are refused label swaps before training starts.
"""

from __future__ import annotations

import numpy as np

from livianet.config import AugmentConfig
from livianet.config.values import LEFT_RIGHT_AXIS


def swap_table(pairs: tuple[tuple[int, int], ...], num_classes: int) -> np.ndarray:
    """Lookup table that exchanges each left/right pair of labels.

    >>> swap_table(((1, 3),), 4).tolist()
    [0, 3, 2, 1]
    """
    table = np.arange(num_classes, dtype=np.int64)
    for left, right in pairs:
        table[left], table[right] = right, left
    return table


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
    return images, labels
