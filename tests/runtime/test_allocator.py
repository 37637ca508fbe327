"""The allocator setting the CLI applies before heavy work."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest


@pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc", reason="tests glibc's mallopt (not glibc here)"
)
def test_keep_freed_memory_applies_and_large_blocks_then_reuse_pages():
    script = (
        "import resource, numpy as np\n"
        "from livianet.runtime.allocator import keep_freed_memory\n"
        "assert keep_freed_memory() is True\n"
        "np.ones(64 << 20, np.uint8); before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        "for _ in range(5): np.ones(64 << 20, np.uint8)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)\n"
    )
    faults = int(
        subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True
        ).stdout
    )
    # Without the setting, each 64 MiB block would fault in again: about 16k pages apiece.
    assert faults < 16384


@pytest.mark.skipif(
    platform.libc_ver()[0] != "glibc", reason="tests glibc's malloc_trim (not glibc here)"
)
def test_released_memory_leaves_the_process_and_live_memory_stays():
    script = (
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
    held, released, intact = map(
        int,
        subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True
        ).stdout.split(),
    )
    assert held - released > 150  # MiB: the two freed 96 MiB blocks left the process
    assert released >= 64 and intact == 1  # the live block did not
