"""Segmentation rows: each method end to end in a child process, its work, and how cost grows.

(a) is ``livianet`` as a user runs it; (b), (b') and (c) are the suite's own
baselines (``python -m bench.original_method`` and so on), on the same
checkpoint and scan; the float32 reference they are compared with is
:func:`timed_segmentation`, in-process.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import (
    agreement,
    bench_command,
    bench_env,
    linear_fit,
    livianet_command,
    livianet_tile_plan,
    log_tail,
    network_flops,
    on_stored_grid,
    restrict_roi,
)
from bench.data import save_mat
from bench.memory import GIB, run_child

ORIGINAL_SAMPLE = 35  # the paper network's test sample size (input tile side)
ORIGINAL_BATCH = 10  # the paper's batch size, fixed in the compiled Theano function
TORCHIO_PATCH = 64
TORCHIO_BATCH = 4
# The baselines' rows: key, the bench module run as the child, output folder, tile option and
# side, tiles per forward pass.
BASELINES = (
    ("original", "original_method", "seg_b", "--sample", ORIGINAL_SAMPLE, ORIGINAL_BATCH),
    ("original_lean", "lean_method", "seg_b_lean", "--sample", ORIGINAL_SAMPLE, ORIGINAL_BATCH),
    ("torchio", "torchio_method", "seg_c", "--patch", TORCHIO_PATCH, TORCHIO_BATCH),
)


def segmentation_row(
    name: str,
    command: list[str],
    out_dir: Path,
    image: Path,
    roi_mask: np.ndarray,
    reference: np.ndarray | None,
    log_dir: Path,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run one segmentation command end to end; agreement with ``reference`` on ROI voxels.

    ``env``: the child's environment (:func:`bench.common.bench_env` for the suite's own
    baselines; by default this process's, as a user's ``livianet`` has).
    """
    from livianet.io import load_volume, segmentation_path

    if out_dir.exists():
        shutil.rmtree(out_dir)
    print(f"  {name}: {Path(command[0]).name} {' '.join(command[1:3])} ...", flush=True)
    child = run_child(command, log_dir / f"{name}.log", env)
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


def shipped_precision() -> str:
    """What ``livianet segment`` runs by default (``--precision auto``) on this CPU."""
    import torch

    from livianet.runtime import resolve_precision

    return resolve_precision("auto", torch.device("cpu"))


def segmentation_section(
    checkpoint: Path, files: dict[str, Path], model, case, references, work: Path
) -> dict[str, Any]:
    """Rows (a), (a32), (b), (b'), (c), back to back, with the work each computes."""
    raw_reference, shipped_reference = references  # on the scan's own grid, as the rows write
    stored_roi = on_stored_grid(case, case.roi)
    image, roi_file = str(files["image"]), str(files["roi"])
    logs = work / "logs"
    rows: dict[str, Any] = {}
    rows["livianet"] = segmentation_row(
        "livianet",
        livianet_command("segment", str(checkpoint), image, "--roi", roi_file, "--out",
                         str(work / "seg_a")),
        work / "seg_a", files["image"], stored_roi, shipped_reference, logs,
    )  # fmt: skip
    rows["livianet_float32"] = segmentation_row(
        "livianet_float32",
        livianet_command("segment", str(checkpoint), image, "--roi", roi_file, "--out",
                         str(work / "seg_a32"), "--precision", "float32"),
        work / "seg_a32", files["image"], stored_roi, shipped_reference, logs,
    )  # fmt: skip
    env = bench_env()
    for key, module, folder, flag, side, batch in BASELINES:
        command = bench_command(
            module, str(checkpoint), image, "--roi", roi_file, "--out", str(work / folder),
            flag, str(side), "--batch", str(batch),
        )  # fmt: skip
        rows[key] = segmentation_row(
            key, command, work / folder, files["image"], stored_roi, raw_reference, logs, env
        )
    rf = model.receptive_field
    tiles = livianet_tile_plan(model, case.roi, case.shape, shipped_precision())
    rows["livianet"].update(
        tiles=len(tiles),
        tile_size=list(max(t.size for t in tiles)),
        computed_voxels=sum(int(np.prod(t.size)) for t in tiles),
        flops=livianet_flops(model, case, tiles),
    )
    for key, _, _, _, side, _ in BASELINES:
        tiles = rows[key].get("phases", {}).get("tiles")
        if tiles:
            rows[key].update(
                tiles=tiles,
                computed_voxels=tiles * (side - rf[0] + 1) ** 3,
                flops=tiles * network_flops(model.config, side),
            )
    return rows


def livianet_flops(model, case, tiles) -> float:
    """FLOPs of livianet's tiles: convolutions on each whole tile, 1x1x1 layers on its ROI voxels."""
    rf = model.receptive_field
    return sum(
        network_flops(
            model.config,
            tuple(s + r - 1 for s, r in zip(t.size, rf, strict=True)),
            int(case.roi[t.window].sum()) if case.roi is not None else None,
        )
        for t in tiles
    )


def segmentation_growth(
    checkpoint: Path, files: dict[str, Path], model, case, seg, fractions, work: Path
) -> dict[str, Any]:
    """``livianet segment`` with the ROI cut to central slabs of a fraction of its voxels.

    Labels are not compared: the z-score is taken inside the ROI, so a smaller
    ROI changes the network's input.
    """
    points = []
    for fraction in fractions:
        mask = restrict_roi(case.roi, fraction)
        plan = livianet_tile_plan(model, mask, case.shape, shipped_precision())
        point: dict[str, Any] = {
            "fraction": fraction,
            "roi_voxels": int(mask.sum()),
            "computed_voxels": sum(int(np.prod(t.size)) for t in plan),
        }
        if fraction == 1.0:
            row, point["row"] = seg["livianet"], "(a)"
        else:
            tag = f"roi{round(fraction * 100)}"
            stored_mask = on_stored_grid(case, mask).astype(np.uint8)
            roi_path = save_mat(stored_mask, work / "growth" / f"ROI_{tag}.mat")
            out = work / f"growth_{tag}"
            command = livianet_command(
                "segment", str(checkpoint), str(files["image"]), "--roi", str(roi_path),
                "--out", str(out),
            )  # fmt: skip
            row = segmentation_row(
                f"livianet_{tag}", command, out, files["image"], mask, None, work / "logs"
            )
        if not row.get("returncode"):
            point["seconds"] = row["seconds"]
            point["seconds_per_mvoxel_computed"] = row["seconds"] / point["computed_voxels"] * 1e6
            point["seconds_per_mvoxel_roi"] = row["seconds"] / point["roi_voxels"] * 1e6
        points.append(point)
    timed = [p for p in points if "seconds" in p]
    return {
        "points": points,
        "work_unit": "computed output voxels (livianet's tile plan)",
        "fit": linear_fit([p["computed_voxels"] for p in timed], [p["seconds"] for p in timed]),
    }
