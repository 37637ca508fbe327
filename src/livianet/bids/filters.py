"""``--bids-filter-file``: which T1w files to take, in the form fMRIPrep and other BIDS Apps read.

The file is a JSON object; its ``"t1w"`` entry maps entities to the values wanted:

    {"t1w": {"session": "01", "acquisition": ["mprage", "fast"], "reconstruction": null}}

A key is an entity's long name (``acquisition``) or its short key (``acq``), or ``datatype``,
``suffix`` or ``extension``; a value is a label, a list of labels, ``null`` (the entity must be
absent) or ``"*"`` (present, any value). Runs compare as numbers (``1`` matches ``run-01``).
Other entries (``"bold"``, ``"t2w"``) are for other apps and ignored.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from livianet.bids.entities import ENTITY_NAMES, SHORT_KEYS, BidsName
from livianet.errors import ConfigError

logger = logging.getLogger(__name__)

ANY = "*"
_FILE_KEYS = ("datatype", "suffix", "extension")
_INDEX_KEYS = {"run", "echo", "flip", "inv", "split", "chunk"}  # numbers in BIDS, not labels


@dataclass(frozen=True)
class Condition:
    """One key's condition: one of ``values`` (None: the key must be absent; ``*``: any)."""

    key: str
    values: tuple[str, ...] | None

    def holds(self, found: str | None) -> bool:
        if self.values is None:
            return found is None
        if found is None:
            return False
        return ANY in self.values or any(_same(self.key, found, v) for v in self.values)


@dataclass(frozen=True)
class T1wFilter:
    conditions: tuple[Condition, ...] = ()

    def matches(self, name: BidsName, datatype: str) -> bool:
        facts = {"datatype": datatype, "suffix": name.suffix, "extension": name.extension}
        return all(c.holds(facts.get(c.key, name.get(c.key))) for c in self.conditions)


def read_filter_file(path: Path) -> T1wFilter:
    """The ``t1w`` conditions of a filter file; a one-line error naming what is wrong."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"--bids-filter-file {path}: cannot be read ({exc.strerror})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"--bids-filter-file {path}: not JSON ({exc})") from None
    if not isinstance(document, Mapping):
        raise ConfigError(f"--bids-filter-file {path}: expected a JSON object")
    entry = document.get("t1w")
    if entry is None:
        logger.warning('%s: no "t1w" entry: every T1w file is taken', path)
        return T1wFilter()
    if not isinstance(entry, Mapping):
        raise ConfigError(f'--bids-filter-file {path}: "t1w" must be an object of entities')
    return T1wFilter(tuple(_condition(path, key, value) for key, value in entry.items()))


def _condition(path: Path, key: str, value: object) -> Condition:
    short = key if key in ENTITY_NAMES or key in _FILE_KEYS else SHORT_KEYS.get(key)
    if short is None:
        raise ConfigError(
            f'--bids-filter-file {path}: unknown key {key!r} in "t1w" (expected an entity such '
            "as session, acquisition, run, or datatype, suffix, extension)"
        )
    if value is None:
        return Condition(short, None)
    values = value if isinstance(value, list) else [value]
    if not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in values):
        raise ConfigError(
            f'--bids-filter-file {path}: "t1w".{key} = {value!r}: expected a label, a list of '
            'labels, null or "*"'
        )
    if short == "sub":
        values = [str(v).removeprefix("sub-") for v in values]
    if short == "ses":
        values = [str(v).removeprefix("ses-") for v in values]
    return Condition(short, tuple(str(v) for v in values))


def _same(key: str, found: str, wanted: str) -> bool:
    """Equal labels; indices (``run``, ``echo``...) equal as numbers."""
    if key in _INDEX_KEYS and found.isdigit() and wanted.isdigit():
        return int(found) == int(wanted)
    return found == wanted
