"""How fast training images are drawn from label maps, and what they cost a training run.

    python -m bench.probes.synthesis_probe [--maps DIR] [--count 4] [--preset fast] [--steps 6]

The preset's patches drawn from the first ``--count`` label maps (default: SynthSeg's 20
whole-head maps in ``../shared/data/synthseg-label-maps``), FreeSurfer's 10-13/49-52 as
classes 1-8: first the generator alone (samples/s, as it runs in the batch stream's
prefetch thread: one thread), then the preset's training step (network, loss,
optimiser, the precision ``auto`` resolves to) fed three ways, interleaved so that a noisy
machine slows all alike: real batches (ready-made arrays: cutting real patches costs
about a millisecond), and batches whose synthetic share (``--shares``) is generated in a
prefetch thread while the previous batch trains, as ``training/batches.py`` prefetches.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from bench.probes.train_step_profile import session

DEFAULT_MAPS = Path(__file__).resolve().parents[3] / "shared" / "data" / "synthseg-label-maps"
LABEL_MAPS = """
[Label Maps]
labelMapsFolder = {maps}
labelClasses = [10, 11, 12, 13, 49, 50, 51, 52]
indexesForTraining = {indexes}
flipLeftRight = 1
labelPairs = [[1, 5], [2, 6], [3, 7], [4, 8]]
"""


def label_map_source(preset: str, maps: Path, count: int):
    from livianet.config import load_training_config
    from livianet.config.presets import render_config
    from livianet.synthesis import LabelMapSource

    folder = Path(tempfile.mkdtemp(prefix="livianet-synth-"))
    text = render_config(preset, "synth", "synth", folder / "out", folder, [0], [], 9)
    text = text.split("[Training Images]")[0] + LABEL_MAPS.format(
        maps=maps, indexes=list(range(count))
    )
    ini = folder / "synth.ini"
    ini.write_text(text)
    return LabelMapSource.from_config(load_training_config(ini, label_maps_only=True))


def generator_rate(source, samples: int, first: int) -> float:
    from livianet.synthesis import sample_seeds

    tick = time.perf_counter()
    source.patches(sample_seeds(0, 0, 0, first, samples))
    return samples / (time.perf_counter() - tick)


def feeder(source, real: tuple[np.ndarray, np.ndarray], share: float, start: int):
    """Batches whose first ``round(share * B)`` rows are synthetic, the rest real."""
    from livianet.synthesis import sample_seeds

    images, targets = (a.copy() for a in real)
    count = round(share * images.shape[0])
    step = start

    def build():
        nonlocal step
        if count:
            made = source.patches(sample_seeds(0, 1, 0, step * count, count))
            images[:count], targets[:count] = made
        step += 1
        return images.copy(), targets.copy()

    return build


def run_steps(train_step, build, steps: int) -> float:
    """Samples/s over ``steps`` steps, the next batch built in a thread meanwhile."""
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        pending = pool.submit(build)
        samples = 0
        tick = time.perf_counter()
        for n in range(steps):
            images, targets = pending.result()
            if n + 1 < steps:
                pending = pool.submit(build)
            train_step(torch.from_numpy(images), torch.from_numpy(targets))
            samples += images.shape[0]
        return samples / (time.perf_counter() - tick)
    finally:
        pool.shutdown(wait=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--maps", type=Path, default=DEFAULT_MAPS)
    parser.add_argument("--count", type=int, default=4, help="label maps loaded")
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--steps", type=int, default=6, help="training steps per timed run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--shares", default="1,0.5", help="synthetic shares of a batch")
    args = parser.parse_args()
    from livianet.runtime import autocast, resolve_precision

    tick = time.perf_counter()
    source = label_map_source(args.preset, args.maps, args.count)
    print(f"{args.count} maps loaded in {time.perf_counter() - tick:.1f} s; "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}")  # fmt: skip
    config, step = session(args.preset)
    batch = config.train.batch_size
    rates = [generator_rate(source, 4 * batch, 4 * batch * n) for n in range(3)]
    print(f"generator alone, patch {config.train.patch_size}, one thread: "
          f"{statistics.median(rates):.1f} samples/s ({1e3 / statistics.median(rates):.1f} ms "
          f"a sample; runs {', '.join(f'{r:.1f}' for r in rates)})")  # fmt: skip
    device = torch.device("cpu")
    precision = resolve_precision("auto", device)

    def train_step(images: torch.Tensor, targets: torch.Tensor) -> None:
        with autocast(device, precision):
            step(images, targets)

    real = source.patches([[9, n] for n in range(batch)])  # any arrays of the right shapes
    shares = [0.0] + [float(s) for s in args.shares.split(",")]
    feeders = {s: feeder(source, real, s, 1000 * i) for i, s in enumerate(shares)}
    run_steps(train_step, feeders[0.0], 2)  # kernel set-up
    found: dict[float, list[float]] = {s: [] for s in shares}
    for _ in range(args.rounds):
        for share in shares:
            found[share].append(run_steps(train_step, feeders[share], args.steps))
    base = statistics.median(found[0.0])
    print(
        f"training step ({args.preset}, batch {batch}, {precision}, {torch.get_num_threads()} threads):"
    )
    for share in shares:
        rate = statistics.median(found[share])
        print(f"  synthetic share {share:4.2f}: {rate:6.2f} samples/s ({rate / base:.1%} of real; "
              f"runs {', '.join(f'{r:.2f}' for r in found[share])})")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
