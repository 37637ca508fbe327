"""What a cache entry's key depends on, how its labels are stored, and resuming on a shared cache."""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
import pytest
import torch
from conftest import write_tiny_ini

from livianet.cache import CaseInputs, EntrySpec, FileFingerprint, class_positions, entry_key
from livianet.cache.build import label_type
from livianet.config import load_training_config
from livianet.data.geometry import ModelGrid
from livianet.networks import load_checkpoint
from livianet.training import TrainOptions, train

SPEC = EntrySpec(
    role="training",
    grid=ModelGrid("RAS", (1.0, 1.0, 1.0)),
    stored_orientation=None,
    num_classes=9,
    channels=1,
    normalization="zscore",
    image_dtype="float32",
    patch=(25, 25, 25),
    padded=True,
    reach=0,
)
IMAGE = FileFingerprint("/data/MR/a.nii.gz", 1000, 1, "aa" * 32)
INPUTS = CaseInputs((IMAGE,), FileFingerprint("/data/Label/a.nii.gz", 10, 1, "bb" * 32), None)


@pytest.mark.parametrize(
    "change",
    [
        {"role": "validation"},
        {"grid": ModelGrid("RAS", (1.0, 1.0, 1.2))},  # a median spacing moved by a new case
        {"grid": ModelGrid(None, (1.0, 1.0, 1.0))},
        {"stored_orientation": "ILA"},
        {"num_classes": 5},
        {"channels": 2},
        {"normalization": "none"},
        {"image_dtype": "float16"},
        {"patch": (27, 27, 27)},
        {"padded": False},
        {"reach": 16},
        {"context": (7, 7, 7)},
    ],
)
def test_every_setting_that_changes_the_arrays_changes_the_key(change):
    assert entry_key(replace(SPEC, **change), INPUTS) != entry_key(SPEC, INPUTS)


def test_the_key_follows_the_inputs_bytes_not_their_path_or_time():
    moved = replace(IMAGE, path="/elsewhere/b.nii.gz", mtime_ns=99)
    assert entry_key(SPEC, replace(INPUTS, images=(moved,))) == entry_key(SPEC, INPUTS)
    for other in (replace(IMAGE, sha256="cc" * 32), replace(IMAGE, size=1001)):
        assert entry_key(SPEC, replace(INPUTS, images=(other,))) != entry_key(SPEC, INPUTS)
    with_roi = replace(INPUTS, roi=replace(IMAGE, path="/data/ROI/a.nii.gz"))
    assert entry_key(SPEC, with_roi) != entry_key(SPEC, INPUTS)


def test_labels_are_stored_in_the_smallest_type_that_holds_them():
    assert [np.dtype(label_type(n)).name for n in (2, 9, 256, 257, 2**15, 2**15 + 1)] == [
        "uint8",
        "uint8",
        "uint8",
        "int16",
        "int16",
        "int32",
    ]


def test_class_positions_are_each_class_in_the_roi_and_every_label():
    rng = np.random.default_rng(3)
    label = rng.integers(0, 4, size=(6, 5, 7)).astype(np.uint8)
    roi = rng.random((6, 5, 7)) < 0.5
    positions, bounds = class_positions(label, roi, 4)
    flat, inside = label.ravel(), roi.ravel()
    assert np.array_equal(positions[: bounds[1]], np.flatnonzero(inside & (flat == 0)))
    for k in range(1, 4):
        assert np.array_equal(positions[bounds[k] : bounds[k + 1]], np.flatnonzero(flat == k))
    everywhere, all_bounds = class_positions(label, None, 4)
    assert all_bounds[-1] == label.size and np.array_equal(
        np.sort(everywhere), np.arange(label.size)
    )


@pytest.mark.slow  # ~15 s; test_cache's float32 test and test_trainer's resume test cover its parts
def test_a_run_resumed_on_a_shared_cache_ends_as_one_in_memory(tmp_path, tiny_dataset, caplog):
    shared = tmp_path / "shared-cache"
    ini = write_tiny_ini(tmp_path / "memory", tiny_dataset, epochs=2)
    ini.write_text(ini.read_text().replace("precision = float32", "precision = float32\ncache = 0"))
    whole = load_training_config(ini)
    assert not whole.cache_settings.enabled
    train(whole, TrainOptions(device="cpu", progress=False))
    first = load_training_config(write_tiny_ini(tmp_path / "cached", tiny_dataset, epochs=1))
    train(first, TrainOptions(device="cpu", progress=False, cache=shared))
    rest = load_training_config(write_tiny_ini(tmp_path / "cached", tiny_dataset, epochs=2))
    caplog.set_level(logging.INFO, logger="livianet")
    resumed = train(
        rest,
        TrainOptions(
            device="cpu",
            progress=False,
            cache=shared,
            resume=first.run_dir / "Networks" / "tiny_Epoch1.pt",
        ),
    )
    assert "already preprocessed" in caplog.text
    a = load_checkpoint(whole.run_dir / "Networks" / "tiny_Epoch2.pt")["model_state"]
    b = load_checkpoint(resumed.last_checkpoint)["model_state"]
    for key in a:
        assert torch.equal(a[key], b[key]), key
