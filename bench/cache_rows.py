"""The cache rows: training memory against the number of cases, with the preprocessed cache.

``python -m bench --only cache`` writes 48 distinct 256^3 cases as NIfTI (from the five
example scans, stored ``ILA``: each shifted and its intensities scaled, so that no two
are equal; kept under ``bench/results/cache-cohort/`` and reused), then runs
``livianet train`` on a tiny network for one short epoch, as a user would:

- peak memory against the number of training cases, with the cache built during the run
  (a fresh cache folder each time) and held in memory (``cache = 0``), one process and
  ``torchrun --nproc_per_node=2``; memory is ``RssAnon + RssShmem`` summed over the run's
  processes (:func:`bench.memory.run_tree`), so the cache's file pages do not count;
- a second run, in a new run folder, on the 48 cases' cache: it must preprocess nothing;
- steps per second on five cases, in memory against the cache (interleaved, twice each).
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import livianet_command
from bench.memory import GIB, run_tree

COHORT_VERSION = 1  # of the generated cases; raise to write them again
NETWORK = """\
[General]
networkName = tiny
folderName = {name}
outputRoot = {out}
seed = 1

[CNN_Architecture]
numkernelsperlayer = [8, 8, 16, 24]
kernelshapes = [[3, 3, 3], [3, 3, 3], [3, 3, 3], [1]]
intermediateConnectedLayers = []
dropout_Rates = [0.0, 0.0]
activationType = 2
n_classes = 9
weight_Initialization_CNN = 1
weight_Initialization_FCN = 1

[Training Parameters]
batch_size = 16
number Of Epochs = 1
number Of SubEpochs = 1
number of samples at each SubEpoch Train = {samples}
sampleSize_Train = [25, 25, 25]
sampleSize_Test = [45, 45, 45]
costFunction = 0
Leraning Rate = [0.001]
Optimizer Type = 1
applyBatchNormalization = 1
applyPadding = 1
normalization = zscore
precision = float32
{cache}

