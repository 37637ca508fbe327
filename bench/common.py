"""Pieces shared by the benchmark, its baselines and its probes: pure functions, no I/O policy.

Kept free of bench state so that ``tests/bench/test_bench.py`` can check them on tiny
arrays. The suite's own child processes (the baselines, the bound) run as
``python -m bench.<module>``, with the repository root on their ``PYTHONPATH``
(:func:`bench_env`), wherever the benchmark was started from.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

Size3 = tuple[int, int, int]
ROOT = Path(__file__).resolve().parents[1]  # the repository: bench/ is its child
# The original's example data, where CI keeps it (beside the clone).
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "livianet-example"


# ----------------------------------------------------------------------------- processes


def bench_command(module: str, *args: str) -> list[str]:
    """``python -m bench.MODULE ARGS...``: one of the suite's own child processes (run with :func:`bench_env`)."""
    return [sys.executable, "-m", f"bench.{module}", *args]


def bench_env() -> dict[str, str]:
    """This process's environment with the repository root first on ``PYTHONPATH``.

    A :func:`bench_command` child then imports ``bench`` whatever its working
    directory; the rows that time ``livianet`` itself leave its environment as a
    user's is.
    """
    paths = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def livianet_command(*args: str) -> list[str]:
    """``livianet ARGS...`` as a user runs it: the console script of this environment."""
    script = Path(sys.executable).parent / "livianet"
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-m", "livianet", *args]


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# ----------------------------------------------------------------------------- machine


def machine_info() -> dict[str, Any]:
    """CPU model, cores, AMX/AVX-512 flags, library versions: what the numbers depend on."""
    import torch

    model, cores = "unknown", None
    flags: set[str] = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and model == "unknown":
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
            elif line.startswith("cpu cores") and cores is None:
                cores = int(line.split(":", 1)[1])
    except OSError:
        pass
    info: dict[str, Any] = {
        "cpu_model": model,
        "logical_cores": os.cpu_count(),
        "cores_per_socket": cores,
        "usable_cores": len(os.sched_getaffinity(0)),
        "torch_threads": torch.get_num_threads(),
        "amx_flags": sorted(f for f in flags if f.startswith("amx")),
        "avx512_bf16": "avx512_bf16" in flags,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
    }
    try:
        import livianet

        info["livianet"] = livianet.__version__
    except ImportError:
        pass
    try:
        import torchio

        info["torchio"] = torchio.__version__
    except ImportError:
        info["torchio"] = None
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parent,
            timeout=10,
        )
        info["git_commit"] = commit.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        info["git_commit"] = None
    info["load_average"] = list(os.getloadavg())
    return info


# ----------------------------------------------------------------------------- work counts


def network_flops(
    model_config: Any, input_size: int | Size3, pointwise_voxels: int | None = None
) -> float:
    """Floating-point operations (2 per multiply-add) of one forward pass on one tile.

    Counts the convolutions, 1x1x1 layers and classifier; batch norm and the
    activations are a few operations per value and left out. ``pointwise_voxels``:
    the output voxels the 1x1x1 layers run on, when not all of them (livianet
    runs them on the tile's ROI voxels only).
    """
    size = [input_size] * 3 if isinstance(input_size, int) else list(input_size)
    channels = model_config.in_channels
    total = 0.0
    for out, kernel in zip(model_config.conv_channels, model_config.conv_kernels, strict=True):
        size = [s - (k - 1) for s, k in zip(size, kernel, strict=True)]
        total += 2.0 * channels * out * math.prod(kernel) * math.prod(size)
        channels = out
    channels = model_config.fc_in_channels
    voxels = math.prod(size) if pointwise_voxels is None else pointwise_voxels
    for out in (*model_config.fc_channels, model_config.num_classes):
        total += 2.0 * channels * out * voxels
        channels = out
    return total


def livianet_tile_plan(
    model: Any,
    roi: np.ndarray | None,
    shape: Size3,
    precision: str = "float32",
    tile: int | None = None,
    batch_size: int = 1,
) -> list[Any]:
    """The output tiles (``Tile``: origin, size) ``livianet.inference.tiling.segment_volume`` computes."""
    from livianet.inference import tile_plan

    return tile_plan(model, roi, shape, precision, tile, batch_size)


# ----------------------------------------------------------------------------- ROI and labels


