"""livianet performance benchmark: segmentation, its bound, training, and how cost grows.

    python bench/run.py [--quick] [--out bench/results/results.json]
                        [--checkpoint CKPT] [--train-minutes M] [--scan N]

All rows run in one invocation, on the same weights and the same real scan, so
that ratios hold on a noisy machine. Segmentation rows are timed end to end as a
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
shipped precision). Growth rows show that cost is linear in work. Method and
table: docs/performance.md; usage: bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from bench_common import (  # noqa: E402
    DEFAULT_DATA,
    linear_fit,
    livianet_command,
    livianet_tile_plan,
    load_model,
    load_scan,
    machine_info,
    network_flops,
    on_stored_grid,
    restrict_roi,
    run_child,
)
from cohort_rows import cohort_row  # noqa: E402
from report import evaluate_targets, format_report  # noqa: E402
from segment_rows import segmentation_row, timed_segmentation  # noqa: E402
from train_rows import (  # noqa: E402
    configured_epoch_samples,
    preset_batch_size,
    quick_checkpoint,
    trained_checkpoint,
    training_growth,
    training_rows,
)

ORIGINAL_SAMPLE = 35  # the paper network's test sample size (input tile side)
ORIGINAL_BATCH = 10  # the paper's batch size, fixed in the compiled Theano function
TORCHIO_PATCH = 64
TORCHIO_BATCH = 4


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


# ----------------------------------------------------------------------------- data


def scan_files(data: Path, scan: int) -> dict[str, Path]:
    return {
        "image": data / "MR" / f"MR_Img{scan}.mat",
        "label": data / "Label" / f"GT_Img{scan}.mat",
        "roi": data / "ROI" / f"ROI_Img{scan}.mat",
    }


def save_mat(array: np.ndarray, path: Path) -> Path:
    import scipy.io

    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(str(path), {"vol": array}, do_compression=True)
    return path


def write_quick_data(source: Path, target: Path, side: int) -> Path:
    """Every scan cropped to ``side``^3 about its labelled structures, in the original layout."""
    from livianet.io import load_volume

    for label_path in sorted((source / "Label").glob("GT_Img*.mat")):
        files = scan_files(source, int(label_path.stem.removeprefix("GT_Img")))
        labels = load_volume(files["label"]).data
        lo = []
        for axis, size in enumerate(labels.shape):
            others = tuple(b for b in range(3) if b != axis)
            found = np.flatnonzero(labels.any(axis=others))
            lo.append(int(min(max((found[0] + found[-1]) // 2 - side // 2, 0), size - side)))
        window = tuple(slice(low, low + side) for low in lo)
        for path in files.values():
            save_mat(load_volume(path).data[window], target / path.parent.name / path.name)
    return target


# ----------------------------------------------------------------------------- rows


def shipped_precision() -> str:
    """What ``livianet segment`` runs by default (``--precision auto``) on this CPU."""
    import torch

    from livianet.runtime import resolve_precision

    return resolve_precision("auto", torch.device("cpu"))


def segmentation_section(
    checkpoint: Path, files: dict[str, Path], model, case, references, work: Path
) -> dict[str, Any]:
    """Rows (a), (b), (c), back to back, with the work each computes."""
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
    rows["original"] = segmentation_row(
        "original",
        [sys.executable, str(BENCH / "original_method.py"), str(checkpoint), image,
         "--roi", roi_file, "--out", str(work / "seg_b"),
         "--sample", str(ORIGINAL_SAMPLE), "--batch", str(ORIGINAL_BATCH)],
        work / "seg_b", files["image"], stored_roi, raw_reference, logs,
    )  # fmt: skip
    rows["original_lean"] = segmentation_row(
        "original_lean",
        [sys.executable, str(BENCH / "lean_method.py"), str(checkpoint), image,
         "--roi", roi_file, "--out", str(work / "seg_b_lean"),
         "--sample", str(ORIGINAL_SAMPLE), "--batch", str(ORIGINAL_BATCH)],
        work / "seg_b_lean", files["image"], stored_roi, raw_reference, logs,
    )  # fmt: skip
    rows["torchio"] = segmentation_row(
        "torchio",
        [sys.executable, str(BENCH / "torchio_method.py"), str(checkpoint), image,
         "--roi", roi_file, "--out", str(work / "seg_c"),
         "--patch", str(TORCHIO_PATCH), "--batch", str(TORCHIO_BATCH)],
        work / "seg_c", files["image"], stored_roi, raw_reference, logs,
    )  # fmt: skip
    rf = model.receptive_field
    tiles = livianet_tile_plan(model, case.roi, case.shape, shipped_precision())
    rows["livianet"].update(
        tiles=len(tiles),
        tile_size=list(max(t.size for t in tiles)),
        computed_voxels=sum(int(np.prod(t.size)) for t in tiles),
        flops=livianet_flops(model, case, tiles),
    )
    for key, side in (
        ("original", ORIGINAL_SAMPLE),
        ("original_lean", ORIGINAL_SAMPLE),
        ("torchio", TORCHIO_PATCH),
    ):
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


def geometry_section(
    checkpoint: Path, files: dict[str, Path], case, orientation: str | None, work: Path
) -> dict[str, Any]:
    """The same scan as NIfTI in the model's own grid, and as LIA at 1.3 x 1.0 x 1.2 mm.

    The second needs reorienting and resampling in, and its probabilities
    resampled back: the ratio of the two is what another scanner's storage costs.
    A third row segments the scan stored as LIA at 1 mm with the built-in model
    (no checkpoint named), as a new user first runs livianet.
    """
    import nibabel as nib
    from nibabel.processing import resample_from_to

    from livianet.data.orientation import affine_for_codes, reorientation
    from livianet.data.spatial import grid_for_spacing

    if orientation is None:
        return {"skipped": "the scans' orientation is unknown (--orientation none)"}
    stored_shape = case.reference.spatial_shape
    stored = affine_for_codes(orientation, stored_shape)
    turn = reorientation(stored, stored_shape, "RAS")
    raw = np.asarray(load_volume_data(files["image"]), dtype=np.float32)
    roi = on_stored_grid(case, case.roi).astype(np.uint8)
    ras = [nib.Nifti1Image(turn.apply(a), turn.affine) for a in (raw, roi)]
    folder = work / "geometry"
    folder.mkdir(parents=True, exist_ok=True)
    names = {
        "as_model": ("ras_t1.nii.gz", "ras_roi.nii.gz"),
        "lia_coarse": ("lia_t1.nii.gz", "lia_roi.nii.gz"),
        "builtin": ("lia1mm_t1.nii.gz", "lia1mm_roi.nii.gz"),
    }
    for image, name in zip(ras, names["as_model"], strict=True):
        nib.save(image, str(folder / name))
    lia_1mm = reorientation(turn.affine, turn.shape, "LIA")
    for image, name in zip(ras, names["builtin"], strict=True):
        data = lia_1mm.apply(np.asarray(image.dataobj))
        nib.save(nib.Nifti1Image(data, lia_1mm.affine), str(folder / name))
    affine, shape = grid_for_spacing(turn.affine, turn.shape, (1.3, 1.0, 1.2))
    coarse = [
        resample_from_to(v, (shape, affine), order=o) for v, o in zip(ras, (1, 0), strict=True)
    ]
    lia = reorientation(affine, shape, "LIA")
    for image, name in zip(coarse, names["lia_coarse"], strict=True):
        data = lia.apply(np.asarray(image.dataobj))
        nib.save(nib.Nifti1Image(data, lia.affine), str(folder / name))
    rows: dict[str, Any] = {}
    for key, (image_name, roi_name) in names.items():
        # the built-in row names no checkpoint: `livianet segment T1 --roi MASK --out DIR`
        model = [] if key == "builtin" else [str(checkpoint)]
        rows[key] = segmentation_row(
            f"geometry_{key}",
            livianet_command("segment", *model, str(folder / image_name), "--roi",
                             str(folder / roi_name), "--out", str(work / f"seg_{key}")),
            work / f"seg_{key}", folder / image_name, np.zeros(1, bool), None, work / "logs",
        )  # fmt: skip
    rows["lia_coarse"]["shape"] = list(shape)
    if rows["as_model"].get("seconds") and rows["lia_coarse"].get("seconds"):
        rows["overhead"] = rows["lia_coarse"]["seconds"] / rows["as_model"]["seconds"] - 1.0
    return rows


def load_volume_data(path: Path) -> np.ndarray:
    from livianet.io import load_volume

    return load_volume(path).data


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

    Measured in a fresh child process (``bound_child.py``), as ``livianet
    segment`` runs: a long-lived benchmark process runs the network slower.
    """  # fmt: skip
    out = work / "bound.json"
    command = [
        sys.executable, str(BENCH / "bound_child.py"), str(checkpoint), str(files["image"]),
        str(files["roi"]), "--tiles", *map(str, settings["bound_tiles"]),
        "--seconds", str(settings["bound_seconds"]), "--out", str(out),
    ]  # fmt: skip
    child = run_child(command, work / "logs" / "bound.log")
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
            f"  note: bench/bench_common.livianet_tile_plan ({planned} voxels) no longer matches "
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


