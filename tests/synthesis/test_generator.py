"""The generator of training images from label maps: codes, draws, patches, renders, priors."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import synthetic_case
from scipy import ndimage
from synthesis_fixtures import PAIRS, STILL, nested_spheres, write_ini, write_map, write_maps

from livianet.config import load_training_config
from livianet.errors import DataError
from livianet.synthesis import (
    IntensityPriors,
    LabelMapSource,
    Prior,
    code_table,
    estimate_priors,
    load_label_maps,
    sample_seeds,
)
from livianet.synthesis import render as r
from livianet.synthesis.codes import swap_table


def _source(
    tmp_path: Path, extra: str = "", count: int = 3, normalization: str = "zscore", **replaced
) -> LabelMapSource:
    maps = write_maps(tmp_path / "maps", count)
    ini = write_ini(tmp_path, maps, extra, normalization=normalization)
    config = load_training_config(ini, label_maps_only=True)
    if replaced:
        config = replace(config, synthesis=replace(config.synthesis, **replaced))
    return LabelMapSource.from_config(config)


def _classes(source: LabelMapSource, codes: np.ndarray) -> np.ndarray:
    return source.table.classes[source.table.positions(codes)]


# The partial-volume blur (SD 0.5 voxel) moves a voxel one voxel inside a region by less
# than 0.1 % of the contrast (in the 0-255 units of the random means).
FLAT = 0.6


def _interiors(labels: np.ndarray) -> dict[int, np.ndarray]:
    """Each class's voxels whose 26 neighbours are of that class too (background left out:
    it holds several codes, each with its own intensity)."""
    cube = np.ones((3, 3, 3), dtype=bool)
    return {int(k): ndimage.binary_erosion(labels == k, cube) for k in np.unique(labels) if k}


# ----------------------------------------------------------------------------- codes


def test_codes_become_classes_generation_classes_and_roi(tmp_path):
    config = load_training_config(
        write_ini(
            tmp_path,
            tmp_path,
            "generationClasses = [[10, 49], [2, 502]]\nroiCodes = [2, 10, 11, 49, 50]",
        ),
        label_maps_only=True,
    ).synthesis
    table = code_table(np.array([0, 2, 10, 11, 49, 50, 502]), config)
    assert table.codes.tolist() == [0, 2, 10, 11, 49, 50, 502]
    assert table.classes.tolist() == [0, 0, 1, 2, 3, 4, 0]
    # groups first (10 with 49, 2 with 502), then every other code on its own, in code order
    assert table.generation.tolist() == [2, 1, 0, 3, 0, 4, 1]
    assert table.in_roi.tolist() == [False, True, True, True, True, True, False]
    assert table.background == 2
    labels = np.array([[[502, 0, 49]]])
    assert table.codes[table.positions(labels)].tolist() == labels.tolist()


def test_each_generation_class_gets_one_intensity_before_blur_and_noise(tmp_path):
    source = _source(tmp_path, "generationClasses = [[10, 49]]")
    rng = np.random.default_rng(0)
    from livianet.synthesis.params import draw_intensities

    means, _ = draw_intensities(rng, source.config, source.table, 1, None)
    codes = nested_spheres()
    generation = torch.as_tensor(source.table.generation[source.table.positions(codes)])
    image = r.mixture_image(generation, means, np.zeros_like(means), torch.randn(1, *codes.shape))
    values = {int(c): np.unique(image[0].numpy()[codes == c]) for c in np.unique(codes)}
    assert all(v.size == 1 for v in values.values())
    assert values[10][0] == values[49][0]  # one generation class
    others = [values[c][0] for c in (0, 2, 10, 11, 50, 502)]
    assert len(set(others)) == len(others)


# ----------------------------------------------------------------------------- patches


def test_patches_are_shaped_as_real_batches_and_reproducible(tmp_path):
    source = _source(tmp_path)
    seeds = sample_seeds(5, 2, 1, 0, 4)
    assert seeds[3] == [5, 2, 1, 13, 3]
    images, targets = source.patches(seeds)
    assert images.shape == (4, 1, 13, 13, 13) and images.dtype == np.float32
    assert targets.shape == (4, 7, 7, 7) and targets.dtype == np.int64
    assert set(np.unique(targets)) <= set(range(5))
    again, again_targets = source.patches(seeds)
    assert np.array_equal(images, again) and np.array_equal(targets, again_targets)
    # one sample does not depend on the others in its batch (processes split batches)
    alone, alone_target = source.patches(seeds[2:3])
    assert np.array_equal(alone[0], images[2]) and np.array_equal(alone_target[0], targets[2])
    other, _ = source.patches(sample_seeds(6, 2, 1, 0, 4))
    assert not np.array_equal(other, images)


def test_a_still_patch_is_the_map_around_its_centre(tmp_path):
    """Without deformation, a target is a window of the map's classes and the image is
    one value per class inside its regions (it moved with the labels)."""
    source = _source(tmp_path, STILL, normalization="none")
    classes = [_classes(source, nested_spheres(shift=n - 1)) for n in range(3)]
    images, targets = source.patches(sample_seeds(0, 0, 0, 0, 6))
    for image, target in zip(images, targets, strict=True):
        windows = (
            np.lib.stride_tricks.sliding_window_view(c, target.shape).reshape(-1, *target.shape)
            for c in classes
        )
        assert any((w == target).all(axis=(1, 2, 3)).any() for w in windows)
        centre = image[0, 3:10, 3:10, 3:10]  # the image voxels over the target
        for k, inside in _interiors(target).items():
            if inside.any():
                assert np.ptp(centre[inside]) < FLAT, k


# ----------------------------------------------------------------------------- renders


def test_deformation_keeps_labels_and_moves_the_image_with_them(tmp_path):
    source = _source(
        tmp_path,
        "synthStds = [0, 0]\nsynthNoise = 0\nsynthBiasField = 0\nsynthMaxVoxelSize = 0\n"
        "synthMaxSliceSpacing = 0\nsynthRotation = 20\nsynthElastic = 2",
        normalization="none",
    )
    still = _classes(source, nested_spheres(shift=-1))
    for seed in range(2):
        done = source.render(0, [seed], spatial=True)
        assert done.labels.shape == still.shape
        assert set(np.unique(done.labels)) <= {0, 1, 2, 3, 4}  # nearest: no new labels
        assert (done.labels != still).mean() > 0.005  # it did move
        interiors = _interiors(done.labels)
        assert sorted(interiors) == [1, 2, 3, 4] and all(m.any() for m in interiors.values())
        for k, inside in interiors.items():
            assert np.ptp(done.image[0][inside]) < FLAT, (seed, k)


def test_flips_mirror_left_and_right_and_swap_the_declared_pairs(tmp_path):
    source = _source(tmp_path, STILL + "flipLeftRight = 1\nlabelPairs = [[1, 3], [2, 4]]")
    still = _classes(source, nested_spheres(shift=-1))
    swapped = swap_table(PAIRS, 5)[np.flip(still, axis=0)]
    assert not np.array_equal(swapped, still)  # the map is not its own mirror
    seen = set()
    for seed in range(8):
        labels = source.render(0, [seed], spatial=True).labels
        assert np.array_equal(labels, still) or np.array_equal(labels, swapped)
        seen.add(np.array_equal(labels, swapped))
    assert seen == {False, True}


def test_validation_cases_are_fixed_renders_of_held_out_maps(tmp_path):
    source = _source(tmp_path, "indexesForValidation = [2]")
    assert len(source.maps) == 2 and len(source.held_out) == 1
    first, second = source.validation_cases(0), source.validation_cases(0)
    case = first[0]
    assert np.array_equal(case.image, second[0].image)
    assert case.image.shape == (1, 28, 28, 28) and case.image.dtype == np.float32
    assert np.array_equal(case.label, _classes(source, nested_spheres(shift=1)))
    assert case.roi is not None and case.roi.sum() == (nested_spheres() != 0).sum()
    inside = case.image[0][case.roi]
    assert abs(inside.mean()) < 1e-4 and abs(inside.std() - 1) < 1e-3  # z-scored in the ROI
    assert case.name == "map_02_render"
    assert not np.array_equal(source.validation_cases(1)[0].image, case.image)


# ----------------------------------------------------------------------------- resolution


def test_a_simulated_acquisition_keeps_ramps_and_smooths_across_thick_slices():
    size = (33, 33, 33)
    factor = np.array([1.0, 1.0, 4.0])  # 4 mm slices along z on a 1 mm grid
    assert r.low_resolution_size(size, factor) == (33, 33, 9)
    ramp = torch.arange(33, dtype=torch.float32).expand(1, *size).clone()  # along z
    down, up = r.acquisition(size, np.zeros(3), factor)
    assert down[0] is None and down[1] is None and up[0] is None and down[2].shape == (9, 33)
    assert torch.allclose(r.separable(r.separable(ramp, down), up), ramp, atol=1e-4)
    stripes = torch.tensor([1.0, -1.0] * 16 + [1.0]).expand(1, *size).clone()
    down, up = r.acquisition(size, np.array([0.5, 0.5, 0.75 * 4]), factor)
    assert r.separable(r.separable(stripes, down), up)[0, :, :, 8:25].abs().max() < 0.05
    across = stripes.permute(0, 3, 2, 1)  # the same stripes along x, the native axis
    kept = r.separable(r.separable(across, down), up)
    assert kept[0, 8:25, 16, 16].abs().min() > 0.2  # 0.5 voxel of blur only


def test_region_statistics_are_those_of_the_mixture():
    mean, sd = r.region_statistics(
        np.array([0.5, 0.5]), np.array([[100.0, 200.0]]), np.zeros((1, 2)), np.ones(1), np.zeros(1)
    )
    assert mean[0] == pytest.approx(150.0) and sd[0] == pytest.approx(50.0)
    mean, sd = r.region_statistics(
        np.array([1.0]), np.array([[100.0]]), np.array([[10.0]]), np.ones(1), np.array([5.0])
    )
    assert mean[0] == pytest.approx(100.0) and sd[0] == pytest.approx(np.hypot(10, 5))


# ----------------------------------------------------------------------------- maps


def test_a_map_without_a_declared_code_is_refused(tmp_path):
    maps = write_maps(tmp_path / "maps", 2)
    codes = nested_spheres()
    codes[codes == 50] = 2
    bad = write_map(maps / "map_01.nii.gz", codes)
    config = load_training_config(write_ini(tmp_path, maps), label_maps_only=True).synthesis
    with pytest.raises(DataError, match="holds no voxel of code 50, declared for class 4") as err:
        load_label_maps([maps / "map_00.nii.gz", bad], config)
    assert str(bad) in str(err.value) and "\n" not in str(err.value)


def test_maps_are_read_in_ras_and_cropped_to_their_labels(tmp_path):
    codes = np.zeros((30, 30, 30), dtype=np.int16)
    codes[2:30, 1:29, 0:28] = nested_spheres()
    lia = np.array([[-1.0, 0, 0, 10], [0, 0, 1, -5], [0, -1, 0, 3], [0, 0, 0, 1]])
    path = write_map(tmp_path / "maps" / "lia.nii.gz", codes, lia)
    config = load_training_config(write_ini(tmp_path, tmp_path / "maps"), label_maps_only=True)
    (item,), table = load_label_maps([path], config.synthesis)
    import nibabel as nib

    assert "".join(nib.aff2axcodes(item.affine)) == "RAS"
    ras = nib.as_closest_canonical(nib.Nifti1Image(codes, lia))
    start = np.round(np.linalg.inv(ras.affine) @ item.affine @ [0, 0, 0, 1])[:3].astype(int)
    window = np.asarray(ras.dataobj)[
        tuple(slice(a, a + n) for a, n in zip(start, item.shape, strict=True))
    ]
    assert np.array_equal(table.codes[item.positions], window)
    assert item.shape == (28, 28, 28)  # the labelled box (the head) and one voxel around it


# ----------------------------------------------------------------------------- priors


def test_priors_are_estimated_from_real_scans(rng):
    cases = []
    for _ in range(3):
        image, labels, roi = synthetic_case(rng, (24, 24, 24), 4)
        cases.append((image[None], labels, roi.astype(bool)))
    priors = estimate_priors(cases, 4)
    for k in (1, 2, 3):
        prior = priors.classes[0][k]
        assert prior.mean == pytest.approx(20 + 25 * k, abs=1.0)
        assert prior.std == pytest.approx(2.0, abs=0.5)
    assert priors.classes[0][0].mean == pytest.approx(20.0, abs=1.0)
    assert len(priors.tissues[0]) == 3


def test_t1_like_samples_follow_the_priors(tmp_path):
    order = (-1.0, 0.5, 1.5, 2.5)
    tiny = 1e-6
    priors = IntensityPriors(
        classes=((None, *(Prior(m, tiny, tiny) for m in order)),),
        tissues=((Prior(-2.0, tiny, tiny), Prior(-1.5, tiny, tiny), Prior(0.0, tiny, tiny)),),
    )
    maps = write_maps(tmp_path / "maps", 1)
    ini = write_ini(tmp_path, maps, STILL, normalization="none")
    config = load_training_config(ini, label_maps_only=True)
    config = replace(config, synthesis=replace(config.synthesis, t1_share=1.0))
    source = LabelMapSource.from_config(config, priors=priors)
    done = source.render(0, [3], spatial=False)
    interiors = sorted(_interiors(done.labels).items())
    means = [done.image[0][inside].mean() for _, inside in interiors]
    from livianet.synthesis.params import T1_CENTRE, T1_SCALE

    assert np.allclose(means, [T1_CENTRE + T1_SCALE * m for m in order], atol=FLAT)
    white = done.image[0][ndimage.binary_erosion(nested_spheres() == 2, iterations=2)]
    assert white.mean() == pytest.approx(T1_CENTRE, abs=FLAT)  # code 2: the brightest tissue
