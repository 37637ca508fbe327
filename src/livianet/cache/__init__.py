"""The preprocessed cache: each case on the model's grid once, on disk, read through memory maps.

Training no longer holds every case in memory: :func:`plan_cache` keys each case by its
inputs and the settings that change its arrays, :func:`prepare_cache` writes the missing
entries (atomically, one writer per entry, ``jobs`` processes) and opens them all as
memory maps, whose pages the kernel may drop; so a run's memory does not grow with the
number of cases. No torch here: ``--jobs`` workers and ``livianet cache`` start light.
"""

from livianet.cache.entry import CachedEntry, EntryProblem, open_entry
from livianet.cache.fingerprint import FileFingerprint, FingerprintMemo, file_digest
from livianet.cache.geometry import ORIENTATION_KEY, common_orientation, training_grid
from livianet.cache.layout import EntryMeta
from livianet.cache.positions import class_positions
from livianet.cache.spec import FORMAT_VERSION, CaseInputs, EntrySpec, entry_key
from livianet.cache.store import (
    CacheContents,
    CachePlan,
    EntryListing,
    PlannedEntry,
    cache_folder,
    check_label_pairs,
    list_entries,
    plan_cache,
    prepare_cache,
    prune,
)

__all__ = [
    "FORMAT_VERSION",
    "ORIENTATION_KEY",
    "CacheContents",
    "CachePlan",
    "CachedEntry",
    "CaseInputs",
    "EntryListing",
    "EntryMeta",
    "EntryProblem",
    "EntrySpec",
    "FileFingerprint",
    "FingerprintMemo",
    "PlannedEntry",
    "cache_folder",
    "check_label_pairs",
    "class_positions",
    "common_orientation",
    "entry_key",
    "file_digest",
    "list_entries",
    "open_entry",
    "plan_cache",
    "prepare_cache",
    "prune",
    "training_grid",
]
