"""Weights for the benchmark, and the training rows: ``livianet train`` on short configs."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any

from bench.common import livianet_command, log_tail
from bench.memory import run_child

NUM_CLASSES = 9  # the example data: background + 8 structures


def render(
    preset: str,
    name: str,
    output_root: Path,
    data: Path,
    train_indexes: list[int],
    training: dict[str, str],
    architecture: dict[str, str] | None = None,
    images: dict[str, str] | None = None,
) -> str:
    """A preset's INI with ``training`` (and ``architecture``) overrides, no validation scans."""
    from livianet.config.presets import render_config

    return render_config(
        preset,
        network_name=name,
        folder_name=name,
        output_root=output_root,
        data=data,
        train_indexes=train_indexes,
        validation_indexes=[],
        num_classes=NUM_CLASSES,
        overrides={
            "Training Parameters": training,
            "CNN_Architecture": architecture or {},
            "Training Images": images or {},
        },
        header=f"written by python -m bench: {preset} preset, {training}",
    )


def preset_value(preset: str, key: str) -> str:
    from livianet.config.presets import PRESETS

    return {s.key: s.value for s in PRESETS[preset]["Training Parameters"]}[key]


def configured_epoch_samples(preset: str) -> int:
    """Samples in one epoch as the preset configures it (sub-epochs x samples each)."""
    return int(preset_value(preset, "number Of SubEpochs")) * int(
        preset_value(preset, "number of samples at each SubEpoch Train")
    )


def preset_batch_size(preset: str) -> int:
    return int(preset_value(preset, "batch_size"))


def output_voxels_per_sample(preset: str, receptive_field: int = 19) -> int:
    side = json.loads(preset_value(preset, "sampleSize_Train"))[0]
    return (side - receptive_field + 1) ** 3


# ----------------------------------------------------------------------------- weights


