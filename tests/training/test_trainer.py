"""Training: outputs per epoch, exact resume, refusal to overwrite, transfer, failures."""

from __future__ import annotations

import csv
import threading

import numpy as np
import pytest
import torch
from conftest import write_tiny_ini

from livianet.config import load_training_config
from livianet.errors import TrainingError
from livianet.networks import export_npy_weights, load_checkpoint
from livianet.training import TrainOptions, train
from livianet.training.trainer import _initial_model


def _options(**kwargs) -> TrainOptions:
    return TrainOptions(device="cpu", progress=False, **kwargs)


def test_training_writes_checkpoints_and_reports(tiny_ini):
    config = load_training_config(tiny_ini)
    result = train(config, _options())
    networks = config.run_dir / "Networks"
    assert sorted(p.name for p in networks.iterdir()) == [
        "tiny_Epoch1.pt",
        "tiny_Epoch2.pt",
        "tiny_best.pt",
    ]
    assert result.last_checkpoint == networks / "tiny_Epoch2.pt"
    state = torch.load(result.last_checkpoint, weights_only=True)
    for key in (
        "model_state",
        "optimizer_state",
        "epoch",
        "config",
        "normalization",
        "training_spacing",
        "training_orientation",
        "livianet_version",
        "format_version",
        "metrics",
        "seed",
        "scaler_state",  # empty: no fp16 loss scaling on the CPU
    ):
        assert key in state, key
    # No random-generator state: each sub-epoch reseeds from (seed, epoch, sub-epoch).
    assert "rng" not in state and state["seed"] == 3 and state["scaler_state"] == {}
    assert state["epoch"] == 2 and state["normalization"] == "zscore"
    rows = list(csv.DictReader(open(config.run_dir / "tiny_metrics.csv")))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert {"train_loss", "lr", "val_dice_mean", "val_dice_1", "val_dice_3"} <= set(rows[0])
    assert (config.run_dir / "tiny_training_curves.png").stat().st_size > 1000
    log = (config.run_dir / "tiny.log").read_text()
    assert "resolved config" in log and "seed 3" in log
    assert (config.run_dir / "Pred" / "Validation" / "Segmentation_MR_Img3.nii.gz").exists()


def _final_weights(path):
    return load_checkpoint(path)["model_state"]


def test_resume_ends_with_the_same_weights(tmp_path, tiny_dataset):
    whole = load_training_config(write_tiny_ini(tmp_path / "a", tiny_dataset, epochs=3))
    train(whole, _options())
    first = load_training_config(write_tiny_ini(tmp_path / "b", tiny_dataset, epochs=2))
    train(first, _options())
    rest = load_training_config(write_tiny_ini(tmp_path / "b", tiny_dataset, epochs=3))
    result = train(rest, _options(resume=first.run_dir / "Networks" / "tiny_Epoch2.pt"))
    assert result.last_checkpoint.name == "tiny_Epoch3.pt"
    a = _final_weights(whole.run_dir / "Networks" / "tiny_Epoch3.pt")
    b = _final_weights(result.last_checkpoint)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    history = load_checkpoint(result.last_checkpoint)["metrics"]
    assert [row["epoch"] for row in history] == [1, 2, 3]
    # The best-epoch bookkeeping carries over too: the same best, epoch and count since.
    uninterrupted = load_checkpoint(whole.run_dir / "Networks" / "tiny_Epoch3.pt")["best"]
    assert load_checkpoint(result.last_checkpoint)["best"] == uninterrupted


def test_resume_restores_the_fp16_loss_scale(tmp_path, tiny_dataset, monkeypatch):
    """fp16 runs on CUDA only; a CPU scaler that grows every 3 steps stands in for it."""
    from livianet.training import trainer

    monkeypatch.setattr(
        trainer,
        "_grad_scaler",
        lambda precision, device: torch.amp.GradScaler("cpu", init_scale=256.0, growth_interval=3),
    )
    whole = load_training_config(write_tiny_ini(tmp_path / "a", tiny_dataset, epochs=2))
    train(whole, _options())
    first = load_training_config(write_tiny_ini(tmp_path / "b", tiny_dataset, epochs=1))
    train(first, _options())
    rest = load_training_config(write_tiny_ini(tmp_path / "b", tiny_dataset, epochs=2))
    result = train(rest, _options(resume=first.run_dir / "Networks" / "tiny_Epoch1.pt"))
    after_one = load_checkpoint(first.run_dir / "Networks" / "tiny_Epoch1.pt")["scaler_state"]
    assert after_one["scale"] == 256.0 * 2**2  # 8 steps: grown twice
    resumed = load_checkpoint(result.last_checkpoint)["scaler_state"]
    assert resumed == load_checkpoint(whole.run_dir / "Networks" / "tiny_Epoch2.pt")["scaler_state"]
    assert resumed["scale"] == 256.0 * 2**5


