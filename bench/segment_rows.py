"""Segmentation rows (end to end, child processes), the float32 reference, and the bound (d)."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
from bench_common import GIB, agreement, log_tail, network_flops, run_child


def segmentation_row(
    name: str,
    command: list[str],
    out_dir: Path,
    image: Path,
    roi_mask: np.ndarray,
    reference: np.ndarray | None,
    log_dir: Path,
) -> dict[str, Any]:
    """Run one segmentation command end to end; agreement with ``reference`` on ROI voxels."""
    from livianet.io import load_volume, segmentation_path

    if out_dir.exists():
        shutil.rmtree(out_dir)
    print(f"  {name}: {Path(command[0]).name} {' '.join(command[1:3])} ...", flush=True)
    child = run_child(command, log_dir / f"{name}.log")
    roi_voxels = int(roi_mask.sum())
    row: dict[str, Any] = {
        "command": " ".join(command),
        "seconds": child.seconds,
        "peak_rss_bytes": child.peak_rss_bytes,
        "returncode": child.returncode,
        "roi_voxels": roi_voxels,
        "roi_voxels_per_s": roi_voxels / child.seconds,
    }
    if child.returncode:
        row["error"] = log_tail(child.log)
        print(f"    FAILED (exit {child.returncode}); log {child.log}", flush=True)
        return row
    for line in child.log.read_text(errors="replace").splitlines():
        if line.startswith("BENCH_JSON "):
            row["phases"] = json.loads(line.removeprefix("BENCH_JSON "))
    message = f"    {child.seconds:.1f} s, peak {child.peak_rss_bytes / GIB:.2f} GiB"
    if reference is not None:
        labels = load_volume(segmentation_path(out_dir, image)).data
        row["agreement_float32"] = agreement(labels, reference, roi_mask)
        message += f", labels = float32 on {row['agreement_float32']:.5%} of ROI voxels"
    print(message, flush=True)
    return row


def timed_segmentation(model, case, precision: str, largest_component: bool = False):
    """``predict_case`` as ``livianet segment`` calls it, in-process.

    Returns ``(labels, seconds, computed)``: ``computed`` counts the output
    voxels of every forward pass (a hook on the network), the work livianet
    actually did, whatever its tile plan.
    """
    from livianet.inference import InferenceSettings, predict_case, prepare_for_inference

    settings = InferenceSettings(precision=precision, largest_component=largest_component)
    prepared = prepare_for_inference(model, settings)
    computed = {"voxels": 0, "forward_passes": 0}

    def count(module, inputs, output) -> None:
        computed["voxels"] += output.shape[0] * int(np.prod(output.shape[2:]))
        computed["forward_passes"] += 1

    hook = prepared.register_forward_hook(count)
    try:
        tick = time.perf_counter()
        labels = predict_case(prepared, case, settings).labels
        seconds = time.perf_counter() - tick
    finally:
        hook.remove()
    return labels, seconds, computed


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
    conv = torch.nn.Conv3d(75, 75, 3, bias=False).to(memory_format=fmt).eval()
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
