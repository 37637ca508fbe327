"""Volume I/O: NIfTI and .mat round trips, MATLAB v7.3, atomic writes and bad inputs."""

from __future__ import annotations

import dataclasses
import gzip
import os
import stat
import sys
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pytest
import scipy.io

from livianet.atomic import atomic_path, write_text_atomic
from livianet.errors import DataError
from livianet.io import (
    Volume,
    list_volume_files,
    load_volume,
    save_volume,
    strip_volume_suffix,
    volume_format,
)
from livianet.networks import load_npy

# A rotation about z plus zooms (1, 1.5, 2) and a translation: a non-diagonal affine.
ANGLE = np.deg2rad(30)
ROTATION = np.array(
    [[np.cos(ANGLE), -np.sin(ANGLE), 0], [np.sin(ANGLE), np.cos(ANGLE), 0], [0, 0, 1]]
)
OBLIQUE = np.eye(4)
OBLIQUE[:3, :3] = ROTATION @ np.diag([1.0, 1.5, 2.0])
OBLIQUE[:3, 3] = [-90.0, 12.5, 40.0]


def nifti(path: Path, data: np.ndarray, affine: np.ndarray = OBLIQUE) -> Path:
    nib.save(nib.Nifti1Image(data, affine), str(path))
    return path


def write_v73(path: Path, variables: dict[str, np.ndarray], attrs: dict | None = None) -> Path:
    """A MATLAB v7.3 file as MATLAB writes it: HDF5 after a 512-byte MATLAB user block.

    MATLAB stores arrays column-major, which HDF5 sees with the axes reversed.
    """
    with h5py.File(path, "w", userblock_size=512) as handle:
        for name, value in variables.items():
            dataset = handle.create_dataset(name, data=np.asarray(value).T)
            classes = {np.uint8: "uint8", np.int16: "int16", np.float64: "double"}
            dataset.attrs["MATLAB_class"] = np.bytes_(classes.get(value.dtype.type, "double"))
            for key, item in (attrs or {}).get(name, {}).items():
                dataset.attrs[key] = item
    header = (
        b"MATLAB 7.3 MAT-file, Platform: GLNXA64, "
        b"Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."
    )
    block = header.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02" + b"IM"
    with open(path, "r+b") as handle:
        handle.write(block)
    return path


# --- NIfTI round trips -------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
@pytest.mark.parametrize(
    ("dtype", "kind"), [(np.int16, "image"), (np.float32, "image"), (np.float32, "prob")]
)
def test_nifti_round_trip_keeps_data_dtype_affine_and_zooms(tmp_path, rng, suffix, dtype, kind):
    data = (rng.normal(size=(6, 7, 8)) * 100).astype(dtype)
    source = load_volume(nifti(tmp_path / f"in{suffix}", data))
    assert source.data.dtype == dtype

    out = save_volume(source.data, tmp_path / f"out{suffix}", source, kind=kind)
    back = load_volume(out)

    assert back.data.dtype == dtype
    np.testing.assert_array_equal(back.data, data)
    np.testing.assert_allclose(back.affine, OBLIQUE, atol=1e-5)
    np.testing.assert_allclose(back.header.get_zooms(), (1.0, 1.5, 2.0), rtol=1e-6)
    np.testing.assert_allclose(back.spacing, (1.0, 1.5, 2.0), rtol=1e-6)
    assert back.header.get_data_dtype() == dtype
    assert (out.read_bytes()[:2] == b"\x1f\x8b") == (suffix == ".nii.gz")  # gzip when asked


def test_int16_labels_round_trip_as_integers(tmp_path, rng):
    labels = rng.integers(0, 4, size=(5, 6, 7)).astype(np.int16) * 1000  # needs int16
    source = load_volume(nifti(tmp_path / "gt.nii.gz", labels))
    back = load_volume(save_volume(source.data, tmp_path / "out.nii.gz", source, kind="label"))
    assert back.data.dtype == np.int16
    np.testing.assert_array_equal(back.data, labels)
    np.testing.assert_allclose(back.affine, OBLIQUE, atol=1e-5)


