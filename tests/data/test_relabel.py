"""Consecutive labels with one mapping per folder (the original processLabels.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from conftest import write_nifti

from livianet.data import (
    consecutive_mapping,
    distinct_values,
    label_counts,
    output_file,
    process_label_folder,
    relabel,
)
from livianet.errors import DataError
from livianet.io import load_volume


def label_folder(folder: Path, maps: dict[str, np.ndarray], spacing=(1.0, 1.5, 2.0)) -> Path:
    for name, data in maps.items():
        if name.endswith(".mat"):
            folder.mkdir(parents=True, exist_ok=True)
            scipy.io.savemat(str(folder / name), {"vol": data})
        else:
            write_nifti(folder / name, data, spacing)
    return folder


def codes(values, shape=(4, 5, 6)) -> np.ndarray:
    """A label map holding exactly ``values`` (first voxels), the rest the first value."""
    data = np.full(shape, values[0], np.int16)
    data.flat[: len(values)] = values
    return data


def test_consecutive_mapping_and_relabel_by_hand():
    assert consecutive_mapping(np.array([0, 10, 5, 10])) == {0: 0, 5: 1, 10: 2}
    labels = np.array([[[0, 5], [10, 5]]])
    np.testing.assert_array_equal(relabel(labels, {0: 0, 5: 1, 10: 2}), [[[0, 1], [2, 1]]])
    with pytest.raises(ValueError, match="outside the mapping"):
        relabel(np.array([0, 7]), {0: 0, 5: 1})


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.int64, np.float32, bool])
def test_relabel_agrees_with_a_sorted_lookup(rng, dtype):
    raw = rng.integers(0, 4, size=(6, 7, 8))
    data = (raw > 1) if dtype is bool else (raw * 7 - (3 if dtype is np.int16 else 0)).astype(dtype)
    mapping = consecutive_mapping(data)
    np.testing.assert_array_equal(distinct_values(data), np.unique(data))
    np.testing.assert_array_equal(relabel(data, mapping), np.searchsorted(np.unique(data), data))
    missing = dict(list(mapping.items())[1:])
    with pytest.raises(ValueError, match="values outside the mapping"):
        relabel(data, missing)


def test_relabel_wide_values_and_fortran_order():
    data = np.asfortranarray(np.array([0, 100_000, 5_000_000, 100_000]).reshape(2, 2, 1))
    np.testing.assert_array_equal(relabel(data, consecutive_mapping(data)).ravel(), [0, 1, 2, 1])


def test_relabelling_is_idempotent(rng):
    data = rng.choice([0, 3, 9], size=(5, 5, 5))
    once = relabel(data, consecutive_mapping(data))
    np.testing.assert_array_equal(relabel(once, consecutive_mapping(once)), once)


def test_one_mapping_for_the_whole_folder(tmp_path):
    """Image 2 lacks structure 20: its 30s must still become 3, not 2 (the original's bug)."""
    one = codes([0, 10, 20, 30])
    two = codes([0, 10, 30])
    in_dir = label_folder(tmp_path / "in", {"GT_1.nii.gz": one, "GT_2.nii.gz": two})

    mapping = process_label_folder(in_dir, tmp_path / "out", 4)

    assert mapping == {0: 0, 10: 1, 20: 2, 30: 3}
    out_two = load_volume(tmp_path / "out" / "GT_2.nii.gz").data
    np.testing.assert_array_equal(out_two, relabel(two, mapping))
    assert out_two.flat[2] == 3 and 2 not in out_two
    np.testing.assert_array_equal(
        load_volume(tmp_path / "out" / "GT_1.nii.gz").data.flat[:4], [0, 1, 2, 3]
    )
    saved = json.loads((tmp_path / "out" / "label_mapping.json").read_text())
    assert saved == {"0": 0, "10": 1, "20": 2, "30": 3}


def test_geometry_names_and_integer_type_are_kept(tmp_path):
    in_dir = label_folder(
        tmp_path / "in", {"GT_Img1.nii.gz": codes([0, 4, 8])}, spacing=(0.8, 0.9, 1.2)
    )
    process_label_folder(in_dir, tmp_path / "out", 3)
    source = load_volume(in_dir / "GT_Img1.nii.gz")
    result = load_volume(tmp_path / "out" / "GT_Img1.nii.gz")
    np.testing.assert_allclose(result.affine, source.affine)
    np.testing.assert_allclose(result.header.get_zooms(), (0.8, 0.9, 1.2), rtol=1e-6)
    assert result.data.dtype.kind in "iu"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "GT_Img1.nii.gz",
        "label_mapping.json",
    ]


