"""Several processes on the CPU (gloo, loopback) through torchrun, as users launch them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import write_dataset, write_tiny_ini

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


BATCH_NORM_HARNESS = """
import os, sys, torch
from livianet.runtime import distributed

distributed.init(torch.device("cpu"))
rank = int(os.environ["RANK"])
x = torch.load(sys.argv[1], weights_only=True)[rank * 3 : (rank + 1) * 3].requires_grad_()
norm = distributed.CpuSyncBatchNorm(2, momentum=1.0)  # running stats = this batch's
with torch.no_grad():
    norm.weight.copy_(torch.tensor([0.5, 1.5]))
    norm.bias.copy_(torch.tensor([0.1, -0.2]))
out = norm(x)
weights = torch.arange(2 * out.numel()).view(6, *out.shape[1:]).sin()[rank * 3 : (rank + 1) * 3]
(out * weights).sum().backward()  # the two losses add up to the single process's
torch.save(
    {"out": out.detach(), "grad": x.grad, "mean": norm.running_mean, "var": norm.running_var},
    sys.argv[2] + f"/rank{rank}.pt",
)
distributed.shutdown()
"""


def test_cpu_sync_batch_norm_with_a_large_mean_matches_one_process(tmp_path):
    """Activations of 1e4 + N(0, 1): E[x^2] - E[x]^2 in float32 loses their variance entirely."""
    x = 1e4 + torch.randn(6, 2, 5, 5, 5, generator=torch.Generator().manual_seed(0))
    torch.save(x, tmp_path / "x.pt")
    harness = tmp_path / "harness.py"
    harness.write_text(textwrap.dedent(BATCH_NORM_HARNESS))
    _run([*TORCHRUN, str(harness), str(tmp_path / "x.pt"), str(tmp_path)], tmp_path)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]

    whole = x.clone().requires_grad_()
    reference = torch.nn.BatchNorm3d(2, momentum=1.0)
    with torch.no_grad():
        reference.weight.copy_(torch.tensor([0.5, 1.5]))
        reference.bias.copy_(torch.tensor([0.1, -0.2]))
    out = reference(whole)
    (out * torch.arange(out.numel()).view_as(out).sin()).sum().backward()
    assert float(reference.running_var.min()) > 0.9  # the data's variance is 1
    for rank in ranks:
        torch.testing.assert_close(rank["var"], reference.running_var, rtol=1e-3, atol=1e-4)
        torch.testing.assert_close(rank["mean"], reference.running_mean, rtol=1e-6, atol=1e-3)
    torch.testing.assert_close(
        torch.cat([r["out"] for r in ranks]), out.detach(), atol=2e-3, rtol=0
    )
    grads = torch.cat([r["grad"] for r in ranks])
    torch.testing.assert_close(grads, whole.grad, atol=1e-3, rtol=1e-3)


THREADS_HARNESS = """
import os, sys
from livianet.config import load_training_config
from livianet.runtime import distributed
from livianet.training.trainer import TrainOptions, train


def threads():
    return sorted(open(f"/proc/self/task/{t}/comm").read().strip() for t in os.listdir("/proc/self/task"))


result = train(load_training_config(sys.argv[1]), TrainOptions(device="cpu", progress=False))
before = threads()
distributed.shutdown()
after = threads()
with open(sys.argv[2] + f"/threads_rank{os.environ['RANK']}.txt", "w") as handle:
    handle.write(" ".join(before) + "\\n" + " ".join(after) + "\\n")
"""


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads thread names from /proc")
def test_leaving_the_group_ends_its_threads(tmp_path, tiny_dataset):
    """``shutdown`` tears the gloo group down itself: none of its threads live on to exit.

    A group that outlives ``destroy_process_group`` is torn down during interpreter exit,
    where a gloo thread that needs the GIL aborts the process (docs/reliability.md).
    """
    ini = write_tiny_ini(tmp_path, tiny_dataset, epochs=1)
    harness = tmp_path / "harness.py"
    harness.write_text(textwrap.dedent(THREADS_HARNESS))
    _run([*TORCHRUN, str(harness), str(ini), str(tmp_path)], tmp_path)
    for rank in (0, 1):
        before, after = (tmp_path / f"threads_rank{rank}.txt").read_text().splitlines()
        assert "gloo" in before  # the check sees the group's threads while it is up
        assert "gloo" not in after, (rank, after)


IN_FLIGHT_HARNESS = """
import time, torch
import torch.distributed as dist
from livianet.runtime import distributed

