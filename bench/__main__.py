"""livianet performance benchmark: segmentation, its bound, training, and how cost grows.

    python -m bench [--quick] [--out bench/results/results.json]
                    [--checkpoint CKPT] [--train-minutes M] [--scan N]
                    [--only geometry|cohort|cache|brain]

Run from the repository root (``bench`` is a package beside ``src/``). All rows
run in one invocation, on the same weights and the same real scan, so that
ratios hold on a noisy machine. Segmentation rows are timed end to end as a
user runs them (a child process: start, read, normalise, compute, write), with
the child's own peak RSS:

  (a) ``livianet segment CKPT IMAGE --roi ROI --out DIR``, as shipped, and
      with ``--precision float32`` (the method's gain apart from the precision's);
  (b) the original LiviaNET's method: faithfully reproduced (``original_method.py``)
      and as a careful PyTorch user would write it (``lean_method.py``, b');
  (c) TorchIO's grid sampler and aggregator (``torchio_method.py``);
  (d) the bound: the voxels livianet computes, at the network's best
      steady-state throughput on one large tile.

Training rows run ``livianet train`` on short configs (float32 eager against the
shipped precision). Growth rows show that cost is linear in work. The brain
row (``--only brain``) times the built-in model on the scan with its mask
against the same with the brain extracted. Method and table:
docs/performance.md; usage: bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.bound_rows import bound_section
from bench.brain_rows import brain_lines, brain_section
from bench.cache_rows import cache_lines, cache_section
from bench.cohort_rows import cohort_row
from bench.common import (
    DEFAULT_DATA,
    linear_fit,
    load_model,
    load_scan,
    machine_info,
    on_stored_grid,
)
from bench.data import scan_files, write_quick_data
from bench.geometry_rows import geometry_section
from bench.report import evaluate_targets, format_report
from bench.segment_rows import segmentation_growth, segmentation_section, timed_segmentation
from bench.train_rows import (
    configured_epoch_samples,
    preset_batch_size,
    quick_checkpoint,
    trained_checkpoint,
    training_growth,
    training_rows,
)

RESULTS = Path(__file__).resolve().parent / "results"  # git-ignored


def settings_for(args: argparse.Namespace) -> dict[str, Any]:
    """Sizes of every row; ``--quick`` shrinks them to a smoke test of about a minute."""
    if args.quick:
        return {
            "crop": 64,
            "bound_tiles": [24],
            "bound_seconds": 0.5,
            "train_epochs": 1,
            "train_batches": {"paper": 1, "fast": 1},
            # Narrow networks: the rows check the pipeline, not the speed.
            "train_architectures": {
                "paper": {"numkernelsperlayer": "[4, 4, 4, 4, 4, 4, 4, 4, 4, 8, 8, 8]"},
                "fast": {"numkernelsperlayer": "[4, 4, 4, 4, 4, 4, 4, 4, 4, 8, 8]"},
            },
            "growth_fractions": [0.25, 0.5, 1.0],
            "growth_train_factor": 2,
            "cohort_size": 4,
        }
    return {
        "crop": None,
        "bound_tiles": [int(t) for t in args.bound_tiles.split(",")],
        "bound_seconds": 8.0,
        "train_epochs": 2,  # the last epoch is reported: the first pays one-time set-up
        "train_batches": {"paper": 30, "fast": 48},  # long enough to average out a noisy machine
        "train_architectures": None,  # the presets' own networks
        "growth_fractions": [0.25, 0.5, 1.0],
        "growth_train_factor": 2,
        "cohort_size": 20,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="livianet benchmark: segmentation against the original LiviaNET's "
        "method and TorchIO, the bound, training, growth.",
    )
    parser.add_argument("--quick", action="store_true", help="a smoke test of about a minute")
    parser.add_argument("--out", type=Path, default=RESULTS / "results.json", help="JSON results")
    parser.add_argument("--checkpoint", type=Path, help="use these weights instead of training")
    parser.add_argument(
        "--train-minutes",
        type=float,
        default=8.0,
        help="training time of the benchmark's paper network (default 8; cached)",
    )
    parser.add_argument("--scan", type=int, default=5, help="scan to segment (default 5)")
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="folder with MR/, Label/, ROI/"
    )
    parser.add_argument(
        "--orientation",
        default="ILA",
        help="axis codes of the .mat scans (default ILA, the example data's); 'none': unknown",
    )
    parser.add_argument(
        "--bound-tiles",
        default="64,80",
        help="output tile sides tried for the bound; the fastest counts (default 64,80)",
    )
    parser.add_argument(
        "--only",
        choices=["geometry", "cohort", "cache", "brain"],
        help="run one section alone: 'geometry' (the scan stored otherwise, and the built-in "
        "model), 'cohort' (one call over many scans), 'cache' (training memory against the "
        "number of cases, with the preprocessed cache; results in cache.json by default) or "
        "'brain' (the built-in model, or --checkpoint, with the scan's mask and with the brain "
        "extracted; results in brain.json by default)",
    )
    args = parser.parse_args(argv)
    if args.only in ("cache", "brain") and args.out == RESULTS / "results.json":
        args.out = RESULTS / f"{args.only}.json"
    args.orientation = None if args.orientation.lower() == "none" else args.orientation.upper()
    # Absolute paths: livianet reads the folders of a training INI relative to the INI.
    args.out, args.data = args.out.resolve(), args.data.resolve()
    if args.checkpoint:
        args.checkpoint = args.checkpoint.resolve()
    return args


@dataclass(frozen=True)
class Inputs:
    """What every section of one run shares: the data, the scan, the weights, the work folder."""

    data: Path
    files: dict[str, Path]
    train_indexes: list[int]
    checkpoint: Path
    model: Any
    state: dict[str, Any]
    case: Any
    work: Path


def fresh_work_folder(args: argparse.Namespace) -> Path:
    """This run's work folder beside ``--out``, emptied; refuses one the benchmark did not make."""
    work = args.out.parent / ("work-quick" if args.quick else "work")
    marker = work / ".livianet-bench"
    if work.exists():
        if not marker.exists():
            raise SystemExit(
                f"{work} exists and was not made by this benchmark; choose another --out"
            )
        shutil.rmtree(work)
    work.mkdir(parents=True)
    marker.touch()
    return work


