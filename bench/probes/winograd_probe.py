"""Winograd F(4x4x4, 3x3x3) convolutions on this CPU, in PyTorch's own operators, against conv3d.

    python -m bench.probes.winograd_probe [--preset paper] [--tile 60]

Winograd's minimal filtering computes a 3^3 convolution's 4^3 outputs of each
6^3 input block with 216 multiplications per channel pair instead of 1,728:
8x less arithmetic, which is what 6x against the lean baseline would need.
The arithmetic left becomes 216 matrix products whose reduction runs over the
input channels only (25-75 here, against 27 x that in a direct convolution),
and the transforms in and out are passes over 3.4x the activation. This probe
times each part, per distinct 3^3 layer of the preset's network on one tile,
against ``conv3d`` in the channels-last layout livianet runs, with the error
of the Winograd result relative to it. It answers whether the method can pay
here before anyone writes kernels for it; it is not a network-level measurement.
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from bench.probes.int8_probe import best_of, layer_shapes

# Lavin & Gray's F(4, 3) matrices (interpolation points 0, +-1, +-2, infinity).
INPUT_T = torch.tensor(
    [
        [4, 0, -5, 0, 1, 0],
        [0, -4, -4, 1, 1, 0],
        [0, 4, -4, -1, 1, 0],
        [0, -2, -1, 2, 1, 0],
        [0, 2, -1, -2, 1, 0],
        [0, 4, 0, -5, 0, 1],
    ],
    dtype=torch.float64,
)
FILTER = torch.tensor(
    [
        [1 / 4, 0, 0],
        [-1 / 6, -1 / 6, -1 / 6],
        [-1 / 6, 1 / 6, -1 / 6],
        [1 / 24, 1 / 12, 1 / 6],
        [1 / 24, -1 / 12, 1 / 6],
        [0, 0, 1],
    ],
    dtype=torch.float64,
)
OUTPUT_T = torch.tensor(
    [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]],
    dtype=torch.float64,
)


def filter_transform(weight: torch.Tensor) -> torch.Tensor:
    """``(216, C_in, C_out)``: each output block position's channel matrix (axis order H, W, D)."""
    g = FILTER
    u = torch.einsum("di,hj,wk,ocijk->hwdco", g, g, g, weight.double())
    return u.reshape(216, weight.shape[1], weight.shape[0]).float().contiguous()


def input_transform(x: torch.Tensor) -> torch.Tensor:
    """``(216, blocks, C)`` from a channels-last ``(N, D, H, W, C)`` input of sides 4t + 2."""
    bt = INPUT_T.float()
    v = torch.tensordot(bt, x.unfold(1, 6, 4), dims=([1], [5]))  # d, N, tD, H, W, C
    v = torch.tensordot(bt, v.unfold(4, 6, 4), dims=([1], [6]))  # w, d, N, tD, H, tW, C
    v = torch.tensordot(bt, v.unfold(4, 6, 4), dims=([1], [7]))  # h, w, d, N, tD, tH, tW, C
    return v.reshape(216, -1, x.shape[-1])


def output_transform(m: torch.Tensor, blocks: tuple[int, int, int, int]) -> torch.Tensor:
    """Channels-last ``(N, 4tD, 4tH, 4tW, K)`` from the products ``(216, blocks, K)``."""
    at = OUTPUT_T.float()
    n, td, th, tw = blocks
    k = m.shape[-1]
    m = (at @ m.view(6, -1)).view(4, 6, -1)  # h
    m = torch.matmul(at, m).view(16, 6, -1)  # w
    m = torch.matmul(at, m).view(4, 4, 4, n, td, th, tw, k)  # d
    return m.permute(3, 4, 2, 5, 0, 6, 1, 7).reshape(n, 4 * td, 4 * th, 4 * tw, k)


