"""Cross-validation of a training recipe: each fold leaves one scan out, trains, and scores it.

    python models/crossval.py models/subcortical-abide-v1/train.ini \\
        --data RUNS/data --epochs 10 --work RUNS/cv --folds 1 2 3 4 5

Fold k trains the recipe on every scan of the recipe's training indexes but the
k-th of the sorted listing (no validation scan), through ``livianet train`` as
a user would, for ``--epochs`` epochs (the recipe's schedule planned over that
many: folds may be shorter than the shipped model). Its test scan, never seen in
training, is segmented through the Python API from its file (the data folder of
subcortical-abide-v1 holds NIfTI in RAS, as ``make_data.py`` writes it); Dice,
HD95 and volume error per structure are scored on the scan's own grid. A fold
whose last checkpoint exists is not retrained, one with earlier checkpoints
resumes from the newest: the whole run can be stopped and restarted. Prints a
Markdown table and writes ``crossval.json`` in ``--work``.
"""

from __future__ import annotations

import argparse
import configparser
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, cast

import nibabel as nib
import numpy as np

from livianet import Segmenter
from livianet.evaluation.metrics import metrics_per_label

if TYPE_CHECKING:
    from nibabel.spatialimages import SpatialImage


def fold_config(recipe: Path, test_index: int, indexes: list[int], epochs: int, folder: str) -> str:
    """The recipe's text with its training indexes, epoch count and run folder replaced."""
    text = recipe.read_text()
    train = [i for i in indexes if i != test_index]
    replacements = {
        r"^indexesForTraining\s*=.*$": f"indexesForTraining = {train}",
        r"^indexesForValidation\s*=.*$": "indexesForValidation = []",
        r"^number Of Epochs\s*=.*$": f"number Of Epochs = {epochs}",
        r"^folderName\s*=.*$": f"folderName = {folder}",
    }
    for pattern, line in replacements.items():
        text, count = re.subn(pattern, line, text, flags=re.MULTILINE | re.IGNORECASE)
        if count != 1:
            raise SystemExit(f"{recipe}: expected one line matching {pattern!r}, found {count}")
    return text


def train_fold(config: Path, run_dir: Path, args: argparse.Namespace, prefix: str) -> Path:
    """The fold's last checkpoint, training (or resuming) it first when it is missing."""
    networks = run_dir / "Networks"
    last = networks / f"{prefix}_Epoch{args.epochs}.pt"
    if last.exists():
        return last
    command = [
        sys.executable,
        "-m",
        "livianet",
        "train",
        str(config),
        "--data-root",
        str(args.data),
    ]
    names = args.recipe.parent / "labels.tsv"
    if names.exists():
        command += ["--names", str(names)]
    done = sorted(networks.glob(f"{prefix}_Epoch*.pt"), key=lambda p: int(p.stem.rsplit("h", 1)[1]))
    if done:
        command += ["--resume", str(done[-1])]
    print(" ".join(command), flush=True)
    subprocess.run(command, cwd=args.work, check=True)
    return last


def score_fold(checkpoint: Path, data: Path, position: int) -> dict:
    image, roi, reference = (sorted((data / f).iterdir())[position] for f in ("MR", "ROI", "Label"))
    segmenter = Segmenter.from_checkpoint(checkpoint)
    tick = time.perf_counter()
    result = segmenter.segment(image, roi)
    seconds = time.perf_counter() - tick
    truth_image = cast("SpatialImage", nib.load(reference))  # the data folder holds NIfTI
    truth = np.asarray(truth_image.dataobj).astype(result.labels.dtype)
    labels = range(1, segmenter.num_classes)
    rows = metrics_per_label(result.labels, truth, result.geometry.spacing, labels)
    return {"scan": image.name, "checkpoint": str(checkpoint), "seconds": seconds,
            "geometry": result.geometry.as_dict(),
            "names": {int(k): v for k, v in result.label_names.items()},
            "metrics": {int(k): v for k, v in rows.items()}}  # fmt: skip


def spread(values: np.ndarray) -> str:
    """The sample SD, or a dash for a single fold."""
    return f"{values.std(ddof=1):.3f}" if values.size > 1 else "-"


def summary_table(folds: list[dict]) -> str:
    labels = sorted(folds[0]["metrics"])
    names = folds[0]["names"]
    lines = [
        "| Structure | Dice mean ± SD | Dice per fold | HD95 mm | Volume error % |",
        "|---|---|---|---|---|",
    ]
    means = []
    for label in labels:
        dice = np.array([f["metrics"][label]["dice"] for f in folds])
        hd95 = np.array([f["metrics"][label]["hd95_mm"] for f in folds])
        vol = np.array([f["metrics"][label]["volume_diff_pct"] for f in folds])
        means.append(dice.mean())
        lines.append(
            f"| {names.get(label, f'label_{label}')} | {dice.mean():.3f} ± {spread(dice)}"
            f" | {' '.join(f'{d:.2f}' for d in dice)} | {np.nanmean(hd95):.2f}"
            f" | {np.nanmean(vol):+.1f} |"
        )
    per_fold = [np.mean([f["metrics"][k]["dice"] for k in labels]) for f in folds]
    lines.append(
        f"| **mean** | **{np.mean(means):.3f}** | {' '.join(f'{d:.3f}' for d in per_fold)} | | |"
    )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe", type=Path)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--folds", type=int, nargs="*", default=[1, 2, 3, 4, 5])
    args = parser.parse_args()
    args.recipe, args.data = args.recipe.resolve(), args.data.resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    args.work = args.work.resolve()
    ini = configparser.ConfigParser(inline_comment_prefixes=("#",))
    ini.read(args.recipe)
    prefix = ini["General"]["networkName"]
    indexes = json.loads(ini["Training Images"]["indexesForTraining"])
    folds = []
    for fold in args.folds:
        folder = f"cv-fold{fold}"
        config = args.work / f"{folder}.ini"
        config.write_text(fold_config(args.recipe, fold - 1, indexes, args.epochs, folder))
        run_dir = args.work / ini["General"].get("outputRoot", "outputFiles") / folder
        checkpoint = train_fold(config, run_dir, args, prefix)
        result = score_fold(checkpoint, args.data, fold - 1)
        result["fold"] = fold
        folds.append(result)
        mean = np.mean([m["dice"] for m in result["metrics"].values()])
        print(f"fold {fold} (test {result['scan']}): mean Dice {mean:.3f}", flush=True)
    (args.work / "crossval.json").write_text(json.dumps(folds, indent=2))
    print(summary_table(folds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