def restrict_roi(roi: np.ndarray, fraction: float, axis: int = 2) -> np.ndarray:
    """``roi`` limited to a central slab along ``axis`` holding about ``fraction`` of its voxels.

    A slab keeps the other two sides of the bounding box, so the work
    livianet does shrinks in proportion along one axis.

    >>> slab = restrict_roi(np.ones((2, 2, 8), dtype=bool), 0.5)
    >>> int(slab.sum()), np.flatnonzero(slab.any(axis=(0, 1))).tolist()
    (16, [1, 2, 3, 4])
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction {fraction}: expected a value in (0, 1]")
    if fraction == 1:
        return roi.copy()
    others = tuple(a for a in range(roi.ndim) if a != axis)
    counts = roi.sum(axis=others)
    total = counts.sum()
    cumulative = np.cumsum(counts)
    # Centre the slab on the ROI's median slice, grow it one slice at a time.
    centre = int(np.searchsorted(cumulative, total / 2))
    lo, hi = centre, centre + 1
    while counts[lo:hi].sum() < fraction * total:
        left = counts[lo - 1] if lo > 0 else -1
        right = counts[hi] if hi < len(counts) else -1
        if left > right or (left == right and centre - lo <= hi - 1 - centre):
            lo -= 1
        else:
            hi += 1
    keep = np.zeros(len(counts), dtype=bool)
    keep[lo:hi] = True
    shape = [1] * roi.ndim
    shape[axis] = len(counts)
    return roi & keep.reshape(shape)


def agreement(labels: np.ndarray, reference: np.ndarray, roi: np.ndarray) -> float:
    """Fraction of ROI voxels whose label equals the reference.

    >>> agreement(np.array([1, 2, 3]), np.array([1, 2, 0]), np.array([True, True, True]))
    0.6666666666666666
    """
    inside = roi.astype(bool)
    if labels.shape != reference.shape:
        raise ValueError(f"label map shape {labels.shape} differs from reference {reference.shape}")
    count = int(inside.sum())
    if count == 0:
        return float("nan")
    return float((labels[inside] == reference[inside]).sum() / count)


def linear_fit(work: list[float], seconds: list[float]) -> dict[str, float]:
    """Least-squares ``seconds = fixed + per_unit * work`` and its worst relative residual.

    >>> fit = linear_fit([1.0, 2.0, 4.0], [3.0, 5.0, 9.0])
    >>> round(fit["fixed_s"], 6), round(fit["per_unit_s"], 6), round(fit["max_rel_residual"], 6)
    (1.0, 2.0, 0.0)
    """
    x = np.asarray(work, dtype=np.float64)
    y = np.asarray(seconds, dtype=np.float64)
    if len(x) < 2 or np.ptp(x) == 0:
        return {
            "fixed_s": float("nan"),
            "per_unit_s": float("nan"),
            "max_rel_residual": float("nan"),
        }
    slope, intercept = np.polyfit(x, y, 1)
    residual = np.abs(y - (intercept + slope * x)) / np.maximum(y, 1e-12)
    return {
        "fixed_s": float(intercept),
        "per_unit_s": float(slope),
        "max_rel_residual": float(residual.max()),
    }


def load_model(checkpoint: str | os.PathLike[str]):
    """``(model, state)`` from a livianet checkpoint, in eval mode."""
    from livianet.networks import load_checkpoint, model_from_checkpoint

    state = load_checkpoint(checkpoint)
    model = model_from_checkpoint(state, checkpoint).eval()
    return model, state


def load_scan(
    image: Path,
    roi: Path | None,
    state: dict[str, Any],
    num_classes: int,
    label: Path | None = None,
):
    """Read and normalise a scan exactly as ``livianet segment`` does, on the model's grid.

    A ``.mat`` scan takes the axis codes the model's training arrays were
    stored in, and the case is reoriented to the orientation the network was
    trained in (``case.plan``; :func:`on_stored_grid` brings labels back), as
    the CLI does: the in-process reference and the baselines then see what
    the network was trained on. ``label``: the manual labels, for Dice.
    """
    from livianet.data import CaseFiles, load_case
    from livianet.data.geometry import ModelGrid
    from livianet.networks import ModelMeta

    meta = ModelMeta.from_state(state)
    files = CaseFiles(
        index=0,
        images=(Path(image),),
        label=Path(label) if label else None,
        roi=Path(roi) if roi else None,
    )
    spacing = None
    if meta.spacing is not None:
        x, y, z = meta.spacing
        spacing = (x, y, z)
    grid = ModelGrid(meta.orientation, spacing) if meta.orientation else None
    return load_case(
        files, meta.normalization, num_classes, orientation=meta.stored_orientation, grid=grid
    )


def on_stored_grid(case: Any, array: np.ndarray) -> np.ndarray:
    """Labels or a mask of ``case``'s model grid on the scan's own grid (as the CLI writes it)."""
    return case.plan.labels_to_input(array) if case.plan is not None else array


def run_method(
    argv: list[str] | None,
    description: str,
    size_option: tuple[str, int, str],
    batch_default: int,
    segment: Any,
) -> int:
    """A baseline method's command: ``CKPT IMAGE --roi ROI --out DIR``, timed by phase.

    ``size_option`` is the tile option's ``(flag, default, help)``; ``segment(model, image,
    roi, size, batch)`` returns the labels and how many tiles it ran. Loading, normalising
    and writing are livianet's, so only the method differs between rows.
    """
    flag, size_default, size_help = size_option
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("image", type=Path)
    parser.add_argument("--roi", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(flag, dest="size", type=int, default=size_default, help=size_help)
    parser.add_argument("--batch", type=int, default=batch_default, help="tiles per forward pass")
    args = parser.parse_args(argv)

    from livianet.io import save_volume, segmentation_path

    phases = {}
    tick = time.perf_counter()
    model, state = load_model(args.checkpoint)
    case = load_scan(args.image, args.roi, state, model.config.num_classes)
    phases["load_s"] = time.perf_counter() - tick
    tick = time.perf_counter()
    labels, tiles = segment(model, case.image, case.roi, args.size, args.batch)
    labels = on_stored_grid(case, labels)
    phases["compute_s"] = time.perf_counter() - tick
    tick = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    path = save_volume(
        labels, segmentation_path(args.out, args.image), case.reference, kind="label"
    )
    phases["write_s"] = time.perf_counter() - tick
    print("BENCH_JSON " + json.dumps({"tiles": tiles, "output": str(path), **phases}))
    return 0
