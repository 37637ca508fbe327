"""Reading a BIDS dataset: T1w files and their entities, selections, filter files, masks, links."""

from __future__ import annotations

import json
import os

import pytest
from bids_data import CORRUPT, READABLE, write_bids_dataset

from livianet.bids import Selection, index_t1w, labels_option
from livianet.bids.entities import parse_name
from livianet.bids.filters import T1wFilter, read_filter_file
from livianet.bids.layout import link_problem, read_description, select
from livianet.bids.masks import index_masks
from livianet.bids.outputs import ScanOutputs
from livianet.errors import ConfigError, DataError


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return write_bids_dataset(tmp_path_factory.mktemp("bids") / "ds")


def _sources(scans):
    return [scan.relative for scan in scans]


def test_every_t1w_is_found_with_its_entities(dataset):
    index = index_t1w(dataset.root)
    assert index.subjects == ("01", "02", "03", "04", "05")
    assert _sources(index.scans) == sorted([*READABLE, CORRUPT])
    run2 = next(s for s in index.scans if s.name.get("run") == "2")
    assert dict(run2.name.entities) == {"sub": "03", "acq": "fast", "run": "2"}
    assert (run2.subject, run2.session, run2.stem) == ("03", None, "sub-03_acq-fast_run-2_T1w")
    assert [s.session for s in index.scans if s.subject == "02"] == ["1", "2"]


def test_a_file_naming_another_subject_or_no_bids_name_is_skipped(tmp_path, caplog):
    data = write_bids_dataset(tmp_path / "ds")
    (data.root / "sub-01/anat/sub-02_T1w.nii.gz").write_bytes(b"x")
    (data.root / "sub-01/anat/sub-01_T1w_old.nii.gz").write_bytes(b"x")
    (data.root / "sub-01/anat/T1w.nii.gz").write_bytes(b"x")
    assert _sources(index_t1w(data.root).scans) == sorted([*READABLE, CORRUPT])
    assert "sub-01/anat/sub-02_T1w.nii.gz: not a BIDS name for this folder" in caplog.text


def test_selection_by_participant_session_and_filter_file(dataset, tmp_path, caplog):
    index = index_t1w(dataset.root)
    participants = labels_option(["sub-02", "04"], "sub-", "--participant-label")
    assert _sources(select(index, Selection(participants))) == list(READABLE[1:3])
    assert "sub-04: no T1w image" in caplog.text
    assert _sources(select(index, Selection(sessions=("2",)))) == [READABLE[2]]
    filters = tmp_path / "filter.json"
    filters.write_text(
        json.dumps({"t1w": {"acquisition": "fast", "run": 2}, "bold": {"task": "x"}})
    )
    assert _sources(select(index, Selection(filter=read_filter_file(filters)))) == [READABLE[4]]
    filters.write_text(json.dumps({"t1w": {"acq": None, "session": ["ses-1", "2"]}}))
    assert _sources(select(index, Selection(filter=read_filter_file(filters)))) == list(
        READABLE[1:3]
    )
    filters.write_text(json.dumps({"t1w": {"run": "*"}}))
    assert _sources(select(index, Selection(filter=read_filter_file(filters)))) == list(
        READABLE[3:5]
    )


def test_selections_that_match_nothing_are_one_line_errors(dataset, tmp_path):
    index = index_t1w(dataset.root)
    with pytest.raises(DataError, match=r"--participant-label 99: no sub-99 folder in"):
        select(index, Selection(("01", "99")))
    with pytest.raises(DataError, match=r"--session-label 7: no T1w image of these sessions"):
        select(index, Selection(sessions=("7",)))
    with pytest.raises(DataError, match=r"no T1w image matches"):
        select(index, Selection(("04",)))
    with pytest.raises(ConfigError, match=r"--participant-label sub_01: expected a label"):
        labels_option(["sub_01"], "sub-", "--participant-label")
    filters = tmp_path / "filter.json"
    filters.write_text(json.dumps({"t1w": {"acquisiton": "fast"}}))
    with pytest.raises(ConfigError, match=r"unknown key 'acquisiton' in \"t1w\""):
        read_filter_file(filters)
    filters.write_text("{not json")
    with pytest.raises(ConfigError, match=r"--bids-filter-file .*filter.json: not JSON"):
        read_filter_file(filters)
    assert T1wFilter().matches(parse_name("sub-01_T1w.nii.gz"), "anat")