def quick_checkpoint(path: Path) -> Path:
    """A small random network with the paper's geometry (receptive field 19, multi-scale links)."""
    from livianet.config import ModelConfig, to_plain
    from livianet.networks import build_model, save_checkpoint

    config = ModelConfig(
        conv_channels=(8, 8, 8, 12, 12, 12, 16, 16, 16),
        conv_kernels=((3, 3, 3),) * 9,
        fc_channels=(32,),
        num_classes=NUM_CLASSES,
        dropout_rates=(0.0, 0.0),
        intermediate_layers=(2, 5),
    )
    model = build_model(config, seed=0)
    state = {
        "network_name": "bench_quick",
        "epoch": 0,
        "model_config": to_plain(config),
        "model_state": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "normalization": "zscore",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_checkpoint(state, path)


def trained_checkpoint(
    results: Path,
    data: Path,
    train_indexes: list[int],
    scan: int,
    minutes: float,
    orientation: str | None = None,
) -> tuple[Path, dict[str, Any]]:
    """The paper network trained for ``minutes`` on the other scans, cached under ``results``.

    Epochs are short (one sub-epoch of 500 samples) so that ``--minutes`` stops
    near the budget, and the learning rate is constant: the paper's first epoch
    (20 x 1000 samples at a constant rate) is longer than this whole run.
    """
    name = f"paper_scan{scan}_{minutes:g}min_{orientation or 'asstored'}"
    cached = results / "weights" / f"{name}.pt"
    info: dict[str, Any] = {
        "source": "cached",
        "minutes": minutes,
        "train_scans": [i + 1 for i in train_indexes],
    }
    if cached.exists():
        return cached, info
    root = results / "train"
    ini = root / f"{name}.ini"
    ini.parent.mkdir(parents=True, exist_ok=True)
    ini.write_text(
        render(
            "paper",
            name,
            root,
            data,
            train_indexes,
            {
                "number Of Epochs": "100000",
                "number Of SubEpochs": "1",
                "number of samples at each SubEpoch Train": "500",
                "learning Rate change Type": "constant",
            },
            images={"orientation": orientation} if orientation else None,
        )
    )
    print(f"training the paper network for {minutes:g} min (cached in {cached}) ...", flush=True)
    command = livianet_command("train", str(ini), "--overwrite", "--minutes", f"{minutes:g}")
    child = run_child(command, root / f"{name}.out")
    if child.returncode:
        raise SystemExit(f"training failed (exit {child.returncode}):\n{log_tail(child.log)}")
    from livianet.networks import list_epoch_checkpoints

    epochs = list_epoch_checkpoints(root / name / "Networks", name)
    if not epochs:
        raise SystemExit(f"training wrote no checkpoint; see {child.log}")
    cached.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(epochs[-1][1], cached)
    info.update(source="trained", seconds=child.seconds, epochs=epochs[-1][0])
    return cached, info


# ----------------------------------------------------------------------------- rows


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """``<network>_metrics.csv`` rows, numbers as floats."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    parsed = []
    for row in rows:
        values: dict[str, Any] = {}
        for key, value in row.items():
            try:
                values[key] = float(value)
            except (TypeError, ValueError):
                values[key] = value
        parsed.append(values)
    return parsed


def training_run(
    preset: str,
    precision: str,
    samples: int,
    epochs: int,
    data: Path,
    train_indexes: list[int],
    work: Path,
    architecture: dict[str, str] | None = None,
) -> dict[str, Any]:
    """``livianet train`` for ``epochs`` of ``samples``; the last epoch's row is the result.

    ``architecture`` overrides the preset's network (``--quick`` narrows it).
    """
    import torch

    from livianet.runtime import resolve_precision

    name = f"{preset}_{precision}_{samples}"
    root = work / "train"
    ini = root / f"{name}.ini"
    ini.parent.mkdir(parents=True, exist_ok=True)
    overrides = {
        "number Of Epochs": str(epochs),
        "number Of SubEpochs": "1",
        "number of samples at each SubEpoch Train": str(samples),
        "precision": precision,
    }
    ini.write_text(render(preset, name, root, data, train_indexes, overrides, architecture))
    print(
        f"  train {preset}, precision {precision}, {samples} samples x {epochs} epochs", flush=True
    )
    child = run_child(livianet_command("train", str(ini), "--overwrite"), root / f"{name}.out")
    row: dict[str, Any] = {
        "preset": preset,
        "requested_precision": precision,
        "precision": resolve_precision(precision, torch.device("cpu")),
        "samples_per_epoch": samples,
        "epochs": epochs,
        "batch_size": preset_batch_size(preset),
        "patch_size": json.loads(preset_value(preset, "sampleSize_Train")),
        "process_seconds": child.seconds,
        "peak_rss_bytes": child.peak_rss_bytes,
        "returncode": child.returncode,
    }
    if child.returncode:
        row["error"] = log_tail(child.log)
        print(f"    FAILED (exit {child.returncode}); log {child.log}", flush=True)
        return row
    metrics = read_metrics(root / name / f"{name}_metrics.csv")
    last = metrics[-1]
    row.update(
        {
            "samples_per_s": last["samples_per_s"],
            "epoch_train_seconds": last["train_seconds"],
            "compute_share": last["compute_share"],
            "outside_share": 1.0 - last["compute_share"],
            "output_voxels_per_s": last["samples_per_s"] * output_voxels_per_sample(preset),
            "configured_epoch_samples": configured_epoch_samples(preset),
            "configured_epoch_seconds": configured_epoch_samples(preset) / last["samples_per_s"],
            "all_epochs": metrics,
        }
    )
    print(
        f"    {row['samples_per_s']:.2f} samples/s, "
        f"{row['outside_share']:.1%} of the epoch outside forward/backward/step",
        flush=True,
    )
    return row


def training_rows(
    samples: dict[str, int],
    epochs: int,
    data: Path,
    train_indexes: list[int],
    work: Path,
    architectures: dict[str, dict[str, str]] | None = None,
) -> dict[str, Any]:
    """Per preset: float32 eager against the shipped precision (``auto``), and their ratio."""
    rows: dict[str, Any] = {}
    for preset in ("paper", "fast"):
        architecture = (architectures or {}).get(preset)
        entry = {
            kind: training_run(
                preset, precision, samples[preset], epochs, data, train_indexes, work, architecture
            )
            for kind, precision in (("float32", "float32"), ("shipped", "auto"))
        }
        if "samples_per_s" in entry["float32"] and "samples_per_s" in entry["shipped"]:
            entry["speedup"] = entry["shipped"]["samples_per_s"] / entry["float32"]["samples_per_s"]
        rows[preset] = entry
    return rows


def training_growth(
    base: dict[str, Any],
    factor: int,
    data: Path,
    train_indexes: list[int],
    work: Path,
    architecture: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """The shipped paper row, and the same with ``factor`` times the samples per epoch."""
    if "epoch_train_seconds" not in base:
        return []
    points = [{"samples": base["samples_per_epoch"], "seconds": base["epoch_train_seconds"]}]
    more = training_run(
        "paper",
        base["requested_precision"],
        base["samples_per_epoch"] * factor,
        base["epochs"],
        data,
        train_indexes,
        work,
        architecture,
    )
    if "epoch_train_seconds" in more:
        points.append(
            {"samples": more["samples_per_epoch"], "seconds": more["epoch_train_seconds"]}
        )
    for point in points:
        point["seconds_per_sample"] = point["seconds"] / point["samples"]
    return points
