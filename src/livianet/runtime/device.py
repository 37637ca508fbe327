"""Which device a process runs on, and the memory layout that is fastest there."""

from __future__ import annotations

import os

import torch

from livianet.errors import ConfigError


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks the GPU of this process (``LOCAL_RANK``) when there is one."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device(
                "cuda", int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count()
            )
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"--device {name}: expected auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {name}: CUDA is not available on this machine")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s)")
    elif device.type != "cpu":
        raise ConfigError(f"--device {name}: expected auto, cpu, cuda or cuda:N")
    return device


def memory_format(device: torch.device) -> torch.memory_format:
    """Channels-last 3-D runs the oneDNN and cuDNN convolutions fastest."""
    return torch.channels_last_3d
