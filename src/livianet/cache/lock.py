"""One writer per entry: a lock file made with ``O_CREAT | O_EXCL``, which exactly one process wins.

Processes that find an entry locked go on with other entries and come back to wait for
it: the ranks of a torchrun job, ``--jobs`` workers and separate runs sharing a cache
folder so split the work between them. A lock whose process has died (same host), or
that is older than :data:`STALE_AFTER_S` (another host), is taken over: the worst that
can happen then is two processes writing the same entry, and the second rename loses.
A lock whose owner was never written (a crash in that instant, a full disk) is taken
over after :data:`OWNERLESS_AFTER_S`, and one whose owner cannot be written is removed
at once: a lock left behind would make every later run wait for it.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from pathlib import Path

STALE_AFTER_S = 30 * 60.0
OWNERLESS_AFTER_S = 120.0  # writing the owner takes microseconds: a lock without one is broken


def try_lock(path: Path) -> bool:
    """Create the lock file; False when another process holds it (and it is not stale)."""
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if not _stale(path):
                return False
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            continue
        _write_owner(fd, path)
        return True
    return False


def _write_owner(fd: int, path: Path) -> None:
    """Write who holds the lock; on failure (a full disk) remove the lock and raise."""
    owner = {"host": socket.gethostname(), "pid": os.getpid(), "time": time.time()}
    data = json.dumps(owner).encode("utf-8")
    try:
        while data:
            data = data[os.write(fd, data) :]
    except OSError:
        release(path)
        raise
    finally:
        os.close(fd)


def release(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def holder(path: Path) -> str:
    """``host:pid`` of the lock's process, for messages."""
    owner = _owner(path)
    return f"{owner.get('host', '?')}:{owner.get('pid', '?')}" if owner else "?"


def is_locked(path: Path) -> bool:
    return path.exists() and not _stale(path)


def _owner(path: Path) -> dict:
    try:
        owner = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return owner if isinstance(owner, dict) else {}


def _stale(path: Path) -> bool:
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return False  # gone meanwhile: try again
    owner = _owner(path)
    if owner.get("host") == socket.gethostname() and isinstance(owner.get("pid"), int):
        return not _alive(owner["pid"])
    if not owner:  # being written this very moment, or never will be
        return age > OWNERLESS_AFTER_S
    return age > STALE_AFTER_S  # another host: trust its age


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
