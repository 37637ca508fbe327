"""Which device a process runs on, and the memory layout that is fastest there."""

from __future__ import annotations

import os

import torch

from livianet.errors import ConfigError


def _local_gpu() -> torch.device:
    """The GPU of this process under torchrun (``LOCAL_RANK``, wrapping round the GPUs)."""
    return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count())


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` and ``cuda`` pick the GPU of this process (``LOCAL_RANK``) when there is one.

    Under torchrun every process gets the same ``--device``: an index-less ``cuda`` is not a
    device DDP or ``torch.cuda.set_device`` accept, and ``cuda:N`` would put every process on
    GPU N, so ``cuda`` means this process's GPU and an explicit index is refused.
    """
    if name == "auto":
        if torch.cuda.is_available():
            return _local_gpu()
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"--device {name}: expected auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {name}: CUDA is not available on this machine")
        if device.index is None:
            return _local_gpu()
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        if world_size > 1:
            raise ConfigError(
                f"--device {name}: every one of the {world_size} torchrun processes would use GPU {device.index}; give --device cuda (each process takes the GPU of its LOCAL_RANK)"
            )
        if device.index >= torch.cuda.device_count():
            raise ConfigError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s)")
    elif device.type != "cpu":
        raise ConfigError(f"--device {name}: expected auto, cpu, cuda or cuda:N")
    return device


def memory_format(device: torch.device) -> torch.memory_format:
    """Channels-last 3-D runs the oneDNN and cuDNN convolutions fastest."""
    return torch.channels_last_3d
