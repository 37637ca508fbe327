"""The cache of one training config: which entries it needs, making the missing ones, opening them.

:func:`plan_cache` decides the model grid from the cases' headers and keys every case
(reading only files whose size or time changed since they were last hashed);
:func:`prepare_cache` makes what is missing, in this process or in ``jobs`` worker
processes, each entry under its lock (so torchrun's ranks and other runs share the
work), waits for entries other processes are writing, and opens every entry, writing
again any that is damaged.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import logging
import multiprocessing
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NoReturn

import numpy as np

from livianet.atomic import write_text_atomic
from livianet.cache import layout
from livianet.cache.build import EntryJob, build_entry, cache_problem
from livianet.cache.entry import CachedEntry, EntryProblem, open_entry
from livianet.cache.fingerprint import FingerprintMemo
from livianet.cache.geometry import common_orientation, stored_reference, training_grid
from livianet.cache.lock import holder, is_locked
from livianet.cache.spec import FORMAT_VERSION, CaseInputs, EntrySpec, entry_key
from livianet.cache.window import warp_reach
from livianet.config import TrainingConfig
from livianet.data import CaseFiles, list_cases
from livianet.data.geometry import ModelGrid, plan_grid
from livianet.data.spatial import Size3
from livianet.errors import DataError, TrainingError

logger = logging.getLogger(__name__)

WAIT_POLL_S = 0.5


@dataclass(frozen=True)
class PlannedEntry:
    """An entry the config needs, and the model grid's shape of its case."""

    job: EntryJob
    model_shape: Size3

    @property
    def key(self) -> str:
        return self.job.key

    @property
    def name(self) -> str:
        return self.job.files.name

    @property
    def folder(self) -> Path:
        return layout.entry_folder(self.job.root, self.job.key)

    @property
    def present(self) -> bool:
        return (self.folder / layout.META).is_file()


@dataclass(frozen=True)
class CachePlan:
    root: Path
    grid: ModelGrid
    training: tuple[PlannedEntry, ...]
    validation: tuple[PlannedEntry, ...]

    @property
    def entries(self) -> tuple[PlannedEntry, ...]:
        return self.training + self.validation


@dataclass(frozen=True)
class CacheContents:
    training: list[CachedEntry]
    validation: list[CachedEntry]
    built: int  # entries this process wrote


def cache_folder(config: TrainingConfig, override: Path | None = None) -> Path:
    """``--cache DIR``, else the config's ``cacheFolder``, else ``cache`` in its run folder."""
    return override or config.cache_settings.folder or config.run_dir / "cache"


def plan_cache(config: TrainingConfig, root: Path, save_memo: bool = True) -> CachePlan:
    """Every entry ``config`` trains and validates on, keyed; nothing is preprocessed yet.

    Raises:
        DataError, TrainingError: a folder, file or the cases' orientations cannot be used.
    """
    memo = FingerprintMemo(root / layout.MEMO)
    training = list_cases(config.data, config.train_indexes, "training")
    held_out = (
        list_cases(config.data, config.validation_indexes, "validation")
        if config.validation_indexes
        else []
    )
    headers = [
        stored_reference(f.images[0], config.data.orientation, memo) for f in training + held_out
    ]
    grid = training_grid(headers[: len(training)], common_orientation(headers))
    check_label_pairs(config, grid)
    specs = entry_specs(config, grid)
    planned = [
        _planned(
            root, files, specs[role], header.reference.affine, header.reference.spatial_shape, memo
        )
        for role, files, header in zip(
            ["training"] * len(training) + ["validation"] * len(held_out),
            training + held_out,
            headers,
            strict=True,
        )
    ]
    if save_memo:
        memo.save()
    return CachePlan(root, grid, tuple(planned[: len(training)]), tuple(planned[len(training) :]))


def check_label_pairs(config: TrainingConfig, grid: ModelGrid) -> None:
    """Left/right label swaps need to know where left is."""
    if grid.orientation is None and config.train.augment.flip_label_pairs:
        raise TrainingError(
            f"{config.source} [Training Parameters] augmentLabelPairs: the training arrays' "
            "orientation is unknown, so left and right cannot be told apart; declare it with "
            "'orientation = ILA' (for example) in [Training Images], or drop the label pairs"
        )


