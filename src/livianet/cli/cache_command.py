"""``livianet cache CONFIG...``: preprocess training configs' cases ahead, report a cache, prune it.

Building ahead suits a cluster: run it once (``--jobs N``) before a torchrun job, whose
ranks then only open the entries. ``--report`` preprocesses nothing and says what the
folder holds against what the configs need; ``--prune`` deletes every entry none of the
given configs uses (and what interrupted writes left behind).
"""

from __future__ import annotations

import argparse
import logging
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

from livianet.errors import ConfigError

if TYPE_CHECKING:
    Commands = argparse._SubParsersAction[argparse.ArgumentParser]
    from livianet.cache import CachePlan

logger = logging.getLogger(__name__)

MIB = 1 << 20


def add_cache_parser(commands: Commands) -> None:
    cache = commands.add_parser(
        "cache",
        help="preprocess training cases into a cache ahead, report its size, prune it",
        description="Preprocess the training and validation cases of training configs into their "
        "cache folder (what `livianet train` reads), report what a cache holds, or prune the "
        "entries none of the configs uses.",
    )
    cache.add_argument("configs", nargs="+", type=Path, metavar="CONFIG", help="training INI files")
    cache.add_argument(
        "--cache",
        type=Path,
        metavar="DIR",
        help="the cache folder (default: each config's cacheFolder, else cache/ in its run folder)",
    )
    cache.add_argument(
        "--jobs", type=int, default=1, metavar="N", help="processes that preprocess (default 1)"
    )
    cache.add_argument(
        "--data-root",
        type=Path,
        metavar="DIR",
        help="look up each data folder (MR, Label, ROI) by its last name under DIR",
    )
    action = cache.add_mutually_exclusive_group()
    action.add_argument(
        "--report",
        action="store_true",
        help="print what the folder holds and what the configs need; preprocess nothing",
    )
    action.add_argument(
        "--prune",
        action="store_true",
        help="delete the entries none of the configs uses, and leftovers of interrupted writes",
    )


def run_cache(args: argparse.Namespace) -> int:
    from livianet.cache import cache_folder, plan_cache
    from livianet.config import load_training_config

    if args.jobs < 1:
        raise ConfigError(f"--jobs {args.jobs}: expected a positive number of processes")
    plans: dict[Path, list[tuple[Path, CachePlan]]] = defaultdict(list)
    for path in args.configs:
        config = load_training_config(path, data_root=args.data_root)
        if not config.cache_settings.enabled and args.cache is None:
            logger.warning(
                "%s: cache = 0, so `livianet train` holds its cases in memory and reads no cache "
                "(unless given --cache DIR)",
                path,
            )
        root = cache_folder(config, args.cache)
        plans[root].append((path, plan_cache(config, root)))
    for root, planned in plans.items():
        if args.report:
            print("\n".join(report_lines(root, planned)))
        elif args.prune:
            print(_prune(root, planned))
        else:
            print(_build(root, planned, args.jobs))
    return 0


def _build(root: Path, planned: list[tuple[Path, CachePlan]], jobs: int) -> str:
    from livianet.cache import prepare_cache

    built = total = size = 0
    for _, plan in planned:
        contents = prepare_cache(plan, jobs=jobs, verify=False)
        built += contents.built
        total += len(plan.entries)
        size += sum(e.meta.bytes for e in contents.training + contents.validation)
    return f"{root}: {total} cases ready ({built} preprocessed now), {size / MIB:.1f} MiB"


def _prune(root: Path, planned: list[tuple[Path, CachePlan]]) -> str:
    from livianet.cache import prune

    keep = {entry.key for _, plan in planned for entry in plan.entries}
    removed, freed = prune(root, keep)
    return f"{root}: pruned {removed} entries ({freed / MIB:.1f} MiB); {len(keep)} kept for the configs"


def report_lines(root: Path, planned: list[tuple[Path, CachePlan]]) -> list[str]:
    """What ``root`` holds, per config and in all."""
    from livianet.cache import list_entries

    listed = {entry.key: entry for entry in list_entries(root)}
    lines = [f"cache {root}:"]
    used: set[str] = set()
    for path, plan in planned:
        keys = [entry.key for entry in plan.entries]
        present = [listed[k] for k in keys if k in listed]
        used.update(keys)
        lines.append(
            f"  {path}: {len(present)} of {len(keys)} cases preprocessed "
            f"({len(plan.training)} training, {len(plan.validation)} validation), "
            f"{sum(e.bytes for e in present) / MIB:.1f} MiB"
        )
    others = [entry for key, entry in listed.items() if key not in used]
    lines.append(
        f"  entries none of these configs uses: {len(others)} "
        f"({sum(e.bytes for e in others) / MIB:.1f} MiB; --prune deletes them)"
    )
    lines.append(
        f"  in all: {len(listed)} entries, {sum(e.bytes for e in listed.values()) / MIB:.1f} MiB"
    )
    return lines
