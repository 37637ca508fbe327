"""Quality control of a segmentation run: which scans to look at, from its manifest alone.

Pure functions over the manifest's plain values (``segmentation.json``): no files read, so the
rules are tested on hand-made manifests. A scan is flagged when any structure's volume is far
from the run's other scans or outside the model's training range, when a left/right pair is
strongly asymmetric, when a structure is missing, split into several large pieces, or out of
the place and span the model's training scans gave it (:mod:`~livianet.evaluation.placement`:
its centroid and span in the frame of the brain mask), or when the segmentation recorded a warning (geometry, intensities); a scan that failed is flagged too.
A scan whose brain was extracted (its entry holds ``tiv_mm3``) is flagged when the mask's volume
is implausible for an adult head or structures reach the mask's edge
(:func:`~livianet.evaluation.brain_flags.brain_mask_reasons`); one where extraction found no
brain carries that warning. The reports show the result
(:mod:`livianet.reporting`); ``qc.csv`` is :func:`~livianet.evaluation.qc_table.qc_rows`.

To add a flag: give its limit a constant and a field of
:class:`~livianet.evaluation.thresholds.Thresholds` (and a line in its ``describe``) in
:mod:`~livianet.evaluation.thresholds`, the figure it reads a field in :class:`StructureQC`
(filled in ``_structure``), and write one rule function in the section "the rules" below,
listed in ``STRUCTURE_RULES``.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from livianet.evaluation.brain_flags import brain_mask_reasons, is_label, label_name
from livianet.evaluation.placement import (
    Frame,
    PlaceRange,
    StructurePlace,
    misplacement,
    place_reasons,
    widest_span,
)
from livianet.evaluation.thresholds import MAD_TO_SD, Thresholds
from livianet.evaluation.values import as_float, fmt


@dataclass(frozen=True)
class Cohort:
    """One structure's volumes over the run: how many, their median and robust SD."""

    count: int
    median: float | None
    robust_sd: float | None  # None: too few scans for z-scores


@dataclass
class StructureQC:
    """One structure of one scan: the figures the rules read, and whether any flagged it."""

    label: int
    name: str
    volume: float | None
    z: float | None = None
    components: int | None = None
    largest_fraction: float | None = None
    training: tuple[float, float] | None = None  # (min, max) of the training volumes
    place: StructurePlace | None = None  # in the frame of the scan's brain mask
    known_place: PlaceRange | None = None  # over the training scans
    frame_size_mm: tuple[float, float, float] | None = None
    beyond_place_mm: float | None = None  # centroid's distance outside the training range
    span_ratio: float | None = None  # widest span / the widest training span there
    flagged: bool = False


@dataclass
class PairQC:
    labels: tuple[int, int]
    name: str
    asymmetry: float | None  # (first - second) / mean(first, second)
    flagged: bool = False


@dataclass
class ScanQC:
    """One scan's figures and the reasons it is flagged (none: it looks fine)."""

    image: str
    entry: Mapping[str, Any]
    structures: list[StructureQC] = field(default_factory=list)
    pairs: list[PairQC] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    failed: bool = False
    warnings: int = 0  # how many of the reasons are the segmentation's own warnings

    @property
    def flagged(self) -> bool:
        return bool(self.reasons)

    @property
    def severity(self) -> tuple[int, int]:
        """Problems with the structures (or a failure) weigh more than warnings."""
        return (len(self.reasons) - self.warnings, self.warnings)


@dataclass
class Assessment:
    """Every scan (flagged first), the structures, pairs and cohort figures behind the flags."""

    scans: list[ScanQC]
    labels: list[int]
    names: dict[int, str]
    pairs: list[tuple[int, int]]
    cohort: dict[int, Cohort]
    thresholds: Thresholds

    @property
    def flagged(self) -> list[ScanQC]:
        return [s for s in self.scans if s.flagged]

    def summary(self) -> str:
        done = [s for s in self.scans if not s.failed]
        failed = len(self.scans) - len(done)
        flagged = sum(s.flagged for s in done)
        text = f"{flagged} of {len(done)} scan{'s' if len(done) != 1 else ''} flagged"
        if failed:
            text += f"; {failed} failed"
        return text


def label_names(manifest: Mapping[str, Any]) -> dict[int, str]:
    names = (manifest.get("model") or {}).get("label_names") or {}
    return {int(k): str(v) for k, v in names.items() if is_label(k)}


def structure_labels(manifest: Mapping[str, Any]) -> list[int]:
    """Foreground labels: those the model names, and any a scan has a volume for."""
    found = {k for k in label_names(manifest) if k > 0}
    for scan in _scans(manifest):
        found |= {int(k) for k in (scan.get("volumes_mm3") or {}) if is_label(k) and int(k) > 0}
    return sorted(found)


