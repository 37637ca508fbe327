"""Augmentation, penalties, early stopping and multi-channel input."""

from __future__ import annotations

import numpy as np
import torch
from conftest import write_tiny_ini

from livianet.config import AugmentConfig, ModelConfig, load_training_config
from livianet.networks import build_model
from livianet.training import TrainOptions, train
from livianet.training.augment import augment_batch, swap_table
from livianet.training.losses import SegmentationLoss, soft_dice_loss, weight_penalty


def test_flip_swaps_left_and_right_labels():
    images = np.arange(2 * 1 * 4 * 3 * 2, dtype=np.float32).reshape(2, 1, 4, 3, 2)
    labels = np.zeros((2, 4, 3, 2), np.int64)
    labels[:, 0] = 1  # "left" structure at the low end of axis 0
    labels[:, 3] = 3
    config = AugmentConfig(flip_axes=(0,), flip_label_pairs=((1, 2),))
    rngs = [np.random.default_rng(s) for s in range(2)]
    flips = [np.random.default_rng(s).random() < 0.5 for s in range(2)]
    out_images, out_labels = augment_batch(images, labels, config, 4, rngs)
    for n, flipped in enumerate(flips):
        if flipped:
            assert np.array_equal(out_images[n], images[n][:, ::-1])
            assert (out_labels[n, 3] == 2).all() and (
                out_labels[n, 0] == 3
            ).all()  # moved and renamed
        else:
            assert np.array_equal(out_images[n], images[n]) and np.array_equal(
                out_labels[n], labels[n]
            )
    assert swap_table(((1, 5), (2, 6)), 7).tolist() == [0, 5, 6, 3, 4, 1, 2]


def test_intensity_jitter_stays_within_bounds():
    images = np.ones((8, 1, 3, 3, 3), np.float32)
    labels = np.zeros((8, 3, 3, 3), np.int64)
    config = AugmentConfig(intensity_scale=0.1, intensity_shift=0.2)
    out, _ = augment_batch(images, labels, config, 2, [np.random.default_rng(i) for i in range(8)])
    assert ((out >= 1 * 0.9 - 0.2 - 1e-6) & (out <= 1.1 + 0.2 + 1e-6)).all()
    assert len(np.unique(out.reshape(8, -1)[:, 0])) == 8


def test_penalties_are_the_originals():
    config = ModelConfig(
        conv_channels=(2,),
        conv_kernels=((3, 3, 3),),
        fc_channels=(),
        num_classes=2,
        dropout_rates=(0.0,),
    )
    model = build_model(config)
    weights = [p for n, p in model.named_parameters() if n.endswith("conv.weight")]
    expected = sum(1e-3 * w.abs().sum() + 1e-2 * (w**2).sum() for w in weights)
    assert torch.isclose(weight_penalty(model, 1e-3, 1e-2), expected)
    assert weight_penalty(model, 0.0, 0.0) is None


def test_class_weights_and_dice_terms():
    logits = torch.randn(2, 3, 4, 4, 4)
    target = torch.randint(0, 3, (2, 4, 4, 4))
    model = build_model(
        ModelConfig(
            conv_channels=(2,),
            conv_kernels=((1, 1, 1),),
            fc_channels=(),
            num_classes=3,
            dropout_rates=(0.0,),
        )
    )
    plain = SegmentationLoss("ce", 3, None, 0, 0)(logits, target, model)
    weighted = SegmentationLoss("ce", 3, (1.0, 5.0, 1.0), 0, 0)(logits, target, model)
    both = SegmentationLoss("dice_ce", 3, None, 0, 0)(logits, target, model)
    assert not torch.isclose(plain, weighted)
    assert torch.isclose(both, plain + soft_dice_loss(logits, target, 3))
    perfect = torch.nn.functional.one_hot(target, 3).permute(0, 4, 1, 2, 3).float() * 50
    assert soft_dice_loss(perfect, target, 3) < 1e-3


def test_early_stopping(tmp_path, tiny_dataset, monkeypatch):
    import livianet.training.trainer as train_module

    scores = iter([0.5, 0.6, 0.55, 0.58, 0.9, 0.9])
    monkeypatch.setattr(
        train_module, "validate", lambda *args, **kwargs: {"val_dice_mean": next(scores)}
    )
    ini = write_tiny_ini(tmp_path, tiny_dataset, epochs=6, extra="earlyStoppingPatience = 2")
    result = train(load_training_config(ini), TrainOptions(device="cpu", progress=False))
    assert result.epochs_completed == 4  # best at epoch 2, then two epochs without a better Dice
    assert torch.load(result.best_checkpoint, weights_only=True)["epoch"] == 2


def test_two_channel_training(tmp_path, tiny_dataset):
    import shutil

    shutil.copytree(tiny_dataset / "MR", tiny_dataset / "T2")
    ini = write_tiny_ini(tmp_path, tiny_dataset, epochs=1)
    ini.write_text(
        ini.read_text().replace(
            f"imagesFolder = {tiny_dataset}/MR",
            f'imagesFolder = ["{tiny_dataset}/MR", "{tiny_dataset}/T2"]',
        )
    )
    config = load_training_config(ini)
    assert config.model.in_channels == 2
    result = train(config, TrainOptions(device="cpu", progress=False))
    assert result.model.conv1.conv.weight.shape[1] == 2
