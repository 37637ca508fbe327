"""Where and how code runs: device, numeric precision, processes (torchrun), the allocator."""

from livianet.runtime.allocator import keep_freed_memory, release_freed_memory
from livianet.runtime.device import memory_format, resolve_device
from livianet.runtime.distributed import DistInfo
from livianet.runtime.precision import (
    autocast,
    autocast_dtype,
    cpu_has_fast_bf16,
    resolve_precision,
)

__all__ = [
    "DistInfo",
    "autocast",
    "autocast_dtype",
    "cpu_has_fast_bf16",
    "keep_freed_memory",
    "release_freed_memory",
    "memory_format",
    "resolve_device",
    "resolve_precision",
]
