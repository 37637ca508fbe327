"""The network: layer layout, sizes, receptive field, multi-scale crops, init."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from original_format import DEFAULT, NEURO_PAPER
from torch import nn

from livianet.config import ModelConfig, load_training_config
from livianet.networks import LiviaNet, build_model, centre_crop
from livianet.networks.livianet import LEAKY_SLOPE, ChannelBias

K3 = (3, 3, 3)


def small_config(**changes) -> ModelConfig:
    values = dict(
        conv_channels=(4, 6, 8),
        conv_kernels=(K3, K3, K3),
        fc_channels=(10,),
        num_classes=3,
        dropout_rates=(0.0, 0.0),
    )
    values.update(changes)
    return ModelConfig(**values)


@pytest.fixture(scope="module")
def paper_config(original_configs: Path) -> ModelConfig:
    return load_training_config(original_configs / NEURO_PAPER).model


@pytest.fixture(scope="module")
def default_config(original_configs: Path) -> ModelConfig:
    return load_training_config(original_configs / DEFAULT).model


@pytest.fixture(scope="module")
def paper_net(paper_config: ModelConfig) -> LiviaNet:
    return build_model(paper_config, seed=0).eval()


def output_shape(model: LiviaNet, size: tuple[int, int, int]) -> tuple[int, ...]:
    with torch.no_grad():
        return tuple(model(torch.randn(1, model.config.in_channels, *size)).shape)


# ----------------------------------------------------------------------------- sizes


def test_paper_network_sizes(paper_net: LiviaNet) -> None:
    assert paper_net.receptive_field == (19, 19, 19)
    assert output_shape(paper_net, (27, 27, 27)) == (1, 9, 9, 9, 9)
    assert output_shape(paper_net, (35, 35, 35)) == (1, 9, 17, 17, 17)
    assert paper_net.layer_names() == [
        *(f"conv{i}" for i in range(1, 10)),
        "fc1",
        "fc2",
        "fc3",
        "classifier",
    ]
    assert paper_net.fc1.conv.in_channels == 150


def test_default_network_sizes(default_config: ModelConfig) -> None:
    model = build_model(default_config).eval()
    assert model.receptive_field == (7, 7, 7)
    assert output_shape(model, (25, 25, 25)) == (1, 9, 19, 19, 19)
    widths = [getattr(model, n).conv.out_channels for n in model.layer_names()]
    assert widths == [10, 20, 30, 100, 9]
    assert model.fc1.conv.in_channels == 30


def test_receptive_field_derived_from_sizes() -> None:
    """The smallest input that gives an output, per axis, is the configured RF."""
    config = small_config(conv_kernels=((3, 1, 5), (3, 3, 1), (1, 3, 3)), intermediate_layers=(0,))
    model = build_model(config).eval()
    assert config.receptive_field == (5, 5, 7)
    derived = []
    for axis in range(3):
        size = [12, 12, 12]
        for side in range(1, 12):
            size[axis] = side
            try:
                shape = output_shape(model, tuple(size))
            except RuntimeError:
                continue
            derived.append(side)
            assert shape[2 + axis] == 1
            break
    assert tuple(derived) == config.receptive_field
    assert output_shape(model, (9, 10, 11)) == (1, 3, *config.output_size((9, 10, 11)))


def test_receptive_field_from_gradients(paper_net: LiviaNet) -> None:
    """Input voxels that reach one output voxel span exactly the receptive field."""
    x = torch.randn(1, 1, 21, 21, 21, requires_grad=True)
    paper_net(x)[0, 0, 1, 1, 1].backward()
    reached = x.grad[0, 0].abs() > 0
    extent = [int(reached.any(dim=tuple(d for d in range(3) if d != a)).sum()) for a in range(3)]
    assert tuple(extent) == paper_net.receptive_field


# ----------------------------------------------------------------------------- blocks


def test_block_order_and_batch_norm_momentum() -> None:
    model = build_model(small_config(batch_norm_epochs=20, dropout_rates=(0.3, 0.0)))
    calls: list[str] = []
    block = model.fc1
    for name in ("norm", "act", "drop", "conv"):
        getattr(block, name).register_forward_hook(lambda *_, n=name: calls.append(n))
    model.train()(torch.randn(2, 1, 9, 9, 9))
    assert calls == ["norm", "act", "drop", "conv"]
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm3d)]
    assert len(norms) == 5  # one per layer, the first on the raw image
    assert all(m.momentum == pytest.approx(1 / 20) for m in norms)
    assert model.conv1.norm.num_features == 1
    assert build_model(small_config(batch_norm_epochs=4)).conv2.norm.momentum == pytest.approx(0.25)


def test_without_batch_norm_builds_and_trains() -> None:
    """The original crashed here (a bias of output size added to the input)."""
    torch.manual_seed(0)
    model = build_model(small_config(batch_norm=False), seed=1).train()
    assert not any(isinstance(m, nn.BatchNorm3d) for m in model.modules())
    assert isinstance(model.conv2.norm, ChannelBias)
    assert model.conv2.norm.bias.shape == (4,)  # input channels of conv2
    x = torch.randn(4, 1, 9, 9, 9)
    target = (x[:, 0, 3:-3, 3:-3, 3:-3] > 0).long() + (x[:, 0, 3:-3, 3:-3, 3:-3] > 1).long()
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(10):
        optimiser.zero_grad()
        loss = nn.functional.cross_entropy(model(x), target)
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < 0.8 * losses[0]


@pytest.mark.parametrize("name", ["linear", "relu", "prelu", "leaky_relu"])
def test_activations(name: str) -> None:
    model = build_model(small_config(activation=name))
    x = torch.tensor([-2.0, -0.5, 0.0, 1.5]).view(1, 4, 1, 1, 1)
    expected = {
        "linear": [-2.0, -0.5, 0.0, 1.5],
        "relu": [0.0, 0.0, 0.0, 1.5],
        "prelu": [-0.02, -0.005, 0.0, 1.5],
        "leaky_relu": [-0.4, -0.1, 0.0, 1.5],
    }[name]
    act = model.conv2.act  # conv2 has 4 input channels
    assert act(x.clone()).flatten().tolist() == pytest.approx(expected)
    if name == "prelu":
        assert isinstance(act, nn.PReLU) and act.weight.shape == (4,)
        assert torch.all(act.weight == 0.01)
        assert model.fc1.act.weight.shape == (8,)
    if name == "leaky_relu":
        assert LEAKY_SLOPE == 0.2
    # the classifier is linear whatever the hidden activation
    assert isinstance(model.classifier.act, nn.Identity)


def test_classic_and_he_initialisation(paper_config: ModelConfig) -> None:
    import dataclasses

    classic = build_model(dataclasses.replace(paper_config, conv_init="classic", fc_init="classic"))
    he = build_model(paper_config)
    big = classic.conv9.conv.weight  # 75 x 75 x 27 = 151875 weights
    assert big.numel() > 100_000
    assert big.std().item() == pytest.approx(0.01, rel=0.02)
    assert classic.fc1.conv.weight.std().item() == pytest.approx(0.01, rel=0.05)
    assert he.conv9.conv.weight.std().item() == pytest.approx(math.sqrt(2 / (75 * 27)), rel=0.02)
    assert he.fc1.conv.weight.std().item() == pytest.approx(math.sqrt(2 / 150), rel=0.03)
    assert abs(he.conv9.conv.weight.mean().item()) < 0.001
    assert torch.all(he.classifier.conv.bias == 0)
    assert torch.all(he.conv1.norm.weight == 1) and torch.all(he.conv1.norm.bias == 0)


def test_same_seed_same_weights() -> None:
    config = small_config()
    a, b, c = build_model(config, seed=5), build_model(config, seed=5), build_model(config, seed=6)
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key]), key
    assert not torch.equal(a.conv2.conv.weight, c.conv2.conv.weight)


def test_dropout_rates_and_biases(paper_net: LiviaNet) -> None:
    for name in paper_net.conv_names:
        assert isinstance(getattr(paper_net, name).drop, nn.Identity)
    rates = [getattr(paper_net, n).drop.p for n in [*paper_net.fc_names, "classifier"]]
    assert rates == [0.25, 0.25, 0.25, 0.5]
    assert paper_net.classifier.conv.bias is not None
    assert paper_net.classifier.conv.bias.shape == (9,)
    for name in [*paper_net.conv_names, *paper_net.fc_names]:
        assert getattr(paper_net, name).conv.bias is None, name


# ----------------------------------------------------------------------------- multi-scale


@pytest.mark.parametrize(
    ("d", "n", "expected"),
    [
        (7, 3, [2, 3, 4]),
        (6, 3, [1, 2, 3]),
        (6, 4, [1, 2, 3, 4]),
        (5, 2, [2, 3]),
        (4, 4, [0, 1, 2, 3]),
    ],
)
def test_centre_crop_by_hand(d: int, n: int, expected: list[int]) -> None:
    """lo = (d-1)//2 - (n-1)//2, on every axis independently."""
    line = torch.arange(float(d))
    for axis in range(3):
        shape = [1, 1, 1, 1, 1]
        shape[2 + axis] = d
        size = [1, 1, 1]
        size[axis] = n
        assert centre_crop(line.view(shape), tuple(size)).flatten().tolist() == expected


