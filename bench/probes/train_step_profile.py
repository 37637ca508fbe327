"""Where a training step's time goes, and what the step-level levers give on this machine.

    python -m bench.probes.train_step_profile [--preset fast] [--steps 4] [--compile] [--shapes]

Random batches of the preset's patch size through the preset's network, loss and
optimiser (what ``livianet train`` runs per step, without sampling): the operator
table of ``torch.profiler`` (self time, grouped as convolution, batch norm,
activation, optimiser, other), then, on request, eager against ``torch.compile``
and other patch/batch shapes, interleaved so that a noisy machine affects all
alike. Output voxels per second, not samples per second, compare patch shapes.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import torch

GROUPS = {
    "convolution": ("convolution", "conv3d", "mkldnn_convolution"),
    "batch norm": ("batch_norm",),
    "activation": ("threshold", "relu", "clamp_min", "prelu"),
    "optimiser": ("lerp", "addcmul", "addcdiv", "sqrt", "_foreach"),
}


def session(preset: str, compiled: bool = False):
    from livianet.config import load_training_config
    from livianet.config.presets import render_config
    from livianet.networks import build_model
    from livianet.training.losses import SegmentationLoss
    from livianet.training.optim import build_optimizer

    folder = Path(tempfile.mkdtemp(prefix="livianet-step-"))
    for name in ("MR", "Label", "ROI"):
        (folder / name).mkdir()
    ini = folder / "step.ini"
    ini.write_text(render_config(preset, "step", "step", folder / "out", folder, [0], [], 9))
    config = load_training_config(ini)
    torch.manual_seed(0)
    model = build_model(config.model)
    optimizer = build_optimizer(model.parameters(), config.train.optim)
    loss_fn = SegmentationLoss(
        config.train.loss, 9, None, config.train.optim.l1, config.train.optim.l2
    )
    runner = torch.compile(model) if compiled else model

    def step(images: torch.Tensor, targets: torch.Tensor) -> None:
        loss = loss_fn(runner(images), targets, model)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return config, step


def batch(patch: int, size: int, margin: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(size, 1, patch, patch, patch, generator=generator)
    out = patch - margin
    return images, torch.randint(0, 9, (size, out, out, out), generator=generator)


def timed(step, data, repeats: int) -> list[float]:
    seconds = []
    for _ in range(repeats):
        tick = time.perf_counter()
        step(*data)
        seconds.append(time.perf_counter() - tick)
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--compile", action="store_true", help="also eager against torch.compile")
    parser.add_argument("--shapes", action="store_true", help="also other patch and batch shapes")
    args = parser.parse_args()
    config, step = session(args.preset)
    patch, size = config.train.patch_size[0], config.train.batch_size
    margin = config.model.receptive_field[0] - 1
    data = batch(patch, size, margin)
    timed(step, data, 2)  # kernel set-up
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        seconds = timed(step, data, args.steps)
    totals: dict[str, float] = defaultdict(float)
    for event in prof.key_averages():
        group = next(
            (g for g, keys in GROUPS.items() if any(k in event.key for k in keys)), "other"
        )
        totals[group] += event.self_cpu_time_total
    whole = sum(totals.values())
    print(f"{args.preset}: patch {patch}^3, batch {size}, {torch.get_num_threads()} threads: "
          f"{statistics.median(seconds):.2f} s/step, {size / statistics.median(seconds):.2f} samples/s")  # fmt: skip
    for group, value in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"  {group:<12} {value / whole:6.1%} of self time")
    rows: dict[str, tuple] = {"eager": (step, data, size, patch)}  # the first row: the 1.00x
    if args.compile:
        _, compiled = session(args.preset, compiled=True)
        tick = time.perf_counter()
        compiled(*data)
        print(f"torch.compile: first step (compiling) {time.perf_counter() - tick:.1f} s")
        rows["compiled"] = (compiled, data, size, patch)
    if args.shapes:
        for other_patch, other_size in (
            (patch + 6, max(size * 2 // 3, 1)),
            (patch + 12, max(size // 2, 1)),
            (patch, size * 2),
        ):
            rows[f"patch {other_patch}, batch {other_size}"] = (
                step, batch(other_patch, other_size, margin), other_size, other_patch
            )  # fmt: skip
    if len(rows) > 1:
        times: dict[str, list[float]] = defaultdict(list)
        for run, sample, *_ in rows.values():
            timed(run, sample, 1)
        for _ in range(args.steps):  # interleaved: a noisy machine slows every row alike
            for name, (run, sample, *_) in rows.items():
                times[name] += timed(run, sample, 1)
        base = None
        for name, (_, _, count, side) in rows.items():
            median = statistics.median(times[name])
            voxels = count * (side - margin) ** 3 / median
            base = base or voxels
            print(f"  {name:<22} {median:6.2f} s/step  {count / median:5.2f} samples/s  "
                  f"{voxels:8.0f} output voxels/s ({voxels / base:.2f}x)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