def assess(manifest: Mapping[str, Any], thresholds: Thresholds | None = None) -> Assessment:
    """Compute every flag of a manifest's scans; flagged scans first, the most serious first."""
    limits = thresholds or Thresholds()
    labels = structure_labels(manifest)
    names = {k: label_names(manifest).get(k, f"label {k}") for k in labels}
    model = manifest.get("model") or {}
    pairs = [
        (int(p[0]), int(p[1]))
        for p in (model.get("label_pairs") or [])
        if isinstance(p, Sequence) and len(p) == 2 and all(is_label(x) for x in p)
    ]
    scans = _scans(manifest)
    cohort = {k: _cohort([_volume(s, k) for s in scans], limits) for k in labels}
    training = _training_ranges(model.get("training_volumes_mm3"))
    known_places = _place_ranges(model.get("training_places"))
    results = []
    for scan in scans:
        result = ScanQC(_image_name(scan), scan)
        for label in labels:
            item = _structure(scan, label, names[label], cohort[label], training.get(label))
            _place(item, scan, known_places.get(label))
            reasons = _structure_reasons(item, cohort[label], limits)
            item.flagged = bool(reasons)
            result.reasons += reasons
            result.structures.append(item)
        for first, second in pairs:
            result.pairs.append(_pair(scan, first, second, names, limits, result.reasons))
        result.reasons += brain_mask_reasons(scan, names, limits)
        _warnings(scan, result)
        results.append(result)
    for failure in manifest.get("failures") or []:
        if isinstance(failure, Mapping):
            image = str(failure.get("image") or "?")
            error = str(failure.get("error") or "unknown error")
            results.append(ScanQC(image, failure, reasons=[f"failed: {error}"], failed=True))
    order = sorted(
        range(len(results)),
        key=lambda i: (not results[i].flagged, [-n for n in results[i].severity], i),
    )
    return Assessment([results[i] for i in order], labels, names, pairs, cohort, limits)


def asymmetry(first: float | None, second: float | None) -> float | None:
    """``(first - second) / mean(first, second)``; None when either is unknown or both are 0.

    >>> asymmetry(110.0, 90.0), asymmetry(0.0, 0.0)
    (0.2, None)
    """
    if first is None or second is None or first + second <= 0:
        return None
    return (first - second) / ((first + second) / 2)


def pair_name(first: str, second: str) -> str:
    """What two names of a left/right pair share, else both.

    >>> pair_name("Left-Thalamus", "Right-Thalamus"), pair_name("lh_caudate", "rh_caudate")
    ('Thalamus', 'caudate')
    >>> pair_name("A", "B")
    'A/B'
    """
    side = re.compile(r"^(left|right|lh|rh|l|r)[-_ .]+|[-_ .]+(left|right|lh|rh|l|r)$", re.I)
    a, b = side.sub("", first), side.sub("", second)
    return a if a and a == b and a != first else f"{first}/{second}"


# ----------------------------------------------------------------------------- the figures


def _structure(
    scan: Mapping[str, Any],
    label: int,
    name: str,
    stats: Cohort,
    training: tuple[float, float] | None,
) -> StructureQC:
    """One structure's figures from its scan's manifest entry and the run's cohort."""
    volume = _volume(scan, label)
    item = StructureQC(label, name, volume, training=training)
    components = scan.get("components") or {}
    piece = components.get(str(label)) if isinstance(components, Mapping) else None
    if isinstance(piece, Mapping):
        count = as_float(piece.get("count"))
        item.components = None if count is None else int(count)
        item.largest_fraction = as_float(piece.get("largest_fraction"))
    if volume is not None and stats.robust_sd and stats.median is not None:
        item.z = (volume - stats.median) / stats.robust_sd
    return item


def _place(item: StructureQC, scan: Mapping[str, Any], known: PlaceRange | None) -> None:
    """The structure's place in the scan's brain frame, and how far it lies from training's."""
    frame = Frame.from_dict(scan.get("brain_frame"))
    places = scan.get("places")
    if known is None or frame is None or not isinstance(places, Mapping):
        return
    place = StructurePlace.from_dict(places.get(str(item.label)))
    if place is None:
        return
    item.place, item.known_place, item.frame_size_mm = place, known, frame.size_mm
    off = misplacement(place, known)
    item.beyond_place_mm = round(off.beyond * frame.size_mm[off.axis], 1)
    item.span_ratio = round(widest_span(place, known)[1], 3)


def _place_ranges(stored: Any) -> dict[int, PlaceRange]:
    if not isinstance(stored, Mapping):
        return {}
    found = {int(k): PlaceRange.from_dict(v) for k, v in stored.items() if is_label(k)}
    return {k: v for k, v in found.items() if v is not None}


def _cohort(values: Sequence[float | None], limits: Thresholds) -> Cohort:
    known = [v for v in values if v is not None]
    if not known:
        return Cohort(0, None, None)
    median = statistics.median(known)
    if len(known) < limits.min_cohort:
        return Cohort(len(known), median, None)
    mad = statistics.median(abs(v - median) for v in known)
    spread = max(MAD_TO_SD * mad, limits.min_relative_sd * abs(median))
    return Cohort(len(known), median, spread if spread > 0 else None)


