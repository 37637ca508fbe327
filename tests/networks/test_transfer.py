"""Pre-trained weights: the original's .npy files, our exports, layer transfer and freezing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.signal
import torch
from original_format import DEFAULT, NEURO_PAPER

from livianet.config import ModelConfig, load_training_config
from livianet.errors import DataError
from livianet.networks import (
    LiviaNet,
    build_model,
    export_npy_weights,
    freeze_layers,
    list_npy,
    load_npy_weights,
    transfer_layers,
)

K3 = (3, 3, 3)


# The original's config comes from `original_configs` and its weights from `original_weights`
# (conftest): written in their format and shapes (tests/test_shared_data.py loads the real ones).


@pytest.fixture(scope="module")
def default_config(original_configs: Path) -> ModelConfig:
    return load_training_config(original_configs / DEFAULT).model


def small_config(num_conv: int = 3, num_classes: int = 3) -> ModelConfig:
    return ModelConfig(
        conv_channels=tuple(2 + i for i in range(num_conv)),
        conv_kernels=(K3,) * num_conv,
        fc_channels=(5,),
        num_classes=num_classes,
        dropout_rates=(0.0, 0.0),
    )


def true_convolution(x: np.ndarray, kernels: np.ndarray) -> np.ndarray:
    """Theano's conv3d: sum over inputs of a flipped-kernel ('true') valid convolution.

    ``x`` is (in, X, Y, Z), ``kernels`` (out, in, kx, ky, kz); returns (out, ...).
    """
    return np.stack(
        [
            sum(
                scipy.signal.convolve(x[i], w[i], mode="valid", method="direct")
                for i in range(len(x))
            )
            for w in kernels.astype(np.float64)
        ]
    )


# ----------------------------------------------------------------------------- original files


def test_original_weights_load_as_true_convolutions(
    default_config: ModelConfig, original_weights: Path
) -> None:
    model = build_model(default_config).eval()
    assert load_npy_weights(model, original_weights, (0, 1, 2)) == ["conv1", "conv2", "conv3"]
    rng = np.random.default_rng(0)
    for layer, index in (("conv1", 0), ("conv2", 1)):
        stored = np.load(original_weights / f"weights_ConvLayer_{index}.npy")
        x = rng.normal(size=(stored.shape[1], 6, 7, 5))
        expected = true_convolution(x, stored)
        with torch.no_grad():
            got = getattr(model, layer).conv(torch.from_numpy(x[None]).float())[0].numpy()
        assert got.shape == expected.shape == (stored.shape[0], 4, 5, 3)
        np.testing.assert_allclose(got, expected, atol=1e-5, rtol=1e-4)
        # the check can fail: without the flip (cross-correlation) the response differs
        unflipped = true_convolution(x, stored[:, :, ::-1, ::-1, ::-1])
        assert np.abs(unflipped - expected).max() > 1e-2
    stored = np.load(original_weights / "weights_ConvLayer_2.npy")
    loaded = model.conv3.conv.weight.detach().numpy()
    np.testing.assert_array_equal(loaded, stored[:, :, ::-1, ::-1, ::-1])


def test_shape_mismatches_are_all_named(original_configs: Path, original_weights: Path) -> None:
    paper = load_training_config(original_configs / NEURO_PAPER).model
    model = build_model(paper)
    before = model.conv1.conv.weight.clone()
    with pytest.raises(DataError) as info:
        load_npy_weights(model, original_weights, (0, 1, 2))
    message = str(info.value)
    assert "\n" not in message
    for layer, stored, expected in [
        ("conv1 from weights_ConvLayer_0.npy", (10, 1), (25, 1)),
        ("conv2 from weights_ConvLayer_1.npy", (20, 10), (25, 25)),
        ("conv3 from weights_ConvLayer_2.npy", (30, 20), (25, 25)),
    ]:
        assert f"{layer}: shape {(*stored, 3, 3, 3)}, expected {(*expected, 3, 3, 3)}" in message
    assert torch.equal(model.conv1.conv.weight, before)  # nothing loaded when anything is wrong


def test_index_past_the_files(default_config: ModelConfig, original_weights: Path) -> None:
    model = build_model(default_config)
    with pytest.raises(DataError, match=r"conv3: index 5 points past the 3 \.npy files"):
        load_npy_weights(model, original_weights, (0, 1, 5))
    with pytest.raises(DataError, match=r"conv1: index -1 points past"):
        load_npy_weights(model, original_weights, (-1,))
    with pytest.raises(DataError, match=r"4 entries but the network has 3 conv layers"):
        load_npy_weights(model, original_weights, (0, 1, 2, 2))


def test_object_npy_refused(tmp_path: Path) -> None:
    np.save(tmp_path / "weights_0.npy", np.array([{"w": 1}], dtype=object), allow_pickle=True)
    model = build_model(small_config(num_conv=1))
    with pytest.raises(DataError, match="Python objects"):
        load_npy_weights(model, tmp_path, (0,))


def test_missing_or_empty_folder(tmp_path: Path) -> None:
    model = build_model(small_config())
    with pytest.raises(DataError, match="weights folder not found"):
        load_npy_weights(model, tmp_path / "absent", (0,))
    with pytest.raises(DataError, match="holds no .npy files"):
        load_npy_weights(model, tmp_path, (0,))


# ----------------------------------------------------------------------------- export


def test_export_round_trip_and_original_convention(
    tmp_path: Path, default_config: ModelConfig, original_weights: Path
) -> None:
    source = build_model(default_config, seed=1)
    load_npy_weights(source, original_weights, (0, 1, 2))
    written = export_npy_weights(source, tmp_path)
    assert [p.name for p in written] == [
        "weights_ConvLayer_0.npy",
        "weights_ConvLayer_1.npy",
        "weights_ConvLayer_2.npy",
        "weights_FCLayer_0.npy",
        "weights_classifier.npy",
    ]
    for i in range(3):  # the original's files come back bit for bit
        name = f"weights_ConvLayer_{i}.npy"
        np.testing.assert_array_equal(np.load(tmp_path / name), np.load(original_weights / name))
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert [e["layer"] for e in manifest["layers"]] == source.layer_names()
    assert manifest["layers"][3] == {
        "file": "weights_FCLayer_0.npy",
        "layer": "fc1",
        "shape": [100, 30, 1, 1, 1],
    }

    target = build_model(default_config, seed=2)
    load_npy_weights(target, tmp_path, (0, 1, 2))
    for name in target.conv_names:
        assert torch.equal(getattr(target, name).conv.weight, getattr(source, name).conv.weight)


def test_export_names_sort_conv_layers_first(tmp_path: Path) -> None:
    """With 11 conv layers the indexes are zero-padded, so 0..10 are the conv layers in order."""
    source = build_model(small_config(num_conv=11), seed=3)
    export_npy_weights(source, tmp_path)
    files = list_npy(tmp_path)
    assert [p.name for p in files[:11]] == [f"weights_ConvLayer_{i:02d}.npy" for i in range(11)]
    target = build_model(small_config(num_conv=11), seed=4)
    assert load_npy_weights(target, tmp_path, tuple(range(11))) == target.conv_names
    for name in target.conv_names:
        assert torch.equal(getattr(target, name).conv.weight, getattr(source, name).conv.weight)


# ----------------------------------------------------------------------------- transfer, freeze


def state_of(model: LiviaNet) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_transfer_skips_layers_that_do_not_fit() -> None:
    source = build_model(small_config(num_classes=5), seed=1)
    with torch.no_grad():  # non-default buffers travel too
        source.conv2.norm.running_mean.fill_(0.7)
    target = build_model(small_config(num_classes=3), seed=2)
    before = state_of(target)
    copied = transfer_layers(target, source.state_dict())
    assert copied == ["conv1", "conv2", "conv3", "fc1"]
    after = target.state_dict()
    for key, value in after.items():
        if key.startswith("classifier."):
            assert torch.equal(value, before[key]), key
        else:
            assert torch.equal(value, source.state_dict()[key]), key
    assert torch.all(target.conv2.norm.running_mean == 0.7)


def test_transfer_with_nothing_in_common() -> None:
    target = build_model(small_config())
    with pytest.raises(DataError, match="no layer"):
        transfer_layers(target, {"something.else": torch.zeros(1)})


def test_freeze_layers() -> None:
    model = build_model(small_config())
    freeze_layers(model, ["conv1", "conv2"])
    for name in model.layer_names():
        params = list(getattr(model, name).parameters())
        assert params
        assert all(p.requires_grad == (name not in ("conv1", "conv2")) for p in params), name
    with pytest.raises(ValueError, match=r"cannot freeze \['conv9'\]"):
        freeze_layers(model, ["conv9"])
