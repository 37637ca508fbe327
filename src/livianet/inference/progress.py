"""How far a batch has got: what the last scan took and about how long the rest will take.

Pure functions of the counts and the clock readings the batch passes in, so a log line
of a thousand-scan run can be checked by hand. The estimate is the mean wall time per
scan done so far, times the scans left: with reading ahead and writing behind, wall
time per scan is what the rest will cost, not one scan's compute time.
"""

from __future__ import annotations


def remaining_seconds(elapsed_s: float, done: int, total: int) -> float | None:
    """Seconds still to go: ``elapsed_s / done`` per scan, times the ``total - done`` left.

    ``None`` before the first scan is done (nothing to take a mean of).

    >>> remaining_seconds(30.0, 3, 10)
    70.0
    """
    if done <= 0:
        return None
    return elapsed_s / done * max(total - done, 0)


def format_duration(seconds: float) -> str:
    """A duration as a person reads it: ``4.2 s``, ``1 min 26 s``, ``2 h 5 min``.

    >>> format_duration(4.24), format_duration(86.4), format_duration(7500)
    ('4.2 s', '1 min 26 s', '2 h 5 min')
    """
    if seconds < 59.95:  # what rounds to 60.0 s reads better as 1 min
        return f"{max(seconds, 0.0):.1f} s"
    whole = round(seconds)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s" if whole % 60 else f"{whole // 60} min"
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes % 60 else f"{minutes // 60} h"


def progress_note(scan_s: float, elapsed_s: float, done: int, total: int) -> str:
    """The end of a scan's log line: the time it took and the batch's estimate, or its total.

    ``scan_s`` is this scan's time, ``elapsed_s`` the batch's since it started, ``done``
    of ``total`` the scans it has finished.

    >>> progress_note(12.3, 30.0, 3, 10)
    'in 12.3 s, about 1 min 10 s to go'
    >>> progress_note(2.0, 20.0, 10, 10)
    'in 2.0 s, the batch took 20.0 s'
    """
    took = f"in {format_duration(scan_s)}"
    rest = remaining_seconds(elapsed_s, done, total)
    if done >= total or rest is None:
        return f"{took}, the batch took {format_duration(elapsed_s)}"
    return f"{took}, about {format_duration(rest)} to go"
