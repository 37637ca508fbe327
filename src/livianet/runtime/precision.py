"""Numeric precision: the fastest accurate one for a device, and autocast to it."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import torch

logger = logging.getLogger(__name__)


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
