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
