"""Row (d), the bound: the voxels livianet computes at the network's best steady-state rate.

:func:`measure_bound` runs in a fresh child (``bench/bound_child.py``);
:func:`bound_section` starts it and turns its rates into the bound's seconds.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import bench_command, bench_env, livianet_tile_plan, network_flops
from bench.memory import run_child
from bench.segment_rows import livianet_flops


def _steady_seconds(run, min_seconds: float, warmup: int = 2) -> float:
    """Best seconds per call after ``warmup`` calls, over at least ``min_seconds`` (>= 3 calls)."""
    for _ in range(warmup):
        run()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < 3 or time.perf_counter() - start < min_seconds:
        tick = time.perf_counter()
        run()
        times.append(time.perf_counter() - tick)
    return min(times)


def measure_bound(model, tiles: list[int], min_seconds: float) -> dict[str, Any]:
    """Steady-state throughput of the network, and of one 75->75 3^3 conv, as livianet runs them.

    Same precision (``auto``) and memory layout as ``livianet segment``; one
    tile per forward pass (its default batch), after warm-up.
    """
    import torch

    from livianet.inference import InferenceSettings, prepare_for_inference
    from livianet.runtime import autocast, memory_format, resolve_precision

    device = torch.device("cpu")
    precision = resolve_precision("auto", device)
    fmt = memory_format(device)
    prepared = prepare_for_inference(model, InferenceSettings(precision=precision))
    rf = prepared.receptive_field[0]
    channels = prepared.config.in_channels
    conv = torch.nn.Conv3d(75, 75, 3, bias=False)
    conv = conv.to(memory_format=fmt).eval()  # type: ignore[call-overload]  # stubs lack memory_format
    rows = []
    for side in tiles:
        x = torch.randn(1, channels, *(side + rf - 1,) * 3).contiguous(memory_format=fmt)
        with torch.inference_mode(), autocast(device, precision):
            seconds = _steady_seconds(lambda x=x: prepared(x).float(), min_seconds)
        flops = network_flops(prepared.config, side + rf - 1)
        y = torch.randn(1, 75, *(side + 2,) * 3).contiguous(memory_format=fmt)
        with torch.inference_mode(), autocast(device, precision):
            conv_seconds = _steady_seconds(lambda y=y: conv(y), min_seconds / 2)
        network_gflops = flops / seconds / 1e9
        conv_gflops = 2.0 * 75 * 75 * 27 * side**3 / conv_seconds / 1e9
        rows.append(
            {
                "output_side": side,
                "input_side": side + rf - 1,
                "seconds_per_tile": seconds,
                "output_voxels_per_s": side**3 / seconds,
                "network_flops_per_output_voxel": flops / side**3,
                "network_gflop_per_s": network_gflops,
                "conv75_gflop_per_s": conv_gflops,
                "network_share_of_conv75": network_gflops / conv_gflops,
            }
        )
        print(
            f"  tile {side}^3: {side**3 / seconds / 1e6:.3f} Mvoxel/s, network "
            f"{network_gflops:.0f} GFLOP/s, 75->75 conv alone {conv_gflops:.0f} GFLOP/s",
            flush=True,
        )
    best = max(rows, key=lambda r: r["output_voxels_per_s"])
    return {"precision": precision, "memory_format": str(fmt), "tiles": rows, "best": best}


def bound_section(
    checkpoint: Path,
    files: dict[str, Path],
    model,
    case,
    seg: dict[str, Any],
    settings: dict[str, Any],
    work: Path,
) -> dict[str, Any]:
    """(d): the voxels (a) computes, at the network's best steady-state throughput.

    Measured in a fresh child process (``python -m bench.bound_child``), as
    ``livianet segment`` runs: a long-lived benchmark process runs the network slower.
    """
    out = work / "bound.json"
    command = bench_command(
        "bound_child", str(checkpoint), str(files["image"]), str(files["roi"]),
        "--tiles", *map(str, settings["bound_tiles"]),
        "--seconds", str(settings["bound_seconds"]), "--out", str(out),
    )  # fmt: skip
    child = run_child(command, work / "logs" / "bound.log", bench_env())
    if child.returncode:
        raise SystemExit(f"bound child failed (exit {child.returncode}); log {child.log}")
    for line in child.log.read_text(errors="replace").splitlines():
        if line.lstrip().startswith("tile "):
            print(line, flush=True)
    bound = json.loads(out.read_text())  # holds computed_voxels, forward_passes, compute seconds
    tiles = livianet_tile_plan(model, case.roi, case.shape, bound["precision"])
    planned = sum(int(np.prod(t.size)) for t in tiles)
    if planned != bound["computed_voxels"]:
        print(
            f"  note: bench.common.livianet_tile_plan ({planned} voxels) no longer matches "
            f"what segment_volume computes ({bound['computed_voxels']}); update it",
            flush=True,
        )
    bound.update(
        tiles=len(tiles), tile_size=list(max(t.size for t in tiles)), planned_voxels=planned
    )
    # In FLOPs, not voxels: livianet's 1x1x1 layers run on ROI voxels only, the best tile's on all.
    bound["flops"] = livianet_flops(model, case, tiles)
    bound["seconds"] = bound["flops"] / (bound["best"]["network_gflop_per_s"] * 1e9)
    if not seg["livianet"].get("returncode"):
        bound["share_of_livianet"] = bound["seconds"] / seg["livianet"]["seconds"]
    bound["share_of_livianet_compute"] = (
        bound["seconds"] / bound["livianet_compute_seconds_in_process"]
    )
    return bound
