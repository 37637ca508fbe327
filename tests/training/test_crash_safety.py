"""SIGKILL at several moments, including mid-checkpoint-write, never loses the latest checkpoint.

Training runs in a child process; the test kills it with SIGKILL (``kill -9``)
mid-epoch and while a checkpoint is being written (the child's ``torch.save``
is slowed so the write can be caught), then checks that the newest
``_Epoch<k>.pt`` loads and that resuming from it completes the run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import write_tiny_ini

from livianet.cli import main
from livianet.networks import list_epoch_checkpoints, load_checkpoint

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")

CHILD = """
import sys, time
import torch
import livianet.networks.checkpoint as checkpoint

mode, fast_saves = sys.argv[1], int(sys.argv[3])
original_save = torch.save
saves = []

def slow_save(obj, f, *args, **kwargs):
    original_save(obj, f, *args, **kwargs)   # the temporary file is complete but not yet renamed
    saves.append(f)
    if mode == "slow-save" and len(saves) > fast_saves:
        time.sleep(60)

checkpoint.torch.save = slow_save
if mode == "slow-steps":
    import livianet.training.epoch as epoch
    step = epoch.set_learning_rate
    def slow_step(*args, **kwargs):
        time.sleep(0.4)
        return step(*args, **kwargs)
    epoch.set_learning_rate = slow_step

from livianet.cli.main import main
sys.exit(main(["-q", "train", sys.argv[2], "--device", "cpu"]))
"""


def _start(tmp_path: Path, ini: Path, mode: str, fast_saves: int = 0) -> subprocess.Popen:
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(CHILD))
    command = [sys.executable, str(script), mode, str(ini), str(fast_saves)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait_for(condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def _networks(ini: Path) -> Path:
    return ini.parent / "out" / "TinyRun" / "Networks"


def _temporary_files(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.startswith(".")] if folder.is_dir() else []


def _kill(process: subprocess.Popen) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL


def _resume_completes(ini: Path, epochs: int) -> None:
    networks = _networks(ini)
    found = list_epoch_checkpoints(networks, "tiny")
    assert found, "no checkpoint survived"
    epoch, latest = found[-1]
    state = load_checkpoint(latest)
    assert state["epoch"] == epoch
    assert main(["-q", "train", str(ini), "--resume", str(latest), "--device", "cpu"]) == 0
    assert list_epoch_checkpoints(networks, "tiny")[-1][0] == epochs


def test_kill_during_checkpoint_write(tmp_path, tiny_dataset):
    ini = write_tiny_ini(tmp_path, tiny_dataset, epochs=3)
    networks = _networks(ini)
    process = _start(tmp_path, ini, "slow-save", fast_saves=0)
    # Epoch 1's temporary file is written but not yet renamed: kill now.
    _wait_for(lambda: _temporary_files(networks))
    _kill(process)
    assert not list_epoch_checkpoints(networks, "tiny"), (
        "a checkpoint appeared under its final name before its write finished"
    )
    # Start again: epoch 1 and its best copy are saved, epoch 2's write is killed half-way.
    stale = set(_temporary_files(networks))
    process = _start(tmp_path, ini, "slow-save", fast_saves=2)
    _wait_for(
        lambda: (networks / "tiny_Epoch1.pt").exists() and set(_temporary_files(networks)) - stale
    )
    _kill(process)
    assert list_epoch_checkpoints(networks, "tiny")[-1][0] == 1
    _resume_completes(ini, 3)


def test_kill_mid_epoch(tmp_path, tiny_dataset):
    ini = write_tiny_ini(tmp_path, tiny_dataset, epochs=3)
    networks = _networks(ini)
    process = _start(tmp_path, ini, "slow-steps", fast_saves=0)
    _wait_for(lambda: (networks / "tiny_Epoch1.pt").exists())
    time.sleep(1.0)  # well inside epoch 2 (8 steps of at least 0.4 s)
    _kill(process)
    assert list_epoch_checkpoints(networks, "tiny")[-1][0] == 1
    _resume_completes(ini, 3)