def prepare_inputs(
    args: argparse.Namespace, settings: dict[str, Any], work: Path, result: dict[str, Any]
) -> Inputs:
    """The data (cropped for ``--quick``), the weights, the scan; records them in ``result``."""
    data = args.data
    if not (data / "MR").is_dir():
        raise SystemExit(f"{data}: no MR/ folder (expected MR/, Label/, ROI/)")
    if args.quick:
        data = write_quick_data(args.data, work / "data", settings["crop"])
    listing = sorted(p.name for p in (data / "MR").glob("MR_Img*.mat"))
    if f"MR_Img{args.scan}.mat" not in listing:
        raise SystemExit(f"--scan {args.scan}: no MR_Img{args.scan}.mat in {data / 'MR'}")
    # Positions in the sorted listing; the segmented scan is never trained on.
    train_indexes = [i for i, n in enumerate(listing) if n != f"MR_Img{args.scan}.mat"][:4]
    files = scan_files(data, args.scan)

    if args.checkpoint:
        checkpoint, weights = args.checkpoint, {"source": "given"}
    elif args.quick:
        checkpoint = quick_checkpoint(work / "quick_random.pt")
        weights = {"source": "random small network (quick)"}
    else:
        checkpoint, weights = trained_checkpoint(
            args.out.parent, data, train_indexes, args.scan, args.train_minutes, args.orientation
        )
    result["weights"] = {**weights, "checkpoint": str(checkpoint)}

    model, state = load_model(checkpoint)
    case = load_scan(files["image"], files["roi"], state, model.config.num_classes)
    result["scan"] = {
        "image": str(files["image"]),
        "roi": str(files["roi"]),
        "shape": list(case.shape),
        "roi_voxels": int(case.roi.sum()),
        "network": {
            "conv_channels": list(model.config.conv_channels),
            "fc_channels": list(model.config.fc_channels),
            "receptive_field": list(model.receptive_field),
            "normalization": state.get("normalization", "none"),
            "largest_component": bool(state.get("largest_component", False)),
        },
    }
    return Inputs(data, files, train_indexes, checkpoint, model, state, case, work)


