"""The training report: ``report.html`` in a run folder, built from the files the run leaves.

Everything comes from the folder (the metrics table, the checkpoints, the log), so the report
written after each epoch and one rebuilt later by ``livianet report RUN`` are the same page.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from livianet.atomic import write_text_atomic
from livianet.reporting.charts import Series, hex_colour, line_chart
from livianet.reporting.drawing import label_colour
from livianet.reporting.html import (
    Cell,
    Column,
    Markup,
    as_float,
    definition_list,
    fmt,
    join,
    number_cell,
    page,
    table,
    tag,
)
from livianet.reporting.machine import machine_info
from livianet.reporting.training_run import (
    DICE_PREFIX,
    LOG_TAIL,
    NETWORKS,
    REPORT_NAME,
    TrainingRun,
    read_training_run,
    shown_path,
)

logger = logging.getLogger(__name__)


def write_training_report(run_dir: str | os.PathLike[str], network: str | None = None) -> Path:
    """Write ``<run_dir>/report.html`` (atomically) and return its path.

    Args:
        run_dir: a training run folder (holding ``Networks/``).
        network: the network name; by default the one whose files in the folder are newest.

    Raises:
        DataError: the folder holds no training run.
    """
    run = read_training_run(run_dir, network)
    target = run.run_dir / REPORT_NAME
    write_text_atomic(target, render_training_report(run))
    return target


# ----------------------------------------------------------------------------- reading


def render_training_report(run: TrainingRun) -> Markup:
    names = run.label_names
    sections = [
        _summary(run),
        tag("h2", "Curves"),
        _charts(run.rows, names),
        tag("h2", "Epochs"),
        _epoch_table(run.rows, names, run.best.get("epoch")),
        tag("h2", "Checkpoints"),
        _checkpoint_table(run),
        tag("h2", "Machine and versions"),
        _machines(run),
        tag("h2", "Configuration"),
        _config_section(run),
        tag("h2", "Log"),
        _log_section(run),
    ]
    title = f"Training report: {run.network}"
    subtitle = f"run folder {run.run_dir}"
    generated = f"written {datetime.now().isoformat(sep=' ', timespec='seconds')}"
    return page(title, join(sections), subtitle=subtitle, generated=generated)


def _summary(run: TrainingRun) -> Markup:
    rows = run.rows
    done = max((int(r["epoch"]) for r in rows if isinstance(r.get("epoch"), int)), default=0)
    planned = run.planned_epochs
    parts = [
        f"{done} epoch{'s' if done != 1 else ''} trained" + (f" of {planned}" if planned else "")
    ]
    best = run.best
    if as_float(best.get("dice")) is not None:
        parts.append(f"best mean validation Dice {fmt(best['dice'], 4)} at epoch {best['epoch']}")
        if best.get("stale"):
            parts.append(f"{best['stale']} epoch(s) since")
    seconds = [as_float(r.get("seconds")) for r in rows]
    total = sum(s for s in seconds if s is not None)
    if total:
        parts.append(
            f"{total / 60:.1f} min of training" if total >= 120 else f"{total:.0f} s of training"
        )
    speeds = [as_float(r.get("samples_per_s")) for r in rows]
    speeds = [s for s in speeds if s is not None]
    if speeds:
        parts.append(f"last epoch {fmt(speeds[-1])} samples/s")
    items = [tag("p", " · ".join(parts), class_="summary")]
    if run.stop:
        items.append(tag("p", "Stopped: " + run.stop, class_="muted"))
    for problem in run.problems:
        items.append(tag("p", problem, class_="summary bad"))
    return join(items)


def _dice_keys(rows: list[dict[str, Any]]) -> list[str]:
    keys: dict[str, None] = {}
    for row in rows:
        for key in row:
            if key.startswith(DICE_PREFIX) and key != "val_dice_mean":
                keys[key] = None
    suffix = len(DICE_PREFIX)
    return sorted(
        keys,
        key=lambda k: (not k[suffix:].isdigit(), int(k[suffix:]) if k[suffix:].isdigit() else 0, k),
    )


def _structure(key: str, names: dict[int, str]) -> str:
    suffix = key[len(DICE_PREFIX) :]
    return names.get(int(suffix), f"label {suffix}") if suffix.isdigit() else suffix


def _column(rows: list[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for row in rows:
        x, y = as_float(row.get("epoch")), as_float(row.get(key))
        if x is not None and y is not None:
            xs.append(x)
            ys.append(y)
    return xs, ys


def _charts(rows: list[dict[str, Any]], names: dict[int, str]) -> Markup:
    loss = [Series("training", *_column(rows, "train_loss"), colour="#1f5fa8")]
    if any("val_loss" in r for r in rows):
        loss.append(Series("validation", *_column(rows, "val_loss"), colour="#d9480f"))
    losses = [y for s in loss for y in s.ys]
    log_loss = bool(losses) and min(losses) > 0 and max(losses) > 10 * min(losses)
    dice = []
    for position, key in enumerate(_dice_keys(rows), start=1):
        suffix = key[len(DICE_PREFIX) :]
        label = int(suffix) if suffix.isdigit() and int(suffix) > 0 else position
        dice.append(
            Series(
                _structure(key, names), *_column(rows, key), colour=hex_colour(label_colour(label))
            )
        )
    dice.append(Series("mean", *_column(rows, "val_dice_mean"), colour="#111111", width=2.8))
    lrs = _column(rows, "lr")[1]
    log_lr = bool(lrs) and min(lrs) > 0 and max(lrs) > 3 * min(lrs)
    charts = [
        line_chart("Loss", loss, y_label="loss", log_y=log_loss),
        line_chart(
            "Validation Dice per structure",
            dice,
            y_label="Dice",
            y_range=(0.0, 1.0),
            empty="no validation yet",
        ),
        line_chart(
            "Learning rate", [Series("lr", *_column(rows, "lr"))], y_label="lr", log_y=log_lr
        ),
        line_chart(
            "Speed",
            [Series("samples/s", *_column(rows, "samples_per_s"), colour="#2b8a3e")],
            y_label="samples/s",
        ),
    ]
    return tag("div", join(charts), class_="charts")


_EPOCH_COLUMNS = (
    ("epoch", "epoch", None),
    ("train_loss", "loss", "mean training loss"),
    ("val_loss", "val loss", "validation loss"),
    ("lr", "lr", "learning rate at the start of the epoch"),
    ("samples_per_s", "samples/s", "training patches per second"),
    ("train_seconds", "train s", "seconds spent training (validation excluded)"),
    ("compute_share", "compute %", "share of training time in forward, backward and optimiser"),
    ("val_dice_mean", "val Dice", "mean validation Dice over structures"),
)


def _epoch_table(rows: list[dict[str, Any]], names: dict[int, str], best: Any) -> Markup:
    if not rows:
        return tag("p", "No epoch finished yet.", class_="muted")
    present = {k for r in rows for k in r}
    known = [(k, label, tip) for k, label, tip in _EPOCH_COLUMNS if k in present]
    dice = _dice_keys(rows)
    listed = {k for k, _, _ in known} | set(dice) | {"seconds"}
    extra = [k for k in dict.fromkeys(k for r in rows for k in r) if k not in listed]
    columns = [Column(label, numeric=True, title=tip) for k, label, tip in known]
    columns += [
        Column(_structure(k, names), numeric=True, title=f"validation Dice, {k}") for k in dice
    ]
    columns += [Column("epoch s", numeric=True, title="seconds for the whole epoch")]
    columns += [Column(k, numeric=True) for k in extra]
    body, classes = [], []
    for row in rows:
        cells: list[Cell | object] = []
        for key, _, _ in known:
            value = row.get(key)
            if key == "compute_share" and as_float(value) is not None:
                cells.append(number_cell(100 * as_float(value), 3))
            elif key == "epoch":
                cells.append(Cell(value, value))
            else:
                cells.append(number_cell(value, 4 if "loss" in key or "dice" in key else 3))
        cells += [number_cell(row.get(k), 3) for k in dice]
        cells.append(number_cell(row.get("seconds"), 3))
        cells += [Cell(fmt(row.get(k), 4), row.get(k)) for k in extra]
        body.append(cells)
        classes.append("best" if best is not None and row.get("epoch") == best else "")
    note = tag("p", "The best epoch (by mean validation Dice) is shaded green.", class_="muted")
    return join([note, table(columns, body, row_classes=classes, table_id="epochs")])


def _checkpoint_table(run: TrainingRun) -> Markup:
    if not run.checkpoints:
        return tag("p", f"No checkpoints in {NETWORKS}/ yet.", class_="muted")
    best_epoch = run.best.get("epoch")
    by_epoch = {r.get("epoch"): r for r in run.rows}
    columns = [
        Column("file"),
        Column("epoch", numeric=True),
        Column("val Dice", numeric=True),
        Column("best"),
        Column("size MiB", numeric=True),
        Column("written"),
    ]
    body, classes = [], []
    for file in run.checkpoints:
        epoch = file.epoch if file.epoch is not None else best_epoch
        is_best = file.epoch is None or (best_epoch is not None and file.epoch == best_epoch)
        mark = "best" if file.epoch is None else ("best epoch" if is_best else "")
        written = datetime.fromtimestamp(file.modified).isoformat(sep=" ", timespec="seconds")
        body.append(
            [
                Cell(tag("code", f"{NETWORKS}/{file.path.name}"), file.path.name),
                Cell("" if epoch is None else epoch, epoch),
                number_cell((by_epoch.get(epoch) or {}).get("val_dice_mean"), 4),
                Cell(tag("span", mark, class_="badge") if mark else "", mark),
                number_cell(file.size / 2**20, 3),
                Cell(written, file.modified),
            ]
        )
        classes.append("best" if is_best else "")
    notes = []
    if best_epoch is not None:
        notes.append(f"Best: epoch {best_epoch} ({NETWORKS}/{run.network}_best.pt is its copy).")
    if run.state_source is not None:
        notes.append(f"Details below read from {shown_path(run.state_source, run.run_dir)}.")
    return join(
        [
            table(columns, body, row_classes=classes, table_id="checkpoints"),
            tag("p", " ".join(notes), class_="muted"),
        ]
    )


_MACHINE_FIELDS = (
    ("livianet", "livianet"),
    ("torch", "torch"),
    ("numpy", "numpy"),
    ("python", "python"),
    ("device", "device"),
    ("precision", "precision"),
    ("seed", "seed"),
    ("cpu", "CPU"),
    ("cpu_count", "CPU cores"),
    ("torch_threads", "torch threads"),
    ("memory_gib", "memory GiB"),
    ("gpu", "GPU"),
    ("gpu_memory_gib", "GPU memory GiB"),
    ("cuda", "CUDA"),
    ("host", "host"),
    ("platform", "platform"),
)


def _machines(run: TrainingRun) -> Markup:
    if run.sessions:
        sessions = [(s.started, {**s.machine, **s.versions}) for s in run.sessions]
        note = "From the run's log: one column per start of training in this folder."
    else:
        sessions = [("", machine_info())]
        note = "The run's log records no machine: this is the machine that wrote this report."
    model = _model_facts(run)
    columns = [Column("")] + [
        Column(started or f"start {i + 1}") for i, (started, _) in enumerate(sessions)
    ]
    body = []
    for key, label in _MACHINE_FIELDS:
        values = [info.get(key) for _, info in sessions]
        if any(v not in (None, "") for v in values):
            body.append([Cell(label)] + [Cell("" if v is None else str(v)) for v in values])
    return join(
        [
            tag("p", note, class_="muted"),
            table(columns, body, sortable=False, table_id="machine"),
            tag("h3", "Network") if model else "",
            definition_list(model) if model else "",
        ]
    )


def _model_facts(run: TrainingRun) -> list[tuple[str, object]]:
    state = run.state
    facts: list[tuple[str, object]] = []
    weights = state.get("model_state")
    if isinstance(weights, dict):
        count = sum(int(getattr(v, "numel", lambda: 0)()) for v in weights.values())
        facts.append(("parameters", f"{count:,}"))
    model = state.get("model_config")
    if isinstance(model, dict):
        for key in ("conv_channels", "fc_channels", "num_classes", "activation", "batch_norm"):
            if key in model:
                facts.append((key, json.dumps(model[key])))
    for key in ("normalization", "patch_size", "training_spacing", "training_orientation"):
        if state.get(key) is not None:
            facts.append(
                (key, json.dumps(state[key]) if not isinstance(state[key], str) else state[key])
            )
    if run.label_names:
        facts.append(("labels", ", ".join(f"{k} {v}" for k, v in sorted(run.label_names.items()))))
    return facts


def flatten_config(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested dicts as ``(dotted key, value)`` pairs, every leaf kept (``None`` and ``[]`` too).

    >>> flatten_config({"a": 1, "b": {"c": None, "d": [1, 2]}, "e": {}})
    [('a', 1), ('b.c', None), ('b.d', [1, 2]), ('e', {})]
    """
    if isinstance(value, dict) and value:
        pairs = []
        for key, item in value.items():
            pairs += flatten_config(item, f"{prefix}.{key}" if prefix else str(key))
        return pairs
    return [(prefix, value)]


