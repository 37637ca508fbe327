"""Which device a process takes: torchrun's processes each get their own GPU, never all the same one."""

from __future__ import annotations

import pytest
import torch

from livianet.errors import ConfigError
from livianet.runtime import resolve_device


@pytest.fixture
def four_gpus(monkeypatch):
    """Pretend the machine has four GPUs (nothing touches them: the devices are only named)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def _torchrun(monkeypatch, local_rank: int, world_size: int) -> None:
    monkeypatch.setenv("RANK", str(local_rank))
    monkeypatch.setenv("LOCAL_RANK", str(local_rank))
    monkeypatch.setenv("WORLD_SIZE", str(world_size))


@pytest.mark.parametrize("name", ["cuda", "auto"])
def test_cuda_under_torchrun_is_the_gpu_of_the_local_rank(four_gpus, name):
    for local_rank, expected in [(0, 0), (1, 1), (3, 3), (5, 1)]:  # 5 wraps round the 4 GPUs
        _torchrun(four_gpus, local_rank, world_size=6)
        assert resolve_device(name) == torch.device("cuda", expected)


def test_an_explicit_gpu_under_torchrun_is_refused(four_gpus):
    _torchrun(four_gpus, 1, world_size=2)
    with pytest.raises(
        ConfigError, match=r"--device cuda:0: every one of the 2 torchrun processes"
    ):
        resolve_device("cuda:0")


def test_a_single_process_takes_the_gpu_it_is_given(four_gpus):
    assert resolve_device("cuda") == torch.device("cuda", 0)
    assert resolve_device("cuda:2") == torch.device("cuda", 2)
    with pytest.raises(ConfigError, match="only 4 CUDA device"):
        resolve_device("cuda:4")
    assert resolve_device("cpu") == torch.device("cpu")


def test_no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ConfigError, match="CUDA is not available"):
        resolve_device("cuda")
    with pytest.raises(ConfigError, match="expected auto, cpu, cuda or cuda:N"):
        resolve_device("tpu")