def float32_references(inputs: Inputs, result: dict[str, Any]):
    """livianet's float32 labels, in-process: as is (for the baselines) and as (a) post-processes them."""
    model, case = inputs.model, inputs.case
    print("float32 reference: livianet in-process, precision float32 ...", flush=True)
    raw_reference, seconds, _ = timed_segmentation(model, case, "float32")
    shipped_reference = raw_reference
    if inputs.state.get("largest_component", False):  # (a) post-processes as trained
        from livianet.inference import keep_largest_component

        shipped_reference = keep_largest_component(raw_reference, model.config.num_classes)
    result["reference"] = {"precision": "float32", "seconds_in_process": seconds}
    return tuple(on_stored_grid(case, labels) for labels in (raw_reference, shipped_reference))


def all_rows(
    inputs: Inputs, args: argparse.Namespace, settings: dict[str, Any], result: dict[str, Any]
) -> None:
    """Every section, in the order of the table: segmentation, geometry, cohort, bound, training, growth."""
    checkpoint, files, model, case, work = (
        inputs.checkpoint, inputs.files, inputs.model, inputs.case, inputs.work
    )  # fmt: skip
    references = float32_references(inputs, result)
    print("segmentation rows (end to end):", flush=True)
    seg = segmentation_section(checkpoint, files, model, case, references, work)
    result["segmentation"] = seg
    print("geometry rows (the scan stored otherwise):", flush=True)
    result["geometry"] = geometry_section(checkpoint, files, case, args.orientation, work)
    print("cohort rows (one call over many scans):", flush=True)
    result["cohort"] = cohort(inputs, args, settings)
    print("bound (fresh child process, steady state):", flush=True)
    result["bound"] = bound_section(checkpoint, files, model, case, seg, settings, work)
    seg["livianet"]["computed_voxels"] = result["bound"]["computed_voxels"]  # counted, not planned

    print("training rows:", flush=True)
    samples = {
        preset: preset_batch_size(preset) * batches if batches else configured_epoch_samples(preset)
        for preset, batches in settings["train_batches"].items()
    }
    epochs = settings["train_epochs"]
    architectures = settings["train_architectures"]
    data, train_indexes = inputs.data, inputs.train_indexes
    result["training"] = training_rows(samples, epochs, data, train_indexes, work, architectures)

    print("growth rows:", flush=True)
    growth = {
        "segmentation": segmentation_growth(
            checkpoint, files, model, case, seg, settings["growth_fractions"], work
        )
    }
    points = training_growth(
        result["training"]["paper"]["shipped"],
        settings["growth_train_factor"],
        data,
        train_indexes,
        work,
        (architectures or {}).get("paper"),
    )
    growth["training"] = {
        "points": points,
        "work_unit": "training samples (one epoch, paper preset, shipped precision)",
        "fit": linear_fit([p["samples"] for p in points], [p["seconds"] for p in points]),
    }
    result["growth"] = growth


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from livianet.runtime import keep_freed_memory

    # In-process rows (the bound, the float32 reference) run with the allocator setting
    # that `livianet` itself applies, so that the bound is the network's real best.
    keep_freed_memory()
    started = time.perf_counter()
    settings = settings_for(args)
    work = fresh_work_folder(args)
    result: dict[str, Any] = {
        "machine": machine_info(),
        "settings": {**settings, "quick": args.quick, "scan": args.scan, "data": str(args.data)},
    }
    if args.only == "cache":
        return cache_only(args, work, result, started)
    if args.only == "brain":
        return brain_only(args, settings, work, result, started)
    inputs = prepare_inputs(args, settings, work, result)
    if args.only == "geometry":
        print("geometry rows (the scan stored otherwise):", flush=True)
        result["geometry"] = geometry_section(
            inputs.checkpoint, inputs.files, inputs.case, args.orientation, work
        )
    elif args.only == "cohort":
        print("cohort rows (one call over many scans):", flush=True)
        result["cohort"] = cohort(inputs, args, settings)
    else:
        all_rows(inputs, args, settings, result)
    return finish(result, args, started)


