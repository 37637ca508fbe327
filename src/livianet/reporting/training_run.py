"""A training run folder, read once: the metrics table, the checkpoints, the log.

Everything the training report shows comes from these files, so the report
written after each epoch and one rebuilt later by ``livianet report RUN`` agree.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from livianet.errors import DataError, LivianetError
from livianet.reporting.html import as_float
from livianet.reporting.machine import MACHINE_PREFIX
from livianet.reporting.run_log import CONFIG_PREFIX

if TYPE_CHECKING:
    from livianet.networks import CheckpointContents

logger = logging.getLogger(__name__)

REPORT_NAME = "report.html"
NETWORKS = "Networks"
DICE_PREFIX = "val_dice_"
_EPOCH_FILE = re.compile(r"^(?P<network>.+)_Epoch(?P<epoch>\d+)\.pt$")
_BEST_FILE = re.compile(r"^(?P<network>.+)_best\.pt$")
_VERSIONS = re.compile(
    r"livianet (?P<livianet>\S+), torch (?P<torch>\S+), numpy (?P<numpy>\S+), "
    r"python (?P<python>\S+); device (?P<device>\S+), precision (?P<precision>\S+), "
    r"seed (?P<seed>-?\d+)"
)
STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)")
_STOPS = ("time budget of", "early stopping", "already trained", "resuming from")
LOG_TAIL = 40  # log lines shown at the end of the report


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
    contents: CheckpointContents | None = None  # the latest readable checkpoint's, if any
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
        if self.contents is None:
            return {}
        return {k: str(v) for k, v in self.contents.meta.label_names.items()}

    @property
    def best(self) -> dict[str, Any]:
        """``{"dice", "epoch", "stale"}`` from the checkpoint, else from the metrics table."""
        if self.contents is not None and self.contents.best.epoch is not None:
            return self.contents.best.to_state()
        scored = [
            (dice, r.get("epoch"))
            for r in self.rows
            if (dice := as_float(r.get("val_dice_mean"))) is not None
        ]
        if not scored:
            return {"dice": None, "epoch": None, "stale": None}
        dice, epoch = max(scored, key=lambda item: item[0])
        return {"dice": dice, "epoch": epoch, "stale": None}

    @property
    def planned_epochs(self) -> int | None:
        value = ((self.config or {}).get("train") or {}).get("num_epochs")
        return value if isinstance(value, int) else None


def read_training_run(run_dir: str | os.PathLike[str], network: str | None = None) -> TrainingRun:
    folder = Path(run_dir)
    if not (folder / NETWORKS).is_dir() and not list(folder.glob("*_metrics.csv")):
        raise DataError(f"{folder}: not a training run folder (no {NETWORKS}/ inside)")
    name = network or _network_name(folder)
    run = TrainingRun(folder, name)
    run.rows = _read_metrics(folder / f"{name}_metrics.csv", run.problems)
    run.checkpoints = _checkpoint_files(folder / NETWORKS, name)
    _read_state(run)
    if not run.rows and run.contents is not None:
        run.rows = [dict(r) for r in run.contents.metrics]
    _read_log(run, folder / f"{name}.log")
    if run.contents is not None and run.contents.config:
        run.config, run.config_source = run.contents.config, shown_path(run.state_source, folder)
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
    from livianet.networks import Checkpoint  # torch: only when a report is written

    ordered = sorted(run.checkpoints, key=lambda f: (f.epoch is not None, f.epoch or 0))[::-1]
    for file in ordered:
        try:
            contents = Checkpoint.read(file.path).contents
        except LivianetError as exc:
            run.problems.append(str(exc))
            continue
        except (ValueError, TypeError, AttributeError) as exc:  # entries of a foreign shape
            run.problems.append(
                f"{file.path}: entries not understood ({type(exc).__name__}: {exc})"
            )
            continue
        run.contents = replace(contents, optimizer_state=None)  # the report never shows it
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
            stamp = STAMP.match(line)
            run.sessions.append(Session(stamp.group(1) if stamp else "", versions.groupdict(), {}))
            run.stop = None
        elif " WARNING " in line or " ERROR " in line or any(s in line for s in _STOPS):
            run.events.append(line)
            if any(s in line for s in _STOPS[:2]):
                run.stop = log_message(line)
    run.log_tail = shown[-LOG_TAIL:]


def shown_path(path: Path | None, base: Path) -> str:
    if path is None:
        return ""
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return str(path)


# ----------------------------------------------------------------------------- rendering


def log_message(line: str) -> str:
    """A log line without its time stamp, level and logger name."""
    return line.split(": ", 1)[1] if STAMP.match(line) and ": " in line else line
