"""Tiled inference equals one pass over the whole padded volume."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from livianet.config import ModelConfig
from livianet.inference import segment_volume
from livianet.inference.tiling import auto_tile, pad_region, roi_box, split_axis
from livianet.networks import build_model, fuse


def _model(
    num_classes: int = 4, intermediate=(1,), kernels=((3, 3, 3), (3, 3, 3), (3, 3, 3))
) -> torch.nn.Module:
    config = ModelConfig(
        conv_channels=(5, 6, 7),
        conv_kernels=kernels,
        fc_channels=(9,),
        num_classes=num_classes,
        dropout_rates=(0.2, 0.3),
        intermediate_layers=intermediate,
        activation="prelu",
    )
    model = build_model(config, seed=1)
    generator = torch.Generator().manual_seed(2)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm3d):
            module.running_mean.copy_(torch.randn(module.num_features, generator=generator) * 0.3)
            module.running_var.copy_(torch.rand(module.num_features, generator=generator) + 0.5)
    return model.eval()


def _whole_volume(model, image: np.ndarray) -> torch.Tensor:
    rf = model.receptive_field
    pads = [(0, 0)] + [((r - 1) // 2, r - 1 - (r - 1) // 2) for r in rf]
    padded = np.pad(image, pads, mode="reflect")
    with torch.no_grad():
        return torch.softmax(model(torch.from_numpy(padded)[None]), dim=1)[0]


@pytest.mark.parametrize("tile", [1, 4, 7, 16, 64])
@pytest.mark.parametrize("shape", [(13, 17, 11), (5, 9, 6), (20, 20, 20)])
def test_tiled_equals_whole_volume(tile, shape, rng):
    model = _model()
    image = rng.normal(size=(1, *shape)).astype(np.float32)
    expected = _whole_volume(model, image)
    result = segment_volume(model, image, None, tile=tile, probabilities=True)
    np.testing.assert_allclose(result.dense_probabilities(), expected.numpy(), atol=2e-5)
    assert np.array_equal(result.labels, expected.argmax(0).numpy())
    assert result.labels.shape == shape


def test_uneven_kernels_and_batches(rng):
    model = _model(kernels=((3, 1, 5), (3, 3, 1), (1, 3, 3)), intermediate=(0,))
    assert model.receptive_field == (5, 5, 7)
    image = rng.normal(size=(1, 12, 7, 15)).astype(np.float32)
    expected = _whole_volume(model, image)
    for tile, batch in ((3, 4), (5, 2), (100, 1)):
        result = segment_volume(model, image, None, tile=tile, batch_size=batch, probabilities=True)
        np.testing.assert_allclose(result.dense_probabilities(), expected.numpy(), atol=2e-5)


def test_roi_limits_work_and_sets_background_outside(rng):
    model = _model()
    image = rng.normal(size=(1, 16, 16, 16)).astype(np.float32)
    roi = np.zeros((16, 16, 16), bool)
    roi[3:9, 5:12, 2:7] = True
    expected = _whole_volume(model, image)
    result = segment_volume(model, image, roi, tile=4, probabilities=True)
    inside = expected.numpy()[:, roi]
    np.testing.assert_allclose(result.dense_probabilities()[:, roi], inside, atol=2e-5)
    assert (result.labels[~roi] == 0).all()
    assert (result.dense_probabilities()[0][~roi] == 1).all() and (
        result.dense_probabilities()[1:][:, ~roi] == 0
    ).all()


def test_the_folded_network_on_an_irregular_roi_equals_the_whole_volume_there(rng):
    model = _model()
    image = rng.normal(size=(1, 18, 16, 17)).astype(np.float32)
    roi = rng.random((18, 16, 17)) < 0.4  # tiles hold ROI and non-ROI voxels alike
    expected = _whole_volume(model, image).numpy()
    for batch in (1, 3):
        result = segment_volume(
            fuse(model), image, roi, tile=5, batch_size=batch, probabilities=True
        )
        np.testing.assert_allclose(
            result.dense_probabilities()[:, roi], expected[:, roi], atol=2e-5
        )
        assert np.array_equal(result.labels[roi], expected.argmax(0)[roi])
        assert (result.labels[~roi] == 0).all()


def test_largest_tiles_run_first(rng):
    """Later, smaller tiles then fit in the blocks earlier ones freed (a heap that keeps them)."""
    model = _model()
    image = rng.normal(size=(1, 20, 20, 20)).astype(np.float32)
    roi = np.zeros((20, 20, 20), bool)
    roi[:10, :4, :] = True  # a thin slab, then a wide one: tiles of two sizes
    roi[10:, :, :9] = True
    seen = []
    handle = model.register_forward_pre_hook(lambda _, args: seen.append(args[0].shape[2:].numel()))
    try:
        result = segment_volume(model, image, roi, tile=10)
    finally:
        handle.remove()
    assert len(set(seen)) > 1 and seen == sorted(seen, reverse=True)
    expected = _whole_volume(model, image).argmax(0).numpy()
    assert np.array_equal(result.labels[roi], expected[roi])


def test_empty_roi_gives_background(rng):
    model = _model()
    image = rng.normal(size=(1, 8, 8, 8)).astype(np.float32)
    result = segment_volume(model, image, np.zeros((8, 8, 8), bool))
    assert (result.labels == 0).all()


def test_bf16_runs_and_mostly_agrees(rng):
    model = _model()
    image = rng.normal(size=(1, 12, 12, 12)).astype(np.float32)
    exact = segment_volume(model, image, None, precision="float32", probabilities=True)
    fast = segment_volume(model, image, None, precision="bf16", probabilities=True)
    assert np.abs(exact.dense_probabilities() - fast.dense_probabilities()).max() < 0.05


def test_multichannel_input(rng):
    config = ModelConfig(
        conv_channels=(4, 4),
        conv_kernels=((3, 3, 3), (3, 3, 3)),
        fc_channels=(),
        num_classes=3,
        dropout_rates=(0.0,),
        in_channels=2,
    )
    model = build_model(config).eval()
    image = rng.normal(size=(2, 9, 10, 11)).astype(np.float32)
    expected = _whole_volume(model, image)
    result = segment_volume(model, image, None, tile=3, probabilities=True)
    np.testing.assert_allclose(result.dense_probabilities(), expected.numpy(), atol=2e-5)


def test_split_axis_covers_span_with_equal_tiles():
    for start, stop, tile in [(0, 140, 64), (3, 4, 10), (7, 100, 9), (0, 64, 64)]:
        starts, size = split_axis(start, stop, tile)
        assert size <= tile
        covered = np.zeros(stop, bool)
        for s in starts:
            assert start <= s and s + size <= stop
            covered[s : s + size] = True
        assert covered[start:stop].all()


def test_roi_box():
    mask = np.zeros((10, 12, 14), bool)
    mask[2, 3:5, 7] = True
    mask[4, 3, 9] = True
    assert roi_box(mask, mask.shape) == ((2, 3, 7), (5, 5, 10))
    assert roi_box(None, (4, 5, 6)) == ((0, 0, 0), (4, 5, 6))


def test_pad_region_equals_cropping_the_padded_volume(rng):
    image = rng.normal(size=(1, 10, 11, 12)).astype(np.float32)
    rf = (7, 5, 9)
    pads = [(0, 0)] + [((r - 1) // 2, r - 1 - (r - 1) // 2) for r in rf]
    padded = np.pad(image, pads, mode="reflect")
    for lo, hi in [((0, 0, 0), (10, 11, 12)), ((2, 5, 0), (6, 11, 4)), ((9, 0, 11), (10, 1, 12))]:
        window = pad_region(image, lo, hi, rf)
        expected = padded[
            :, lo[0] : hi[0] + rf[0] - 1, lo[1] : hi[1] + rf[1] - 1, lo[2] : hi[2] + rf[2] - 1
        ]
        np.testing.assert_array_equal(window, expected)


def test_auto_tile_respects_memory_budget():
    model = _model()
    small = auto_tile(model, batch=1, budget=1 << 20)
    large = auto_tile(model, batch=1, budget=1 << 30)
    assert 9 <= small < large


def test_tiles_follow_the_roi_shape(rng):
    """A ball fills about half its bounding box: shaped tiles compute less than the box's grid."""
    from livianet.inference.tiling import tile_plan

    model = _model()
    shape = (40, 40, 40)
    grid = np.stack(np.meshgrid(*[np.arange(s) for s in shape], indexing="ij"))
    roi = ((grid - 19.5) ** 2).sum(0) < 19**2
    tiles = tile_plan(model, roi, shape, tile=10)
    covered = np.zeros(shape, bool)
    for tile in tiles:
        assert max(tile.size) <= 10 and roi[tile.window].any()
        covered[tile.window] = True
    assert covered[roi].all()
    computed = sum(int(np.prod(t.size)) for t in tiles)
    grid = [split_axis(1, 39, 10)] * 3  # the box's plain grid: 4 tiles of 10 per axis
    assert grid[0] == ([1, 11, 21, 29], 10)
    box_plan = sum(
        1
        for x in grid[0][0]
        for y in grid[1][0]
        for z in grid[2][0]
        if roi[x : x + 10, y : y + 10, z : z + 10].any()
    )
    assert computed < 0.9 * box_plan * 1000
    image = rng.normal(size=(1, *shape)).astype(np.float32)
    expected = _whole_volume(model, image)
    result = segment_volume(model, image, roi, tile=10, batch_size=3, probabilities=True)
    dense = result.dense_probabilities()
    np.testing.assert_allclose(dense[:, roi], expected.numpy()[:, roi], atol=2e-5)
    assert np.array_equal(result.labels[roi], expected.argmax(0).numpy()[roi])
    assert not result.labels[~roi].any() and np.all(dense[0, ~roi] == 1.0)
