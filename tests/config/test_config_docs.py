"""docs/config.md is generated from the key table and must not drift from it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from original_format import DEFAULT

from livianet.config import docs as config_docs
from livianet.config import keys as ck
from livianet.config import load_training_config

DOCS = Path(__file__).resolve().parents[2] / "docs" / "config.md"


def test_docs_equal_the_generated_text() -> None:
    assert DOCS.read_text(encoding="utf-8") == config_docs.render(), (
        "docs/config.md is stale: run `python -m livianet.config.docs --write`"
    )


def test_every_key_and_section_is_documented() -> None:
    text = config_docs.render()
    for section in ck.SECTIONS:
        assert f"## [{section}]" in text
    for key in ck.KEYS:
        assert f"| `{key.name}`" in text, key.name
    for (_, alias), _name in ck.ALIAS_NAMES.items():
        assert f"(or `{alias}`)" in text


def test_every_integer_code_is_listed() -> None:
    text = config_docs.render()
    coded = [k for k in ck.KEYS if getattr(k.parse, "codes", None)]
    assert {k.name for k in coded} >= {"activationType", "Optimizer Type", "costFunction"}
    for key in coded:
        section = text[text.index(f"### `{key.name}`") :]
        for code, value in key.parse.codes.items():
            assert f"| {code} | `{value}` |" in section.split("###")[1], (key.name, code)


def test_documented_codes_parse_back() -> None:
    for key in ck.KEYS:
        for code, value in getattr(key.parse, "codes", {}).items():
            assert key.parse(str(code)) == value
            assert key.parse(value) == value


def test_intro_states_the_rules() -> None:
    intro = config_docs.render().split("## [General]")[0]
    for phrase in (
        "case-insensitively",
        "JSON",
        "folder of the\n  config file",
        "`--data-root DIR`",
        "`[1]`",
        "`[3]`, is an error",
        "did-you-mean",
        "`Leraning Rate`",
        "`Learning Rate`",
    ):
        assert phrase in intro, phrase


def test_training_defaults_are_the_original_values_except_l1_l2(original_configs: Path) -> None:
    """The [Training Parameters] note promises this; keep it true."""
    original = load_training_config(original_configs / DEFAULT)
    train, optim = original.train, original.train.optim
    expected = {
        "batch_size": train.batch_size,
        "num_epochs": train.num_epochs,
        "num_subepochs": train.num_subepochs,
        "samples_per_subepoch": train.samples_per_subepoch,
        "patch_size": train.patch_size,
        "segment_patch_size": train.segment_patch_size,
        "learning_rate": (optim.learning_rate,),
        "momentum": optim.momentum,
        "momentum_type": "nesterov" if optim.nesterov else "classic",
        "optimizer": optim.optimizer,
        "rho": optim.rho,
        "epsilon": optim.epsilon,
        "batch_norm": original.model.batch_norm,
        "batch_norm_epochs": original.model.batch_norm_epochs,
        "apply_padding": train.apply_padding,
        "l1": 0.0,
        "l2": 0.0,
    }
    defaults = {k.field: k.default for k in ck.KEYS if k.section == ck.TRAINING}
    assert {field: defaults[field] for field in expected} == expected


def test_write_option_and_stdout_agree(tmp_path: Path) -> None:
    target = tmp_path / "docs" / "config.md"
    assert config_docs.main(["--write", str(target)]) == 0
    assert target.read_text(encoding="utf-8") == config_docs.render()
    result = subprocess.run(
        [sys.executable, "-m", "livianet.config.docs"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert result.stdout == config_docs.render()