def test_label_maps_are_written_as_integers_and_probabilities_as_float32(tmp_path, rng):
    reference = load_volume(nifti(tmp_path / "ref.nii.gz", np.zeros((4, 5, 6), np.float32)))
    labels = rng.integers(0, 9, size=(4, 5, 6)).astype(np.float64)
    probs = rng.random((4, 5, 6))  # float64 in

    label_back = load_volume(save_volume(labels, tmp_path / "l.nii.gz", reference, "label"))
    prob_back = load_volume(save_volume(probs, tmp_path / "p.nii.gz", reference, "prob"))
    mat_back = load_volume(save_volume(labels, tmp_path / "l.mat", reference, "label"))

    assert label_back.data.dtype.kind in "iu" and label_back.header.get_data_dtype().kind in "iu"
    np.testing.assert_array_equal(label_back.data, labels)
    assert mat_back.data.dtype.kind in "iu"
    np.testing.assert_array_equal(mat_back.data, labels)
    assert prob_back.data.dtype == np.float32
    np.testing.assert_allclose(prob_back.data, probs.astype(np.float32))
    with pytest.raises(ValueError, match="NaN"):
        save_volume(np.full((4, 5, 6), np.nan), tmp_path / "nan.nii.gz", reference, "label")


def test_scaled_reference_header_does_not_rescale_outputs(tmp_path):
    image = nib.Nifti1Image(np.arange(24, dtype=np.int16).reshape(2, 3, 4), OBLIQUE)
    image.header.set_slope_inter(2.0, 10.0)
    nib.save(image, str(tmp_path / "scaled.nii.gz"))
    reference = load_volume(tmp_path / "scaled.nii.gz")
    labels = np.ones((2, 3, 4), np.uint8)
    back = load_volume(save_volume(labels, tmp_path / "l.nii.gz", reference, "label"))
    np.testing.assert_array_equal(back.data, labels)


def test_output_shape_must_match_the_reference(tmp_path):
    reference = load_volume(nifti(tmp_path / "ref.nii", np.zeros((4, 5, 6), np.float32)))
    with pytest.raises(ValueError, match=r"\(4, 5, 6\)"):
        save_volume(np.zeros((4, 5, 7)), tmp_path / "out.nii", reference)
    assert not (tmp_path / "out.nii").exists()


def test_four_d_nifti_is_read_as_channels_and_written_back_alike(tmp_path, rng):
    data = rng.random((4, 5, 6, 2)).astype(np.float32)  # NIfTI's (X, Y, Z, C)
    volume = load_volume(nifti(tmp_path / "t1t2.nii.gz", data))
    assert volume.data.shape == (2, 4, 5, 6)
    assert volume.spatial_shape == (4, 5, 6)
    np.testing.assert_array_equal(volume.channels[1], data[..., 1])

    back = load_volume(save_volume(volume.data, tmp_path / "copy.nii.gz", volume))
    np.testing.assert_array_equal(back.data, volume.data)
    assert nib.load(str(tmp_path / "copy.nii.gz")).shape == (4, 5, 6, 2)
    three_d = load_volume(nifti(tmp_path / "t1.nii", data[..., 0]))
    assert three_d.channels.shape == (1, 4, 5, 6)


def test_volume_properties(tmp_path):
    volume = load_volume(
        nifti(tmp_path / "a.nii", np.zeros((2, 3, 4), np.uint8), np.diag([-1, 1, 1, 1.0]))
    )
    assert volume.orientation == "LAS"
    assert volume.spacing == (1.0, 1.0, 1.0)
    assert not volume.is_mat
    assert volume.path == tmp_path / "a.nii"


# --- .mat ------------------------------------------------------------------------------


def test_mat_round_trip_under_vol(tmp_path, rng):
    data = rng.integers(0, 255, size=(5, 6, 7)).astype(np.uint8)
    path = save_volume(data, tmp_path / "a.mat")
    assert set(k for k in scipy.io.loadmat(str(path)) if not k.startswith("__")) == {"vol"}
    volume = load_volume(path)
    assert volume.is_mat and volume.header is None
    np.testing.assert_array_equal(volume.affine, np.eye(4))
    assert volume.data.dtype == np.uint8
    np.testing.assert_array_equal(volume.data, data)


