"""The LiviaNET network: valid 3-D convolutions, pre-activation blocks, multi-scale features.

Each layer applies, to its *input*, batch norm (or a per-channel bias when batch
norm is off), the activation, dropout, then a valid convolution without bias
(the original's block order, inherited from DeepMedic). Conv layers are followed
by 1x1x1 layers and a 1x1x1 classifier with its own bias. Outputs of
``intermediate_layers`` are centre-cropped and concatenated to the last conv
output before the first 1x1x1 layer.

Layers are named ``conv1..convN``, ``fc1..fcM`` and ``classifier`` so that
weights can be transferred and frozen by name.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from livianet.config.schema import ModelConfig

LEAKY_SLOPE = 0.2  # the original's hard-coded LeakyReLU slope
PRELU_INIT = 0.01  # the original's PReLU initial slope


class ChannelBias(nn.Module):
    """A learnable per-channel bias: what a block uses in place of batch norm."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bias.view(1, -1, 1, 1, 1).to(x.dtype)


def make_activation(name: str, channels: int) -> nn.Module:
    if name == "linear":
        return nn.Identity()
    if name == "relu":
        return nn.ReLU(inplace=True)
    if name == "prelu":
        return nn.PReLU(num_parameters=channels, init=PRELU_INIT)
    if name == "leaky_relu":
        return nn.LeakyReLU(LEAKY_SLOPE, inplace=True)
    if name == "elu":
        return nn.ELU(inplace=True)
    if name == "silu":
        return nn.SiLU(inplace=True)
    if name == "gelu":
        return nn.GELU()
    raise ValueError(f"unknown activation {name!r}")


class Block(nn.Module):
    """norm -> activation -> dropout -> valid convolution."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: tuple[int, int, int],
        activation: str,
        batch_norm: bool,
        bn_momentum: float,
        dropout: float,
        conv_bias: bool = False,
    ) -> None:
        super().__init__()
        self.norm: nn.Module = (
            nn.BatchNorm3d(in_channels, momentum=bn_momentum)
            if batch_norm
            else ChannelBias(in_channels)
        )
        self.act = make_activation(activation, in_channels)
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv = nn.Conv3d(in_channels, out_channels, kernel, bias=conv_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.drop(self.act(self.norm(x))))


def centre_crop(x: torch.Tensor, size: tuple[int, ...]) -> torch.Tensor:
    """Crop the spatial centre as the original (``lo = (d-1)//2 - (n-1)//2``).

    The offset is written as ``(d-n)//2 + ((d-n) % 2) * (d % 2)``, the same value
    without branches or floor terms in ``d`` alone, so that ``torch.export`` and
    the ONNX tracer keep it valid for every input size.

    >>> centre_crop(torch.arange(6.0).view(1, 1, 6, 1, 1), (3, 1, 1)).flatten().tolist()
    [1.0, 2.0, 3.0]
    """
    slices = [slice(None), slice(None)]
    for d, n in zip(x.shape[2:], size, strict=True):
        delta = d - n
        lo = delta // 2 + (delta % 2) * (d % 2)
        slices.append(slice(lo, lo + n))
    return x[tuple(slices)]


class LiviaNet(nn.Module):
    """A LiviaNET network built from a :class:`ModelConfig`; returns logits."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        momentum = 1.0 / config.batch_norm_epochs
        channels = config.in_channels
        self.conv_names: list[str] = []
        for i, (out, kernel) in enumerate(
            zip(config.conv_channels, config.conv_kernels, strict=True), start=1
        ):
            block = Block(
                channels, out, kernel, config.activation, config.batch_norm, momentum, 0.0
            )
            self.add_module(f"conv{i}", block)
            self.conv_names.append(f"conv{i}")
            channels = out
        channels = config.fc_in_channels
        self.fc_names: list[str] = []
        for j, out in enumerate(config.fc_channels, start=1):
            block = Block(
                channels,
                out,
                (1, 1, 1),
                config.activation,
                config.batch_norm,
                momentum,
                config.dropout_rates[j - 1],
            )
            self.add_module(f"fc{j}", block)
            self.fc_names.append(f"fc{j}")
            channels = out
        self.classifier = Block(
            channels,
            config.num_classes,
            (1, 1, 1),
            "linear",
            config.batch_norm,
            momentum,
            config.dropout_rates[-1],
            conv_bias=True,
        )
        self._keep = set(config.intermediate_layers)

    @property
    def receptive_field(self) -> tuple[int, int, int]:
        return self.config.receptive_field

    def output_size(self, input_size: tuple[int, int, int]) -> tuple[int, int, int]:
        return self.config.output_size(input_size)

    def layer_names(self) -> list[str]:
        return [*self.conv_names, *self.fc_names, "classifier"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kept: dict[int, torch.Tensor] = {}
        for index, name in enumerate(self.conv_names):
            x = getattr(self, name)(x)
            if index in self._keep:
                kept[index] = x
        if kept:
            size = tuple(x.shape[2:])
            # In the configured order, repeats included, as fc_in_channels counts them.
            crops = [centre_crop(kept[i], size) for i in self.config.intermediate_layers]
            x = torch.cat([x, *crops], dim=1)
        for name in self.fc_names:
            x = getattr(self, name)(x)
        return self.classifier(x)


def initialise(model: LiviaNet, generator: torch.Generator) -> None:
    """Classic N(0, 0.01) or He N(0, sqrt(2/fan_in)) weights; zero biases, unit BN scales."""
    config = model.config
    for name in model.layer_names():
        block: Block = getattr(model, name)
        scheme = config.conv_init if name.startswith("conv") else config.fc_init
        weight = block.conv.weight
        fan_in = weight.shape[1] * math.prod(weight.shape[2:])
        std = 0.01 if scheme == "classic" else math.sqrt(2.0 / fan_in)
        with torch.no_grad():
            weight.copy_(torch.randn(weight.shape, generator=generator) * std)
            if block.conv.bias is not None:
                block.conv.bias.zero_()


def build_model(config: ModelConfig, seed: int = 0) -> LiviaNet:
    """A freshly initialised network; same seed, same weights."""
    model = LiviaNet(config)
    generator = torch.Generator().manual_seed(seed)
    initialise(model, generator)
    return model


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
