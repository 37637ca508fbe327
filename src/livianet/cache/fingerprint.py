"""What identifies an input file: its size and the SHA-256 of its bytes, read again only when its stat changes.

A cache entry's key holds each input's size and content digest, so a scan that was
copied, moved or touched (same bytes) keeps its entry and a scan whose bytes changed
gets a new one. Hashing a cohort costs a read of every file; the memo (``inputs.json``
in the cache folder) keeps each file's digest under its path, size, modification time,
status-change time and inode, so a run on unchanged files reads none of them. The
status-change time is what a tool that rewrites a file and then restores its size and
mtime (``rsync -t``, ``touch -r``) cannot set back, so such a file is hashed again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from livianet.atomic import write_text_atomic
from livianet.errors import DataError

logger = logging.getLogger(__name__)

CHUNK = 8 << 20  # bytes read at a time while hashing


@dataclass(frozen=True)
class FileFingerprint:
    """One input file as it was when its entry was made."""

    path: str  # absolute
    size: int
    mtime_ns: int
    sha256: str

    def to_plain(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "size": self.size,
            "mtime_ns": self.mtime_ns,
            "sha256": self.sha256,
        }

    @classmethod
    def from_plain(cls, plain: dict[str, Any]) -> FileFingerprint:
        return cls(
            str(plain["path"]), int(plain["size"]), int(plain["mtime_ns"]), str(plain["sha256"])
        )

    def change(self) -> str | None:
        """What changed on disk since then (a sentence), or None."""
        try:
            stat = os.stat(self.path)
        except OSError:
            return "was removed"
        if stat.st_size != self.size or stat.st_mtime_ns != self.mtime_ns:
            return "was modified"
        return None


def _stat_facts(stat: os.stat_result) -> dict[str, int]:
    """What must stay the same for a memoised digest to hold."""
    return {
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "ctime_ns": stat.st_ctime_ns,
        "inode": stat.st_ino,
    }


def file_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class FingerprintMemo:
    """Digests (and other facts) already taken, valid while a file's stat stays the same."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.records: dict[str, dict[str, Any]] = _read_memo(path) if path is not None else {}
        self.changed = False

    def _record(self, file: Path) -> tuple[os.stat_result, dict[str, Any]]:
        name = str(file.resolve())
        try:
            stat = os.stat(name)
        except OSError as exc:
            raise DataError(f"{file}: cannot read ({exc.strerror or exc})") from None
        record = self.records.get(name)
        facts = _stat_facts(stat)
        if record is None or {key: record.get(key) for key in facts} != facts:
            record = dict(facts)
            self.records[name] = record
            self.changed = True
        return stat, record

    def fingerprint(self, file: Path) -> FileFingerprint:
        """The file's fingerprint; its bytes are hashed only when the memo has no digest for this stat."""
        stat, record = self._record(file)
        if "sha256" not in record:
            record["sha256"] = file_digest(file)
            again = os.stat(file)
            if (again.st_size, again.st_mtime_ns) != (stat.st_size, stat.st_mtime_ns):
                raise DataError(
                    f"{file}: changed while it was being read; run again once it is written"
                )
            self.changed = True
        return FileFingerprint(
            str(file.resolve()), stat.st_size, stat.st_mtime_ns, record["sha256"]
        )

    def fact(self, file: Path, name: str, compute: Any) -> Any:
        """A JSON-able fact about the file (``compute(file)``), memoised like its digest."""
        _, record = self._record(file)
        if name not in record:
            record[name] = compute(file)
            self.changed = True
        return record[name]

    def save(self) -> None:
        """Write the memo back (atomically); a folder that cannot be written only costs a re-hash later."""
        if self.path is None or not self.changed:
            return
        try:
            write_text_atomic(self.path, json.dumps(self.records, indent=0, sort_keys=True))
            self.changed = False
        except OSError as exc:
            logger.debug("%s: input digests not saved (%s)", self.path, exc.strerror or exc)


def _read_memo(path: Path) -> dict[str, dict[str, Any]]:
    try:
        records = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        logger.warning("%s: unreadable input digests, hashing the inputs again (%s)", path, exc)
        return {}
    return records if isinstance(records, dict) else {}
