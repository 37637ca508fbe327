"""The checkpoint schema: typed contents that read and write exactly the entries on disk."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from livianet.config import ModelConfig, to_plain
from livianet.networks import (
    BestEpoch,
    Checkpoint,
    CheckpointContents,
    ModelMeta,
    build_model,
    load_checkpoint,
    save_checkpoint,
    training_checkpoint,
)
from livianet.networks.checkpoint_schema import FORMAT_VERSION
from livianet.networks.pretrained import DEFAULT_MODEL, model_card, pretrained_checkpoint

HEADER = ["kind", "format_version", "livianet_version"]


def _same(a, b, where: str = "entries") -> None:
    """Equal entries, tensors included, dict keys in the same order."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), where
        for key in a:
            _same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list | tuple):
        assert type(a) is type(b) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and math.isnan(a):
        assert isinstance(b, float) and math.isnan(b), where
    else:
        assert type(a) is type(b) and a == b, f"{where}: {a!r} vs {b!r}"


def _model_config() -> ModelConfig:
    return ModelConfig(
        conv_channels=(4, 4, 4),
        conv_kernels=((3, 3, 3),) * 3,
        fc_channels=(8,),
        num_classes=3,
        dropout_rates=(0.0, 0.0),
    )


def _contents() -> CheckpointContents:
    model = build_model(_model_config(), seed=0)
    meta = ModelMeta(
        normalization="zscore",
        normalization_region="roi",
        patch_size=(13, 13, 13),
        label_names={0: "Background", 1: "Left", 2: "Right"},
        orientation="RAS",
        spacing=(1.0, 1.0, 1.5),
        label_pairs=((1, 2),),
        training_volumes={1: (10.0, 12.5, 15.0)},
        original_labels={1: 10, 2: 49},
        training_places={
            1: {
                "position_min": [-0.2, 0.0, 0.1],
                "position_max": [-0.1, 0.1, 0.2],
                "extent_max": [0.2, 0.2, 0.2],
                "cases": 4,
            },
        },  # fmt: skip
    )
    return CheckpointContents(
        network_name="small",
        epoch=3,
        model_config=to_plain(model.config),
        model_state=model.state_dict(),
        meta=meta,
        optimizer_state={"state": {}, "param_groups": [{"lr": 0.01, "params": [0, 1]}]},
        scaler_state={},
        config={"folder_name": "SmallRun", "network_name": "small"},
        metrics=[{"epoch": 1, "train_loss": 0.9}, {"epoch": 2, "val_dice_mean": float("nan")}],
        best=BestEpoch(dice=0.75, epoch=2, stale=1),
        frozen_layers=("conv1",),
        seed=7,
    )


def test_contents_come_back_from_their_file_as_written(tmp_path):
    contents = _contents()
    path = save_checkpoint(contents.to_state(), tmp_path / "small_Epoch3.pt")
    stored = torch.load(path, map_location="cpu", weights_only=True)
    assert list(stored)[:3] == HEADER and stored["format_version"] == FORMAT_VERSION
    _same({k: v for k, v in stored.items() if k not in HEADER}, contents.to_state())
    read = Checkpoint.read(path).contents
    assert replace(read, model_state={}, metrics=[]) == replace(
        contents, model_state={}, metrics=[]
    )
    _same(read.model_state, contents.model_state)
    _same(read.metrics, contents.metrics)


def test_training_checkpoint_writes_the_schemas_entries_and_best_as_given():
    contents = _contents()
    entries = training_checkpoint(
        network_name="small",
        epoch=3,
        model_config=_model_config(),
        model_state=contents.model_state,
        meta=contents.meta,
        optimizer_state=contents.optimizer_state or {},
        scaler_state={},
        config=contents.config,
        metrics=contents.metrics,
        best={},
        frozen_layers=["conv1"],
        seed=7,
    )
    assert entries["best"] == {}
    _same({**entries, "best": contents.best.to_state()}, contents.to_state())


def test_a_trained_checkpoint_reads_and_writes_back_unchanged(trained_run):
    path = trained_run / "Networks" / "tiny_Epoch3.pt"
    stored = load_checkpoint(path)
    contents = CheckpointContents.from_state(stored)
    assert contents.epoch == 3 and contents.network_name == "tiny" and contents.seed == 3
    assert contents.best.epoch in (1, 2, 3) and contents.optimizer_state
    assert [row["epoch"] for row in contents.metrics] == [1, 2, 3]
    _same({k: v for k, v in stored.items() if k not in HEADER}, contents.to_state())


def test_the_built_in_model_reads_with_its_name_and_licence():
    contents = pretrained_checkpoint().contents
    card = model_card()
    assert contents.model_name == DEFAULT_MODEL and contents.licence == card["licence_short"]
    assert contents.epoch == card["trained_epochs"] and contents.network_name == "subcortical"
    assert contents.config["folder_name"] == DEFAULT_MODEL
    # What it leaves out reads as what an unstarted run holds.
    assert contents.optimizer_state is None and contents.scaler_state == {}
    assert contents.metrics == [] and contents.best == BestEpoch() and contents.frozen_layers == ()
    assert contents.meta.orientation == "RAS" and contents.model_state


def test_a_format_1_checkpoint_reads_with_defaults(tmp_path):
    model = build_model(_model_config(), seed=0)
    path = save_checkpoint(
        {
            "format_version": 1,
            "network_name": "old",
            "epoch": 4,
            "model_config": to_plain(model.config),
            "model_state": model.state_dict(),
            "normalization": "zscore",
            "training_orientation": "LPI",  # then: the stored arrays' axes, not a working space
        },
        tmp_path / "old.pt",
    )
    checkpoint = Checkpoint.read(path)
    contents = checkpoint.contents
    assert contents.meta.orientation is None and contents.meta.normalization == "zscore"
    assert contents.seed is None and contents.optimizer_state is None and contents.metrics == []
    assert contents.best == BestEpoch() and contents.frozen_layers == ()
    assert checkpoint.meta == contents.meta and checkpoint.network().config == model.config


def test_entries_of_an_unexpected_kind_read_as_their_defaults():
    contents = CheckpointContents.from_state(
        {"epoch": 2, "metrics": "rows", "best": [0.5], "frozen_layers": None, "config": 3}
    )
    assert contents.metrics == [] and contents.best == BestEpoch()
    assert contents.frozen_layers == () and contents.config == {} and contents.model_state == {}
    assert contents.network_name is None and contents.epoch == 2


@pytest.mark.parametrize(
    ("stored", "best"),
    [
        (None, BestEpoch()),
        ({}, BestEpoch()),
        ({"dice": 0.7, "epoch": 2, "stale": 1}, BestEpoch(0.7, 2, 1)),
        ({"dice": -math.inf, "epoch": None, "stale": 0}, BestEpoch()),
    ],
)
def test_best_epoch_reads_its_entry(stored, best):
    assert BestEpoch.from_state(stored) == best
    assert list(best.to_state()) == ["dice", "epoch", "stale"]
    if stored:
        assert best.to_state() == stored
