"""``livianet demo``: the whole product on real MRI in minutes: train, segment, report.

Without ``--data`` it builds pseudo-subjects from the MNI152 template (see
:mod:`livianet.demo.dataset`); with ``--data DIR`` it uses any folder in the
original layout (``MR/``, ``Label/``, ``ROI/``). Test scans are never trained
on, and model selection never sees them: a held-out validation scan picks the
best epoch when there are enough scans, otherwise the last epoch is kept.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from livianet.atomic import check_writable, write_text_atomic
from livianet.errors import DataError

if TYPE_CHECKING:
    from livianet.config import TrainingConfig

logger = logging.getLogger(__name__)

DEFAULT_SUBJECTS = 6


@dataclass(frozen=True)
class DemoOptions:
    out: Path = Path("livianet-demo")
    data: Path | None = None
    minutes: float = 5.0
    preset: str | None = None
    quick: bool = False
    device: str = "auto"
    orientation: str | None = None  # axis codes of .mat scans in --data
    init_from: str | None = None  # fine-tune: a checkpoint or a built-in model's name


FINE_TUNE_LEARNING_RATE = "[0.0005]"  # a quarter of the presets': keep what the start knows


@dataclass(frozen=True)
class Split:
    train: list[int]
    validation: list[int]
    test: list[int]


def split_cases(count: int) -> Split:
    """Train on all but the last one or two scans; the last is the test scan.

    A validation scan (the second last) is held out only when at least four
    scans remain for training.

    >>> split_cases(6)
    Split(train=[0, 1, 2, 3], validation=[4], test=[5])
    >>> split_cases(5)
    Split(train=[0, 1, 2, 3], validation=[], test=[4])
    """
    if count < 2:
        raise DataError(
            f"the demo needs at least 2 scans (one to train on, one to test), found {count}"
        )
    if count >= 6:
        return Split(list(range(count - 2)), [count - 2], [count - 1])
    return Split(list(range(count - 1)), [], [count - 1])


def _count_classes(label_folder: Path) -> int:
    from livianet.io import list_volume_files, load_volume

    highest = 0
    for path in list_volume_files(label_folder):
        data = load_volume(path).data
        highest = max(highest, int(np.asarray(data).max()))
    return highest + 1


def _label_names(data: Path) -> dict[int, str] | None:
    names_file = data / "labels.json"
    if not names_file.is_file():
        return None
    from livianet.io import load_label_names

    return load_label_names(names_file)


def _prepare_data(options: DemoOptions) -> tuple[Path, bool]:
    """The data folder, and whether it is the built-in template example."""
    if options.data is not None:
        for sub in ("MR", "Label", "ROI"):
            if not (options.data / sub).is_dir():
                raise DataError(
                    f"{options.data}: expected the original layout with MR/, Label/ and ROI/ folders; {sub}/ is missing"
                )
        return options.data, False
    from livianet.demo.dataset import build_default_dataset

    subjects = 3 if options.quick else DEFAULT_SUBJECTS
    logger.info("preparing the built-in example (MNI152 template, %d pseudo-subjects)...", subjects)
    return build_default_dataset(options.out / "data", num_subjects=subjects, seed=0), True


def _quick_overrides() -> dict[str, dict[str, str]]:
    return {
        "Training Parameters": {
            "number Of Epochs": "1",
            "number of samples at each SubEpoch Train": "8",
            "batch_size": "4",
            "sampleSize_Train": "[27, 27, 27]",
        }
    }


def run_demo(options: DemoOptions) -> str:
    """Run the demo; returns the closing summary (table, files, next steps)."""
    started = time.perf_counter()
    out = options.out
    check_writable(out, min_free_bytes=256 << 20)
    data, builtin = _prepare_data(options)
    split = _demo_split(data, options.quick)
    num_classes = _count_classes(data / "Label")
    names = _label_names(data)
    preset = options.preset or "fast"
    config = _write_config(options, preset, data, split, num_classes)
    trained = _train_demo(config, options, preset, split, names)
    seg_dir = out / "segmentations"
    rows = _segment_test_scans(config, split, trained.checkpoint, seg_dir, options, names)
    summary = _summary(
        rows,
        out,
        config,
        trained.checkpoint,
        trained.last,
        seg_dir,
        builtin,
        trained.minutes,
        time.perf_counter() - started,
        preset,
    )
    write_text_atomic(out / "summary.txt", summary + "\n")
    _write_results_json(out / "results.json", rows, trained.minutes, preset, trained.checkpoint)
    return summary


def _demo_split(data: Path, quick: bool) -> Split:
    """The split of the scans in ``data/MR``; a quick run trains on two scans, validates on none."""
    from livianet.io import list_volume_files

    split = split_cases(len(list_volume_files(data / "MR")))
    return Split(split.train[:2], [], split.test) if quick else split


def _overrides(options: DemoOptions, split: Split) -> dict[str, dict[str, str]]:
    """The INI keys the demo sets beyond the preset's, by section."""
    overrides = _quick_overrides() if options.quick else {}
    if split.validation and not options.quick:
        overrides.setdefault("Training Parameters", {})["validationFrequency"] = "3"
    if options.orientation:
        overrides.setdefault("Training Images", {})["orientation"] = options.orientation
    if options.init_from:
        overrides.setdefault("Training Parameters", {})["Leraning Rate"] = FINE_TUNE_LEARNING_RATE
    return overrides