def cache_only(args: argparse.Namespace, work: Path, result: dict[str, Any], started: float) -> int:
    """The cache rows alone: they need no weights and no segmented scan."""
    result["cache"] = cache_section(args.data, args.orientation, work / "cache", RESULTS)
    write_section(result, args, started, cache_lines(result["cache"]))
    rows = result["cache"].get("memory", [])
    return 1 if any(row.get("returncode") for row in rows) else 0


def brain_only(
    args: argparse.Namespace, settings: dict[str, Any], work: Path, result: dict, started: float
) -> int:
    """The brain rows alone: the built-in model (or ``--checkpoint``), no training."""
    data = args.data
    if not (data / "MR").is_dir():
        raise SystemExit(f"{data}: no MR/ folder (expected MR/, Label/, ROI/)")
    if args.quick:
        data = write_quick_data(args.data, work / "data", settings["crop"])
    files = scan_files(data, args.scan)
    missing = [str(path) for path in files.values() if not path.is_file()]
    if missing:
        raise SystemExit(f"--scan {args.scan}: no {', '.join(missing)}")
    print("brain rows (with the scan's mask, with the brain extracted):", flush=True)
    brain = result["brain"] = brain_section(files, args.orientation, work, args.checkpoint)
    write_section(result, args, started, brain_lines(brain))
    return 1 if any(brain.get(k, {}).get("returncode") for k in ("with_roi", "extracted")) else 0


def write_section(
    result: dict[str, Any], args: argparse.Namespace, started: float, lines: list[str]
) -> None:
    """One section's JSON (``--out``) and its printed table."""
    result["machine"]["load_average_end"] = list(os.getloadavg())
    result["total_seconds"] = time.perf_counter() - started
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str))
    print("\n".join(["", *lines]))
    print(f"\nresults: {args.out} ({result['total_seconds']:.0f} s in all)")


def cohort(inputs: Inputs, args: argparse.Namespace, settings: dict[str, Any]) -> dict[str, Any]:
    return cohort_row(
        inputs.checkpoint, inputs.data, args.orientation, settings["cohort_size"], inputs.work
    )


def finish(result: dict[str, Any], args: argparse.Namespace, started: float) -> int:
    """Targets, JSON and the printed table; 1 when a row failed."""
    result["targets"] = evaluate_targets(result)
    result["machine"]["load_average_end"] = list(os.getloadavg())
    result["total_seconds"] = time.perf_counter() - started
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str))
    print()
    print(format_report(result))
    print(f"\nresults: {args.out} ({result['total_seconds']:.0f} s in all)")
    seg = result.get("segmentation", {})
    failed = [k for k, row in seg.items() if row.get("returncode")]
    failed += [
        f"geometry {k}"
        for k, row in result.get("geometry", {}).items()
        if isinstance(row, dict) and row.get("returncode")
    ]
    cohort = result.get("cohort", {})
    failed += ["cohort"] if cohort.get("returncode") else []
    failed += ["cohort single"] if cohort.get("single", {}).get("returncode") else []
    failed += [
        f"training {preset} {kind}"
        for preset, entry in result.get("training", {}).items()
        for kind in ("float32", "shipped")
        if entry[kind].get("returncode")
    ]
    if failed:
        print(f"failed rows: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