def _training_ranges(stored: Any) -> dict[int, tuple[float, float]]:
    if not isinstance(stored, Mapping):
        return {}
    ranges = {}
    for key, item in stored.items():
        if not is_label(key) or not isinstance(item, Mapping):
            continue
        low, high = as_float(item.get("min")), as_float(item.get("max"))
        if low is not None and high is not None and high >= low:
            ranges[int(key)] = (low, high)
    return ranges


# ----------------------------------------------------------------------------- the rules
# A structure rule reads one structure's figures and returns why it is flagged, or None.
# A missing structure is reported as missing only: the other rules are for present ones.

StructureRule = Callable[[StructureQC, Cohort, Thresholds], str | None]


def _far_from_run(item: StructureQC, stats: Cohort, limits: Thresholds) -> str | None:
    if item.z is None or abs(item.z) <= limits.z_limit:
        return None
    side = "above" if item.z > 0 else "below"
    return (
        f"{item.name} volume {fmt(item.volume)} mm³ is {abs(item.z):.1f} robust SD {side} the"
        f" run's median {fmt(stats.median)} mm³ (limit {limits.z_limit:g})"
    )


def _outside_training(item: StructureQC, stats: Cohort, limits: Thresholds) -> str | None:
    if item.training is None or item.volume is None:
        return None
    low, high = item.training
    floor, ceiling = low * (1 - limits.training_margin), high * (1 + limits.training_margin)
    if floor <= item.volume <= ceiling:
        return None
    side = "below" if item.volume < floor else "above"
    return (
        f"{item.name} volume {fmt(item.volume)} mm³ {side} the training range {fmt(low)}–"
        f"{fmt(high)} mm³ (with {limits.training_margin:.0%} margin: {fmt(floor)}–{fmt(ceiling)})"
    )


def _split(item: StructureQC, stats: Cohort, limits: Thresholds) -> str | None:
    if (
        item.components is None
        or item.components < 2
        or item.largest_fraction is None
        or item.largest_fraction >= limits.largest_piece_min
    ):
        return None
    return (
        f"{item.name} split into {item.components} pieces, the largest holding"
        f" {item.largest_fraction:.0%} (limit {limits.largest_piece_min:.0%})"
    )


def _out_of_place(item: StructureQC, stats: Cohort, limits: Thresholds) -> str | None:
    if item.place is None or item.known_place is None or item.frame_size_mm is None:
        return None
    reasons = place_reasons(
        item.name, item.place, item.known_place, item.frame_size_mm,
        limits.position_margin, limits.extent_margin,
    )  # fmt: skip
    return "; ".join(reasons) or None


STRUCTURE_RULES: tuple[StructureRule, ...] = (
    _far_from_run,
    _outside_training,
    _split,
    _out_of_place,
)


def _structure_reasons(item: StructureQC, stats: Cohort, limits: Thresholds) -> list[str]:
    if item.volume is None:
        return []
    if item.volume <= 0 or item.components == 0:
        return [f"{item.name} missing (volume 0 mm³)"]
    found = (rule(item, stats, limits) for rule in STRUCTURE_RULES)
    return [reason for reason in found if reason is not None]


def _pair(
    scan: Mapping[str, Any],
    first: int,
    second: int,
    names: dict[int, str],
    limits: Thresholds,
    reasons: list[str],
) -> PairQC:
    """A left/right pair's asymmetry; its reason, if strongly asymmetric, goes to ``reasons``."""
    a, b = _volume(scan, first), _volume(scan, second)
    value = asymmetry(a, b)
    pair = PairQC(
        (first, second), pair_name(label_name(names, first), label_name(names, second)), value
    )
    # A missing side is reported as missing; asymmetry is for two present structures.
    if value is not None and a and b and abs(value) > limits.asymmetry_limit:
        pair.flagged = True
        reasons.append(
            f"{pair.name} asymmetry {abs(value):.0%} ({label_name(names, first)} {fmt(a)},"
            f" {label_name(names, second)} {fmt(b)} mm³; limit {limits.asymmetry_limit:.0%})"
        )
    return pair


def _warnings(scan: Mapping[str, Any], result: ScanQC) -> None:
    """The segmentation's own warnings, each a reason."""
    warnings = scan.get("warnings") or []
    for warning in [warnings] if isinstance(warnings, str) else warnings:
        result.reasons.append(f"warning: {warning}")
        result.warnings += 1


# ----------------------------------------------------------------------------- small helpers


def _scans(manifest: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [s for s in manifest.get("scans") or [] if isinstance(s, Mapping)]


def _volume(scan: Mapping[str, Any], label: int) -> float | None:
    volumes = scan.get("volumes_mm3") or {}
    return as_float(volumes.get(str(label))) if isinstance(volumes, Mapping) else None


def _image_name(scan: Mapping[str, Any]) -> str:
    """The input file's name: ``image``, else the last part of ``input``."""
    image = scan.get("image")
    if image:
        return str(image)
    source = str(scan.get("input") or "?")
    return re.split(r"[\\/]", source)[-1]
