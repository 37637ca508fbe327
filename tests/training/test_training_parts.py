"""Augmentation, penalties, early stopping and multi-channel input."""

from __future__ import annotations

import numpy as np
import torch
from conftest import write_tiny_ini

from livianet.config import AugmentConfig, ModelConfig, load_training_config
from livianet.networks import build_model
from livianet.synthesis.codes import swap_table
from livianet.training import TrainOptions, train
from livianet.training.augment import augment_batch
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
    # Either penalty alone: exactly its own terms.
    l1_only = [1e-3 * w.abs().sum() for w in weights]
    l2_only = [1e-2 * w.pow(2).sum() for w in weights]
    assert torch.equal(weight_penalty(model, 1e-3, 0.0), sum(l1_only[1:], l1_only[0]))
    assert torch.equal(weight_penalty(model, 0.0, 1e-2), sum(l2_only[1:], l2_only[0]))


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


def test_warped_patch_without_rotation_or_scaling_is_the_plain_patch(rng):
    from livianet.training.augment import warped_patch
    from livianet.training.sampling import extract_patches

    volume = rng.normal(size=(2, 20, 21, 22)).astype(np.float32)
    corner = np.array([3, 4, 5])
    size = (9, 9, 9)
    plain = extract_patches(volume, corner[None], size)[0]
    warped = warped_patch(volume, corner + 4.0, size, np.eye(3), order=1)
    np.testing.assert_allclose(warped, plain, atol=1e-5)


def test_rotation_keeps_image_and_labels_aligned():
    from livianet.config import AugmentConfig
    from livianet.training.augment import spatial_matrix, warped_patch

    grid = np.indices((40, 40, 40)).astype(np.float32)
    ball = (((grid - np.array([22.0, 18.0, 20.0])[:, None, None, None]) ** 2).sum(0)) < 49
    image, labels = ball.astype(np.float32) * 100, ball.astype(np.uint8)
    config = AugmentConfig(rotation_deg=20.0, scaling=0.1)
    matrix = spatial_matrix(np.random.default_rng(4), config)
    assert not np.allclose(matrix, np.eye(3))
    centre = np.array([19.5, 19.5, 19.5])
    warped_image = warped_patch(image, centre, (25, 25, 25), matrix, order=1)
    warped_labels = warped_patch(labels, centre, (13, 13, 13), matrix, order=0)  # centred target
    inner = warped_image[6:19, 6:19, 6:19] > 50
    aligned = (inner == warped_labels.astype(bool)).mean()
    shifted = (warped_image[7:20, 6:19, 6:19] > 50) == warped_labels.astype(bool)
    assert aligned > 0.97 and aligned > shifted.mean() + 0.01, (aligned, shifted.mean())
    assert warped_labels.dtype == np.uint8 and set(np.unique(warped_labels)) <= {0, 1}


def test_scanner_look_changes_intensities_but_not_shapes_and_is_seeded():
    from livianet.config import AugmentConfig
    from livianet.training.augment import scanner_look

    patch = np.random.default_rng(0).normal(size=(1, 16, 16, 16)).astype(np.float32)
    config = AugmentConfig(gamma=0.3, bias_field=0.3, noise=0.1, blur=1.0)
    one = scanner_look(patch.copy(), config, np.random.default_rng(7))
    two = scanner_look(patch.copy(), config, np.random.default_rng(7))
    assert one.shape == patch.shape and one.dtype == np.float32 and np.isfinite(one).all()
    np.testing.assert_array_equal(one, two)
    assert np.abs(one - patch).mean() > 0.01
    assert config.enabled and not AugmentConfig().enabled