def _write_config(
    options: DemoOptions, preset: str, data: Path, split: Split, num_classes: int
) -> TrainingConfig:
    """Write the demo's INI (a starting point to copy) into the output folder, and load it."""
    from livianet.config import load_training_config
    from livianet.config.presets import render_config

    out = options.out
    header = (
        "livianet demo config, written by `livianet demo`: a starting point to copy.\n"
        f"Preset '{preset}'. Train with: livianet train {out / 'livianet_demo.ini'}\n"
        "Every key is explained in docs/config.md."
    )
    text = render_config(
        preset,
        "demo",
        "run",
        out.resolve(),
        data.resolve(),
        split.train,
        split.validation,
        num_classes,
        _overrides(options, split),
        header,
    )
    config_path = out / "livianet_demo.ini"
    write_text_atomic(config_path, text)
    return load_training_config(config_path)


@dataclass(frozen=True)
class _Trained:
    checkpoint: Path  # the model the test scans are segmented with
    last: Path | None  # the last epoch's checkpoint, to train on from
    minutes: float  # training time, summed over the epochs


def _train_demo(
    config: TrainingConfig,
    options: DemoOptions,
    preset: str,
    split: Split,
    names: dict[int, str] | None,
) -> _Trained:
    """Train within the budget; keep the best epoch when a validation scan chose it, else the last."""
    from livianet.training import TrainOptions, train

    logger.info(
        "training '%s'%s on %d scans for up to %.1f minutes (test scan%s %s never trained on)",
        preset,
        f" from {options.init_from}" if options.init_from else "",
        len(split.train),
        options.minutes,
        "s" if len(split.test) > 1 else "",
        split.test,
    )
    budget = None if options.quick else options.minutes * 60
    result = train(
        config,
        TrainOptions(
            overwrite=True,
            device=options.device,
            time_budget_s=budget,
            label_names=names,
            init_from=options.init_from,
        ),
    )
    checkpoint = (
        result.best_checkpoint
        if split.validation and result.best_checkpoint
        else result.last_checkpoint
    )
    if checkpoint is None:
        raise DataError("training produced no checkpoint")
    minutes = sum(row.get("seconds", 0.0) for row in result.history) / 60
    return _Trained(checkpoint, result.last_checkpoint, minutes)


