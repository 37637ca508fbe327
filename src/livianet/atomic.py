"""Atomic file writing: a file appears under its final name whole, or not at all."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _suffixes(path: Path) -> str:
    """Full suffix such as ``.nii.gz``: writers pick the format from it."""
    name = path.name
    for multi in (".nii.gz", ".tar.gz"):
        if name.endswith(multi):
            return multi
    return path.suffix


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``.

    The temporary name starts with a dot and keeps the suffix (so nibabel still
    compresses ``.nii.gz``); folder listings skip dot files, so a crash never
    leaves a half-written file that looks like a result.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{final.name}.", suffix=f".tmp{_suffixes(final)}", dir=final.parent
    )
    try:
        # mkstemp creates the file 0600; give the result the mode a plain open() would.
        with contextlib.suppress(OSError, AttributeError):  # no fchmod on Windows
            os.fchmod(fd, 0o666 & ~_umask())
    finally:
        os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        _fsync_file(tmp)
        os.replace(tmp, final)
        _fsync_dir(final.parent)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def _umask() -> int:
    """The process umask, read without changing it where the platform allows."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def _fsync_file(path: Path) -> None:
    with contextlib.suppress(OSError), open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def check_writable(folder: str | os.PathLike[str], min_free_bytes: int = 0) -> None:
    """Raise ``DataError`` unless ``folder`` can be created and written to.

    Called before long jobs start, so a read-only or full disk is reported at
    once rather than after hours of training.
    """
    from livianet.errors import DataError

    target = Path(folder)
    try:
        target.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".livianet-write-test.", dir=target)
        try:
            os.write(fd, b"x" * 4096)
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as exc:
        raise DataError(
            f"{target}: output folder is not writable ({exc.strerror or exc})"
        ) from None
    if min_free_bytes:
        free = os.statvfs(target).f_bavail * os.statvfs(target).f_frsize
        if free < min_free_bytes:
            raise DataError(
                f"{target}: only {free / 2**20:.0f} MiB free, "
                f"need at least {min_free_bytes / 2**20:.0f} MiB for the outputs"
            )