def test_centre_crop_3d() -> None:
    x = torch.arange(2 * 3 * 7 * 6 * 5, dtype=torch.float32).view(2, 3, 7, 6, 5)
    assert torch.equal(centre_crop(x, (3, 3, 2)), x[:, :, 2:5, 1:4, 2:4])


def test_multiscale_channels_are_centre_crops(paper_net: LiviaNet) -> None:
    outputs: dict[str, torch.Tensor] = {}
    for name in ("conv3", "conv6", "conv9"):
        getattr(paper_net, name).register_forward_hook(
            lambda _m, _i, out, n=name: outputs.__setitem__(n, out)
        )
    paper_net.fc1.register_forward_pre_hook(lambda _m, args: outputs.__setitem__("fc1", args[0]))
    with torch.no_grad():
        paper_net(torch.randn(1, 1, 27, 27, 27))
    fc1 = outputs["fc1"]
    assert fc1.shape == (1, 150, 9, 9, 9)
    assert outputs["conv3"].shape[2:] == (21, 21, 21)
    assert torch.equal(fc1[:, :75], outputs["conv9"])
    # conv3 is 21^3: lo = 10 - 4 = 6; conv6 is 15^3: lo = 7 - 4 = 3
    assert torch.equal(fc1[:, 75:100], outputs["conv3"][:, :, 6:15, 6:15, 6:15])
    assert torch.equal(fc1[:, 100:150], outputs["conv6"][:, :, 3:12, 3:12, 3:12])


def test_multiscale_follows_list_order_and_repeats() -> None:
    for layers in [(1, 0), (0, 1), (0, 0)]:
        model = build_model(small_config(intermediate_layers=layers)).eval()
        outputs: dict[str, torch.Tensor] = {}
        for name in ("conv1", "conv2", "conv3"):
            getattr(model, name).register_forward_hook(
                lambda _m, _i, out, n=name, store=outputs: store.__setitem__(n, out)
            )
        model.fc1.register_forward_pre_hook(
            lambda _m, args, store=outputs: store.__setitem__("fc1", args[0])
        )
        with torch.no_grad():
            model(torch.randn(1, 1, 10, 10, 10))
        expected = [outputs["conv3"]] + [
            centre_crop(outputs[f"conv{i + 1}"], (4, 4, 4)) for i in layers
        ]
        assert torch.equal(outputs["fc1"], torch.cat(expected, dim=1)), layers