def test_mat_without_vol_uses_the_single_array_variable(tmp_path, rng):
    data = rng.random((3, 4, 5))
    scipy.io.savemat(str(tmp_path / "img.mat"), {"image": data, "comment": "T1 scan"})
    np.testing.assert_array_equal(load_volume(tmp_path / "img.mat").data, data)


def test_mat_with_several_arrays_and_no_vol_names_them(tmp_path):
    scipy.io.savemat(
        str(tmp_path / "two.mat"), {"image": np.zeros((2, 2, 2)), "mask": np.ones((2, 2, 2))}
    )
    with pytest.raises(DataError, match=r"two\.mat.*'vol'.*found: image, mask"):
        load_volume(tmp_path / "two.mat")


def test_matlab_v73_file_is_read_through_h5py(tmp_path, rng):
    data = rng.integers(0, 9, size=(4, 5, 6)).astype(np.uint8)
    path = write_v73(tmp_path / "v73.mat", {"vol": data})
    assert open(path, "rb").read(19) == b"MATLAB 7.3 MAT-file"
    with pytest.raises(NotImplementedError):  # what scipy does with it
        scipy.io.loadmat(str(path))
    volume = load_volume(path)
    assert volume.data.shape == (4, 5, 6) and volume.data.dtype == np.uint8
    np.testing.assert_array_equal(volume.data, data)
    np.testing.assert_array_equal(volume.affine, np.eye(4))


def test_matlab_v73_ignores_text_and_names_variables(tmp_path, rng):
    data = rng.random((3, 4, 5))
    name = np.frombuffer("subject01".encode("utf-16-le"), np.uint16)[None].copy()
    path = write_v73(tmp_path / "img.mat", {"image": data, "name": name},
                     attrs={"name": {"MATLAB_class": np.bytes_("char")}})  # fmt: skip
    np.testing.assert_array_equal(load_volume(path).data, data)

    two = write_v73(tmp_path / "two.mat", {"a": data, "b": data})
    with pytest.raises(DataError, match="found: a, b"):
        load_volume(two)


def test_plain_hdf5_under_a_mat_name_is_read_too(tmp_path, rng):
    data = rng.random((3, 4, 5))
    with h5py.File(tmp_path / "plain.mat", "w") as handle:
        handle["vol"] = data.T
    with pytest.raises(ValueError):  # scipy does not recognise it at all
        scipy.io.loadmat(str(tmp_path / "plain.mat"))
    np.testing.assert_array_equal(load_volume(tmp_path / "plain.mat").data, data)


def test_matlab_v73_without_h5py_says_how_to_convert(tmp_path, monkeypatch):
    path = write_v73(tmp_path / "v73.mat", {"vol": np.zeros((2, 3, 4), np.uint8)})
    monkeypatch.setitem(sys.modules, "h5py", None)  # makes `import h5py` fail
    with pytest.raises(DataError, match=r"v73\.mat: MATLAB v7\.3.*h5py.*'-v7'") as info:
        load_volume(path)
    assert "\n" not in str(info.value)


# --- bad inputs: one-line DataError naming the file ---------------------------------------