# ----------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="livianet benchmark: segmentation against the original LiviaNET's "
        "method and TorchIO, the bound, training, growth."
    )
    parser.add_argument("--quick", action="store_true", help="a smoke test of about a minute")
    parser.add_argument(
        "--out", type=Path, default=BENCH / "results" / "results.json", help="JSON results"
    )
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
        choices=["geometry", "cohort"],
        help="run one section alone: 'geometry' (the scan stored otherwise, and the built-in "
        "model) or 'cohort' (one call over many scans)",
    )
    args = parser.parse_args(argv)
    args.orientation = None if args.orientation.lower() == "none" else args.orientation.upper()
    # Absolute paths: livianet reads the folders of a training INI relative to the INI.
    args.out, args.data = args.out.resolve(), args.data.resolve()
    if args.checkpoint:
        args.checkpoint = args.checkpoint.resolve()
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from livianet.runtime import keep_freed_memory

    # In-process rows (the bound, the float32 reference) run with the allocator setting
    # that `livianet` itself applies, so that the bound is the network's real best.
    keep_freed_memory()
    started = time.perf_counter()
    settings = settings_for(args)
    results = args.out.parent
    work = results / ("work-quick" if args.quick else "work")
    marker = work / ".livianet-bench"
    if work.exists():
        if not marker.exists():
            raise SystemExit(
                f"{work} exists and was not made by this benchmark; choose another --out"
            )
        shutil.rmtree(work)
    work.mkdir(parents=True)
    marker.touch()
    result: dict[str, Any] = {
        "machine": machine_info(),
        "settings": {**settings, "quick": args.quick, "scan": args.scan, "data": str(args.data)},
    }

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
            results, data, train_indexes, args.scan, args.train_minutes, args.orientation
        )
    result["weights"] = {**weights, "checkpoint": str(checkpoint)}

    model, state = load_model(checkpoint)
    normalization = state.get("normalization", "none")
    case = load_scan(files["image"], files["roi"], state, model.config.num_classes)
    largest = bool(state.get("largest_component", False))
    result["scan"] = {
        "image": str(files["image"]),
        "roi": str(files["roi"]),
        "shape": list(case.shape),
        "roi_voxels": int(case.roi.sum()),
        "network": {
            "conv_channels": list(model.config.conv_channels),
            "fc_channels": list(model.config.fc_channels),
            "receptive_field": list(model.receptive_field),
            "normalization": normalization,
            "largest_component": largest,
        },
    }

    if args.only == "geometry":
        print("geometry rows (the scan stored otherwise):", flush=True)
        result["geometry"] = geometry_section(checkpoint, files, case, args.orientation, work)
        return finish(result, args, started)
    if args.only == "cohort":
        print("cohort rows (one call over many scans):", flush=True)
        result["cohort"] = cohort(checkpoint, data, args, settings, work)
        return finish(result, args, started)

    print("float32 reference: livianet in-process, precision float32 ...", flush=True)
    raw_reference, seconds, _ = timed_segmentation(model, case, "float32")
    shipped_reference = raw_reference
    if largest:  # (a) post-processes as trained; compare it with the same
        from livianet.inference import keep_largest_component

        shipped_reference = keep_largest_component(raw_reference, model.config.num_classes)
    result["reference"] = {"precision": "float32", "seconds_in_process": seconds}
    raw_reference, shipped_reference = (
        on_stored_grid(case, labels) for labels in (raw_reference, shipped_reference)
    )

    print("segmentation rows (end to end):", flush=True)
    seg = segmentation_section(
        checkpoint, files, model, case, (raw_reference, shipped_reference), work
    )
    result["segmentation"] = seg
    print("geometry rows (the scan stored otherwise):", flush=True)
    result["geometry"] = geometry_section(checkpoint, files, case, args.orientation, work)
    print("cohort rows (one call over many scans):", flush=True)
    result["cohort"] = cohort(checkpoint, data, args, settings, work)
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

    return finish(result, args, started)


def cohort(
    checkpoint: Path, data: Path, args: argparse.Namespace, settings: dict[str, Any], work: Path
) -> dict[str, Any]:
    return cohort_row(checkpoint, data, args.orientation, settings["cohort_size"], work)


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