def test_a_folder_that_is_no_bids_dataset_is_named(tmp_path):
    with pytest.raises(
        DataError, match=r"BIDS_DIR .*: not a BIDS dataset \(no dataset_description"
    ):
        read_description(tmp_path)
    with pytest.raises(DataError, match=r"folder not found"):
        read_description(tmp_path / "missing")


def test_unfetched_annex_content_and_broken_links_are_told_apart(tmp_path):
    annexed = tmp_path / "sub-01_T1w.nii.gz"
    os.symlink(
        "../../.git/annex/objects/Xx/Yy/SHA256E-s1--ab.nii.gz/SHA256E-s1--ab.nii.gz", annexed
    )
    assert "content not fetched (a git-annex/DataLad link" in link_problem(annexed)
    assert "datalad get sub-01_T1w.nii.gz" in link_problem(annexed)
    broken = tmp_path / "sub-02_T1w.nii.gz"
    os.symlink("elsewhere.nii.gz", broken)
    assert (
        link_problem(broken)
        == f"{broken}: broken symbolic link (its target elsewhere.nii.gz does not exist)"
    )
    (tmp_path / "real.nii.gz").write_bytes(b"x")
    assert link_problem(tmp_path / "real.nii.gz") is None


def test_masks_match_by_subject_session_acquisition_and_run(dataset, tmp_path):
    masks = index_masks(dataset.masks)
    by_source = {s.relative: masks.for_scan(s) for s in index_t1w(dataset.root).scans}
    assert by_source[CORRUPT] is None
    named = {k: v.relative_to(dataset.masks).as_posix() for k, v in by_source.items() if v}
    # fMRIPrep's naming: one mask per subject and session, none per run
    assert (
        named[READABLE[3]]
        == named[READABLE[4]]
        == "sub-03/anat/sub-03_acq-fast_desc-brain_mask.nii.gz"
    )
    assert named[READABLE[2]] == "sub-02/ses-2/anat/sub-02_ses-2_desc-brain_mask.nii.gz"
    run1 = dataset.masks / "sub-03/anat/sub-03_acq-fast_run-1_desc-brain_mask.nii.gz"
    run1.write_bytes(b"x")
    other_space = (
        dataset.masks
        / "sub-03/anat/sub-03_acq-fast_run-2_space-MNI152NLin2009cAsym_desc-brain_mask.nii.gz"
    )
    other_space.write_bytes(b"x")
    try:
        masks = index_masks(dataset.masks)
        scans = {s.relative: s for s in index_t1w(dataset.root).scans}
        assert masks.for_scan(scans[READABLE[3]]) == run1  # the more specific one
        assert masks.for_scan(scans[READABLE[4]]).name == "sub-03_acq-fast_desc-brain_mask.nii.gz"
        twin = dataset.masks / "sub-03/anat/sub-03_acq-fast_space-T1w_desc-brain_mask.nii.gz"
        twin.write_bytes(b"x")
        with pytest.raises(DataError, match=r"2 brain masks in .* fit it equally"):
            index_masks(dataset.masks).for_scan(scans[READABLE[4]])
    finally:
        for path in dataset.masks.glob("sub-03/anat/*"):
            if path.name != "sub-03_acq-fast_desc-brain_mask.nii.gz":
                path.unlink()


def test_outputs_keep_the_source_entities_in_bids_order(dataset):
    scan = next(s for s in index_t1w(dataset.root).scans if s.name.get("run") == "1")
    outputs = ScanOutputs(scan)
    assert outputs.dseg == "sub-03/anat/sub-03_acq-fast_run-1_space-orig_dseg.nii.gz"
    assert outputs.mask == "sub-03/anat/sub-03_acq-fast_run-1_space-orig_desc-brain_mask.nii.gz"
    assert outputs.probseg("LeftThalamus") == (
        "sub-03/anat/sub-03_acq-fast_run-1_space-orig_label-LeftThalamus_probseg.nii.gz"
    )
    assert outputs.figure == "sub-03/figures/sub-03_acq-fast_run-1_space-orig_dseg.png"
    assert outputs.record == "logs/scans/sub-03_acq-fast_run-1_T1w.json"
