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