[Training Images]
imagesFolder = {data}/MR
GroundTruthFolder = {data}/Label
ROIFolder = {data}/ROI
indexesForTraining = {train}
indexesForValidation = [{validation}]
"""


def write_cases(data: Path, orientation: str, count: int, folder: Path) -> Path:
    """``count`` distinct cases as NIfTI in ``folder/{MR,Label,ROI}`` (kept between runs)."""
    import nibabel as nib

    from livianet.data.orientation import affine_for_codes
    from livianet.io import load_volume

    marker = folder / "cohort.json"
    wanted = {"version": COHORT_VERSION, "count": count, "orientation": orientation}
    if marker.exists() and json.loads(marker.read_text()) == wanted:
        return folder
    scans = sorted((data / "MR").glob("MR_Img*.mat"))
    for n in range(count):
        scan = scans[n % len(scans)]
        variant = n // len(scans)
        arrays = [
            load_volume(data / kind / scan.name.replace("MR_", prefix)).data
            for kind, prefix in (("MR", "MR_"), ("Label", "GT_"), ("ROI", "ROI_"))
        ]
        shift = (variant % 3 - 1) * 3, (variant // 3 % 3 - 1) * 3, variant - 4
        image = np.roll(arrays[0].astype(np.float32), shift, axis=(0, 1, 2))
        image = np.rint(image * (1.0 + 0.05 * variant) + 2.0 * variant).astype(np.int16)
        label, roi = (np.roll(a.astype(np.uint8), shift, axis=(0, 1, 2)) for a in arrays[1:])
        affine = affine_for_codes(orientation, image.shape)
        for kind, prefix, array in (
            ("MR", "MR", image),
            ("Label", "GT", label),
            ("ROI", "ROI", roi),
        ):
            (folder / kind).mkdir(parents=True, exist_ok=True)
            nib.save(
                nib.Nifti1Image(array, affine), str(folder / kind / f"{prefix}_{n:03d}.nii.gz")
            )
    marker.write_text(json.dumps(wanted))
    return folder


def write_config(work: Path, name: str, data: Path, cases: int, cache: str, samples: int) -> Path:
    ini = work / "configs" / f"{name}.ini"
    ini.parent.mkdir(parents=True, exist_ok=True)
    ini.write_text(
        NETWORK.format(
            name=name, out=work / "runs", samples=samples, cache=cache, data=data,
            train=list(range(cases)), validation=cases,
        )
    )  # fmt: skip
    return ini


def train_row(
    work: Path, name: str, data: Path, cases: int, *, cache: str = "", extra: tuple[str, ...] = (),
    ranks: int = 1, samples: int = 320,
) -> dict[str, Any]:  # fmt: skip
    """One ``livianet train`` (or torchrun of it): peak memory, time, steps/s, what it preprocessed."""
    ini = write_config(work, name, data, cases, cache, samples)
    command = livianet_command("train", str(ini), *extra)
    if ranks > 1:
        command = [
            sys.executable, "-m", "torch.distributed.run", "--standalone",
            f"--nproc_per_node={ranks}", "-m", "livianet", "train", str(ini), *extra,
        ]  # fmt: skip
    print(f"  {name}: {cases} cases, {ranks} process(es) ...", flush=True)
    run = run_tree(command, work / "logs" / f"{name}.log")
    log = run.log.read_text(errors="replace")
    row: dict[str, Any] = {
        "cases": cases, "ranks": ranks, "cache": "memory" if "cache = 0" in cache else "cache",
        "seconds": run.seconds, "peak_bytes": run.peak_bytes, "peak_gib": run.peak_bytes / GIB,
        "processes": run.processes, "returncode": run.returncode,
        "preprocessed_nothing": "already preprocessed" in log,
    }  # fmt: skip
    metrics = work / "runs" / name / "tiny_metrics.csv"
    if metrics.exists():
        first = next(csv.DictReader(open(metrics)))
        row["steps_per_s"] = float(first["samples_per_s"]) / 16
        row["train_loss"] = float(first["train_loss"])
        row["val_dice_mean"] = float(first["val_dice_mean"])
    if run.returncode:
        row["log_tail"] = "\n".join(log.splitlines()[-15:])
    shown = {k: v for k, v in row.items() if k != "log_tail"}
    print(f"    {json.dumps(shown, default=str)}", flush=True)  # partial results as rows finish
    return row


def cache_section(data: Path, orientation: str | None, work: Path, results: Path) -> dict[str, Any]:
    """Memory against cases (cache and memory, one and two processes), the second run, speed."""
    if orientation is None:
        return {"skipped": "the scans' orientation is unknown (--orientation none)"}
    print("cache rows: writing the cases (reused when present) ...", flush=True)
    cohort = write_cases(data, orientation, 49, results / "cache-cohort")  # 48 + 1 validation
    memory_rows = []
    for cases in (5, 12, 24, 48):
        folder = work / f"cache-{cases}"
        memory_rows.append(
            train_row(
                work, f"cache{cases}", cohort, cases, extra=("--cache", str(folder), "--jobs", "2")
            )
        )
    for cases in (5, 12):
        memory_rows.append(train_row(work, f"memory{cases}", cohort, cases, cache="cache = 0"))
    for cases in (5, 48):
        folder = work / f"cache-ranks-{cases}"
        memory_rows.append(
            train_row(work, f"ranks{cases}", cohort, cases, extra=("--cache", str(folder)), ranks=2)
        )
    second = train_row(work, "second48", cohort, 48, extra=("--cache", str(work / "cache-48")))
    half = train_row(
        work, "float16-5", cohort, 5, cache="cacheDtype = float16",
        extra=("--cache", str(work / "cache-5-float16")),
    )  # fmt: skip
    speed = []
    for repeat in range(2):
        for kind, cache, extra in (
            ("memory", "cache = 0", ()),
            ("cache", "", ("--cache", str(work / "cache-5"))),
        ):
            row = train_row(
                work, f"speed-{kind}-{repeat}", cohort, 5, cache=cache, extra=extra, samples=1600
            )
            speed.append({"kind": kind, **row})
    return {
        "cohort": str(cohort),
        "memory": memory_rows,
        "second_run": second,
        "float16": {"float16": half, "float32": memory_rows[0]},
        "speed": speed,
    }


def _peak(rows: list[dict[str, Any]], cases: int, cache: str, ranks: int) -> float | None:
    found = [r for r in rows if (r["cases"], r["cache"], r["ranks"]) == (cases, cache, ranks)]
    return found[0]["peak_gib"] if found and not found[0]["returncode"] else None


def cache_targets(section: dict[str, Any]) -> list[tuple[str, float | None, float, bool]]:
    """``(name, value, threshold, higher is better)`` of the issue's targets."""
    rows = section.get("memory", [])
    one48, one5 = _peak(rows, 48, "cache", 1), _peak(rows, 5, "cache", 1)
    two48, two5 = _peak(rows, 48, "cache", 2), _peak(rows, 5, "cache", 2)
    speeds: dict[str, list[float]] = {"memory": [], "cache": []}
    for row in section.get("speed", []):
        if "steps_per_s" in row:
            speeds[row["kind"]].append(row["steps_per_s"])
    ratio = (
        max(speeds["cache"]) / max(speeds["memory"])
        if speeds["cache"] and speeds["memory"]
        else None
    )
    second = section.get("second_run", {})
    return [
        ("48 cases, one process: peak GiB", one48, 2.5, False),
        ("48 - 5 cases, one process: GiB", one48 - one5 if one48 and one5 else None, 0.5, False),
        ("48 cases, torchrun x2: peak GiB", two48, 2.5, False),
        ("48 - 5 cases, torchrun x2: GiB", two48 - two5 if two48 and two5 else None, 0.5, False),
        ("steps/s, cache / in memory (5 cases)", ratio, 0.9, True),
        (
            "second run preprocesses nothing",
            float(bool(second.get("preprocessed_nothing"))),
            1.0,
            True,
        ),
    ]


