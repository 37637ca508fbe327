"""The inference form (batch norm folded into convolutions) computes what the network computes."""

from __future__ import annotations

import pytest
import torch

from livianet.config import ModelConfig
from livianet.networks import build_model, fuse
from livianet.networks.folded import SlopeMax, inference_activation
from livianet.networks.livianet import ChannelBias


def _randomised(config: ModelConfig) -> torch.nn.Module:
    model = build_model(config, seed=4)
    generator = torch.Generator().manual_seed(5)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm3d):
            module.running_mean.normal_(generator=generator)
            module.running_var.uniform_(0.3, 2.0, generator=generator)
            module.weight.data.uniform_(0.5, 1.5, generator=generator)
            module.bias.data.normal_(generator=generator)
        if isinstance(module, ChannelBias):
            module.bias.data.normal_(generator=generator)
        if isinstance(module, torch.nn.PReLU):
            module.weight.data.uniform_(-0.5, 1.5, generator=generator)
    return model.eval()


@pytest.mark.parametrize(
    "intermediate, batch_norm, activation",
    [
        ((1,), True, "prelu"),
        ((0, 2), True, "relu"),
        ((2, 0), True, "leaky_relu"),
        ((), False, "prelu"),
        ((1,), False, "linear"),
        ((2,), True, "elu"),
    ],
)
def test_fused_equals_the_network(intermediate, batch_norm, activation):
    config = ModelConfig(
        conv_channels=(5, 6, 7),
        conv_kernels=((3, 3, 3), (3, 1, 3), (1, 3, 3)),
        fc_channels=(8, 6),
        num_classes=4,
        dropout_rates=(0.3, 0.2, 0.5),
        intermediate_layers=intermediate,
        batch_norm=batch_norm,
        activation=activation,
        in_channels=2,
    )
    model = _randomised(config)
    fused = fuse(model)
    x = torch.randn(2, 2, 11, 12, 13)
    with torch.no_grad():
        expected, got = model(x), fused(x)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
    assert sum(isinstance(m, torch.nn.BatchNorm3d) for m in fused.modules()) == 0
    assert model.training is False


def test_fusing_leaves_the_network_unchanged():
    config = ModelConfig(
        conv_channels=(4, 4),
        conv_kernels=((3, 3, 3), (3, 3, 3)),
        fc_channels=(),
        num_classes=3,
        dropout_rates=(0.0,),
    )
    model = _randomised(config).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fuse(model)
    assert model.training
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_casting_the_inference_form_leaves_the_network_in_float32():
    config = ModelConfig(
        conv_channels=(4, 4),
        conv_kernels=((3, 3, 3), (3, 3, 3)),
        fc_channels=(5,),
        num_classes=3,
        dropout_rates=(0.0, 0.0),
        intermediate_layers=(0,),
        activation="prelu",
    )
    model = _randomised(config)
    fused = fuse(model).to(torch.bfloat16)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    x = torch.randn(1, 1, 9, 9, 9)
    with torch.no_grad():
        close = fused(x.to(torch.bfloat16)).float()
        exact = model(x)
    assert (close.argmax(1) == exact.argmax(1)).float().mean() > 0.9


def test_kept_voxels_alone_pass_the_pointwise_layers_with_the_same_logits():
    config = ModelConfig(
        conv_channels=(5, 6),
        conv_kernels=((3, 3, 3), (3, 3, 3)),
        fc_channels=(8, 6),
        num_classes=4,
        dropout_rates=(0.0, 0.0, 0.0),
        intermediate_layers=(0,),
        activation="relu",
    )
    fused = fuse(_randomised(config))
    x = torch.randn(2, 1, 10, 11, 12)
    keep = torch.rand(2, 6, 7, 8, generator=torch.Generator().manual_seed(3)) < 0.3
    with torch.no_grad():
        whole, masked = fused(x.clone()), fused(x.clone(), keep)
    assert masked.shape == whole.shape == (2, 4, 6, 7, 8)
    kept = keep.unsqueeze(1).expand_as(whole)
    torch.testing.assert_close(masked[kept], whole[kept], rtol=1e-5, atol=1e-6)
    assert torch.count_nonzero(masked[~kept]) == 0  # left 0: never computed
    assert whole[~kept].abs().sum() > 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_prelu_with_slopes_up_to_one_runs_as_a_maximum_with_the_same_values(dtype):
    prelu = torch.nn.PReLU(4)
    prelu.weight.data = torch.tensor([-0.5, 0.0, 0.25, 1.0])
    fast = inference_activation(prelu)
    assert isinstance(fast, SlopeMax)
    fast = fast.to(dtype)
    x = torch.tensor([-2.0, -0.5, 0.0, 3.0]).view(1, 1, 1, 1, 4).expand(2, 4, 3, 3, 4)
    x = x.to(dtype).contiguous(memory_format=torch.channels_last_3d)
    with torch.inference_mode():
        got = fast(x)
        expected = torch.nn.functional.prelu(x, prelu.weight.detach().to(dtype))
        assert torch.equal(got, expected)
        # channel 0 (slope -0.5): -2 -> 1, 3 -> 3; channel 2 (slope 0.25): -2 -> -0.5
        assert got[0, 0, 0, 0].tolist() == [1.0, 0.25, 0.0, 3.0]
        assert got[0, 2, 0, 0].tolist() == [-0.5, -0.125, 0.0, 3.0]
        rows = torch.tensor([[-2.0, -2.0, -2.0, -2.0]], dtype=dtype)  # (voxels, channels)
        assert fast(rows).tolist() == [[1.0, 0.0, -0.5, -2.0]]


def test_prelu_with_a_slope_above_one_stays_prelu():
    prelu = torch.nn.PReLU(3)
    prelu.weight.data = torch.tensor([0.1, 1.5, 0.2])  # max(x, 1.5x) is 1.5x for x > 0
    kept = inference_activation(prelu)
    assert isinstance(kept, torch.nn.PReLU) and kept is not prelu


def test_fused_network_with_prelu_slopes_up_to_one_equals_the_network():
    config = ModelConfig(
        conv_channels=(5, 6, 7),
        conv_kernels=((3, 3, 3), (3, 3, 3), (3, 3, 3)),
        fc_channels=(8,),
        num_classes=4,
        dropout_rates=(0.0, 0.0),
        intermediate_layers=(1,),
        activation="prelu",
    )
    model = _randomised(config)
    for module in model.modules():
        if isinstance(module, torch.nn.PReLU):
            module.weight.data.clamp_(max=1.0)
    fused = fuse(model)
    prelus = sum(isinstance(m, torch.nn.PReLU) for m in model.modules())
    assert prelus > 0 and sum(isinstance(m, SlopeMax) for m in fused.modules()) == prelus
    assert not any(isinstance(m, torch.nn.PReLU) for m in fused.modules())
    x = torch.randn(2, 1, 11, 12, 13)
    with torch.no_grad():
        torch.testing.assert_close(fused(x), model(x), rtol=1e-4, atol=1e-4)
    with torch.inference_mode():
        torch.testing.assert_close(fused(x), model(x), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(fused(x), model(x), rtol=1e-4, atol=1e-4)  # with autograd on, too
