"""The preprocessed cache: the same training as in memory, built once, shared, checked, repaired."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from conftest import synthetic_case, write_nifti, write_tiny_ini

from livianet.cache import layout, list_entries, plan_cache, prepare_cache
from livianet.cache.build import cache_problem
from livianet.cache.lock import try_lock
from livianet.cli.main import main
from livianet.config import load_training_config
from livianet.errors import TrainingError
from livianet.training import TrainOptions, train

SPATIAL = (
    "augmentRotation = 15\naugmentScaling = 0.1\naugmentFlipAxes = [0]\nsampling = class_balanced"
)


def write_margin_dataset(root: Path, num_cases: int = 3, seed: int = 0) -> Path:
    """Cases whose ROI fills the middle of a larger volume, so that entries keep a box of it."""
    rng = np.random.default_rng(seed)
    for i in range(1, num_cases + 1):
        arrays = synthetic_case(rng, (20, 20, 20))
        for folder, prefix, data in zip(
            ("MR", "Label", "ROI"), ("MR_Img", "GT_Img", "ROI_Img"), arrays, strict=True
        ):
            whole = np.zeros((36, 30, 40), data.dtype)
            whole[9:29, 3:23, 12:32] = data
            write_nifti(root / folder / f"{prefix}{i}.nii.gz", whole)
    return root


def _ini(folder: Path, data: Path, extra: str = "", epochs: int = 1) -> Path:
    ini = write_tiny_ini(folder, data, epochs=epochs)
    text = ini.read_text()
    if "applyPadding" in extra:
        text = text.replace("applyPadding = 1\n", "")
    ini.write_text(text.replace("precision = float32", f"precision = float32\n{extra}"))
    return ini


def _options(**kwargs) -> TrainOptions:
    return TrainOptions(device="cpu", progress=False, **kwargs)


def _entries(root: Path) -> dict[str, float]:
    return {
        e.key: (root / "entries" / e.key / "meta.json").stat().st_mtime_ns
        for e in list_entries(root)
    }


@pytest.fixture
def margin_data(tmp_path: Path) -> Path:
    return write_margin_dataset(tmp_path / "data")


def test_a_float32_cache_trains_exactly_as_in_memory(tmp_path, margin_data):
    """Same patches (a box of each volume, rotations reaching out of patches), same weights, same Dice."""
    runs = {}
    for mode in ("1", "0"):
        config = load_training_config(
            _ini(tmp_path / f"cache{mode}", margin_data, f"{SPATIAL}\ncache = {mode}")
        )
        runs[mode] = (config, train(config, _options()))
    (cached_cfg, cached), (memory_cfg, memory) = runs["1"], runs["0"]
    for name, value in cached.model.state_dict().items():
        assert torch.equal(value, memory.model.state_dict()[name]), name
    assert cached.history[0]["train_loss"] == memory.history[0]["train_loss"]
    assert cached.history[0]["val_dice_mean"] == memory.history[0]["val_dice_mean"]
    saved = "Pred/Validation/Segmentation_MR_Img3.nii.gz"
    assert np.array_equal(
        nib.load(cached_cfg.run_dir / saved).get_fdata(),
        nib.load(memory_cfg.run_dir / saved).get_fdata(),
    )
    metas = [
        json.loads(p.read_text()) for p in (cached_cfg.run_dir / "cache").glob("*/*/meta.json")
    ]
    boxes = {m["role"]: np.prod(np.subtract(m["box"][1], m["box"][0])) for m in metas}
    assert boxes["validation"] < 0.85 * 36 * 30 * 40  # the ROI's box and the network's context
    assert boxes["training"] < 48 * 42 * 52  # of the padded grid, with a rotated patch's reach
    assert not (memory_cfg.run_dir / "cache").exists()
    # The default cache settings leave the checkpoint's config as it was before the cache.
    assert "cache" not in torch.load(cached.last_checkpoint, weights_only=True)["config"]


def test_entries_keep_what_patches_read_without_padding_and_in_float16(tmp_path, margin_data):
    from livianet.runtime import DistInfo
    from livianet.training.batches import make_batch
    from livianet.training.cached_data import training_data

    batches = {}
    for name, extra in (("f32", "cache = 0"), ("f16", "cacheDtype = float16")):
        config = load_training_config(
            _ini(tmp_path / name, margin_data, f"applyPadding = 0\n{SPATIAL}\n{extra}")
        )
        sources = training_data(config, DistInfo()).sources
        rng = np.random.default_rng(5)
        ids = np.array([0, 1, 1, 0])
        flats = np.array(
            [
                rng.choice(s.index.candidates)
                for s in (sources[0], sources[1], sources[1], sources[0])
            ]
        )
        seeds = [[1, n] for n in range(4)]
        batches[name] = make_batch(sources, ids, flats, config.train, config.model, seeds)
    assert np.array_equal(batches["f32"][1], batches["f16"][1])  # the same labels
    np.testing.assert_allclose(batches["f16"][0], batches["f32"][0], rtol=1e-3, atol=1e-3)


def test_a_second_run_on_the_same_cache_preprocesses_nothing(tmp_path, margin_data, capsys, caplog):
    shared = tmp_path / "shared-cache"
    first = _ini(tmp_path / "one", margin_data)
    assert main(["cache", str(first), "--cache", str(shared), "--jobs", "2"]) == 0
    assert "3 cases ready (3 preprocessed now)" in capsys.readouterr().out
    written = _entries(shared)
    second = _ini(tmp_path / "two", margin_data)
    caplog.set_level(logging.INFO, logger="livianet")
    assert main(["train", str(second), "--cache", str(shared)]) == 0
    assert "all 3 cases already preprocessed" in caplog.text and _entries(shared) == written
    os.utime(margin_data / "MR" / "MR_Img1.nii.gz")  # touched, same bytes: the same entry
    image, *_ = synthetic_case(np.random.default_rng(9), (20, 20, 20))
    changed = np.zeros((36, 30, 40), np.float32)
    changed[9:29, 3:23, 12:32] = image
    write_nifti(margin_data / "MR" / "MR_Img2.nii.gz", changed)  # new bytes: a new entry
    contents = prepare_cache(plan_cache(load_training_config(second), shared))
    assert contents.built == 1 and len(_entries(shared)) == 4
    assert main(["cache", str(second), "--cache", str(shared), "--report"]) == 0
    report = capsys.readouterr().out
    assert "3 of 3 cases preprocessed" in report and "uses: 1 (" in report
    assert main(["cache", str(second), "--cache", str(shared), "--prune"]) == 0
    assert "pruned 1 entries" in capsys.readouterr().out and len(_entries(shared)) == 3


def test_damaged_entries_and_other_versions_are_preprocessed_again(
    tmp_path, margin_data, caplog, monkeypatch
):
    config = load_training_config(_ini(tmp_path, margin_data))
    root = tmp_path / "cache"
    plan = plan_cache(config, root)
    built = prepare_cache(plan)
    fresh = [(np.array(e.image), np.array(e.label)) for e in built.training + built.validation]
    first, second, held_out = (root / "entries" / e.key for e in plan.entries)
    image = first / layout.IMAGE
    data = bytearray(image.read_bytes())
    data[-5] ^= 0xFF  # same size, other contents
    image.write_bytes(bytes(data))
    with open(second / layout.LABEL, "r+b") as handle:
        handle.truncate(100)
    (held_out / layout.META).write_text("{not json")
    caplog.set_level(logging.WARNING, logger="livianet")
    repaired = prepare_cache(plan)
    assert caplog.text.count("preprocessing case") == 3
    for (image, label), after in zip(fresh, repaired.training + repaired.validation, strict=True):
        assert np.array_equal(image, after.image) and np.array_equal(label, after.label)
    import livianet.cache.spec

    monkeypatch.setattr(livianet.cache.spec, "__version__", "99.0")
    other = plan_cache(config, root)
    assert {e.key for e in other.entries}.isdisjoint(e.key for e in plan.entries)
    assert prepare_cache(other).built == 3


def test_a_lock_makes_one_writer_and_a_dead_writers_lock_is_taken_over(tmp_path, margin_data):
    config = load_training_config(_ini(tmp_path, margin_data))
    root = tmp_path / "cache"
    plan = plan_cache(config, root)
    (root / "entries").mkdir(parents=True)
    held = layout.lock_path(root, plan.training[0].key)
    assert try_lock(held) and not try_lock(held)  # this process holds it
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    stale = layout.lock_path(root, plan.training[1].key)
    stale.write_text(json.dumps({"host": os.uname().nodename, "pid": int(dead.stdout), "time": 0}))
    done: dict = {}
    waiter = threading.Thread(target=lambda: done.update(contents=prepare_cache(plan)))
    waiter.start()
    time.sleep(1.0)
    assert waiter.is_alive()  # waiting for the entry this process "writes"
    held.unlink()  # its writer gave up without writing: the waiter writes it
    waiter.join(60)
    assert done["contents"].built == 3 and not list((root / "entries").glob("*.lock"))


def test_ranks_starting_at_once_write_each_entry_once(tmp_path, margin_data):
    ini = _ini(tmp_path, margin_data)
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        built = pool.map(_build_cache, [(str(ini), str(tmp_path / "cache"))] * 2)
    assert sum(built) == 3  # each entry by one of them, the other waiting or opening it
    assert len(_entries(tmp_path / "cache")) == 3


def _build_cache(args: tuple[str, str]) -> int:
    config = load_training_config(args[0])
    return prepare_cache(plan_cache(config, Path(args[1]))).built


def test_a_case_that_changes_while_training_runs_stops_it(tmp_path, margin_data):
    config = load_training_config(_ini(tmp_path, margin_data, epochs=3))
    label = margin_data / "Label" / "GT_Img1.nii.gz"

    def change_after_the_first_epoch() -> None:
        checkpoint = config.run_dir / "Networks" / "tiny_Epoch1.pt"
        while not checkpoint.exists():
            time.sleep(0.01)
        nib.save(nib.Nifti1Image(np.zeros((36, 30, 40), np.uint8), np.eye(4)), str(label))

    changer = threading.Thread(target=change_after_the_first_epoch, daemon=True)
    changer.start()
    with pytest.raises(TrainingError, match=r"GT_Img1.nii.gz was modified while training ran"):
        train(config, _options())
    changer.join(5)


def test_an_unwritable_or_full_cache_is_a_one_line_error(tmp_path, margin_data, capsys):
    assert "no space left" in cache_problem(
        tmp_path, OSError(28, "No space left on device"), "MR_Img1"
    )
    ini = _ini(tmp_path, margin_data)
    small = 40_000  # bytes: the inputs' digests fit, an entry's image does not
    script = (
        "import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({small}, {small})); "
        f"from livianet.cli.main import main; sys.exit(main(['cache', {str(ini)!r}, '--cache', {str(tmp_path / 'full')!r}]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "cache entry of case MR_Img1 not written (" in done.stderr.strip().splitlines()[-1]
    leftovers = [p.name for p in (tmp_path / "full" / "entries").iterdir()]
    assert leftovers == []  # no half entry, no lock
    readonly = tmp_path / "readonly"
    readonly.mkdir(mode=0o555)
    target = readonly / "cache"
    if os.geteuid() == 0:  # root writes anywhere: a file system that refuses everyone
        target = Path("/sys/fs/livianet-cache-test")
    if os.access(target.parent, os.W_OK) and os.geteuid() != 0:
        pytest.skip("no read-only folder to try")
    assert main(["cache", str(ini), "--cache", str(target)]) == 1
    assert "cache folder is not writable" in capsys.readouterr().err


def test_dry_run_says_what_the_cache_and_memory_need(tmp_path, margin_data, capsys):
    ini = _ini(tmp_path, margin_data)
    assert main(["train", str(ini), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert (
        "0 of 3 cases preprocessed" in out and "3 to preprocess" in out and "Memory: about" in out
    )
    assert main(["cache", str(ini)]) == 0
    capsys.readouterr()
    assert main(["train", str(ini), "--dry-run", "--jobs", "2"]) == 0
    assert "3 of 3 cases preprocessed" in capsys.readouterr().out
    memory = _ini(tmp_path / "memory", margin_data, "cache = 0")
    assert main(["train", str(memory), "--dry-run"]) == 0
    assert "held in memory (cache = 0)" in capsys.readouterr().out
