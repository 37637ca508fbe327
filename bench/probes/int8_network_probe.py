"""A whole network in int8 on this CPU: time, agreement with float32 and Dice, against bf16.

    python -m bench.probes.int8_network_probe CKPT --scan 5 --calibrate 1 [--data DIR]

The per-layer probe (``int8_probe.py``) says whether int8 convolutions are
faster; this one says what a quantized network would deliver. Each 3^3
convolution of the network's inference form (batch norm folded) becomes
PyTorch's x86 int8 convolution (per-channel int8 weights; its input, the
activation's output, quantized per tensor to uint8 with a zero point; its output
requantized the same way and dequantized for the next activation). The 1x1x1
layers stay float32. Activation ranges come from running the float32 network
over a calibration scan (min and max of each layer's input and output over all
tiles); the test scan is another scan. Printed: seconds of ``predict_case`` (warm,
in-process) for float32, bf16 and int8, each one's labels against float32's on
ROI voxels, and each one's mean Dice against the manual labels.
"""

from __future__ import annotations

import argparse
import copy
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.ao.nn.quantized as nnq

from bench.common import DEFAULT_DATA, agreement, load_model, load_scan

if TYPE_CHECKING:
    from livianet.networks import FusedLiviaNet


class Int8Conv(torch.nn.Module):
    """A float conv's int8 stand-in: quantize the input, int8 conv, dequantize the output."""

    def __init__(self, conv: torch.nn.Conv3d, low_in, high_in, low_out, high_out) -> None:
        super().__init__()
        weight = conv.weight.detach().float()
        scales = weight.abs().amax(dim=(1, 2, 3, 4)).clamp_min(1e-12) / 127
        zeros = torch.zeros(conv.out_channels, dtype=torch.long)
        qweight = torch.quantize_per_channel(weight, scales.double(), zeros, 0, torch.qint8)
        self.conv = nnq.Conv3d(conv.in_channels, conv.out_channels, conv.kernel_size)
        bias = None if conv.bias is None else conv.bias.detach().float()
        self.conv.set_weight_bias(qweight, bias)
        self.conv.scale, self.conv.zero_point = _affine(low_out, high_out)
        self.scale_in, self.zero_in = _affine(low_in, high_in)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = torch.quantize_per_tensor(x.float(), self.scale_in, self.zero_in, torch.quint8)
        return self.conv(q).dequantize()


def _affine(low: float, high: float) -> tuple[float, int]:
    """uint8 ``(scale, zero point)`` covering ``[low, high]`` (which is widened to hold 0)."""
    low, high = min(low, 0.0), max(high, 0.0)
    scale = max(high - low, 1e-8) / 255
    return float(scale), int(round(-low / scale))


def calibrated_int8(fused: FusedLiviaNet, settings, case) -> FusedLiviaNet:
    """A copy of ``fused`` with int8 3^3 convolutions, ranges from running it on ``case``."""
    from livianet.inference import predict_case

    ranges: dict[int, list[float]] = {}

    def recorder(index: int):
        def hook(module, inputs, output) -> None:
            seen = ranges.setdefault(index, [np.inf, -np.inf, np.inf, -np.inf])
            x = inputs[0]
            seen[0], seen[1] = min(seen[0], float(x.min())), max(seen[1], float(x.max()))
            seen[2], seen[3] = min(seen[2], float(output.min())), max(seen[3], float(output.max()))

        return hook

    hooks = [fused.convs[i].register_forward_hook(recorder(i)) for i in range(fused.num_conv)]
    try:
        predict_case(fused, case, settings)
    finally:
        for hook in hooks:
            hook.remove()
    quantized = copy.deepcopy(fused)
    for index in range(fused.num_conv):
        conv = fused.convs[index]
        if not isinstance(conv, torch.nn.Conv3d):
            raise TypeError(f"layer {index} is a {type(conv).__name__}, not the folded Conv3d")
        quantized.convs[index] = Int8Conv(conv, *ranges[index])
    return quantized.eval()


def mean_dice(labels: np.ndarray, reference: np.ndarray, num_classes: int) -> float:
    from livianet.evaluation.metrics import dice_per_class

    return float(np.nanmean(dice_per_class(labels, reference, num_classes)[1:]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--scan", type=int, default=5, help="the test scan (default 5)")
    parser.add_argument("--calibrate", type=int, default=1, help="the calibration scan (default 1)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message=".*quantize.*deprecated.*")
    warnings.filterwarnings("ignore", category=UserWarning, module="torch.ao")
    torch.backends.quantized.engine = "x86"
    from livianet.inference import InferenceSettings, predict_case, prepare_for_inference

    model, state = load_model(args.checkpoint)
    num_classes = model.config.num_classes

    def case_of(n: int):
        return load_scan(
            args.data / "MR" / f"MR_Img{n}.mat", args.data / "ROI" / f"ROI_Img{n}.mat",
            state, num_classes, label=args.data / "Label" / f"GT_Img{n}.mat",
        )  # fmt: skip

    test, calibration = case_of(args.scan), case_of(args.calibrate)
    f32 = InferenceSettings(precision="float32")
    fused = prepare_for_inference(model, f32)
    tick = time.perf_counter()
    int8 = calibrated_int8(fused, f32, calibration)
    print(f"calibrated on scan {args.calibrate} in {time.perf_counter() - tick:.1f} s")
    bf16 = InferenceSettings(precision="bf16")
    runs = {
        "float32": (fused, f32),
        "bf16": (prepare_for_inference(model, bf16), bf16),
        "int8": (int8, f32),
    }
    reference = None
    print(
        f"scan {args.scan}: {int(test.roi.sum()):,} ROI voxels, {torch.get_num_threads()} threads"
    )
    for name, (network, settings) in runs.items():
        times = []
        for _ in range(2):
            tick = time.perf_counter()
            labels = predict_case(network, test, settings).labels
            times.append(time.perf_counter() - tick)
        if reference is None:
            reference = labels
        agree = agreement(labels, reference, test.roi)
        dice = mean_dice(labels, test.label, num_classes)
        print(f"{name:8s} {min(times):7.1f} s  labels = float32 on {agree:.5%} of ROI voxels, "
              f"mean Dice {dice:.4f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
