"""A batch's progress lines: each scan's time and the estimate of the rest, checked by hand."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from conftest import synthetic_case, write_nifti
from ideal_model import write_intensity_checkpoint

from livianet.cli import main
from livianet.inference.progress import format_duration, progress_note, remaining_seconds


@pytest.mark.parametrize(
    ("elapsed", "done", "total", "expected"),
    [
        (30.0, 3, 10, 70.0),  # 10 s a scan, 7 left
        (5.0, 1, 2, 5.0),
        (90.0, 4, 4, 0.0),  # nothing left
        (12.0, 0, 5, None),  # no scan done: no mean to go on
    ],
)
def test_remaining_is_the_mean_time_per_done_scan_times_the_scans_left(
    elapsed, done, total, expected
):
    assert remaining_seconds(elapsed, done, total) == expected


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.04, "0.0 s"),
        (4.24, "4.2 s"),
        (59.94, "59.9 s"),
        (59.96, "1 min"),
        (60.0, "1 min"),
        (86.4, "1 min 26 s"),
        (3599.4, "59 min 59 s"),
        (3600.0, "1 h"),
        (7500.0, "2 h 5 min"),
        (-1.0, "0.0 s"),  # a clock that went back reads as nothing, not as a minus
    ],
)
def test_durations_read_as_a_person_would_say_them(seconds, text):
    assert format_duration(seconds) == text


def test_the_note_gives_the_scan_time_then_the_estimate_or_the_total():
    assert progress_note(12.3, 30.0, 3, 10) == "in 12.3 s, about 1 min 10 s to go"
    assert progress_note(40.0, 40.0, 1, 100) == "in 40.0 s, about 1 h 6 min to go"  # 3960 s
    assert progress_note(2.0, 20.0, 10, 10) == "in 2.0 s, the batch took 20.0 s"


def test_each_written_scan_logs_its_time_and_the_estimate(tmp_path, caplog):
    """Through the batch itself: the line of every scan but the last has an estimate."""
    checkpoint = write_intensity_checkpoint(tmp_path / "ideal.pt")
    rng = np.random.default_rng(0)
    scans = []
    for index in range(3):
        image, _, roi = synthetic_case(rng)
        scans.append(write_nifti(tmp_path / f"s{index}.nii.gz", image))
        write_nifti(tmp_path / f"roi{index}.nii.gz", roi)
    rois = [str(tmp_path / f"roi{index}.nii.gz") for index in range(3)]
    caplog.set_level(logging.INFO, logger="livianet")
    logger = logging.getLogger("livianet")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    try:
        argv = ["segment", str(checkpoint), *map(str, scans), "--roi", *rois]
        code = main([*argv, "--out", str(tmp_path / "out"), "--device", "cpu", "--precision",
                     "float32", "--no-report"])  # fmt: skip
    finally:
        logger.handlers[:], logger.level, logger.propagate = saved
    assert code == 0
    lines = [r.getMessage() for r in caplog.records if ": segmented (" in r.getMessage()]
    assert len(lines) == 3, caplog.text
    for line, (name, position) in zip(lines, (("s0", 1), ("s1", 2), ("s2", 3)), strict=True):
        assert line.startswith(
            f"{name}.nii.gz: segmented ({position} of 3, {3 - position} left) in "
        )
    assert all(" s, about " in line and line.endswith(" to go") for line in lines[:2])
    assert ", the batch took " in lines[2]
