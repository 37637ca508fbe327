"""The allocator settings the CLI applies: keeping freed memory, and handing it back between scans."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc",
    reason="tests glibc's mallopt and malloc_trim (not glibc here)",
)


def _numbers_printed_by(script: str) -> list[int]:
    """Run ``script`` in a fresh interpreter (the settings are process-wide); the ints it prints."""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    return [int(word) for word in out.split()]


def test_keep_freed_memory_applies_and_large_blocks_then_reuse_pages():
    (faults,) = _numbers_printed_by(
        "import resource, numpy as np\n"
        "from livianet.runtime.allocator import keep_freed_memory\n"
        "assert keep_freed_memory() is True\n"
        "np.ones(64 << 20, np.uint8); before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        "for _ in range(5): np.ones(64 << 20, np.uint8)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)\n"
    )
    # Without the setting, each 64 MiB block would fault in again: about 16k pages apiece.
    assert faults < 16384


def test_released_memory_leaves_the_process_and_live_memory_stays():
    held, released, intact = _numbers_printed_by(
        "import numpy as np\n"
        "from livianet.runtime.allocator import keep_freed_memory, release_freed_memory\n"
        "def rss():\n"
        "    return int(open('/proc/self/statm').read().split()[1]) * 4096 >> 20\n"
        "assert keep_freed_memory() is True\n"
        "kept = np.full(64 << 20, 7, np.uint8)\n"
        "freed = [np.ones(96 << 20, np.uint8) for _ in range(2)]\n"
        "del freed\n"
        "held = rss()\n"
        "assert release_freed_memory() is True\n"
        "print(held, rss(), int(kept[::4096].sum() == 7 * (kept.size // 4096)))\n"
    )
    assert held - released > 150  # MiB: the two freed 96 MiB blocks left the process
    assert released >= 64 and intact == 1  # the live block did not
