"""The brain row (``python -m bench --only brain``): both commands run, timed, compared.

On small stand-ins for the example scans (28 x 26 x 24 voxels: a field of view no
brain fits in), the extracted row finds no brain before deepbet loads and segments
the scan as without a mask; the row says so, and the table marks it.
"""

from __future__ import annotations

import doctest

import numpy as np
import pytest

from bench import __main__ as bench_main
from bench import brain_rows
from bench.data import scan_files


def test_doctests():
    failures, _ = doctest.testmod(brain_rows)
    assert failures == 0


def test_only_brain_writes_brain_json_by_default():
    args = bench_main.parse_args(["--only", "brain"])
    assert args.only == "brain" and args.out.name == "brain.json"


def test_the_row_segments_with_the_mask_and_without_it_through_the_cli(tmp_path):
    from conftest import write_example_data  # type: ignore[import-not-found]  # tests/, on pytest's path

    data = write_example_data(tmp_path / "data")
    files = scan_files(data.root, 2)
    section = brain_rows.brain_section(files, "ILA", tmp_path / "work", repeats=1)
    with_roi, extracted = section["with_roi"], section["extracted"]
    assert with_roi["returncode"] == 0 and extracted["returncode"] == 0, section
    assert "--roi" in with_roi["command"] and "--roi" not in extracted["command"]
    assert section["model"] == "built-in" and "lia1mm_T1.nii.gz" in extracted["command"]
    assert not extracted["brain_extracted"] and "tiv_mm3" not in extracted
    for row in (with_roi, extracted):
        assert 0 <= row["mean_dice"] <= 1 and row["peak_rss_bytes"] > 0
        assert row["runs_seconds"] == [row["seconds"]]
    assert section["ratio"] == pytest.approx(extracted["seconds"] / with_roi["seconds"])
    text = "\n".join(brain_rows.brain_lines(section))
    assert "(no brain found)" in text and "extracted / with mask" in text


def test_the_inputs_are_the_mat_scan_turned_from_ila_to_lia(tmp_path):
    import nibabel as nib
    import scipy.io
    from conftest import write_example_data  # type: ignore[import-not-found]

    data = write_example_data(tmp_path / "data")
    files = scan_files(data.root, 1)
    image, roi, labels = brain_rows.write_brain_inputs(files, "ILA", tmp_path / "in")
    # ILA -> LIA: the first two axes swap, none flips (both run toward Inferior and Left)
    stored = {k: scipy.io.loadmat(str(p))["vol"] for k, p in files.items()}
    t1 = nib.load(image)
    assert nib.aff2axcodes(t1.affine) == ("L", "I", "A")
    np.testing.assert_array_equal(np.asarray(t1.dataobj), stored["image"].transpose(1, 0, 2))
    mask = np.asarray(nib.load(roi).dataobj)
    np.testing.assert_array_equal(mask, (stored["roi"] > 0).transpose(1, 0, 2))
    np.testing.assert_array_equal(labels, stored["label"].transpose(1, 0, 2))


def test_an_unknown_orientation_skips_the_row(tmp_path):
    files = scan_files(tmp_path, 1)
    section = brain_rows.brain_section(files, None, tmp_path)
    assert "skipped" in section
    assert brain_rows.brain_lines(section)[0].startswith("brain rows skipped")
