"""The training report: ``report.html`` in a run folder, built from the files the run leaves.

Everything comes from the folder (the metrics table, the checkpoints, the log), so the report
written after each epoch and one rebuilt later by ``livianet report RUN`` are the same page.
Here the run becomes plain values; ``templates/training_report.html.j2`` lays them out.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from markupsafe import Markup

from livianet.atomic import write_text_atomic
from livianet.reporting.curves import dice_keys, training_curves_figure
from livianet.reporting.drawing import figure_svg
from livianet.reporting.html import (
    Badge,
    Cell,
    Code,
    Column,
    Table,
    as_float,
    fact_list,
    fmt,
    number_cell,
    render_page,
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

__all__ = ["flatten_config", "read_training_run", "render_training_report", "write_training_report"]

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


def render_training_report(run: TrainingRun) -> str:
    names = run.label_names
    best = run.best.get("epoch")
    return render_page(
        "training_report.html.j2",
        title=f"Training report: {run.network}",
        subtitle=f"run folder {run.run_dir}",
        generated=f"written {datetime.now().isoformat(sep=' ', timespec='seconds')}",
        summary=_summary(run),
        stop=run.stop,
        problems=run.problems,
        # The figure is matplotlib's own SVG: markup made by a library, not from any text.
        curves=Markup(figure_svg(training_curves_figure(run.rows, names=names))),
        epochs=_epoch_table(run.rows, names, best) if run.rows else None,
        checkpoints=_checkpoint_table(run) if run.checkpoints else None,
        checkpoint_note=_checkpoint_note(run),
        networks=NETWORKS,
        **_machines(run),
        model=fact_list(_model_facts(run)),
        config=_config_table(run) if run.config is not None else None,
        config_source=run.config_source,
        log_name=f"{run.network}.log",
        events="\n".join(run.events[-LOG_TAIL:]),
        log_tail="\n".join(run.log_tail),
        log_lines=len(run.log_tail),
    )


def _summary(run: TrainingRun) -> str:
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
    speeds = [s for s in (as_float(r.get("samples_per_s")) for r in rows) if s is not None]
    if speeds:
        parts.append(f"last epoch {fmt(speeds[-1])} samples/s")
    return " · ".join(parts)


def _structure(key: str, names: dict[int, str]) -> str:
    suffix = key[len(DICE_PREFIX) :]
    return names.get(int(suffix), f"label {suffix}") if suffix.isdigit() else suffix


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


def _epoch_table(rows: list[dict[str, Any]], names: dict[int, str], best: Any) -> Table:
    present = {k for r in rows for k in r}
    known = [(k, label, tip) for k, label, tip in _EPOCH_COLUMNS if k in present]
    dice = dice_keys(rows)
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
        cells: list[Cell | object] = [_epoch_cell(key, row.get(key)) for key, _, _ in known]
        cells += [number_cell(row.get(k), 3) for k in dice]
        cells.append(number_cell(row.get("seconds"), 3))
        cells += [Cell(fmt(row.get(k), 4), row.get(k)) for k in extra]
        body.append(cells)
        classes.append("best" if best is not None and row.get("epoch") == best else "")
    return Table(columns, body, row_classes=classes, table_id="epochs")


def _epoch_cell(key: str, value: Any) -> Cell:
    share = as_float(value) if key == "compute_share" else None
    if share is not None:
        return number_cell(100 * share, 3)
    if key == "epoch":
        return Cell(value, value)
    return number_cell(value, 4 if "loss" in key or "dice" in key else 3)


def _checkpoint_table(run: TrainingRun) -> Table:
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
                Cell(Code(f"{NETWORKS}/{file.path.name}"), file.path.name),
                Cell("" if epoch is None else epoch, epoch),
                number_cell((by_epoch.get(epoch) or {}).get("val_dice_mean"), 4),
                Cell(Badge(mark) if mark else "", mark),
                number_cell(file.size / 2**20, 3),
                Cell(written, file.modified),
            ]
        )
        classes.append("best" if is_best else "")
    return Table(columns, body, row_classes=classes, table_id="checkpoints")


def _checkpoint_note(run: TrainingRun) -> str:
    notes = []
    best_epoch = run.best.get("epoch")
    if best_epoch is not None:
        notes.append(f"Best: epoch {best_epoch} ({NETWORKS}/{run.network}_best.pt is its copy).")
    if run.state_source is not None:
        notes.append(f"Details below read from {shown_path(run.state_source, run.run_dir)}.")
    return " ".join(notes)


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


def _machines(run: TrainingRun) -> dict[str, object]:
    """``machine_note`` and the ``machines`` table: one column per start of training."""
    if run.sessions:
        sessions = [(s.started, {**s.machine, **s.versions}) for s in run.sessions]
        note = "From the run's log: one column per start of training in this folder."
    else:
        sessions = [("", machine_info())]
        note = "The run's log records no machine: this is the machine that wrote this report."
    columns = [Column("")] + [
        Column(started or f"start {i + 1}") for i, (started, _) in enumerate(sessions)
    ]
    body: list[list[Cell]] = []
    for key, label in _MACHINE_FIELDS:
        values = [info.get(key) for _, info in sessions]
        if any(v not in (None, "") for v in values):
            body.append([Cell(label)] + [Cell("" if v is None else str(v)) for v in values])
    table = Table(columns, body, sortable=False, table_id="machine")
    return {"machine_note": note, "machines": table}


def _model_facts(run: TrainingRun) -> list[tuple[str, object]]:
    facts: list[tuple[str, object]] = []
    if run.contents is None:
        return facts
    weights = run.contents.model_state
    count = sum(int(getattr(v, "numel", lambda: 0)()) for v in weights.values())
    facts.append(("parameters", f"{count:,}"))
    model = run.contents.model_config
    for key in ("conv_channels", "fc_channels", "num_classes", "activation", "batch_norm"):
        if key in model:
            facts.append((key, json.dumps(model[key])))
    state = run.contents.meta.to_state()  # the entries as stored (lists, not tuples)
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


def _config_table(run: TrainingRun) -> Table:
    body = [
        [Cell(Code(key), key), Cell(value if isinstance(value, str) else json.dumps(value))]
        for key, value in flatten_config(run.config)
    ]
    return Table(["key", "value"], body, table_id="config")