def _config_section(run: TrainingRun) -> Markup:
    if run.config is None:
        return tag("p", "No parsed configuration found (no checkpoint or log yet).", class_="muted")
    body = [
        [Cell(tag("code", key), key), Cell(value if isinstance(value, str) else json.dumps(value))]
        for key, value in flatten_config(run.config)
    ]
    note = (
        f"Every setting as the run parsed it, defaults included ({len(body)} keys, "
        f"from {run.config_source})."
    )
    return join(
        [
            tag("p", note, class_="muted"),
            tag(
                "details",
                join(
                    [
                        tag("summary", "show the configuration"),
                        table(["key", "value"], body, table_id="config"),
                    ]
                ),
                open=True,
            ),
        ]
    )


def _log_section(run: TrainingRun) -> Markup:
    parts = []
    if run.events:
        parts.append(tag("h3", "Stops, resumes, warnings and errors"))
        parts.append(tag("pre", "\n".join(run.events[-LOG_TAIL:]), class_="log"))
    if run.log_tail:
        parts.append(
            tag(
                "details",
                join(
                    [
                        tag("summary", f"last {len(run.log_tail)} lines of {run.network}.log"),
                        tag("pre", "\n".join(run.log_tail), class_="log"),
                    ]
                ),
            )
        )
    if not parts:
        return tag("p", "No log file.", class_="muted")
    return join(parts)