def test_resume_after_a_time_budget_starts_the_next_epoch(tmp_path, tiny_dataset, caplog):
    """What docs/reliability.md states: the cut epoch counts as done; its rest is never trained."""
    whole = load_training_config(write_tiny_ini(tmp_path / "a", tiny_dataset, epochs=2))
    train(whole, _options())
    short = load_training_config(write_tiny_ini(tmp_path / "b", tiny_dataset, epochs=2))
    cut = train(short, _options(time_budget_s=0.0))  # the deadline passes after the first step
    assert cut.epochs_completed == 1 and cut.history[0]["cut_short"]
    with caplog.at_level("WARNING", logger="livianet"):
        result = train(short, _options(resume=cut.last_checkpoint))
    assert "epoch 1 was cut short" in caplog.text and "resuming starts at epoch 2" in caplog.text
    assert [row["epoch"] for row in result.history] == [1, 2]
    a = _final_weights(whole.run_dir / "Networks" / "tiny_Epoch2.pt")
    b = _final_weights(result.last_checkpoint)
    assert any(not torch.equal(a[key], b[key]) for key in a)  # not the uninterrupted run


def test_resume_with_another_seed_is_warned_about(tmp_path, tiny_dataset, caplog):
    ini = write_tiny_ini(tmp_path, tiny_dataset, epochs=1)
    done = train(load_training_config(ini), _options())
    ini.write_text(ini.read_text().replace("seed = 3", "seed = 4"))
    with caplog.at_level("WARNING", logger="livianet"):
        train(load_training_config(ini), _options(resume=done.last_checkpoint))
    assert "trained with seed 3, the config now says 4" in caplog.text


def test_refuses_to_start_over_an_existing_run(tiny_ini):
    config = load_training_config(tiny_ini)
    train(config, _options())
    with pytest.raises(TrainingError, match="already exist.*--resume.*--overwrite"):
        train(config, _options())
    train(config, _options(overwrite=True))


def test_resume_when_all_epochs_are_done_does_nothing(tiny_ini):
    config = load_training_config(tiny_ini)
    result = train(config, _options())
    again = train(config, _options(resume=result.last_checkpoint))
    assert again.epochs_completed == 2
    assert not (config.run_dir / "Networks" / "tiny_Epoch3.pt").exists()


def test_learns_the_synthetic_structures(tmp_path, tiny_dataset):
    ini = write_tiny_ini(tmp_path, tiny_dataset, epochs=6)
    text = ini.read_text().replace(
        "number of samples at each SubEpoch Train = 16",
        "number of samples at each SubEpoch Train = 48",
    )
    text = text.replace("Optimizer Type = 1", "Optimizer Type = adamw")
    ini.write_text(text)
    result = train(load_training_config(ini), _options())
    first, last = result.history[0]["val_dice_mean"], result.history[-1]["val_dice_mean"]
    assert last >= first + 0.1, (first, last)
    losses = [row["train_loss"] for row in result.history]
    assert losses[-1] < losses[0]


def test_trains_without_batch_norm(tmp_path, tiny_dataset):
    ini = write_tiny_ini(tmp_path, tiny_dataset, epochs=1)
    ini.write_text(
        ini.read_text().replace("applyBatchNormalization = 1", "applyBatchNormalization = 0")
    )
    result = train(load_training_config(ini), _options())
    assert np.isfinite(result.history[0]["train_loss"])
    state = load_checkpoint(result.last_checkpoint)["model_state"]
    assert "conv1.norm.bias" in state and "conv1.norm.running_mean" not in state


