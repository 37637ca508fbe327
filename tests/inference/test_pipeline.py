"""Read-ahead and write-behind: a batch's I/O overlaps its compute, in order, errors per scan."""

from __future__ import annotations

import threading

import pytest

from livianet.errors import DataError
from livianet.inference.pipeline import WriteBehind, import_in_background, read_ahead


def test_read_ahead_loads_the_next_job_while_the_caller_holds_this_one():
    started: list[int] = []
    release = threading.Event()

    def load(job: int) -> int:
        started.append(job)
        if job == 2:
            release.wait(5)
        return job * 10

    stream = read_ahead([1, 2, 3], load)
    assert next(stream) == (1, 10)
    # job 2 is being read now, while the caller still works on job 1
    for _ in range(500):
        if 2 in started:
            break
        threading.Event().wait(0.01)
    assert started == [1, 2]
    release.set()
    assert list(stream) == [(2, 20), (3, 30)]


def test_read_ahead_hands_over_a_scan_error_in_place_of_the_scan():
    def load(job: int) -> int:
        if job == 2:
            raise DataError("scan 2: not a NIfTI file")
        return job

    results = list(read_ahead([1, 2, 3], load))
    assert [job for job, _ in results] == [1, 2, 3]
    assert isinstance(results[1][1], DataError) and results[2][1] == 3


def test_write_behind_returns_before_the_write_ends_and_keeps_the_order():
    outcomes: list[object] = []
    gate = threading.Event()

    def slow() -> str:
        gate.wait(5)
        return "first"

    with WriteBehind() as writer:
        writer.submit(slow, outcomes.append)
        assert outcomes == []  # submit did not wait for its own write
        gate.set()
        writer.submit(lambda: "second", outcomes.append)  # waits for "first" to be handed over
        assert outcomes == ["first"]
    assert outcomes == ["first", "second"]  # leaving the block waits for the last


def test_write_behind_gives_a_scan_error_to_its_done_and_propagates_a_bug():
    outcomes: list[object] = []

    def fails() -> None:
        raise OSError(28, "No space left on device")

    with WriteBehind() as writer:
        writer.submit(fails, outcomes.append)
        writer.submit(lambda: "next", outcomes.append)
    assert isinstance(outcomes[0], OSError) and outcomes[1] == "next"

    def bug() -> None:
        raise KeyError("a bug, not a bad scan")

    with pytest.raises(KeyError), WriteBehind() as writer:
        writer.submit(bug, outcomes.append)


def test_modules_are_imported_in_the_background_and_a_broken_one_stops_quietly(
    tmp_path, monkeypatch
):
    import sys

    (tmp_path / "livianet_test_warm.py").write_text("VALUE = 3\n")
    (tmp_path / "livianet_test_broken.py").write_text("raise ImportError('broken on purpose')\n")
    (tmp_path / "livianet_test_after.py").write_text("VALUE = 4\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("livianet_test_warm", "livianet_test_broken", "livianet_test_after"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    thread = import_in_background(
        ("livianet_test_warm", "livianet_test_broken", "livianet_test_after")
    )
    thread.join(timeout=30)
    assert not thread.is_alive() and thread.daemon
    assert sys.modules["livianet_test_warm"].VALUE == 3
    assert "livianet_test_broken" not in sys.modules  # its error waits for the real import
    assert "livianet_test_after" not in sys.modules  # nothing after a failure
    with pytest.raises(ImportError, match="broken on purpose"):
        __import__("livianet_test_broken")
