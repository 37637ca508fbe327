"""``livianet segment``'s rough edges (issue 31, item 6): each mistake gets a usage or one line."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from conftest import write_nifti

from livianet.cli import main
from livianet.cli.main import build_parser
from livianet.networks.pretrained import DEFAULT_MODEL


@pytest.fixture(autouse=True)
def restore_livianet_logger():
    """`main` installs a handler on the 'livianet' logger; leave the logger as we found it."""
    logger = logging.getLogger("livianet")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.level, logger.propagate = saved


@pytest.fixture
def t1(tmp_path: Path) -> Path:
    image = np.zeros((12, 12, 12), np.float32)
    image[3:9, 3:9, 3:9] = 100.0
    return write_nifti(tmp_path / "t1.nii.gz", image)


def _one_line_error(capsys, code: int, *words: str) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1, err
    assert lines[0].startswith("livianet: error: ") and "Traceback" not in err
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def _subcommands() -> list[str]:
    parser = build_parser()
    (action,) = (a for a in parser._actions if a.dest == "command")
    return list(action.choices)


# --- 1. no argument: the usage, the built-in model's form first ------------------------------


def test_segment_without_arguments_shows_the_built_in_form_first(capsys):
    with pytest.raises(SystemExit) as info:
        main(["segment"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    usage = err.splitlines()
    assert usage[0] == "usage: livianet segment T1 [T1 ...] --out DIR [--roi MASK]"
    assert (
        usage[1].split() == "livianet segment CKPT [CKPT ...] IMAGE [IMAGE ...] --out DIR".split()
    )
    assert "livianet segment SEG.ini CKPT" in err
    assert err.strip().splitlines()[-1] == (
        "livianet segment: error: the following arguments are required: T1"
    )


def test_segment_help_starts_with_the_same_usage(capsys):
    with pytest.raises(SystemExit) as info:
        main(["segment", "--help"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith("usage: livianet segment T1 [T1 ...] --out DIR")


# --- 2. global options after the subcommand ----------------------------------------------------


@pytest.mark.parametrize("command", _subcommands())
def test_global_options_work_after_every_subcommand(command):
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    subparser = action.choices[command]
    flags = {flag for a in subparser._actions for flag in a.option_strings}
    assert {"-v", "--verbose", "-q", "--quiet"} <= flags


def test_verbose_after_segment_is_the_same_as_before_it():
    parser = build_parser()
    after = parser.parse_args(["segment", "t1.nii.gz", "--out", "o", "--verbose"])
    before = parser.parse_args(["--verbose", "segment", "t1.nii.gz", "--out", "o"])
    assert after.verbose is before.verbose is True and after.quiet is before.quiet is False
    assert vars(after) == vars(before)
    plain = parser.parse_args(["segment", "t1.nii.gz", "--out", "o"])
    assert plain.verbose is False and plain.quiet is False  # the defaults still come through
    assert parser.parse_args(["-q", "segment", "t1.nii.gz", "--out", "o"]).quiet is True


def test_quiet_after_the_subcommand_sets_the_log_level(capsys):
    assert main(["models", "-q"]) == 0
    assert logging.getLogger("livianet").level == logging.WARNING
    assert main(["models", "--verbose"]) == 0
    assert logging.getLogger("livianet").level == logging.DEBUG


# --- 3. a mistyped built-in model ----------------------------------------------------------------


@pytest.mark.parametrize("typed", ["subcortical-abide-v2", "builtin:subcortical-abide"])
def test_a_mistyped_model_name_suggests_the_real_one(capsys, tmp_path, t1, typed):
    out = tmp_path / "out"
    code = main(["segment", str(t1), "--model", typed, "--out", str(out)])
    line = _one_line_error(
        capsys, code, typed, f"did you mean {DEFAULT_MODEL}?", "built-in models:"
    )
    assert "--model" in line
    assert not out.exists()


def test_a_mistyped_model_name_given_first_suggests_the_real_one(capsys, tmp_path, t1):
    code = main(["segment", "subcortical-abide-v9", str(t1), "--out", str(tmp_path / "out")])
    _one_line_error(capsys, code, "subcortical-abide-v9", f"did you mean {DEFAULT_MODEL}?")


def test_a_name_like_no_model_lists_the_real_names(capsys, tmp_path, t1):
    code = main(["segment", str(t1), "--model", "zzz", "--out", str(tmp_path / "out")])
    line = _one_line_error(capsys, code, "zzz", f"built-in models: {DEFAULT_MODEL}")
    assert "did you mean" not in line


def test_a_missing_checkpoint_file_keeps_its_own_message(capsys, tmp_path, t1):
    gone = tmp_path / "gone.pt"
    code = main(["segment", str(t1), "--model", str(gone), "--out", str(tmp_path / "out")])
    _one_line_error(capsys, code, str(gone), "checkpoint not found")


# --- 4. a missing input: no output folder --------------------------------------------------------


def test_a_missing_input_makes_no_output_folder(capsys, tmp_path, t1):
    out = tmp_path / "out"
    missing = tmp_path / "nope.nii.gz"
    code = main(["segment", str(t1), str(missing), "--out", str(out)])
    _one_line_error(capsys, code, str(missing), "not found", "nothing segmented")
    assert not out.exists()


def test_a_missing_roi_makes_no_output_folder(capsys, tmp_path, t1):
    out = tmp_path / "deep" / "out"
    roi = tmp_path / "roi_missing.nii.gz"
    code = main(["segment", str(t1), "--roi", str(roi), "--out", str(out)])
    _one_line_error(capsys, code, str(roi), "ROI", "not found")
    assert not (tmp_path / "deep").exists()


# --- 5. --out must be a folder ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["seg.nii.gz", "seg.nii", "seg.mgz", "SEG.NII.GZ"])
def test_out_named_as_a_volume_is_refused(capsys, tmp_path, t1, name):
    out = tmp_path / name
    code = main(["segment", str(t1), "--out", str(out)])
    _one_line_error(capsys, code, f"--out {out}", "expected a folder")
    assert not out.exists()


def test_out_naming_an_existing_file_is_refused(capsys, tmp_path, t1):
    out = tmp_path / "results"
    out.write_text("keep me")
    code = main(["segment", str(t1), "--out", str(out)])
    _one_line_error(capsys, code, f"--out {out}", "is a file", "expected a folder")
    assert out.read_text() == "keep me"


def test_an_existing_folder_with_a_volume_like_name_is_still_a_folder(tmp_path):
    from livianet.cli.segment_form import check_out_folder

    folder = tmp_path / "outputs.nii"
    folder.mkdir()
    check_out_folder(folder)  # no error: it is a folder already
    check_out_folder(tmp_path / "new" / "seg")
