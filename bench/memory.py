"""Resident memory, measured one way for the whole suite: of this process, and of a child.

A child's peak comes from ``os.wait4`` (what the segmentation, cohort and training rows
report); this process's own, now and at its peak, from ``/proc/self/status`` (what the
probes print as they go); a process tree's (torchrun's ranks, preprocessing workers), as
the peak of ``RssAnon + RssShmem`` summed over its processes, sampled (the cache rows).
"""

from __future__ import annotations

import math
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

GIB = 1 << 30
MIB = 1 << 20


@dataclass(frozen=True)
class ChildRun:
    """One child process, timed from before its start to after its exit."""

    seconds: float
    peak_rss_bytes: int
    returncode: int
    log: Path


def run_child(command: list[str], log: Path, env: dict[str, str] | None = None) -> ChildRun:
    """Run ``command`` to completion; wall time and the child's own peak RSS.

    ``os.wait4`` returns the resource usage of this one child (and the
    grandchildren it waited for), unlike ``getrusage(RUSAGE_CHILDREN)``, whose
    ``ru_maxrss`` is the largest of *all* children so far.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    return ChildRun(seconds, int(usage.ru_maxrss) * 1024, process.returncode, log)


def own_resident_bytes(which: Literal["VmRSS", "VmHWM"] = "VmRSS") -> float:
    """This process's resident memory now (``VmRSS``) or at its peak so far (``VmHWM``).

    NaN where ``/proc/self/status`` does not say (not Linux).

    >>> 0 < own_resident_bytes() <= own_resident_bytes("VmHWM")
    True
    """
    try:
        lines = Path("/proc/self/status").read_text().splitlines()
    except OSError:
        return math.nan
    for line in lines:
        if line.startswith(f"{which}:"):
            return int(line.split()[1]) * 1024  # kB
    return math.nan


@dataclass(frozen=True)
class TreeRun:
    """A child and every process it starts, sampled while they run."""

    seconds: float
    peak_bytes: int  # the largest sum over the processes of anonymous + shared resident memory
    processes: int  # the most processes seen at once
    returncode: int
    log: Path


def tree_resident_bytes(root: int) -> tuple[int, int]:
    """``RssAnon + RssShmem`` summed over ``root`` and its descendants, and their number.

    File pages (memory-mapped cache entries, libraries) are left out: the kernel can drop them.
    """
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    total, count, pending = 0, 0, [root]
    while pending:
        pid = pending.pop()
        pending += children.get(pid, [])
        try:
            status = Path(f"/proc/{pid}/status").read_text().splitlines()
        except OSError:
            continue
        count += 1
        for line in status:
            if line.startswith(("RssAnon:", "RssShmem:")):
                total += int(line.split()[1]) * 1024
    return total, count


def run_tree(
    command: list[str], log: Path, env: dict[str, str] | None = None, every_s: float = 0.05
) -> TreeRun:
    """Run ``command`` to completion, sampling its process tree's memory every ``every_s``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    peak = most = 0
    with open(log, "wb") as out:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        while process.poll() is None:
            total, count = tree_resident_bytes(process.pid)
            peak, most = max(peak, total), max(most, count)
            time.sleep(every_s)
        seconds = time.perf_counter() - start
    return TreeRun(seconds, peak, most, process.returncode, log)
