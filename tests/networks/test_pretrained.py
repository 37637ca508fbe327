"""The built-in model: shipped whole, with its card, refused with a clear message when damaged."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from livianet.errors import CheckpointError
from livianet.networks import pretrained
from livianet.networks.pretrained import (
    DEFAULT_MODEL,
    builtin_names,
    is_builtin,
    model_card,
    pretrained_checkpoint,
    resolve_model,
)

REPO = Path(__file__).resolve().parents[2]


def test_the_default_model_ships_slim_with_its_card():
    assert DEFAULT_MODEL in builtin_names()
    card = model_card()
    weights = Path(str(pretrained._folder())) / f"{DEFAULT_MODEL}.pt"
    assert weights.stat().st_size < 10e6
    assert card["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert "not commercial" in card["licence_short"] and card["card"]
    state = torch.load(weights, map_location="cpu", weights_only=True)
    assert "optimizer_state" not in state and state["licence"] == card["licence_short"]
    checkpoint = pretrained_checkpoint()
    meta = checkpoint.meta
    assert meta.orientation == "RAS" and meta.spacing == (1.0, 1.0, 1.0)
    assert meta.label_names[1] == "Left-Thalamus" and meta.label_names[8] == "Right-Pallidum"
    assert meta.label_pairs == ((1, 5), (2, 6), (3, 7), (4, 8))
    assert meta.original_labels == {1: 10, 2: 11, 3: 12, 4: 13, 5: 49, 6: 50, 7: 51, 8: 52}
    assert set(meta.training_volumes) == set(range(1, 9))
    assert set(meta.training_places) == set(range(1, 9))  # models/package_model.py --places-from
    left, right = meta.training_places[1], meta.training_places[5]  # the thalami, in RAS
    assert left["position_max"][0] < 0 < right["position_min"][0]
    assert checkpoint.network().config.num_classes == 9


def test_names_and_paths():
    assert (
        is_builtin("builtin")
        and is_builtin(f"builtin:{DEFAULT_MODEL}")
        and is_builtin(DEFAULT_MODEL)
    )
    assert not is_builtin("model.pt") and not is_builtin("runs/subcortical-abide-v1")
    assert resolve_model("builtin").state["model_name"] == DEFAULT_MODEL


@pytest.fixture
def copied_models(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "pretrained"
    shutil.copytree(Path(str(pretrained._folder())), folder)
    monkeypatch.setattr(pretrained, "_folder", lambda: folder)
    return folder


def test_damaged_missing_or_unknown_models_say_how_to_reinstall(copied_models):
    weights = copied_models / f"{DEFAULT_MODEL}.pt"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"weights are damaged \(SHA-256 .*reinstall"):
        pretrained_checkpoint()
    weights.unlink()
    with pytest.raises(CheckpointError, match="weights are missing; reinstall"):
        pretrained_checkpoint()
    with pytest.raises(CheckpointError, match=f"no built-in model of that name .*{DEFAULT_MODEL}"):
        model_card("no-such-model")
    (copied_models / f"{DEFAULT_MODEL}.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="model card is damaged"):
        model_card()


def test_the_built_wheel_carries_the_model(tmp_path):
    """A non-editable install finds the model: the wheel built from the source tree holds it."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", str(tmp_path), str(REPO)],
        check=True,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("livianet-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert f"livianet/pretrained/{DEFAULT_MODEL}.pt" in names
    assert f"livianet/pretrained/{DEFAULT_MODEL}.json" in names
