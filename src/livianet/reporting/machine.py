"""The machine a run ran on, in plain values: written to the run's log, shown in its report.

A speed figure means little without the CPU or GPU that reached it, and a report rebuilt
later on another machine must still show the one that trained; hence the log line.
"""

from __future__ import annotations

import contextlib
import os
import platform
from pathlib import Path
from typing import Any

MACHINE_PREFIX = "machine: "  # the run log's line holding machine_info() as JSON


def machine_info(device: str | None = None) -> dict[str, Any]:
    """Host, CPU, memory, GPU and library versions, as JSON-able values (missing ones omitted)."""
    import numpy

    from livianet.version import __version__

    info: dict[str, Any] = {
        "host": platform.node(),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "livianet": __version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
    }
    try:
        import torch
    except ImportError:
        torch = None  # type: ignore[assignment]
    if torch is not None:
        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        if torch.version.cuda:
            info["cuda"] = torch.version.cuda
        if device and device.startswith("cuda"):
            with contextlib.suppress(Exception):  # no driver, or a device that went away
                properties = torch.cuda.get_device_properties(torch.device(device))
                info["gpu"] = properties.name
                info["gpu_memory_gib"] = round(properties.total_memory / 2**30, 1)
                info["gpu_count"] = torch.cuda.device_count()
    if device:
        info["device"] = device
    return {k: v for k, v in info.items() if v not in (None, "")}


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else what ``platform`` knows)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.lower().startswith(("model name", "hardware", "processor\t: ")):
                name = line.split(":", 1)[1].strip()
                if name and not name.isdigit():
                    return name
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None
