"""Training cases in one space: RAS at the median voxel size, whatever their stored geometry."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest
import scipy.io
from conftest import synthetic_case, write_dataset, write_tiny_ini
from nibabel import orientations

from livianet.config import load_training_config
from livianet.data.orientation import affine_for_codes
from livianet.errors import DataError, TrainingError
from livianet.networks import Checkpoint
from livianet.training import TrainOptions, train
from livianet.training.training_data import load_training_cases


def _options() -> TrainOptions:
    return TrainOptions(device="cpu", progress=False)


def _write_case(root, index, codes, spacing, rng, shape=(24, 24, 24)):
    image, labels, roi = synthetic_case(rng, shape)
    ras = affine_for_codes("RAS", shape, spacing)
    turn = orientations.ornt_transform(
        orientations.axcodes2ornt("RAS"), orientations.axcodes2ornt(codes)
    )
    for folder, prefix, data in (
        ("MR", "MR_Img", image),
        ("Label", "GT_Img", labels),
        ("ROI", "ROI_Img", roi),
    ):
        stored = nib.Nifti1Image(data, ras).as_reoriented(turn)
        (root / folder).mkdir(parents=True, exist_ok=True)
        nib.save(stored, str(root / folder / f"{prefix}{index}.nii.gz"))


def test_cases_of_mixed_orientation_and_voxel_size_train_one_model(tmp_path):
    rng = np.random.default_rng(1)
    data = tmp_path / "data"
    _write_case(data, 1, "LIA", (1.0, 1.0, 1.0), rng)
    _write_case(data, 2, "PSR", (1.0, 1.0, 1.0), rng)
    _write_case(data, 3, "RAS", (1.0, 1.25, 1.0), rng)
    config = load_training_config(write_tiny_ini(tmp_path, data, epochs=1))
    cases, validation, grid = load_training_cases(config)
    assert grid.orientation == "RAS" and grid.spacing == (1.0, 1.0, 1.0)  # the median
    assert all(nib.aff2axcodes(c.plan.model_affine) == ("R", "A", "S") for c in cases + validation)
    assert [c.plan.resampled for c in cases + validation] == [False, False, True]
    assert validation[0].image.shape[1:] == (24, 30, 24)  # 1.25 mm resampled to 1 mm
    result = train(config, _options())
    meta = Checkpoint.read(result.last_checkpoint).meta
    assert meta.orientation == "RAS" and meta.spacing == (1.0, 1.0, 1.0)
    assert set(meta.training_volumes) == {1, 2, 3}
    # where each structure lies in its ROI, over the two training cases (the third validates)
    assert set(meta.training_places) == {1, 2, 3}
    assert all(meta.training_places[k]["cases"] == 2 for k in (1, 2, 3))


def test_mat_arrays_train_in_ras_when_their_axis_codes_are_declared(tmp_path):
    data = write_dataset(tmp_path / "data", num_cases=3, fmt="mat")
    plain = load_training_config(write_tiny_ini(tmp_path, data, epochs=1))
    assert load_training_cases(plain)[2].orientation is None  # as the original: arrays as stored
    ini = write_tiny_ini(tmp_path, data, epochs=1)
    ini.write_text(ini.read_text().replace("imageTypes = 0", "imageTypes = 1\norientation = ILA"))
    config = load_training_config(ini)
    assert config.data.orientation == "ILA"
    cases, _, grid = load_training_cases(config)
    assert grid.orientation == "RAS" and cases[0].plan.reoriented
    meta = Checkpoint.read(train(config, _options()).last_checkpoint).meta
    assert (meta.orientation, meta.stored_orientation) == ("RAS", "ILA")


def test_left_right_label_pairs_need_a_known_orientation(tmp_path):
    data = write_dataset(tmp_path / "data", num_cases=3, fmt="mat")
    extra = "augmentFlipAxes = [0]\naugmentLabelPairs = [[1, 2]]"
    ini = write_tiny_ini(tmp_path, data, epochs=1)
    ini.write_text(ini.read_text().replace("precision = float32", f"precision = float32\n{extra}"))
    config = load_training_config(ini)
    with pytest.raises(TrainingError, match="orientation is unknown.*orientation = ILA"):
        load_training_cases(config)


def test_a_mat_array_of_unknown_orientation_among_nifti_is_refused(tmp_path):
    data = write_dataset(tmp_path / "data", num_cases=3)
    image, labels, roi = synthetic_case(np.random.default_rng(2), (24, 24, 24))
    for folder, prefix, array in (
        ("MR", "MR_Img", image),
        ("Label", "GT_Img", labels),
        ("ROI", "ROI_Img", roi),
    ):
        (data / folder / f"{prefix}3.nii.gz").unlink()
        scipy.io.savemat(str(data / folder / f"{prefix}3.mat"), {"vol": array})
    config = load_training_config(write_tiny_ini(tmp_path, data, epochs=1))
    with pytest.raises(
        DataError, match="unknown orientation among scans whose orientation is known"
    ):
        load_training_cases(config)
