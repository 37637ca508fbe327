"""Overlapping a batch's reading, computing and writing: one scan read ahead, one written behind.

While scan ``n`` is segmented, scan ``n + 1`` is read and scan ``n - 1`` is
written (label map, pictures, metrics), each in its own background thread, so
that a batch keeps the processor busy through I/O and the single-threaded
parts of writing. At most one scan waits on each side: memory stays at three
scans whatever the batch's length.
"""

from __future__ import annotations

import concurrent.futures
import importlib
import logging
import threading
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any, TypeVar

from livianet.errors import LivianetError

T = TypeVar("T")
Loaded = TypeVar("Loaded")

logger = logging.getLogger(__name__)

EXPECTED = (LivianetError, OSError)  # what one scan's failure looks like; anything else is a bug
# What writing a scan imports on first use (matplotlib for the pictures: about 1.5 s).
WRITER_MODULES = (
    "livianet.reporting",
    "matplotlib.figure",
    "matplotlib.backends.backend_agg",
    "livianet.evaluation",
)


def import_in_background(modules: tuple[str, ...] = WRITER_MODULES) -> threading.Thread:
    """Import ``modules`` in a daemon thread, while the first scan is read and computed.

    The network's convolutions release the interpreter lock, so the imports
    cost the computation little and the first scan's writing no longer waits
    for them. A module that fails to import fails again, with its error, where
    it is used.
    """

    def run() -> None:
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception as exc:  # noqa: BLE001 (raised again at the real import)
                logger.debug("background import of %s failed: %s", name, exc)
                return

    thread = threading.Thread(target=run, name="livianet-import", daemon=True)
    thread.start()
    return thread


def read_ahead(jobs: list[T], load: Callable[[T], Loaded]) -> Iterator[tuple[T, Any]]:
    """Each job with its loaded inputs (or the error loading them), the next read meanwhile."""
    with concurrent.futures.ThreadPoolExecutor(
        max_workers=1, thread_name_prefix="livianet-read"
    ) as pool:
        pending = pool.submit(load, jobs[0]) if jobs else None
        for position, job in enumerate(jobs):
            assert pending is not None
            try:
                loaded: Any = pending.result()
            except EXPECTED as exc:
                loaded = exc
            pending = pool.submit(load, jobs[position + 1]) if position + 1 < len(jobs) else None
            yield job, loaded


class WriteBehind:
    """Runs each scan's writing in a background thread, one at a time, in submission order.

    ``submit(write, done)`` first waits for the previous write and hands its
    outcome (the value ``write`` returned, or the one-scan error it raised) to
    that write's ``done``, in the caller's thread; leaving the ``with`` block
    waits for the last one. Errors that are not one scan's failure propagate.
    """

    def __init__(self) -> None:
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="livianet-write"
        )
        self._pending: tuple[concurrent.futures.Future, Callable[[Any], None]] | None = None

    def submit(self, write: Callable[[], Any], done: Callable[[Any], None]) -> None:
        self.wait()
        self._pending = (self._pool.submit(write), done)

    def wait(self) -> None:
        """Wait for the pending write, if any, and hand its outcome to its ``done``."""
        if self._pending is None:
            return
        future, done = self._pending
        self._pending = None
        try:
            outcome: Any = future.result()
        except EXPECTED as exc:
            outcome = exc
        done(outcome)

    def __enter__(self) -> WriteBehind:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        try:
            if kind is None:
                self.wait()
            elif self._pending is not None:
                concurrent.futures.wait([self._pending[0]])  # a started write finishes; moot
        finally:
            self._pool.shutdown(wait=True)
