"""The cache given bad input: a full disk, a read-only or another version's folder, changed cases,
corrupt files. Each is a one-line error or an entry written again, never stale data or a traceback."""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import synthetic_case, write_nifti
from test_cache import _ini, write_margin_dataset

import livianet.cache.build
from livianet.cache import layout, plan_cache, prepare_cache
from livianet.cli.main import main
from livianet.config import load_training_config
from livianet.errors import DataError
from livianet.runtime import DistInfo
from livianet.training.cached_data import training_data


@pytest.fixture
def margin_data(tmp_path: Path) -> Path:
    return write_margin_dataset(tmp_path / "data")


def _leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "entries").iterdir())


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


def test_too_little_free_space_is_refused_before_writing(
    tmp_path, margin_data, monkeypatch, capsys
):
    ini = _ini(tmp_path, margin_data)
    real = shutil.disk_usage

    def nearly_full(path):
        return real(path)._replace(free=10 << 20)  # 10 MiB: less than the reserve alone

    monkeypatch.setattr(livianet.cache.build.shutil, "disk_usage", nearly_full)
    assert main(["cache", str(ini), "--cache", str(tmp_path / "c")]) == 1
    err = _one_line_error(capsys)
    assert "10 MiB free, case MR_Img1 needs" in err and "--cache DIR" in err
    assert _leftovers(tmp_path / "c") == []


def test_a_disk_that_fills_while_an_entry_is_written_leaves_no_half_entry(
    tmp_path, margin_data, monkeypatch, capsys
):
    """ENOSPC as a file system with delayed allocation reports it: when the array is flushed."""
    ini = _ini(tmp_path, margin_data)
    fsync = os.fsync

    def full_for_arrays(fd: int) -> None:
        if os.readlink(f"/proc/self/fd/{fd}").endswith(layout.LABEL):
            raise OSError(errno.ENOSPC, "No space left on device")
        fsync(fd)

    monkeypatch.setattr(livianet.cache.build.os, "fsync", full_for_arrays)
    assert main(["cache", str(ini), "--cache", str(tmp_path / "c")]) == 1
    err = _one_line_error(capsys)
    assert "no space left on the cache's disk while writing case MR_Img1" in err
    assert _leftovers(tmp_path / "c") == []  # no .tmp- folder, no lock
    monkeypatch.undo()  # space freed: the next run writes every entry
    assert main(["cache", str(ini), "--cache", str(tmp_path / "c")]) == 0
    assert "3 cases ready (3 preprocessed now)" in capsys.readouterr().out


