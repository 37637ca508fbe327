"""The dependency floors in pyproject.toml are at least what the code calls needs."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]

# (package, what the code writes, in which file, the first release that has it, what that is)
NEEDS = [
    ("torch", "dynamo=False", "networks/export.py", "2.5", "torch.onnx.export's dynamo keyword"),
    ("torch", "torch.amp.GradScaler(", "training/trainer.py", "2.3", "the device-generic scaler"),
    ("torch", "weights_only=True", "networks/checkpoint.py", "1.13", "torch.load's weights_only"),
    (
        "numpy",
        "rng.standard_normal(size=patch.shape, dtype=",
        "training/augment.py",
        "1.17",
        "numpy.random.Generator",
    ),  # fmt: skip
]


def _floors() -> dict[str, Version]:
    """``[project] dependencies`` (read with a pattern: ``tomllib`` needs Python 3.11)."""
    block = re.search(
        r"^dependencies = \[(.*?)^\]", (ROOT / "pyproject.toml").read_text(), re.M | re.S
    )
    assert block, "pyproject.toml: no dependencies list"
    floors = {}
    for text in re.findall(r'"([^"]+)"', block.group(1)):
        requirement = Requirement(text)
        lows = [Version(s.version) for s in requirement.specifier if s.operator in (">=", "==")]
        assert lows, f"{text}: no floor"
        floors[requirement.name] = max(lows)
    return floors


def test_each_floor_covers_what_the_code_uses():
    floors = _floors()
    for package, snippet, file, version, what in NEEDS:
        source = (ROOT / "src" / "livianet" / file).read_text()
        assert snippet in source, f"{file} no longer uses {snippet!r}: update NEEDS"
        assert floors[package] >= Version(version), (
            f"{package}>={floors[package]}, but {file} uses {what}, new in {package} {version}"
        )


def test_the_installed_versions_meet_the_floors():
    for package, floor in _floors().items():
        installed = Version(re.sub(r"\+.*", "", metadata.version(package)))
        assert installed >= floor, (package, installed, floor)


# Every file that may state a dependency's floor (`name>=X`) or pin (`name==X`) to a reader.
STATING_FILES = ["pyproject.toml", "Makefile", ".ci/run", "README.md", "docs/*.md", "bench/*.md"]
STATING_FILES += ["bench/requirements.txt", "models/**/*.md"]


def stated_versions() -> dict[tuple[str, str], dict[Version, list[str]]]:
    """``(package, ">=" or "==")`` -> each version stated -> where (``file:line``).

    The packages are those ``pyproject.toml`` requires anywhere, and Python itself.
    """
    pyproject = (ROOT / "pyproject.toml").read_text()
    names = {
        Requirement(text).name.lower()
        for text in re.findall(r'"([A-Za-z][\w.-]*[<>=!~][^"]*)"', pyproject)
    }
    alternatives = "|".join(sorted(map(re.escape, names | {"python"}), key=len, reverse=True))
    pattern = re.compile(rf"(?<![\w-])({alternatives})\s*(>=|==)\s*(\d+(?:\.\d+)*)", re.I)
    found: dict[tuple[str, str], dict[Version, list[str]]] = {}
    paths = sorted({p for glob in STATING_FILES for p in ROOT.glob(glob)})
    for path in paths:
        text = path.read_text().replace('requires-python = ">=', "python>=")
        for number, line in enumerate(text.splitlines(), 1):
            for name, operator, version in pattern.findall(line):
                where = f"{path.relative_to(ROOT)}:{number}"
                found.setdefault((name.lower(), operator), {}).setdefault(
                    Version(version), []
                ).append(where)
    return found


def _files_stating(stated: dict, name: str, operator: str) -> set[str]:
    return {where.split(":")[0] for places in stated[name, operator].values() for where in places}


def test_every_file_states_the_same_floor_and_pin():
    stated = stated_versions()
    # The reading finds floors in pyproject.toml and beside it (else this test would check nothing).
    assert _files_stating(stated, "torch", ">=") >= {"pyproject.toml", "README.md"}
    assert _files_stating(stated, "torchio", ">=") >= {"pyproject.toml", "bench/requirements.txt"}
    problems = [
        f"{name}{operator}: "
        + "; ".join(
            f"{version} in {', '.join(places)}" for version, places in sorted(found.items())
        )
        for (name, operator), found in sorted(stated.items())
        if len(found) > 1
    ]
    for (name, operator), found in sorted(stated.items()):
        floor = max(stated.get((name, ">="), {Version("0"): []}))
        if operator == "==":
            problems += [
                f"{name}=={pin} ({', '.join(places)}) is under the floor {name}>={floor}"
                for pin, places in sorted(found.items())
                if pin < floor
            ]
    assert not problems, "versions stated differently:\n" + "\n".join(problems)