def sliced(x: torch.Tensor, u: torch.Tensor, blocks: tuple[int, int, int, int]) -> torch.Tensor:
    """The same convolution one row of blocks along D at a time: each slab's transforms in cache."""
    n, td, th, tw = blocks
    out = x.new_empty(n, 4 * td, 4 * th, 4 * tw, u.shape[-1])
    for i in range(td):
        products = torch.bmm(input_transform(x[:, 4 * i : 4 * i + 6]), u)
        out[:, 4 * i : 4 * i + 4] = output_transform(products, (n, 1, th, tw))
    return out


def probe(cin: int, cout: int, out_side: int) -> dict[str, float]:
    blocks = -(-out_side // 4)
    side = 4 * blocks + 2
    generator = torch.Generator().manual_seed(0)
    x = torch.relu(torch.randn(1, cin, side, side, side, generator=generator))
    weight = torch.randn(cout, cin, 3, 3, 3, generator=generator) / (27 * cin) ** 0.5
    with torch.inference_mode():
        x_last = x.contiguous(memory_format=torch.channels_last_3d)
        weight_last = weight.contiguous(memory_format=torch.channels_last_3d)
        reference = F.conv3d(x_last, weight_last)
        direct = best_of(lambda: F.conv3d(x_last, weight_last))
        u = filter_transform(weight)
        x_cl = x_last.permute(0, 2, 3, 4, 1)  # a view: the layout livianet runs
        v = input_transform(x_cl)
        m = torch.bmm(v, u)
        y = output_transform(m, (1, blocks, blocks, blocks))
        times = {
            "direct": direct,
            "input": best_of(lambda: input_transform(x_cl)),
            "products": best_of(lambda: torch.bmm(v, u)),
            "output": best_of(lambda: output_transform(m, (1, blocks, blocks, blocks))),
            "sliced": best_of(lambda: sliced(x_cl, u, (1, blocks, blocks, blocks))),
        }
        assert torch.allclose(sliced(x_cl, u, (1, blocks, blocks, blocks)), y, atol=1e-5)
        error = (y.permute(0, 4, 1, 2, 3) - reference).abs().max() / reference.abs().max()
    flops = 2 * 216 * v.shape[1] * cin * cout
    return {**times, "error": float(error), "gflops": flops / times["products"] / 1e9}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="paper", choices=["paper", "fast"])
    parser.add_argument("--tile", type=int, default=60, help="output tile side (default 60)")
    args = parser.parse_args()
    shapes = [(cin, cout) for cin, cout, kernel in layer_shapes(args.preset) if kernel == 3]
    print(f"{torch.get_num_threads()} threads, {args.preset} network, output tile {args.tile}^3")
    print(f"{'layer':<14}{'conv3d ms':>11}{'in ms':>8}{'GEMM ms':>9}{'GFLOP/s':>9}"
          f"{'out ms':>8}{'wino/conv':>11}{'sliced/conv':>13}{'rel err':>10}")  # fmt: skip
    totals = {"direct": 0.0, "winograd": 0.0, "sliced": 0.0}
    for cin, cout in dict.fromkeys(shapes):
        row = probe(cin, cout, args.tile)
        winograd = row["input"] + row["products"] + row["output"]
        count = shapes.count((cin, cout))
        totals["direct"] += row["direct"] * count
        totals["winograd"] += winograd * count
        totals["sliced"] += row["sliced"] * count
        print(f"{f'{cin}->{cout}':<14}{row['direct'] * 1e3:>11.1f}{row['input'] * 1e3:>8.1f}"
              f"{row['products'] * 1e3:>9.1f}{row['gflops']:>9.1f}{row['output'] * 1e3:>8.1f}"
              f"{winograd / row['direct']:>11.2f}{row['sliced'] / row['direct']:>13.2f}"
              f"{row['error']:>10.1e}")  # fmt: skip
    print(f"all 3^3 layers (each shape times its count): Winograd / conv3d = "
          f"{totals['winograd'] / totals['direct']:.2f}, sliced / conv3d = "
          f"{totals['sliced'] / totals['direct']:.2f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
