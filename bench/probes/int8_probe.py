"""Int8 convolutions on this CPU: per layer, PyTorch's x86 quantized engine against float32.

    python -m bench.probes.int8_probe [--preset paper] [--tile 64]

For each distinct conv shape of the preset's network (input channels, output
channels, kernel) on one tile, the time of a float32 ``conv3d`` (channels-first
and channels-last, as livianet runs it) and of ``torch.ao.nn.quantized.Conv3d``
(per-channel int8 weights, uint8 activations: a conv's input is a ReLU's
output in LiviaNET's pre-activation blocks), and the int8 result's error
relative to float32. It answers whether a quantized network could be faster
here before anyone builds one; it is not a network-level measurement.
"""

from __future__ import annotations

import argparse
import time
import warnings

import torch
import torch.ao.nn.quantized as nnq


def best_of(run, repeats: int = 3) -> float:
    run()
    times = []
    for _ in range(repeats):
        tick = time.perf_counter()
        run()
        times.append(time.perf_counter() - tick)
    return min(times)


def layer_shapes(preset: str) -> list[tuple[int, int, int]]:
    """``(in channels, out channels, kernel side)`` of each layer of a preset's network, in order."""
    from livianet.config.presets import PRESETS

    arch = {s.key: s.value for s in PRESETS[preset]["CNN_Architecture"]}
    channels = [int(c) for c in arch["numkernelsperlayer"].strip("[]").split(",")]
    convs, fcs = channels[:9], channels[9:]
    shapes = [(1, convs[0], 3)] + [(a, b, 3) for a, b in zip(convs, convs[1:], strict=False)]
    fc_in = convs[-1] + convs[2] + convs[5]  # multi-scale links from layers 3 and 6
    shapes += [(fc_in, fcs[0], 1)] + [(a, b, 1) for a, b in zip(fcs, fcs[1:], strict=False)]
    return shapes


def probe(cin: int, cout: int, kernel: int, out_side: int) -> dict[str, float]:
    side = out_side + kernel - 1
    generator = torch.Generator().manual_seed(0)
    x = torch.relu(torch.randn(1, cin, side, side, side, generator=generator))
    conv = torch.nn.Conv3d(cin, cout, kernel, bias=False).eval()
    with torch.inference_mode():
        y = conv(x)
        first = best_of(lambda: conv(x))
        x_last = x.contiguous(memory_format=torch.channels_last_3d)
        # Module.to takes memory_format; its stubs do not list it
        conv_last = conv.to(memory_format=torch.channels_last_3d)  # type: ignore[call-overload]
        last = best_of(lambda: conv_last(x_last))
        weight = conv.weight.detach()
        scales = weight.abs().amax(dim=(1, 2, 3, 4)).clamp_min(1e-8) / 127
        qweight = torch.quantize_per_channel(
            weight, scales.double(), torch.zeros(cout, dtype=torch.long), 0, torch.qint8
        )
        qconv = nnq.Conv3d(cin, cout, kernel, bias=False)
        qconv.set_weight_bias(qweight, None)
        qconv.scale, qconv.zero_point = float(y.abs().max() / 127), 128
        qx = torch.quantize_per_tensor(x, float(x.max() / 255), 0, torch.quint8)
        int8 = best_of(lambda: qconv(qx))
        error = float((qconv(qx).dequantize() - y).abs().max() / y.abs().max())
    return {"float32": first, "float32_cl": last, "int8": int8, "error": error}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="paper", choices=["paper", "fast"])
    parser.add_argument("--tile", type=int, default=64, help="output tile side (default 64)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message=".*quantize.*deprecated.*")
    engines = torch.backends.quantized.supported_engines
    torch.backends.quantized.engine = "x86" if "x86" in engines else engines[-1]
    shapes = layer_shapes(args.preset)
    print(f"engine {torch.backends.quantized.engine}, {torch.get_num_threads()} threads, "
          f"{args.preset} network, output tile {args.tile}^3")  # fmt: skip
    print(
        f"{'layer':<16}{'f32 ms':>9}{'f32-CL ms':>11}{'int8 ms':>9}{'int8/f32-CL':>13}{'rel err':>9}"
    )
    totals = {"float32_cl": 0.0, "int8": 0.0}
    for cin, cout, kernel in dict.fromkeys(shapes):
        row = probe(cin, cout, kernel, args.tile)
        count = shapes.count((cin, cout, kernel))
        totals["float32_cl"] += row["float32_cl"] * count
        totals["int8"] += row["int8"] * count
        print(f"{f'{cin}->{cout} {kernel}^3':<16}{row['float32'] * 1e3:>9.1f}"
              f"{row['float32_cl'] * 1e3:>11.1f}{row['int8'] * 1e3:>9.1f}"
              f"{row['int8'] / row['float32_cl']:>13.2f}{row['error']:>9.3f}")  # fmt: skip
    print(f"all layers (each shape times its count): int8 / float32-CL = "
          f"{totals['int8'] / totals['float32_cl']:.2f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