def _segment_test_scans(
    config: TrainingConfig,
    split: Split,
    checkpoint: Path,
    seg_dir: Path,
    options: DemoOptions,
    names: dict[int, str] | None,
) -> list[dict[str, Any]]:
    """Segment the held-out scans (with pictures); their metric rows."""
    from livianet.data import list_cases
    from livianet.inference import SegmentOptions, segment_files
    from livianet.networks import Checkpoint

    jobs = list_cases(config.data, tuple(split.test), "test")
    report = segment_files(
        Checkpoint.read(checkpoint),
        jobs,
        seg_dir,
        SegmentOptions(device=options.device, names=names, snapshot=True),
    )
    return report.metric_rows


def structure_table(rows: list[dict[str, Any]]) -> tuple[str, float]:
    """Per-structure Dice, HD95 and volumes (means over test scans), and the mean Dice."""
    from livianet.evaluation import summary_by_label

    summary = summary_by_label(rows)
    volumes: dict[int, tuple[list[float], list[float]]] = {}
    for row in rows:
        pred, gt = volumes.setdefault(row["label"], ([], []))
        pred.append(row["volume_pred_mm3"])
        gt.append(row["volume_gt_mm3"])
    lines = [
        f"{'structure':<18} {'Dice':>6} {'HD95 mm':>8} {'volume mm3':>11} {'reference mm3':>14}"
    ]
    for item in summary:
        pred, gt = volumes[item["label"]]
        lines.append(
            f"{item['name']:<18} {item['dice']:>6.3f} {item['hd95_mm']:>8.2f} {np.mean(pred):>11.0f} {np.mean(gt):>14.0f}"
        )
    dice = [item["dice"] for item in summary if math.isfinite(item["dice"])]
    mean = float(np.mean(dice)) if dice else float("nan")
    lines.append(f"{'mean':<18} {mean:>6.3f}")
    return "\n".join(lines), mean


def _summary(
    rows: list[dict[str, Any]],
    out: Path,
    config: TrainingConfig,
    checkpoint: Path,
    last: Path | None,
    seg_dir: Path,
    builtin: bool,
    train_minutes: float,
    total_seconds: float,
    preset: str,
) -> str:
    from livianet.training import RunPaths

    table, mean = structure_table(rows)
    paths = RunPaths.of(config)
    test_images = sorted({row["image"] for row in rows})
    lines = [
        "",
        f"livianet demo: preset '{preset}', {train_minutes:.1f} min of training, {total_seconds / 60:.1f} min in all",
        f"Test scan(s), never trained on: {', '.join(test_images)}",
        "",
        table,
        "",
    ]
    if builtin:
        from livianet.demo.dataset import DEMO_CAVEAT

        lines += [f"Note: {DEMO_CAVEAT}.", ""]
    lines += [
        "Where everything is:",
        f"  config        {out / 'livianet_demo.ini'}",
        f"  model         {checkpoint}",
        f"  checkpoints   {paths.networks}",
        f"  curves        {paths.curves}",
        f"  training log  {paths.log}",
        f"  segmentations {seg_dir} (label maps, volumes.csv, metrics.csv, Snapshot_*.png QA pictures)",
        "",
        "Reuse the trained model:",
        f"  livianet segment {checkpoint} YOUR_T1.nii.gz --out results/ --snapshot",
        f"  livianet train {out / 'livianet_demo.ini'} --resume {last or checkpoint}   # train on (add --minutes N to bound it)",
    ]
    return "\n".join(lines)


def _write_results_json(
    path: Path, rows: list[dict[str, Any]], train_minutes: float, preset: str, checkpoint: Path
) -> None:
    def clean(value: Any) -> Any:
        return None if isinstance(value, float) and not math.isfinite(value) else value

    payload = {
        "preset": preset,
        "training_minutes": train_minutes,
        "checkpoint": str(checkpoint),
        "rows": [{k: clean(v) for k, v in row.items()} for row in rows],
    }
    write_text_atomic(path, json.dumps(payload, indent=2) + "\n")
