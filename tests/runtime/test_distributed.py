"""Several processes on the CPU (gloo, loopback) through torchrun, as users launch them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import write_tiny_ini

from livianet.config import load_training_config
from livianet.training import TrainOptions, train

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]

HARNESS = """
import os, sys, torch
from livianet.config import load_training_config
from livianet.training.trainer import TrainOptions, train
from livianet.runtime import distributed

result = train(load_training_config(sys.argv[1]), TrainOptions(device="cpu", progress=False))
rank = int(os.environ["RANK"])
torch.save({k: v.detach().clone() for k, v in result.model.state_dict().items()}, sys.argv[2] + f"/weights_rank{rank}.pt")
if rank == 0:
    torch.save(torch.tensor([row["train_loss"] for row in result.history], dtype=torch.float64), sys.argv[2] + "/losses.pt")
distributed.shutdown()
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = "1"
    env.pop("RANK", None)
    env.pop("WORLD_SIZE", None)
    return env


def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    done = subprocess.run(command, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def _ini(folder: Path, data: Path, batch: int) -> Path:
    ini = write_tiny_ini(folder, data, epochs=2)
    ini.write_text(ini.read_text().replace("batch_size = 4", f"batch_size = {batch}"))
    return ini


def test_two_processes_match_one_process_with_twice_the_batch(tmp_path, tiny_dataset):
    two = _ini(tmp_path / "two", tiny_dataset, batch=2)
    harness = tmp_path / "harness.py"
    harness.write_text(textwrap.dedent(HARNESS))
    _run([*TORCHRUN, str(harness), str(two), str(tmp_path / "two")], tmp_path)
    rank0 = torch.load(tmp_path / "two" / "weights_rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "two" / "weights_rank1.pt", weights_only=True)
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key  # every rank ends with the same weights

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        single = train(
            load_training_config(_ini(tmp_path / "one", tiny_dataset, batch=4)),
            TrainOptions(device="cpu", progress=False),
        )
    finally:
        torch.set_num_threads(threads)
    losses_two = torch.load(tmp_path / "two" / "losses.pt", weights_only=True).numpy()
    losses_one = np.array([row["train_loss"] for row in single.history])
    np.testing.assert_allclose(losses_two, losses_one, rtol=1e-4)
    reference = single.model.state_dict()
    for key, value in rank0.items():
        if value.is_floating_point():
            np.testing.assert_allclose(
                value.numpy(), reference[key].numpy(), rtol=1e-3, atol=1e-4, err_msg=key
            )
    # rank 0 alone wrote the run's files
    networks = tmp_path / "two" / "out" / "TinyRun" / "Networks"
    assert sorted(p.name for p in networks.iterdir() if not p.name.startswith(".")) == [
        "tiny_Epoch1.pt",
        "tiny_Epoch2.pt",
        "tiny_best.pt",
    ]


def test_two_processes_segment_each_scan_exactly_once(tmp_path, tiny_dataset):
    ini = write_tiny_ini(tmp_path, tiny_dataset, epochs=1)
    result = train(load_training_config(ini), TrainOptions(device="cpu", progress=False))
    images = sorted((tiny_dataset / "MR").iterdir())
    labels = sorted((tiny_dataset / "Label").iterdir())
    out = tmp_path / "seg"
    command = [
        *TORCHRUN,
        "-m",
        "livianet",
        "segment",
        str(result.last_checkpoint),
        *map(str, images),
        "--gt",
        *map(str, labels),
        "--out",
        str(out),
        "--device",
        "cpu",
    ]
    done = _run(command, tmp_path)
    log = done.stdout + done.stderr
    for image in images:
        mentions = re.findall(rf"\[rank (\d)\] {re.escape(image.name)}: segmented", log)
        assert len(mentions) == 1, (image.name, log[-2000:])
        assert (out / f"Segmentation_{image.name}").exists()
    ranks = set(re.findall(r"\[rank (\d)\] MR_Img\d\.nii\.gz: segmented", log))
    assert ranks == {"0", "1"}  # the work was shared
    volumes = (out / "volumes.csv").read_text().splitlines()
    assert len(volumes) == 1 + len(images)  # one table, gathered on rank 0
    metrics = (out / "metrics.csv").read_text().splitlines()
    assert len(metrics) == 1 + 3 * len(images)


@pytest.mark.parametrize("nproc", [2])
def test_documented_cpu_command_runs(tmp_path, tiny_dataset, nproc):
    """docs/distributed.md's CPU command, as written there."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "distributed.md").read_text()
    assert "torchrun --standalone --nproc_per_node=2 -m livianet train CONFIG --device cpu" in doc
    ini = write_tiny_ini(tmp_path, tiny_dataset, epochs=1)
    _run([*TORCHRUN, "-m", "livianet", "train", str(ini), "--device", "cpu"], tmp_path)
    assert (tmp_path / "out" / "TinyRun" / "Networks" / "tiny_Epoch1.pt").exists()