def cache_lines(section: dict[str, Any]) -> list[str]:
    """The printed table."""
    if "skipped" in section:
        return [f"cache rows: skipped ({section['skipped']})"]
    header = (
        f"{'training, 256^3 cases':<44}{'cases':>6}{'peak GiB':>10}{'seconds':>9}{'steps/s':>9}"
    )
    lines = [header, "-" * len(header)]
    rows = [(r, "") for r in [*section["memory"], section["second_run"]]]
    rows += [(section["float16"]["float16"], ", float16")]
    rows += [(r, ", speed") for r in section["speed"]]
    for row, what in rows:
        name = f"{row['cache']}, {row['ranks']} process{'es' if row['ranks'] > 1 else ''}{what}"
        if row.get("preprocessed_nothing"):
            name += ", nothing preprocessed"
        steps = f"{row['steps_per_s']:.2f}" if "steps_per_s" in row else "-"
        state = "FAILED" if row["returncode"] else f"{row['peak_gib']:.2f}"
        lines.append(f"{name:<44}{row['cases']:>6}{state:>10}{row['seconds']:>9.0f}{steps:>9}")
    pair = section["float16"]
    if all("train_loss" in pair[k] for k in pair):
        lines.append(
            "  float16 against float32 cache (5 cases, same seed): loss "
            f"{pair['float16']['train_loss']:.5f} / {pair['float32']['train_loss']:.5f}, val Dice "
            f"{pair['float16']['val_dice_mean']:.4f} / {pair['float32']['val_dice_mean']:.4f}"
        )
    for name, value, threshold, higher in cache_targets(section):
        verdict = (
            "?"
            if value is None
            else "pass"
            if (value >= threshold if higher else value < threshold)
            else "FAIL"
        )
        shown = "-" if value is None else f"{value:.2f}"
        lines.append(f"  {name}: {shown} ({'>=' if higher else '<'} {threshold}) {verdict}")
    return lines