def test_a_lock_that_cannot_be_written_is_not_left_behind(tmp_path, margin_data):
    """A full disk may refuse even a lock's few bytes: the lock goes, or every later run would wait."""
    ini = _ini(tmp_path, margin_data)
    limit = 20  # bytes: the folder's marker fits, a lock's owner does not
    script = (
        "import resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit})); "
        "from livianet.cli.main import main; "
        f"sys.exit(main(['cache', {str(ini)!r}, '--cache', {str(tmp_path / 'c')!r}]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "not written" in done.stderr.strip().splitlines()[-1]
    assert _leftovers(tmp_path / "c") == []


def test_a_lock_with_no_owner_is_taken_over_once_it_is_old(tmp_path, margin_data):
    """A lock whose owner was never written (a crash, a full disk) does not hold the entry for long."""
    config = load_training_config(_ini(tmp_path, margin_data))
    root = tmp_path / "c"
    plan = plan_cache(config, root)
    (root / "entries").mkdir(parents=True)
    broken = layout.lock_path(root, plan.training[0].key)
    broken.write_text('{"host": "')
    old = time.time() - 600
    os.utime(broken, (old, old))
    done: dict = {}
    builder = threading.Thread(target=lambda: done.update(c=prepare_cache(plan)), daemon=True)
    builder.start()
    builder.join(60)
    assert not builder.is_alive() and done["c"].built == 3 and not broken.exists()


def test_a_complete_cache_is_read_without_writing_to_it(tmp_path, margin_data):
    """A cache built ahead can be shared read-only: a run that finds every entry writes nothing.

    (The test runs as root too, where a read-only mode would not stop writes: so it checks that
    nothing in the folder is created, changed or removed.)
    """
    config = load_training_config(_ini(tmp_path, margin_data))
    root = tmp_path / "c"
    prepare_cache(plan_cache(config, root))

    def snapshot() -> dict[str, int]:
        return {str(p): p.stat().st_mtime_ns for p in root.rglob("*")}

    before = snapshot()
    for path in root.rglob("*"):
        path.chmod(0o555 if path.is_dir() else 0o444)
    root.chmod(0o555)
    try:
        data = training_data(config, DistInfo(), cache=root)
    finally:
        for path in [root, *root.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
    assert len(data.sources) == 2 and len(data.validation) == 1
    assert snapshot() == before


def test_a_folder_of_another_cache_format_is_used_without_its_entries(
    tmp_path, margin_data, caplog, capsys
):
    config = load_training_config(_ini(tmp_path, margin_data))
    root = tmp_path / "c"
    old = layout.entries_folder(root) / ("0" * 32)
    old.mkdir(parents=True)
    (old / layout.META).write_text(json.dumps({"format": 0, "key": "0" * 32}))
    (root / layout.MARKER).write_text(json.dumps({"format": 0}))
    caplog.set_level(logging.WARNING, logger="livianet")
    assert prepare_cache(plan_cache(config, root)).built == 3
    assert "written by another livianet cache format" in caplog.text
    assert json.loads((root / layout.MARKER).read_text())["format"] != 0
    assert main(["cache", str(config.source), "--cache", str(root), "--prune"]) == 0
    assert "pruned 1 entries" in capsys.readouterr().out and not old.exists()


def test_a_case_that_changes_between_planning_and_preprocessing_is_not_cached(
    tmp_path, margin_data
):
    config = load_training_config(_ini(tmp_path, margin_data))
    root = tmp_path / "c"
    plan = plan_cache(config, root)
    image, *_ = synthetic_case(np.random.default_rng(7), (20, 20, 20))
    whole = np.zeros((36, 30, 40), np.float32)
    whole[9:29, 3:23, 12:32] = image
    write_nifti(margin_data / "MR" / "MR_Img1.nii.gz", whole)
    with pytest.raises(
        DataError, match=r"MR_Img1.nii.gz was modified while case MR_Img1 was being"
    ):
        prepare_cache(plan)
    assert not plan.training[0].present
    replanned = plan_cache(config, root)  # planned anew: the new bytes, a new key
    assert replanned.training[0].key != plan.training[0].key
    assert prepare_cache(replanned).built == 3


def test_a_shared_entry_watches_this_runs_files_not_those_it_was_made_from(tmp_path, margin_data):
    """Same bytes elsewhere share an entry; the run checks and names its own files, not the first run's."""
    root = tmp_path / "shared"
    first = load_training_config(_ini(tmp_path / "one", margin_data))
    prepare_cache(plan_cache(first, root))
    copy = tmp_path / "copy"
    shutil.copytree(margin_data, copy)
    for path in copy.rglob("*.nii.gz"):
        os.utime(path)  # another time, the same bytes
    shutil.rmtree(margin_data)  # the files the entries were made from are gone
    second = load_training_config(_ini(tmp_path / "two", copy))
    data = training_data(second, DistInfo(), cache=root)
    assert data.watch.change() is None
    held_out = data.validation[0].case
    assert held_out.files.images[0].parent == copy / "MR" and held_out.reference.path.exists()
    label = copy / "Label" / "GT_Img1.nii.gz"
    label.write_bytes(label.read_bytes() + b"\0")
    assert f"{label} was modified while training ran" in str(data.watch.change())


def test_corrupt_input_digests_are_taken_again_not_trusted(tmp_path, margin_data, caplog):
    config = load_training_config(_ini(tmp_path, margin_data))
    root = tmp_path / "c"
    keys = [e.key for e in plan_cache(config, root).entries]
    (root / layout.MEMO).write_text("{truncated")
    caplog.set_level(logging.WARNING, logger="livianet")
    assert [e.key for e in plan_cache(config, root).entries] == keys
    assert "unreadable input digests" in caplog.text
