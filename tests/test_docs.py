"""The documents name tests and commands that exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_test_named_in_the_docs_exists():
    named = set()
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        named |= set(re.findall(r"(tests/[\w/]*test_\w+\.py)::(\w+)", doc.read_text()))
    assert named, "the reliability promises name their tests"
    for path, name in sorted(named):
        assert re.search(rf"^def {name}\(", (ROOT / path).read_text(), re.M), f"{path}::{name}"


def test_readme_starts_with_the_two_commands_and_ci_runs_the_test_one():
    lines = (ROOT / "README.md").read_text().splitlines()
    block = lines[lines.index("```bash") + 1 : lines.index("```bash") + 3]
    assert block[0].startswith("make demo") and block[1].startswith("make test")
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    makefile = (ROOT / "Makefile").read_text()
    assert "livianet demo" in makefile and "pytest" in makefile and "torch==2.13.0" in makefile


def test_docs_models_shows_each_shipped_card_as_livianet_models_prints_it():
    from livianet.networks.pretrained import builtin_names, model_card

    text = (ROOT / "docs" / "models.md").read_text()
    for name in builtin_names():
        match = re.search(rf"<!-- card: {name} -->\n(.*?)\n<!-- end card -->", text, re.S)
        assert match, f"docs/models.md has no card section for {name}"
        assert match.group(1).strip() == model_card(name)["card"].strip()
        assert (
            model_card(name)["card"].strip()
            == (ROOT / "models" / name / "card.md").read_text().strip()
        )