def entry_specs(config: TrainingConfig, grid: ModelGrid) -> dict[str, EntrySpec]:
    """How training and validation cases of ``config`` become entries."""
    train, model = config.train, config.model
    reach = warp_reach(train.patch_size, train.augment.scaling) if train.augment.spatial else 0
    common = EntrySpec(
        role="training",
        grid=grid,
        stored_orientation=config.data.orientation,
        num_classes=model.num_classes,
        channels=model.in_channels,
        normalization=train.normalization,
        image_dtype=config.cache_settings.dtype,
    )
    return {
        "training": replace(
            common, patch=train.patch_size, padded=train.apply_padding, reach=reach
        ),
        "validation": replace(common, role="validation", context=model.receptive_field),
    }


def _planned(
    root: Path,
    files: CaseFiles,
    spec: EntrySpec,
    affine: np.ndarray,
    shape: Size3,
    memo: FingerprintMemo,
) -> PlannedEntry:
    inputs = CaseInputs(
        tuple(memo.fingerprint(path) for path in files.images),
        memo.fingerprint(files.label) if files.label is not None else _no_label(files),
        memo.fingerprint(files.roi) if files.roi is not None else None,
    )
    model_shape = plan_grid(affine, shape, spec.grid).model_shape
    return PlannedEntry(EntryJob(root, files, spec, inputs, entry_key(spec, inputs)), model_shape)


def _no_label(files: CaseFiles) -> NoReturn:
    raise DataError(f"case {files.name}: a label map is required for training")


def prepare_cache(
    plan: CachePlan, jobs: int = 1, open_validation: bool = True, verify: bool = True
) -> CacheContents:
    """Make the missing entries, then open every entry (validation ones if asked)."""
    missing = [entry for entry in plan.entries if not entry.present]
    built = 0
    if missing:
        claim_folder(plan.root)
        start = time.perf_counter()
        built = _build_all(missing, jobs)
        logger.info(
            "cache %s: %d of %d cases preprocessed in %.1f s%s",
            plan.root,
            built,
            len(plan.entries),
            time.perf_counter() - start,
            f" ({len(missing) - built} by other processes)" if built < len(missing) else "",
        )
    else:
        logger.info("cache %s: all %d cases already preprocessed", plan.root, len(plan.entries))
    training = [_open(entry, verify) for entry in plan.training]
    validation = [_open(entry, verify) for entry in plan.validation] if open_validation else []
    return CacheContents(training, validation, built)


def claim_folder(root: Path) -> None:
    """Make ``root`` a cache folder (its marker), or say in one line why it cannot be written."""
    marker = root / layout.MARKER
    try:
        layout.entries_folder(root).mkdir(parents=True, exist_ok=True)
        if _marker_format(marker) != FORMAT_VERSION:
            if marker.exists():
                logger.warning(
                    "%s was written by another livianet cache format: its entries are not used "
                    "(`livianet cache CONFIG --prune` removes them)",
                    root,
                )
            write_text_atomic(marker, json.dumps({"format": FORMAT_VERSION}) + "\n")
    except OSError as exc:
        raise DataError(cache_problem(root, exc, "(any)")) from None


