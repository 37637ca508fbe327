"""How each label map was made, as ``segmentation.json`` records it, and when a rerun must redo it.

Every scan's entry carries ``provenance``: its input files with their SHA-256, the settings
that change the result (model files and their hashes, TTA, precision, device, resampling,
orientation, brain extraction, clean-up), the command line, livianet's version and the
seconds it took. ``--skip-existing`` keeps an earlier output only when the recorded inputs
and settings equal this run's (:func:`reasons_to_redo`); an entry from before provenance was
recorded is kept as before, with a note.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from livianet.cache.fingerprint import file_digest
from livianet.version import __version__


@dataclass(frozen=True)
class RunSettings:
    """What one ``segment`` run does to every scan; a change of any of them changes the result."""

    models: tuple[tuple[str, str], ...]  # (path, sha256) per ensemble member
    tta: bool
    precision: str  # as resolved ("float32", "bf16"...), not "auto"
    device: str
    resample: bool
    orientation: str | None
    brain_extraction: str  # in words: "off", or deepbet's threshold and dilation
    largest_component: bool
    original_labels: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "models": [{"path": p, "sha256": d} for p, d in self.models],
            "tta": self.tta,
            "precision": self.precision,
            "device": self.device,
            "resample": self.resample,
            "orientation": self.orientation,
            "brain_extraction": self.brain_extraction,
            "largest_component": self.largest_component,
            "original_labels": self.original_labels,
        }


def model_digests(paths: list[Path]) -> tuple[tuple[str, str], ...]:
    """Each checkpoint's path and SHA-256 (read once per run)."""
    return tuple((str(p), file_digest(p)) for p in paths)


def input_files(images: list[Path], roi: Path | None) -> dict[str, Any]:
    """The scan's input files and their SHA-256."""
    return {
        "images": [{"path": str(p), "sha256": file_digest(p)} for p in images],
        "roi": {"path": str(roi), "sha256": file_digest(roi)} if roi is not None else None,
    }


def provenance(
    settings: RunSettings, inputs: dict[str, Any], seconds: float, command: str | None
) -> dict[str, Any]:
    """A scan's ``provenance`` entry; ``command``: the command line (None: the Python API)."""
    return {
        "inputs": inputs,
        "settings": settings.as_dict(),
        "command": command or "Python API (livianet.inference.segment_files)",
        "livianet_version": __version__,
        "seconds": round(seconds, 2),
    }


def reasons_to_redo(
    previous: dict[str, Any], settings: RunSettings, inputs: dict[str, Any]
) -> list[str]:
    """What differs between an earlier scan's record and this run (empty: keep its output).

    >>> s = RunSettings((("m.pt", "ab"),), False, "float32", "cpu", True, None, "off", True, False)
    >>> old = {"settings": s.as_dict(), "inputs": {"images": [], "roi": None}}
    >>> reasons_to_redo(old, s, {"images": [], "roi": None})
    []
    >>> from dataclasses import replace
    >>> reasons_to_redo(old, replace(s, tta=True), {"images": [], "roi": None})
    ['tta: False -> True']
    """
    recorded = previous.get("settings") or {}
    now = settings.as_dict()
    reasons = [
        f"{key}: {_short(recorded.get(key))} -> {_short(value)}"
        for key, value in now.items()
        if recorded.get(key) != value
    ]
    if previous.get("inputs") != inputs:
        reasons.append("input files changed")
    return reasons


def _short(value: Any) -> str:
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return ", ".join(f"{Path(v['path']).name} ({v['sha256'][:8]})" for v in value)
    return str(value)


__all__ = ["RunSettings", "input_files", "model_digests", "provenance", "reasons_to_redo"]