def assert_one_line_error(path: Path, match: str | None = None) -> str:
    with pytest.raises(DataError, match=match) as info:
        load_volume(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    return message


def test_missing_file(tmp_path):
    assert "not found" in assert_one_line_error(tmp_path / "nope.nii.gz")


def test_truncated_and_corrupt_nifti_gz(tmp_path, rng):
    good = nifti(tmp_path / "good.nii.gz", rng.random((20, 20, 20)).astype(np.float32))
    raw = good.read_bytes()
    (tmp_path / "half.nii.gz").write_bytes(raw[: len(raw) // 2])
    (tmp_path / "random.nii.gz").write_bytes(rng.bytes(4000))
    (tmp_path / "empty.nii.gz").write_bytes(b"")
    (tmp_path / "garbage_inside.nii.gz").write_bytes(gzip.compress(rng.bytes(4000)))
    uncompressed = nifti(tmp_path / "good.nii", rng.random((20, 20, 20)).astype(np.float32))
    (tmp_path / "half.nii").write_bytes(uncompressed.read_bytes()[:5000])
    for name in (
        "half.nii.gz",
        "random.nii.gz",
        "empty.nii.gz",
        "garbage_inside.nii.gz",
        "half.nii",
    ):
        assert_one_line_error(tmp_path / name, "NIfTI")


def test_truncated_and_corrupt_mat(tmp_path, rng):
    scipy.io.savemat(
        str(tmp_path / "good.mat"), {"vol": rng.random((20, 20, 20))}, do_compression=True
    )
    raw = (tmp_path / "good.mat").read_bytes()
    (tmp_path / "half.mat").write_bytes(raw[: len(raw) // 2])
    (tmp_path / "random.mat").write_bytes(rng.bytes(4000))
    (tmp_path / "empty.mat").write_bytes(b"")
    for name in ("half.mat", "random.mat", "empty.mat"):
        assert_one_line_error(tmp_path / name, "MATLAB")


def test_truncated_v73_mat(tmp_path):
    path = write_v73(tmp_path / "v73.mat", {"vol": np.zeros((20, 20, 20))})
    path.write_bytes(path.read_bytes()[:1500])
    assert_one_line_error(path, "v7.3")


@pytest.mark.parametrize("shape", [(5, 6), (2, 3, 4, 2, 2)])
def test_two_and_five_dimensional_arrays_are_refused(tmp_path, shape):
    data = np.zeros(shape, np.float32)
    assert_one_line_error(nifti(tmp_path / "a.nii.gz", data), f"{len(shape)} dimensions")
    scipy.io.savemat(str(tmp_path / "a.mat"), {"vol": data})
    assert_one_line_error(tmp_path / "a.mat", f"{len(shape)} dimensions")


def test_four_d_mat_is_refused(tmp_path):
    scipy.io.savemat(str(tmp_path / "a.mat"), {"vol": np.zeros((2, 3, 4, 2))})
    assert_one_line_error(tmp_path / "a.mat", "4-D")


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("some text", "text"),
        (np.array([[np.zeros(3), "a"]], dtype=object), "objects"),
        ({"field": np.zeros((2, 2, 2))}, "struct"),
        (np.zeros((2, 2, 2), complex), "complex128"),
    ],
    ids=["text", "cell", "struct", "complex"],
)
def test_non_numeric_mat_variables_are_refused(tmp_path, value, words):
    scipy.io.savemat(str(tmp_path / "odd.mat"), {"vol": value})
    message = assert_one_line_error(tmp_path / "odd.mat", "expected a numeric array")
    assert words in message


def test_unsupported_suffix(tmp_path):
    (tmp_path / "scan.nrrd").write_bytes(b"x")
    assert_one_line_error(tmp_path / "scan.nrrd", "unsupported file type")
    with pytest.raises(DataError, match="unsupported"):
        save_volume(np.zeros((2, 2, 2)), tmp_path / "out.png")


# --- .npy ---------------------------------------------------------------------------------


def test_load_npy_numeric(tmp_path, rng):
    weights = rng.normal(size=(4, 1, 3, 3, 3)).astype(np.float32)
    np.save(tmp_path / "w.npy", weights)
    np.testing.assert_array_equal(load_npy(tmp_path / "w.npy"), weights)


def test_load_npy_never_unpickles(tmp_path, monkeypatch):
    class Boom:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    np.save(tmp_path / "objects.npy", np.array([Boom(), 1], dtype=object), allow_pickle=True)
    calls = []
    monkeypatch.setattr(os, "system", lambda command: calls.append(command))
    with pytest.raises(DataError, match=r"objects\.npy: holds Python objects, refused"):
        load_npy(tmp_path / "objects.npy")
    assert calls == []


@pytest.mark.parametrize(
    "keep", [0, 5, 60, 200, -1], ids=["empty", "magic", "header", "half", "one-short"]
)
def test_load_npy_truncated(tmp_path, keep):
    np.save(tmp_path / "w.npy", np.arange(1000, dtype=np.float32))
    raw = (tmp_path / "w.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(raw[:keep])
    with pytest.raises(DataError, match=r"cut\.npy") as info:
        load_npy(tmp_path / "cut.npy")
    assert "\n" not in str(info.value)


def test_load_npy_other_bad_files(tmp_path, rng):
    (tmp_path / "random.npy").write_bytes(rng.bytes(300))
    np.savez(tmp_path / "archive.npz", a=np.zeros(3))
    os.replace(tmp_path / "archive.npz", tmp_path / "archive.npy")
    np.save(tmp_path / "text.npy", np.array(["a", "b"]))
    for name, words in [("random.npy", "not a .npy"), ("archive.npy", "not a .npy"),
                        ("missing.npy", "not found"), ("text.npy", "numeric")]:  # fmt: skip
        with pytest.raises(DataError, match=words):
            load_npy(tmp_path / name)


# --- listings and names -------------------------------------------------------------------


def test_list_volume_files_filters_and_sorts(tmp_path):
    for name in ("b.nii.gz", "a.mat", "c.nii", "Readme.txt", ".DS_Store", ".c.nii.abc.tmp.nii",
                 "notes.gz", "d.npy", "C.NII.GZ"):  # fmt: skip
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "folder.nii").mkdir()
    names = [p.name for p in list_volume_files(tmp_path)]
    assert names == ["C.NII.GZ", "a.mat", "b.nii.gz", "c.nii"]


def test_suffix_helpers():
    assert strip_volume_suffix("MR_Img1.nii.gz") == "MR_Img1"
    assert strip_volume_suffix("MR_Img1.mat") == "MR_Img1"
    assert strip_volume_suffix("notes.txt") == "notes.txt"
    assert volume_format("a.NII.GZ") == "nifti" and volume_format("b.mat") == "mat"


# --- atomic writes ------------------------------------------------------------------------


def test_failed_write_leaves_no_file_and_no_temp(tmp_path, monkeypatch):
    def broken_save(image, filename):
        Path(filename).write_bytes(b"half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(nib, "save", broken_save)
    with pytest.raises(OSError, match="No space"):
        save_volume(np.zeros((2, 3, 4)), tmp_path / "out" / "seg.nii.gz")
    assert list((tmp_path / "out").iterdir()) == []


def test_failed_write_keeps_the_old_file_whole(tmp_path, monkeypatch):
    target = save_volume(np.ones((2, 3, 4), np.uint8), tmp_path / "seg.mat")
    before = target.read_bytes()

    def broken_savemat(name, variables, **kwargs):
        Path(name).write_bytes(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(scipy.io, "savemat", broken_savemat)
    with pytest.raises(KeyboardInterrupt):
        save_volume(np.zeros((2, 3, 4), np.uint8), target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["seg.mat"]


def test_existing_file_is_replaced_whole(tmp_path, rng):
    target = tmp_path / "seg.nii.gz"
    nifti(target, rng.random((30, 30, 30)).astype(np.float32))
    save_volume(np.zeros((2, 3, 4), np.uint8), target, kind="label")
    back = load_volume(target)
    assert back.data.shape == (2, 3, 4) and not back.data.any()
    assert [p.name for p in tmp_path.iterdir()] == ["seg.nii.gz"]


def test_atomic_files_get_normal_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "a.json", "{}\n")
        save_volume(np.zeros((2, 2, 2)), tmp_path / "b.nii.gz")
    finally:
        os.umask(umask)
    for name in ("a.json", "b.nii.gz"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644


def test_atomic_path_keeps_compound_suffix(tmp_path):
    with atomic_path(tmp_path / "x.nii.gz") as tmp:
        assert tmp.name.startswith(".x.nii.gz.") and tmp.name.endswith(".nii.gz")
        assert tmp.parent == tmp_path
        tmp.write_bytes(b"ok")
    assert (tmp_path / "x.nii.gz").read_bytes() == b"ok"


def test_volume_is_a_frozen_record(tmp_path):
    volume = Volume(np.zeros((2, 2, 2)), np.eye(4), None, tmp_path / "a.mat")
    with pytest.raises(dataclasses.FrozenInstanceError):
        volume.path = tmp_path  # type: ignore[misc]
