"""An entry's box holds every voxel a patch reads: cut from it, patches equal those of the whole volume."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from livianet.cache.window import padded_box, patch_pads, training_box, warp_reach
from livianet.config import AugmentConfig
from livianet.training.augment import spatial_matrix, warped_patch
from livianet.training.sampling import centres_to_corners, extract_patches


@pytest.mark.parametrize("size", [1, 2, 5, 9])
def test_a_padded_box_is_that_box_of_the_reflect_padded_volume(size):
    rng = np.random.default_rng(size)
    volume = rng.normal(size=(2, size, size + 1, 7)).astype(np.float32)
    pads = ((3, 4), (6, 2), (0, 0))  # wider than the volume on the small axes
    whole = np.pad(volume, ((0, 0), *pads), mode="reflect")
    for _ in range(5):
        start = [int(rng.integers(0, n)) for n in whole.shape[1:]]
        stop = [
            int(rng.integers(a + 1, n + 1)) for a, n in zip(start, whole.shape[1:], strict=True)
        ]
        box = (tuple(start), tuple(stop))
        expected = whole[:, start[0] : stop[0], start[1] : stop[1], start[2] : stop[2]]
        assert np.array_equal(padded_box(volume, box, pads), expected)  # type: ignore[arg-type]


def _old_warped_patch(volume, centre, size, matrix, order):
    """The sampling before boxes: the whole volume handed to ``map_coordinates``."""
    grid = np.indices(size, dtype=np.float32).reshape(3, -1)
    grid -= ((np.asarray(size, dtype=np.float32) - 1) / 2)[:, None]
    coords = (matrix.astype(np.float32) @ grid) + np.asarray(centre, dtype=np.float32)[:, None]
    if volume.ndim == 3:
        out = ndimage.map_coordinates(volume, coords, order=order, mode="nearest")
        return out.reshape(size).astype(volume.dtype, copy=False)
    return np.stack(
        [
            ndimage.map_coordinates(c, coords, order=order, mode="nearest").reshape(size)
            for c in volume
        ]
    ).astype(volume.dtype, copy=False)


@pytest.mark.parametrize("padded", [True, False])
def test_patches_from_a_training_box_equal_patches_from_the_whole_volume(padded):
    rng = np.random.default_rng(int(padded))
    shape, patch, out = (30, 26, 34), (9, 9, 9), (5, 5, 5)
    image = rng.normal(size=(1, *shape)).astype(np.float32)
    label = rng.integers(0, 4, size=shape).astype(np.uint8)
    pads = patch_pads(patch) if padded else ((0, 0), (0, 0), (0, 0))
    whole_image = np.pad(image, ((0, 0), *pads), mode="reflect")
    whole_label = np.pad(label, pads, mode="reflect")
    augment = AugmentConfig(rotation_deg=30.0, scaling=0.2)
    reach = warp_reach(patch, augment.scaling)
    first, last = np.array([3, 0, 20]), np.array([12, 25, 33])  # candidates, up to the edges
    box = training_box(tuple(first), tuple(last), shape, patch, padded, reach)
    image_box, label_box = padded_box(image, box, pads), padded_box(label, box, pads)
    centres = rng.integers(first, last + 1, size=(40, 3))
    flats = np.ravel_multi_index(centres.T, shape)
    corners = centres_to_corners(flats, shape, patch, padded)
    inside = corners - np.array(box[0])
    assert np.array_equal(
        extract_patches(image_box, inside, patch), extract_patches(whole_image, corners, patch)
    )
    middle = (np.asarray(patch) - 1) / 2
    for corner in corners:
        matrix = spatial_matrix(rng, augment)
        for whole, part, order in ((whole_image, image_box, 1), (whole_label, label_box, 0)):
            expected = _old_warped_patch(
                whole, corner + middle, patch if order else out, matrix, order
            )
            new_whole = warped_patch(whole, corner + middle, patch if order else out, matrix, order)
            boxed = warped_patch(
                part, corner + middle, patch if order else out, matrix, order, box[0]
            )
            assert np.array_equal(new_whole, expected) and np.array_equal(boxed, expected)