distributed.init(torch.device("cpu"))
torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(2, 2))  # imports what training imports
if dist.get_rank() == 1:
    time.sleep(1.0)  # rank 0 reaches the end while its collective waits for rank 1
tensor = torch.ones(1 << 16)
future = dist.all_reduce(tensor, async_op=True).get_future().then(lambda f: float(f.value()[0][0]))
del tensor, future
distributed.shutdown()
"""


def test_a_collective_still_in_flight_at_exit_does_not_abort(tmp_path):
    """The crash, made certain: a gloo thread that needs Python after the interpreter began to exit.

    With the group outliving ``destroy_process_group`` this aborted both processes with
    ``terminate called without an active exception`` (exit -6) every time.
    """
    harness = tmp_path / "harness.py"
    harness.write_text(textwrap.dedent(IN_FLIGHT_HARNESS))
    done = _run([*TORCHRUN, str(harness)], tmp_path)
    assert "terminate called" not in done.stdout + done.stderr


BURN = "while True:\n    pass\n"


@pytest.fixture(scope="module")
def scans_96(tmp_path_factory) -> Path:
    """Three cases of realistic size (96^3) for the exit tests."""
    return write_dataset(tmp_path_factory.mktemp("scans96"), shape=(96, 96, 96))


def _train_repeatedly_under_load(folder: Path, data: Path, runs: int) -> None:
    """``runs`` torchrun trainings while another process keeps a core busy; each must exit 0."""
    ini = write_tiny_ini(folder, data, epochs=1)
    command = [*TORCHRUN, "-m", "livianet", "train", str(ini), "--device", "cpu"]
    burner = subprocess.Popen([sys.executable, "-c", BURN])
    try:
        for run in range(1, runs + 1):
            shutil.rmtree(folder / "out", ignore_errors=True)
            done = subprocess.run(
                command, cwd=folder, env=_env(), capture_output=True, text=True, timeout=300
            )
            log = done.stdout + done.stderr
            assert done.returncode == 0 and "terminate called" not in log, (
                f"run {run} of {runs}: exit {done.returncode}\n{log[-3000:]}"
            )
            assert (folder / "out" / "TinyRun" / "Networks" / "tiny_Epoch1.pt").exists()
    finally:
        burner.kill()
        burner.wait()


def test_torchrun_training_exits_cleanly_under_load(tmp_path, scans_96):
    _train_repeatedly_under_load(tmp_path, scans_96, runs=2)


@pytest.mark.slow
def test_torchrun_training_exits_cleanly_under_load_soak(tmp_path, scans_96):
    _train_repeatedly_under_load(tmp_path, scans_96, runs=25)


def test_a_bad_scan_under_torchrun_is_listed_and_the_others_gathered(tmp_path, tiny_dataset):
    from ideal_model import write_intensity_checkpoint

    checkpoint = write_intensity_checkpoint(tmp_path / "ideal.pt")
    images = sorted((tiny_dataset / "MR").iterdir())
    broken = tmp_path / "broken.nii.gz"
    broken.write_bytes(b"not a scan")
    out = tmp_path / "seg"
    command = [*TORCHRUN, "-m", "livianet", "segment", str(checkpoint), *map(str, images),
               str(broken), "--out", str(out), "--device", "cpu", "--no-report"]  # fmt: skip
    done = subprocess.run(
        command, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=300
    )
    assert done.returncode != 0  # the batch reports its failure (torchrun adds its own summary)
    assert "livianet: error: 1 of 4 scans failed" in done.stderr
    failures = (out / "failures.csv").read_text().splitlines()
    assert len(failures) == 2 and str(broken) in failures[1]
    volumes = (out / "volumes.csv").read_text().splitlines()
    assert len(volumes) == 1 + len(images)  # every good scan, gathered from both ranks
    for image in images:
        assert (out / f"Segmentation_{image.name}").exists()
