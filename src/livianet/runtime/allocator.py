"""Keeping freed memory in the process: large tensors then cost no page faults.

glibc serves every allocation above 32 MiB with a fresh ``mmap`` and returns it
on free, so each activation tensor of a 3-D network is faulted in page by page,
again for every tile and every training step: a third of segmentation time went
to the kernel on our test machine. Serving large blocks from the heap and
keeping them lets the next tile reuse them. Only the CLI calls this; the
process's memory then stays at its peak until it exits, or until
:func:`release_freed_memory`, which a batch calls between scans: each scan's
tiles have other shapes, so without it the kept blocks fragment and the
process grows scan after scan.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys
from typing import Any

logger = logging.getLogger(__name__)

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4


def _libc_function(name: str) -> Any:
    """glibc's function ``name`` through ctypes, or None where there is none."""
    if not sys.platform.startswith("linux"):
        return None
    library = ctypes.util.find_library("c")
    if library is None:
        return None
    try:
        return getattr(ctypes.CDLL(library), name)
    except (OSError, AttributeError):
        return None


def keep_freed_memory() -> bool:
    """Ask glibc to serve large blocks from the heap and keep freed memory; False where not glibc."""
    mallopt = _libc_function("mallopt")
    if mallopt is None:
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = mallopt(_M_MMAP_MAX, 0) == 1 and mallopt(_M_TRIM_THRESHOLD, 2**31 - 1) == 1
    logger.debug("glibc keeps freed memory: %s", ok)
    return ok


def release_freed_memory() -> bool:
    """Hand the heap's free pages back to the system (``malloc_trim``); False where not glibc.

    Live memory is untouched; the next scan's first tiles fault their pages in
    again, once per scan rather than once per tile.
    """
    trim = _libc_function("malloc_trim")
    if trim is None:
        return False
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    released = trim(0) == 1
    logger.debug("freed heap pages returned to the system: %s", released)
    return True