def _marker_format(marker: Path) -> int | None:
    try:
        return int(json.loads(marker.read_text())["format"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _build_all(missing: Sequence[PlannedEntry], jobs: int) -> int:
    """Build what no other process is building; then wait for the rest. The count built here."""
    outcomes: dict[str, str] = {}
    if jobs <= 1 or len(missing) == 1:
        for n, entry in enumerate(missing, start=1):
            outcomes[entry.key] = build_entry(entry.job)
            _log_built(entry, outcomes[entry.key], n, len(missing))
    else:
        outcomes = _build_in_workers(missing, jobs)
    built = sum(outcome == "built" for outcome in outcomes.values())
    return built + _wait_for([e for e in missing if outcomes[e.key] == "locked"])


def _build_in_workers(missing: Sequence[PlannedEntry], jobs: int) -> dict[str, str]:
    """``build_entry`` in ``jobs`` fresh processes (spawned: they import no torch)."""
    context = multiprocessing.get_context("spawn")
    outcomes: dict[str, str] = {}
    with concurrent.futures.ProcessPoolExecutor(
        min(jobs, len(missing)), mp_context=context
    ) as pool:
        futures = {pool.submit(build_entry, entry.job): entry for entry in missing}
        try:
            for n, done in enumerate(concurrent.futures.as_completed(futures), start=1):
                entry = futures[done]
                outcomes[entry.key] = done.result()
                _log_built(entry, outcomes[entry.key], n, len(missing))
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return outcomes


def _log_built(entry: PlannedEntry, outcome: str, n: int, total: int) -> None:
    if outcome == "built":
        logger.info("preprocessed %s (%d/%d)", entry.name, n, total)


def _wait_for(entries: Sequence[PlannedEntry]) -> int:
    """Wait for entries other processes hold; build any whose holder gave up. The count built here."""
    pending, built, told = list(entries), 0, False
    while pending:
        still = []
        for entry in pending:
            if entry.present:
                continue
            lock = layout.lock_path(entry.job.root, entry.key)
            if is_locked(lock):
                if not told:
                    logger.info(
                        "waiting for %s (being preprocessed by %s)", entry.name, holder(lock)
                    )
                    told = True
                still.append(entry)
                continue
            outcome = build_entry(entry.job)
            built += outcome == "built"
            if outcome == "locked":
                still.append(entry)
        pending = still
        if pending:
            time.sleep(WAIT_POLL_S)
    return built


def _open(entry: PlannedEntry, verify: bool) -> CachedEntry:
    """Open the entry (a damaged one is written again from its inputs, once), as this run's case."""
    folder = entry.folder
    identity = _inode(folder)
    try:
        return _as_planned(open_entry(folder, entry.key, verify), entry)
    except EntryProblem as problem:
        logger.warning("%s; preprocessing case %s again", problem, entry.name)
    _discard(folder, identity)
    claim_folder(entry.job.root)
    if build_entry(entry.job) == "locked":
        _wait_for([entry])
    try:
        return _as_planned(open_entry(folder, entry.key, verify), entry)
    except EntryProblem as problem:
        raise DataError(f"{problem}, even after preprocessing case {entry.name} again") from None


def _as_planned(opened: CachedEntry, entry: PlannedEntry) -> CachedEntry:
    """The entry with this run's name and input files: the same bytes elsewhere share an entry,
    and the run watches (and names its outputs after) its own files, not those it was made from."""
    meta = replace(opened.meta, name=entry.name, inputs=entry.job.inputs)
    return replace(opened, meta=meta)


def _inode(folder: Path) -> int | None:
    try:
        return os.stat(folder).st_ino
    except OSError:
        return None


def _discard(folder: Path, identity: int | None) -> None:
    """Move a damaged entry aside and delete it, unless another process has replaced it already."""
    if identity is None or _inode(folder) != identity:
        return
    aside = folder.with_name(f"{layout.TMP_PREFIX}discarded-{folder.name}-{os.getpid()}")
    try:
        os.rename(folder, aside)
    except OSError:
        return
    shutil.rmtree(aside, ignore_errors=True)


# ----------------------------------------------------------------------------- the cache command


@dataclass(frozen=True)
class EntryListing:
    key: str
    name: str
    role: str
    bytes: int


def list_entries(root: Path) -> list[EntryListing]:
    """Every complete entry in the folder (whatever config made it)."""
    folder = layout.entries_folder(root)
    if not folder.is_dir():
        return []
    listed = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_dir():
            continue
        size = sum(f.stat().st_size for f in path.iterdir() if f.is_file())
        try:
            meta = json.loads((path / layout.META).read_text())
            name, role = str(meta.get("name", "?")), str(meta.get("role", "?"))
        except (OSError, ValueError, AttributeError):
            name, role = "?", "damaged"
        listed.append(EntryListing(path.name, name, role, size))
    return listed


def prune(root: Path, keep: set[str]) -> tuple[int, int]:
    """Delete entries not in ``keep``, and leftovers of interrupted writes: ``(count, bytes)``.

    Raises:
        DataError: ``root`` is not a livianet cache folder (it holds no marker).
    """
    if not layout.is_cache_folder(root):
        raise DataError(f"{root}: not a livianet cache folder (no {layout.MARKER}): nothing pruned")
    removed = freed = 0
    folder = layout.entries_folder(root)
    for entry in list_entries(root):
        if entry.key in keep or is_locked(layout.lock_path(root, entry.key)):
            continue
        shutil.rmtree(folder / entry.key, ignore_errors=True)
        removed, freed = removed + 1, freed + entry.bytes
    for path in folder.glob(f"{layout.TMP_PREFIX}*"):
        key = path.name[len(layout.TMP_PREFIX) :].split("-")[0]
        if not is_locked(layout.lock_path(root, key)):
            shutil.rmtree(path, ignore_errors=True)
    for lock in folder.glob(f"*{layout.LOCK_SUFFIX}"):
        if not is_locked(lock):
            with contextlib.suppress(OSError):
                lock.unlink()
    return removed, freed
