"""The training report: ``report.html`` in a run folder, built from the files the run leaves.

Everything comes from the folder (the metrics table, the checkpoints, the log), so the report
written after each epoch and one rebuilt later by ``livianet report RUN`` are the same page.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from livianet.atomic import write_text_atomic
from livianet.errors import DataError, LivianetError
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
from livianet.reporting.machine import MACHINE_PREFIX, machine_info
from livianet.reporting.run_log import CONFIG_PREFIX

logger = logging.getLogger(__name__)

REPORT_NAME = "report.html"
NETWORKS = "Networks"
_DICE_PREFIX = "val_dice_"
_EPOCH_FILE = re.compile(r"^(?P<network>.+)_Epoch(?P<epoch>\d+)\.pt$")
_BEST_FILE = re.compile(r"^(?P<network>.+)_best\.pt$")
_VERSIONS = re.compile(
    r"livianet (?P<livianet>\S+), torch (?P<torch>\S+), numpy (?P<numpy>\S+), "
    r"python (?P<python>\S+); device (?P<device>\S+), precision (?P<precision>\S+), "
    r"seed (?P<seed>-?\d+)"
)
_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)")
_STOPS = ("time budget of", "early stopping", "already trained", "resuming from")
_LOG_TAIL = 40  # log lines shown at the end of the report


@dataclass(frozen=True)
class CheckpointFile:
    path: Path
    epoch: int | None  # None for <network>_best.pt
    size: int
    modified: float


@dataclass(frozen=True)
class Session:
    """One start of training in this folder, as its log records it."""

    started: str
    versions: dict[str, str]
    machine: dict[str, Any]


@dataclass
class TrainingRun:
    """What a run folder holds, read once."""

    run_dir: Path
    network: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    checkpoints: list[CheckpointFile] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)  # the latest readable checkpoint's entries
    state_source: Path | None = None
    config: dict[str, Any] | None = None
    config_source: str = ""
    sessions: list[Session] = field(default_factory=list)
    events: list[str] = field(default_factory=list)  # stops, resumes, warnings and errors
    stop: str | None = None  # why the latest session stopped, if it has
    log_tail: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def label_names(self) -> dict[int, str]:
        names = self.state.get("label_names") or {}
        return {int(k): str(v) for k, v in names.items() if str(k).lstrip("-").isdigit()}

    @property
    def best(self) -> dict[str, Any]:
        """``{"dice", "epoch", "stale"}`` from the checkpoint, else from the metrics table."""
        stored = self.state.get("best")
        if isinstance(stored, dict) and stored.get("epoch") is not None:
            return stored
        scored = [
            (as_float(r.get("val_dice_mean")), r.get("epoch"))
            for r in self.rows
            if as_float(r.get("val_dice_mean")) is not None
        ]
        if not scored:
            return {"dice": None, "epoch": None, "stale": None}
        dice, epoch = max(scored, key=lambda item: item[0])
        return {"dice": dice, "epoch": epoch, "stale": None}

    @property
    def planned_epochs(self) -> int | None:
        value = ((self.config or {}).get("train") or {}).get("num_epochs")
        return value if isinstance(value, int) else None


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


def read_training_run(run_dir: str | os.PathLike[str], network: str | None = None) -> TrainingRun:
    folder = Path(run_dir)
    if not (folder / NETWORKS).is_dir() and not list(folder.glob("*_metrics.csv")):
        raise DataError(f"{folder}: not a training run folder (no {NETWORKS}/ inside)")
    name = network or _network_name(folder)
    run = TrainingRun(folder, name)
    run.rows = _read_metrics(folder / f"{name}_metrics.csv", run.problems)
    run.checkpoints = _checkpoint_files(folder / NETWORKS, name)
    _read_state(run)
    if not run.rows and isinstance(run.state.get("metrics"), list):
        run.rows = [dict(r) for r in run.state["metrics"] if isinstance(r, dict)]
    _read_log(run, folder / f"{name}.log")
    if isinstance(run.state.get("config"), dict):
        run.config, run.config_source = run.state["config"], _shown(run.state_source, folder)
    return run


def _network_name(folder: Path) -> str:
    """The network whose files are newest (a folder normally holds one)."""
    found: dict[str, float] = {}
    candidates = list(folder.glob("*_metrics.csv"))
    if (folder / NETWORKS).is_dir():
        candidates += list((folder / NETWORKS).iterdir())
    for path in candidates:
        match = _EPOCH_FILE.match(path.name) or _BEST_FILE.match(path.name)
        name = match.group("network") if match else None
        if name is None and path.name.endswith("_metrics.csv"):
            name = path.name[: -len("_metrics.csv")]
        if name:
            try:
                found[name] = max(found.get(name, 0.0), path.stat().st_mtime)
            except OSError:
                continue
    if not found:
        raise DataError(f"{folder}: no checkpoints or metrics table of any network inside")
    if len(found) > 1:
        logger.info("%s holds several networks (%s): reporting the newest", folder, sorted(found))
    return max(found, key=lambda n: found[n])


def _read_metrics(path: Path, problems: list[str]) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = [dict(row) for row in csv.DictReader(handle)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        problems.append(f"{path.name}: cannot read ({exc})")
        return []
    for row in rows:
        for key, value in row.items():
            number = as_float(value)
            if number is not None:
                row[key] = int(number) if key == "epoch" else number
    return rows


def _checkpoint_files(folder: Path, network: str) -> list[CheckpointFile]:
    if not folder.is_dir():
        return []
    files = []
    for path in folder.iterdir():
        epoch_match = _EPOCH_FILE.match(path.name)
        if epoch_match and epoch_match.group("network") == network:
            epoch: int | None = int(epoch_match.group("epoch"))
        elif path.name == f"{network}_best.pt":
            epoch = None
        else:
            continue
        try:
            stat = path.stat()
        except OSError:
            continue
        files.append(CheckpointFile(path, epoch, stat.st_size, stat.st_mtime))
    return sorted(files, key=lambda f: (f.epoch is None, f.epoch or 0))


def _read_state(run: TrainingRun) -> None:
    """The newest readable checkpoint: it carries the best epoch, names and config so far."""
    from livianet.networks import load_checkpoint

    ordered = sorted(run.checkpoints, key=lambda f: (f.epoch is not None, f.epoch or 0))[::-1]
    for file in ordered:
        try:
            state = load_checkpoint(file.path)
        except LivianetError as exc:
            run.problems.append(str(exc))
            continue
        run.state = {k: v for k, v in state.items() if k not in ("optimizer_state", "rng")}
        run.state_source = file.path
        return


def _read_log(run: TrainingRun, path: Path) -> None:
    if not path.is_file():
        return
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        run.problems.append(f"{path.name}: cannot read ({exc.strerror or exc})")
        return
    shown = []
    for line in lines:
        if line.startswith(CONFIG_PREFIX):
            try:
                config = json.loads(line[len(CONFIG_PREFIX) :])
            except json.JSONDecodeError:
                continue
            if isinstance(config, dict):
                run.config, run.config_source = config, path.name
            continue
        if line.startswith(MACHINE_PREFIX):
            try:
                machine = json.loads(line[len(MACHINE_PREFIX) :])
            except json.JSONDecodeError:
                continue
            if run.sessions and isinstance(machine, dict):
                run.sessions[-1].machine.update(machine)
            continue
        shown.append(line)
        versions = _VERSIONS.search(line)
        if versions:
            stamp = _STAMP.match(line)
            run.sessions.append(Session(stamp.group(1) if stamp else "", versions.groupdict(), {}))
            run.stop = None
        elif " WARNING " in line or " ERROR " in line or any(s in line for s in _STOPS):
            run.events.append(line)
            if any(s in line for s in _STOPS[:2]):
                run.stop = _message(line)
    run.log_tail = shown[-_LOG_TAIL:]


def _shown(path: Path | None, base: Path) -> str:
    if path is None:
        return ""
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return str(path)


# ----------------------------------------------------------------------------- rendering


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


def _message(line: str) -> str:
    """A log line without its time stamp, level and logger name."""
    return line.split(": ", 1)[1] if _STAMP.match(line) and ": " in line else line


def _dice_keys(rows: list[dict[str, Any]]) -> list[str]:
    keys: dict[str, None] = {}
    for row in rows:
        for key in row:
            if key.startswith(_DICE_PREFIX) and key != "val_dice_mean":
                keys[key] = None
    suffix = len(_DICE_PREFIX)
    return sorted(
        keys,
        key=lambda k: (not k[suffix:].isdigit(), int(k[suffix:]) if k[suffix:].isdigit() else 0, k),
    )


def _structure(key: str, names: dict[int, str]) -> str:
    suffix = key[len(_DICE_PREFIX) :]
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
        suffix = key[len(_DICE_PREFIX) :]
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
        notes.append(f"Details below read from {_shown(run.state_source, run.run_dir)}.")
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
        parts.append(tag("pre", "\n".join(run.events[-_LOG_TAIL:]), class_="log"))
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
