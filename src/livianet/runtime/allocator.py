"""Keeping freed memory in the process: large tensors then cost no page faults.

glibc serves every allocation above 32 MiB with a fresh ``mmap`` and returns it
on free, so each activation tensor of a 3-D network is faulted in page by page,
again for every tile and every training step: a third of segmentation time went
to the kernel on our test machine. Serving large blocks from the heap and
keeping them lets the next tile reuse them. Only the CLI calls this; the
process's memory then stays at its peak until it exits.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

logger = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4


def keep_freed_memory() -> bool:
    """Ask glibc to serve large blocks from the heap and keep freed memory; False where not glibc."""
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = mallopt(_M_MMAP_MAX, 0) == 1 and mallopt(_M_TRIM_THRESHOLD, 2**31 - 1) == 1
    logger.debug("glibc keeps freed memory: %s", ok)
    return ok