def test_more_values_than_classes_is_refused_before_writing(tmp_path):
    in_dir = label_folder(
        tmp_path / "in", {"a.nii.gz": codes([0, 1, 2]), "b.nii.gz": codes([0, 5])}
    )
    with pytest.raises(
        DataError, match=r"4 distinct label values \[0, 1, 2, 5\].*NUM_CLASSES = 3"
    ) as info:
        process_label_folder(in_dir, tmp_path / "out", 3)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "out").exists()


def test_fewer_values_than_classes_is_a_warning(tmp_path, caplog):
    in_dir = label_folder(tmp_path / "in", {"a.nii.gz": codes([0, 1])})
    with caplog.at_level("WARNING", logger="livianet"):
        assert process_label_folder(in_dir, tmp_path / "out", 4) == {0: 0, 1: 1}
    assert "only 2 distinct values for 4 classes" in caplog.text


@pytest.mark.parametrize(
    ("source", "fmt", "output"),
    [
        ("GT_1.nii.gz", "mat", "GT_1.mat"),
        ("GT_1.mat", "nifti", "GT_1.nii.gz"),
        ("GT_1.mat", None, "GT_1.mat"),
    ],
)
def test_format_conversion(tmp_path, source, fmt, output):
    data = codes([0, 2, 4]).astype(np.uint8)
    in_dir = label_folder(tmp_path / "in", {source: data})
    process_label_folder(in_dir, tmp_path / "out", 3, fmt)
    result = load_volume(tmp_path / "out" / output)
    np.testing.assert_array_equal(result.data, data // 2)
    if output.endswith(".mat"):
        assert set(
            k for k in scipy.io.loadmat(str(tmp_path / "out" / output)) if not k.startswith("__")
        ) == {"vol"}


def test_stray_files_are_ignored_and_bad_folders_refused(tmp_path):
    in_dir = label_folder(tmp_path / "in", {"a.nii.gz": codes([0, 1])})
    (in_dir / "Readme.txt").write_text("labels")
    (in_dir / ".DS_Store").write_bytes(b"\0")
    process_label_folder(in_dir, tmp_path / "out", 2)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "a.nii.gz",
        "label_mapping.json",
    ]

    with pytest.raises(DataError, match="no .nii, .nii.gz or .mat label files"):
        process_label_folder(tmp_path / "missing", tmp_path / "out2", 2)
    with pytest.raises(DataError, match="NUM_CLASSES = 0"):
        process_label_folder(in_dir, tmp_path / "out2", 0)


def test_non_integer_and_four_d_label_maps_are_refused(tmp_path):
    fractional = label_folder(tmp_path / "frac", {"a.nii.gz": np.full((2, 2, 2), 0.5, np.float32)})
    with pytest.raises(DataError, match="non-integer"):
        process_label_folder(fractional, tmp_path / "out", 2)
    four_d = label_folder(tmp_path / "four", {"a.nii.gz": np.zeros((2, 2, 2, 2), np.uint8)})
    with pytest.raises(DataError, match="expected 3-D"):
        process_label_folder(four_d, tmp_path / "out", 2)


def test_integer_valued_float_labels_are_accepted(tmp_path):
    in_dir = label_folder(tmp_path / "in", {"a.nii.gz": codes([0.0, 3.0, 7.0]).astype(np.float32)})
    assert process_label_folder(in_dir, tmp_path / "out", 3) == {0: 0, 3: 1, 7: 2}


def test_output_file_names():
    folder = Path("out")
    assert output_file(folder, Path("in/MR_1.nii.gz"), None, "ROI_") == folder / "ROI_MR_1.nii.gz"
    assert output_file(folder, Path("in/MR_1.nii.gz"), "mat") == folder / "MR_1.mat"
    assert output_file(folder, Path("in/MR_1.mat"), "nifti") == folder / "MR_1.nii.gz"


def test_label_counts_add_up_across_slabs(monkeypatch):
    import sys

    # slabs of 7 voxels, many boundaries; the module, not the function livianet.data exports
    monkeypatch.setattr(sys.modules["livianet.data.relabel"], "COUNT_CHUNK", 7)
    labels = np.zeros((4, 5, 3), dtype=np.uint8)
    labels[0, 0, 0] = 5
    labels[3, 4, :] = 2
    assert label_counts(labels, minlength=3).tolist() == [56, 0, 3, 0, 0, 1]
    fortran = np.asfortranarray(labels)
    assert label_counts(fortran, minlength=8).tolist() == [56, 0, 3, 0, 0, 1, 0, 0]
    assert label_counts(labels > 0).tolist() == [56, 4]
