"""Device and numeric precision choices, made once and passed down as values."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import torch

from livianet.errors import ConfigError

logger = logging.getLogger(__name__)


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks the GPU of this process (``LOCAL_RANK``) when there is one."""
    import os

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


def cpu_has_fast_bf16() -> bool:
    """AMX or AVX512-BF16: bf16 matrix work is several times faster than float32."""
    cpu = getattr(torch, "cpu", None)
    try:
        return bool(cpu._is_amx_tile_supported() or cpu._is_avx512_bf16_supported())  # type: ignore[union-attr]
    except AttributeError:
        return False


def resolve_precision(requested: str, device: torch.device) -> str:
    """``float32``, ``bf16`` or ``fp16`` for this device; ``auto`` takes the fastest accurate one."""
    if requested == "auto":
        if device.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "bf16" if cpu_has_fast_bf16() else "float32"
    if requested == "fp16" and device.type == "cpu":
        logger.warning("fp16 is a CUDA precision; using bf16 on the CPU")
        return "bf16"
    return requested


def autocast_dtype(precision: str) -> torch.dtype | None:
    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)


@contextlib.contextmanager
def autocast(device: torch.device, precision: str) -> Iterator[None]:
    dtype = autocast_dtype(precision)
    if dtype is None:
        yield
        return
    with torch.autocast(device_type=device.type, dtype=dtype):
        yield


def memory_format(device: torch.device) -> torch.memory_format:
    """Channels-last 3-D runs the oneDNN and cuDNN convolutions fastest."""
    return torch.channels_last_3d
