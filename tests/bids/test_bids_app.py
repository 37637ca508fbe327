"""``livianet bids`` end to end: participant then group on a generated dataset, resuming, bad input.

The dataset (``bids_data.py``) has subjects with and without sessions, two runs of an ``acq-``
T1w, a subject without a T1w and a corrupt file; the network is the tiny one the session's
``trained_run`` trained (24^3 spheres), the brain masks come from ``derivatives/masks``.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from bids_data import CORRUPT, READABLE, BidsData, write_bids_dataset, write_description
from conftest import synthetic_case, write_nifti

from livianet.bids.validator import run_validator, validator_command
from livianet.cli import main

LABELS = ("Left-Thalamus", "Right-Thalamus", "<b>Caudate & co</b>")  # conftest.TRAINED_NAMES


@pytest.fixture(scope="session")
def checkpoint(trained_run) -> Path:
    return trained_run / "Networks" / "tiny_best.pt"


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _participant(
    capsys, data: BidsData, out: Path, checkpoint: Path, *extra
) -> tuple[int, str, str]:
    return _run(
        capsys, "bids", data.root, out, "participant", "--model", checkpoint,
        "--mask-derivatives", data.masks, "--device", "cpu", "--probabilities", *extra,
    )  # fmt: skip


def _table(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def _contents(out: Path) -> dict[str, tuple[bytes, int]]:
    """Every file below ``out`` with its bytes and modification time."""
    return {
        p.relative_to(out).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(out.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def cohort(tmp_path_factory, checkpoint):
    """participant, then group, once: (data, OUT_DIR, participant's and group's exit and output)."""
    data = write_bids_dataset(tmp_path_factory.mktemp("cohort") / "ds")
    out = data.root / "derivatives" / "livianet"
    runs = {}
    for level in ("participant", "group"):
        err, text = io.StringIO(), io.StringIO()
        argv = ["bids", str(data.root), str(out), level]
        if level == "participant":
            argv += ["--model", str(checkpoint), "--mask-derivatives", str(data.masks)]
            argv += ["--device", "cpu", "--probabilities"]
        with contextlib.redirect_stdout(text), contextlib.redirect_stderr(err):
            code = main(argv)
        runs[level] = (code, text.getvalue(), err.getvalue())
    return data, out, runs


def test_participant_writes_one_label_map_per_readable_t1w_on_its_grid(cohort):
    data, out, runs = cohort
    code, text, err = runs["participant"]
    assert code == 1, err  # the corrupt file failed
    assert "6 T1w scans: 5 segmented now, 0 unchanged since an earlier run, 1 failed" in text
    assert f"{CORRUPT}: " in err and "cannot read as NIfTI" in err
    assert "sub-04: no T1w image" in err
    dsegs = sorted(p.relative_to(out).as_posix() for p in out.rglob("*_dseg.nii.gz"))
    assert dsegs == sorted(r.replace("_T1w.nii.gz", "_space-orig_dseg.nii.gz") for r in READABLE)
    for relative in READABLE:
        source = nib.load(data.root / relative)
        dseg = nib.load(out / relative.replace("_T1w.nii.gz", "_space-orig_dseg.nii.gz"))
        assert dseg.shape == source.shape and np.allclose(dseg.affine, source.affine)
        assert np.asarray(dseg.dataobj).dtype == np.uint8
        mask = nib.load(out / relative.replace("_T1w.nii.gz", "_space-orig_desc-brain_mask.nii.gz"))
        labels = np.asarray(dseg.dataobj)
        assert not labels[np.asarray(mask.dataobj) == 0].any()  # nothing outside the given mask
    sidecar = json.loads(
        (out / "sub-03/anat/sub-03_acq-fast_run-2_space-orig_dseg.json").read_text()
    )
    assert sidecar["SpatialReference"] == "bids:raw:sub-03/anat/sub-03_acq-fast_run-2_T1w.nii.gz"
    assert sidecar["Sources"][1] == "bids:masks:sub-03/anat/sub-03_acq-fast_desc-brain_mask.nii.gz"
    assert sidecar["Labels"] == {"0": "Background", **{str(i + 1): n for i, n in enumerate(LABELS)}}
    assert sidecar["Model"]["Name"] == "tiny_best.pt" and len(sidecar["Model"]["SHA256"][0]) == 64
    for image in out.rglob("*.nii.gz"):  # a sidecar for every image
        assert image.with_name(image.name.replace(".nii.gz", ".json")).is_file(), image
    probsegs = sorted(p.name for p in out.glob("sub-03/anat/*run-1*_probseg.nii.gz"))
    assert probsegs == [
        f"sub-03_acq-fast_run-1_space-orig_label-{label}_probseg.nii.gz"
        for label in ("LeftThalamus", "RightThalamus", "bCaudatecob")
    ]
    probseg = out / "sub-03/anat" / probsegs[0]
    assert nib.load(probseg).shape == nib.load(data.root / READABLE[3]).shape
    probabilities = np.asarray(nib.load(probseg).dataobj)
    assert (
        probabilities.dtype == np.float32 and 0 <= probabilities.min() <= probabilities.max() <= 1
    )
    sidecar = json.loads(probseg.with_name(probsegs[0].replace(".nii.gz", ".json")).read_text())
    assert sidecar["Labels"] == {"1": "Left-Thalamus"}
    assert sidecar["SpatialReference"] == "bids:raw:" + READABLE[3]


def test_the_dataset_level_files_describe_a_derivatives_dataset(cohort):
    data, out, _ = cohort
    description = json.loads((out / "dataset_description.json").read_text())
    assert description["DatasetType"] == "derivative"
    generated = description["GeneratedBy"][0]
    assert generated["Name"] == "livianet" and generated["Model"]["Name"] == "tiny_best.pt"
    assert description["DatasetLinks"] == {"raw": "../..", "masks": "../masks"}
    assert description["SourceDatasets"] == [{"URL": "bids:raw:"}]
    assert _table(out / "dseg.tsv") == [
        {"index": "0", "name": "Background", "abbreviation": "Background", "color": "#000000"},
        {"index": "1", "name": LABELS[0], "abbreviation": "LeftThalamus", "color": "#e61a1a"},
        {"index": "2", "name": LABELS[1], "abbreviation": "RightThalamus", "color": "#1abf33"},
        {"index": "3", "name": LABELS[2], "abbreviation": "bCaudatecob", "color": "#2666ff"},
    ]
    assert (out / ".bidsignore").read_text().splitlines() == [
        "group", "logs", "figures", "*.html", "*_volumes.tsv",
    ]  # fmt: skip
    citation = (out / "logs" / "CITATION.md").read_text()
    assert "Dolz J, Desrosiers C, Ben Ayed I" in citation and "livianet bids" in citation
    for subject in ("01", "02", "03", "05"):
        assert (out / f"sub-{subject}.html").is_file()
    assert not (out / "sub-04.html").exists()


def test_the_input_validator_findings_are_shown_as_warnings(cohort):
    if validator_command() is None:
        pytest.skip("bids-validator-deno is not installed (it is in the test extras)")
    code, _, err = cohort[2]["participant"]
    assert "BIDS validator: NIFTI_HEADER_UNREADABLE (1): /sub-05/anat/sub-05_T1w.nii.gz" in err
    assert "going on with the T1w scans that can be read" in err


def test_the_derivatives_dataset_passes_the_bids_validator(cohort):
    if validator_command() is None:
        pytest.skip("bids-validator-deno is not installed (it is in the test extras)")
    _, out, _ = cohort
    findings = run_validator(out)
    assert findings is not None
    assert [f for f in findings if f.severity == "error"] == []
    assert {f.code for f in findings} <= {
        "NIFTI_UNIT", "TOO_FEW_AUTHORS", "SIDECAR_KEY_RECOMMENDED Description",
        "SIDECAR_KEY_RECOMMENDED SpatialReference",
    }  # fmt: skip


def test_group_writes_the_cohort_tables_and_report(cohort):
    data, out, runs = cohort
    code, text, err = runs["group"]
    assert code == 1 and "5 segmented T1w scans" in text and "1 failed" in text, err
    rows = _table(out / "group" / "volumes.tsv")
    assert [r["source"] for r in rows] == list(READABLE)
    assert list(rows[0])[:5] == ["participant_id", "session_id", "acquisition", "run", "source"]
    assert [(r["participant_id"], r["session_id"], r["acquisition"], r["run"]) for r in rows] == [
        ("sub-01", "n/a", "n/a", "n/a"),
        ("sub-02", "ses-1", "n/a", "n/a"),
        ("sub-02", "ses-2", "n/a", "n/a"),
        ("sub-03", "n/a", "fast", "1"),
        ("sub-03", "n/a", "fast", "2"),
    ]
    for row in rows:
        dseg = nib.load(out / row["source"].replace("_T1w.nii.gz", "_space-orig_dseg.nii.gz"))
        labels = np.asarray(dseg.dataobj)
        for k, name in enumerate(LABELS, start=1):  # 1 mm voxels: volume = voxel count
            assert float(row[f"{name}_mm3"]) == np.count_nonzero(labels == k)
        mask = nib.load(
            out / row["source"].replace("_T1w.nii.gz", "_space-orig_desc-brain_mask.nii.gz")
        )
        assert float(row["TIV_mm3"]) == np.count_nonzero(np.asarray(mask.dataobj))
        assert row["qc_flagged"] in ("0", "1") and (row["qc_flagged"] == "1") == bool(
            row["qc_reasons"]
        )
    failures = _table(out / "group" / "failures.tsv")
    assert [(f["participant_id"], f["source"]) for f in failures] == [("sub-05", CORRUPT)]
    assert "cannot read as NIfTI" in failures[0]["error"]
    page = (out / "group" / "report.html").read_text()
    assert "Cohort report" in page and page.count('class="thumb"') == 5
    assert "../sub-03/figures/sub-03_acq-fast_run-2_space-orig_dseg.png" in page
    assert '<g id="volumes-3">' in page and "&lt;b&gt;Caudate &amp; co&lt;/b&gt;" in page
    assert "<b>Caudate" not in page  # names are text, never markup
    urls = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert urls and all(not u.startswith(("http:", "https:", "//")) for u in urls), urls
    assert (out / "group" / "volumes.png").stat().st_size > 1000


def test_a_second_participant_run_redoes_nothing(cohort, tmp_path, capsys, checkpoint):
    data, first, _ = cohort
    out = tmp_path / "out"
    shutil.copytree(first, out, copy_function=shutil.copy2)
    before = _contents(out)
    code, text, err = _participant(capsys, data, out, checkpoint, "--skip-bids-validation")
    assert code == 1  # the corrupt file stands failed, not retried
    assert "6 T1w scans: 0 segmented now, 6 unchanged since an earlier run, 1 failed" in text
    assert "segmented (" not in err and "failed before on this same T1w: not retried" in err
    after = _contents(out)
    changed = {k for k in before if before[k] != after.get(k)}
    # only the dataset-level files and the subjects' reports are written again
    assert changed <= {"dataset_description.json", "dseg.tsv", ".bidsignore", "README.md",
                       "logs/CITATION.md", "logs/model.json",
                       *(f"sub-0{i}.html" for i in range(1, 6))}  # fmt: skip
    assert set(after) == set(before)
    # an output altered since (here: a label map cut short) is segmented again, alone
    dseg = out / READABLE[2].replace("_T1w.nii.gz", "_space-orig_dseg.nii.gz")
    dseg.write_bytes(dseg.read_bytes()[:100])
    code, text, err = _participant(capsys, data, out, checkpoint, "--skip-bids-validation")
    assert "1 segmented now, 5 unchanged" in text
    assert err.count("segmented (") == 1 and "sub-02_ses-2_T1w.nii.gz: segmented (1 of 1" in err
    assert (
        _contents(out)[dseg.relative_to(out).as_posix()][0]
        == before[dseg.relative_to(out).as_posix()][0]
    )


def test_a_repaired_t1w_is_retried_and_overwrite_redoes_every_scan(
    cohort, tmp_path, capsys, checkpoint
):
    """The corrupt file, replaced by a readable T1w, is segmented on the next run, alone; group
    then has no failure; ``--overwrite`` segments every scan again."""
    data, _, _ = cohort
    root = tmp_path / "ds"
    shutil.copytree(data.root, root, copy_function=shutil.copy2)
    copy, out = BidsData(root, root / "derivatives" / "masks"), root / "derivatives" / "livianet"
    (root / CORRUPT).unlink()
    write_nifti(root / CORRUPT, synthetic_case(np.random.default_rng(5))[0])
    code, text, err = _participant(capsys, copy, out, checkpoint, "--skip-bids-validation")
    assert code == 0, err
    assert "6 T1w scans: 1 segmented now, 5 unchanged since an earlier run, 0 failed" in text
    assert err.count("segmented (") == 1 and "sub-05_T1w.nii.gz: segmented (1 of 1" in err
    assert (out / CORRUPT.replace("_T1w.nii.gz", "_space-orig_dseg.nii.gz")).is_file()
    code, text, err = _run(capsys, "bids", root, out, "group")
    assert code == 0 and "6 segmented T1w scans" in text and "0 failed" in text, err
    assert [r["source"] for r in _table(out / "group" / "volumes.tsv")] == sorted(
        [*READABLE, CORRUPT]
    )
    assert _table(out / "group" / "failures.tsv") == []
    code, text, err = _participant(
        capsys, copy, out, checkpoint, "--skip-bids-validation", "--overwrite"
    )
    assert code == 0 and "6 T1w scans: 6 segmented now, 0 unchanged" in text, err


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "folder not found; expected the derivatives dataset the participant level"),
        ("no records", "no scan records (logs/scans/*.json): run the participant level first"),
        ("another tool's", "a derivatives dataset written by fmriprep, not livianet"),
    ],
)
def test_group_without_participant_outputs_is_one_line(tmp_path, capsys, case, message):
    data = write_bids_dataset(tmp_path / "ds")
    out = tmp_path / "out"
    if case != "missing":
        tool = "livianet" if case == "no records" else "fmriprep"
        write_description(out, tool, DatasetType="derivative", GeneratedBy=[{"Name": tool}])
    before = _contents(out) if out.exists() else None
    code, _, err = _run(capsys, "bids", data.root, out, "group")
    assert code == 1
    lines = err.strip().splitlines()
    assert lines[-1].startswith("livianet: error: ") and message in lines[-1], err
    assert "Traceback" not in err
    assert (_contents(out) if out.exists() else None) == before


def test_a_scan_without_a_mask_is_segmented_as_segment_does_and_says_so(
    tmp_path, capsys, checkpoint
):
    """No --mask-derivatives: `livianet segment`'s path without --roi (brain extraction, which
    finds no brain in a 24 mm field of view and falls back, saying so); the other spellings of
    the options; the work folder emptied; other brain settings redo the scan."""
    data = write_bids_dataset(tmp_path / "ds")
    out, work = tmp_path / "derivatives", tmp_path / "work"
    argv = ["bids", data.root, out, "participant", "--model", checkpoint, "--device", "cpu"]
    argv += ["--participant_label", "sub-01", "--skip_bids_validation", "--nprocs", "1"]
    code, text, err = _run(capsys, *argv, "--work-dir", work)
    assert code == 0 and "1 T1w scans: 1 segmented now" in text, err
    assert work.is_dir() and list(work.iterdir()) == []  # its folder for this run removed
    sidecar = json.loads((out / "sub-01/anat/sub-01_space-orig_dseg.json").read_text())
    assert not (out / "sub-01/anat/sub-01_space-orig_desc-brain_mask.nii.gz").exists()
    assert sidecar["BrainMask"].startswith("none: no --mask-derivatives mask")
    [warning] = [w for w in sidecar["Warnings"] if "no ROI given" in w]
    assert warning.startswith("brain extraction found no brain (")
    record = json.loads((out / "logs/scans/sub-01_T1w.json").read_text())
    assert (
        record["settings"]["brain"].startswith("deepbet ")
        and "threshold 0.5" in record["settings"]["brain"]
    )
    citation = (out / "logs" / "CITATION.md").read_text()
    assert "extracted by deepbet" in citation and "Fisch et al." in citation
    code, text, err = _run(capsys, *argv, "--no-brain-extraction")
    assert code == 0 and "1 T1w scans: 1 segmented now, 0 unchanged" in text, err
    sidecar = json.loads((out / "sub-01/anat/sub-01_space-orig_dseg.json").read_text())
    assert [w for w in sidecar["Warnings"] if "no ROI given" in w] == [warning.split("; ", 1)[1]]
    assert "Fisch et al." not in (out / "logs" / "CITATION.md").read_text()
    assert "--no-brain-extraction" in (out / "logs" / "CITATION.md").read_text()
    code, text, _ = _run(capsys, *argv, "--no-brain-extraction")
    assert "0 segmented now, 1 unchanged" in text


def test_a_mask_off_the_t1w_grid_fails_that_scan_alone(tmp_path, capsys, checkpoint):
    data = write_bids_dataset(tmp_path / "ds")
    mask = data.masks / "sub-01/anat/sub-01_desc-brain_mask.nii.gz"
    write_nifti(mask, np.ones((20, 24, 24), np.uint8))
    shifted = data.masks / "sub-02/ses-1/anat/sub-02_ses-1_desc-brain_mask.nii.gz"
    image = nib.load(shifted)
    affine = image.affine.copy()
    affine[0, 3] += 2.0
    nib.save(nib.Nifti1Image(np.asarray(image.dataobj), affine), shifted)
    out = tmp_path / "out"
    code, text, err = _participant(
        capsys, data, out, checkpoint, "--participant-label", "01", "02", "--skip-bids-validation"
    )
    assert (
        code == 1
        and "3 T1w scans: 1 segmented now, 0 unchanged since an earlier run, 2 failed" in text
    )
    assert (
        f"{mask}: ROI shape (20, 24, 24) differs from image sub-01_T1w.nii.gz shape (24, 24, 24)"
        in err
    )
    assert f"{shifted}: ROI affine differs from image sub-02_ses-1_T1w.nii.gz by 2 mm" in err
    assert (out / "sub-02/ses-2/anat/sub-02_ses-2_space-orig_dseg.nii.gz").is_file()
    assert not list(out.glob("sub-01/anat/*_dseg.nii.gz"))


def test_the_options_other_bids_apps_spell_are_read_alike(tmp_path):
    from livianet.bids.filters import Condition
    from livianet.cli.bids_command import _selection
    from livianet.cli.parser import build_parser

    filters = tmp_path / "filter.json"
    filters.write_text(json.dumps({"t1w": {"acquisition": "fast"}}))
    spellings = (
        ["--participant-label", "01", "sub-02", "--session-label", "ses-1", "--nprocs", "2",
         "--bids-filter-file", str(filters), "--work-dir", "w", "--skip-bids-validation"],
        ["--participant_label", "sub-01", "02", "--session_label", "1", "--n_cpus", "2",
         "--bids_filter_file", str(filters), "-w", "w", "--skip_bids_validation"],
    )  # fmt: skip
    for extra in spellings:
        args = build_parser().parse_args(["bids", "in", "out", "participant", *extra])
        assert (args.threads, args.work_dir, args.skip_bids_validation) == (2, Path("w"), True)
        selection = _selection(args)
        assert (selection.participants, selection.sessions) == (("01", "02"), ("1",))
        assert selection.filter.conditions == (Condition("acq", ("fast",)),)


def test_unfetched_annex_content_is_listed_with_what_to_do(tmp_path, capsys, checkpoint):
    data = write_bids_dataset(tmp_path / "ds")
    target = data.root / "sub-01/anat/sub-01_T1w.nii.gz"
    target.unlink()
    os.symlink("../../.git/annex/objects/Pq/Rs/SHA256E-s9--cd.nii.gz/SHA256E-s9--cd.nii.gz", target)
    out = tmp_path / "out"
    code, text, err = _participant(
        capsys, data, out, checkpoint, "--participant-label", "sub-01", "--skip-bids-validation"
    )
    assert code == 1 and "1 T1w scans: 0 segmented now" in text
    assert "sub-01/anat/sub-01_T1w.nii.gz: " in err and "content not fetched" in err
    assert "datalad get sub-01_T1w.nii.gz" in err
    record = json.loads((out / "logs/scans/sub-01_T1w.json").read_text())
    assert record["status"] == "failed" and "git-annex/DataLad" in record["error"]


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("no dataset", "not a BIDS dataset (no dataset_description.json"),
        ("unknown participant", "--participant-label 99: no sub-99 folder in"),
        ("inside the input", "inside the input dataset"),
        ("another tool's", "a derivatives dataset written by fmriprep, not livianet"),
        ("other files", "holds files but no readable dataset_description.json"),
        ("another model", "holds segmentations by the model tiny_Epoch1.pt, not tiny_best.pt"),
    ],
)
def test_bad_input_is_one_line_and_loses_nothing(tmp_path, capsys, checkpoint, case, message):
    data = write_bids_dataset(tmp_path / "ds")
    out, extra = tmp_path / "out", []
    if case == "no dataset":
        (data.root / "dataset_description.json").unlink()
    elif case == "unknown participant":
        extra = ["--participant-label", "01", "99"]
    elif case == "inside the input":
        out = data.root / "results"
    elif case == "another tool's":
        write_description(
            out, "fmriprep", DatasetType="derivative", GeneratedBy=[{"Name": "fmriprep"}]
        )
    elif case == "other files":
        out.mkdir()
        (out / "notes.txt").write_text("mine")
    else:
        model = {"Name": "tiny_Epoch1.pt", "SHA256": ["0" * 64]}
        write_description(out, "earlier", GeneratedBy=[{"Name": "livianet", "Model": model}])
    before = _contents(out) if out.exists() else None
    code, _, err = _participant(capsys, data, out, checkpoint, "--skip-bids-validation", *extra)
    assert code == 1
    lines = err.strip().splitlines()
    assert lines[-1].startswith("livianet: error: ") and message in lines[-1], err
    assert "Traceback" not in err
    assert (_contents(out) if out.exists() else None) == before


def test_under_torchrun_each_process_segments_its_share_once(tmp_path, checkpoint):
    """Two processes on the CPU (gloo): every T1w segmented by exactly one, written once."""
    data = write_bids_dataset(tmp_path / "ds")
    shutil.rmtree(data.root / "sub-05")  # no failure: torchrun would report rank 0's exit 1
    out = tmp_path / "out"
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    command = [
        *torchrun, "-m", "livianet", "bids", str(data.root), str(out), "participant",
        "--model", str(checkpoint), "--mask-derivatives", str(data.masks), "--device", "cpu",
        "--skip-bids-validation",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE")}
    env["OMP_NUM_THREADS"] = "1"
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-3000:]
    ranks = set()
    for relative in READABLE:
        name = Path(relative).name
        mentions = re.findall(rf"\[rank (\d)\] {re.escape(name)}: segmented", log)
        assert len(mentions) == 1, (name, log[-2000:])
        ranks |= set(mentions)
        record = json.loads((out / "logs/scans" / name.replace(".nii.gz", ".json")).read_text())
        assert record["status"] == "done"
    assert ranks == {"0", "1"}
    assert "5 T1w scans: 5 segmented now, 0 unchanged" in log
    assert sorted(p.name for p in out.glob("sub-*.html")) == [
        "sub-01.html",
        "sub-02.html",
        "sub-03.html",
    ]
    assert "sub-03_acq-fast_run-1_T1w.nii.gz" in (out / "sub-03.html").read_text()
    assert "sub-03_acq-fast_run-2_T1w.nii.gz" in (out / "sub-03.html").read_text()