def test_non_finite_loss_stops_and_keeps_the_last_checkpoint(tmp_path, tiny_dataset, monkeypatch):
    from livianet.training import losses

    config = load_training_config(write_tiny_ini(tmp_path, tiny_dataset, epochs=3))
    original = losses.SegmentationLoss.forward
    calls = {"n": 0}

    def poisoned(self, logits, target, model):
        calls["n"] += 1
        value = original(self, logits, target, model)
        return value * float("nan") if calls["n"] > 8 else value  # 8 steps per epoch

    monkeypatch.setattr(losses.SegmentationLoss, "forward", poisoned)
    with pytest.raises(
        TrainingError, match=r"epoch 2, sub-epoch 1, batch 1.*last checkpoint is kept"
    ):
        train(config, _options())
    kept = config.run_dir / "Networks" / "tiny_Epoch1.pt"
    assert load_checkpoint(kept)["epoch"] == 1
    assert not (config.run_dir / "Networks" / "tiny_Epoch2.pt").exists()


def _prefetch_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("livianet-batches")]


def test_an_epoch_left_by_an_error_stops_its_prefetch_thread(tmp_path, tiny_dataset, monkeypatch):
    """The error's traceback keeps the epoch's frame (and its batch stream) alive; not its thread."""
    from livianet.training import losses

    config = load_training_config(write_tiny_ini(tmp_path, tiny_dataset, epochs=1))
    original = losses.SegmentationLoss.forward
    calls = {"n": 0}

    def poisoned(self, logits, target, model):
        calls["n"] += 1
        value = original(self, logits, target, model)
        return value * float("nan") if calls["n"] == 2 else value  # mid sub-epoch

    monkeypatch.setattr(losses.SegmentationLoss, "forward", poisoned)
    with pytest.raises(TrainingError, match="batch 2") as caught:
        train(config, _options())
    assert caught.value.__traceback__ is not None  # the frames are still referenced
    assert _prefetch_threads() == []


def test_non_finite_loss_can_skip_batches(tmp_path, tiny_dataset, monkeypatch):
    from livianet.training import losses

    ini = write_tiny_ini(tmp_path, tiny_dataset, epochs=1, extra="nonFiniteLoss = skip")
    original = losses.SegmentationLoss.forward
    calls = {"n": 0}

    def sometimes_nan(self, logits, target, model):
        calls["n"] += 1
        value = original(self, logits, target, model)
        return value * float("nan") if calls["n"] == 2 else value

    monkeypatch.setattr(losses.SegmentationLoss, "forward", sometimes_nan)
    result = train(load_training_config(ini), _options())
    assert np.isfinite(result.history[0]["train_loss"])


def test_npy_transfer_and_freezing(tmp_path, tiny_dataset):
    donor_config = load_training_config(write_tiny_ini(tmp_path / "donor", tiny_dataset))
    donor, _ = _initial_model(donor_config, _options())
    with torch.no_grad():
        for p in donor.parameters():
            p.add_(0.5)
    export_npy_weights(donor, tmp_path / "weights")
    ini = write_tiny_ini(tmp_path / "child", tiny_dataset, epochs=1)
    text = ini.read_text().replace(
        "weight_Initialization_CNN = 1",
        f"weight_Initialization_CNN = 2\nweights folderName = {tmp_path / 'weights'}\nweights trained indexes = [0, 1]\nfreezeTransferredLayers = 1",
    )
    ini.write_text(text)
    config = load_training_config(ini)
    model, transferred = _initial_model(config, _options())
    assert transferred == ["conv1", "conv2"]
    assert torch.equal(model.conv1.conv.weight, donor.conv1.conv.weight)
    assert not torch.equal(model.conv3.conv.weight, donor.conv3.conv.weight)
    result = train(config, _options())
    state = load_checkpoint(result.last_checkpoint)
    assert torch.equal(state["model_state"]["conv1.conv.weight"], donor.conv1.conv.weight.detach())
    assert not torch.equal(
        state["model_state"]["conv3.conv.weight"], model.conv3.conv.weight.detach()
    )
    assert state["frozen_layers"] == ["conv1", "conv2"]


def test_init_from_checkpoint(tmp_path, tiny_dataset):
    donor = load_training_config(write_tiny_ini(tmp_path / "donor", tiny_dataset, epochs=1))
    done = train(donor, _options())
    config = load_training_config(write_tiny_ini(tmp_path / "child", tiny_dataset, epochs=1))
    model, transferred = _initial_model(config, _options(init_from=done.last_checkpoint))
    assert transferred == ["conv1", "conv2", "conv3", "fc1", "classifier"]
    source = load_checkpoint(done.last_checkpoint)["model_state"]
    assert torch.equal(model.fc1.conv.weight, source["fc1.conv.weight"])
