"""The parser: one builder per command, shared options defined once."""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

import pytest

from livianet.cli import main
from livianet.cli.main import build_parser

COMMANDS = (
    "train",
    "segment",
    "evaluate",
    "labels",
    "roi",
    "models",
    "export",
    "export-weights",
    "report",
    "demo",
    "synth",
    "bids",
    "cache",
)


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (action,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _option(parser: argparse.ArgumentParser, flag: str) -> argparse.Action:
    (action,) = (a for a in parser._actions if flag in a.option_strings)
    return action


def test_build_parser_is_importable_from_main():
    # ``livianet.cli.main`` the attribute is the function; the module is what the script entry names.
    main_module = importlib.import_module("livianet.cli.main")
    assert main_module.main is main
    assert main_module.build_parser is importlib.import_module("livianet.cli.parser").build_parser
    assert list(_subparsers(build_parser())) == list(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_answers_help(capsys, command):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: livianet {command}")


def test_init_from_is_one_type_in_train_and_demo():
    commands = _subparsers(build_parser())
    train, demo = (_option(commands[name], "--init-from") for name in ("train", "demo"))
    assert train.type is demo.type is str
    assert train.metavar == demo.metavar == "CKPT|builtin"
    parsed = build_parser().parse_args(["train", "run.ini", "--init-from", "runs/best.pt"])
    assert parsed.init_from == "runs/best.pt" and parsed.config == Path("run.ini")
    assert build_parser().parse_args(["demo", "--init-from", "builtin"]).init_from == "builtin"


def test_runtime_options_are_the_same_wherever_they_appear():
    commands = _subparsers(build_parser())
    for flag in ("--device", "--threads"):
        described = {
            (a.default, a.type, a.help)
            for a in (_option(commands[name], flag) for name in ("train", "segment", "demo"))
        }
        assert len(described) == 1, flag


def test_segment_positionals_and_defaults():
    args = build_parser().parse_args(["segment", "A.pt", "B.pt", "T1.mgz", "--out", "o"])
    assert args.first == Path("A.pt") and args.rest == [Path("B.pt"), Path("T1.mgz")]
    assert args.out == Path("o") and args.model is None and args.resample is True
    assert args.output_root == Path("outputFiles") and args.precision == "auto"
    assert args.batch == 1 and args.tile is None


def test_segment_brain_extraction_flags():
    args = build_parser().parse_args(["segment", "T1.nii.gz", "--out", "o"])
    assert args.brain_extraction is True and not args.save_brain
    assert (args.brain_threshold, args.brain_dilation) == (0.5, 0)
    args = build_parser().parse_args(
        ["segment", "T1.nii.gz", "--out", "o", "--no-brain-extraction", "--save-brain",
         "--brain-threshold", "0.3", "--brain-dilation", "-2"]
    )  # fmt: skip
    assert args.brain_extraction is False and args.save_brain
    assert (args.brain_threshold, args.brain_dilation) == (0.3, -2)
    roi = build_parser().parse_args(["roi", "MR", "ROI", "--brain", "--orientation", "ILA"])
    assert roi.brain and roi.orientation == "ILA" and roi.brain_threshold == 0.5
