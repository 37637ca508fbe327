"""Where each structure lies and how far it reaches, in the frame of the brain mask.

A volume range cannot see a structure of the right size in the wrong place (a thalamus
drawn in the cerebellum) or one that leaks (a tongue into the brainstem). So each
structure gets two figures per world axis (RAS, mm), both divided by the brain mask's
size along that axis so that head size and voxel size drop out:

- ``position``: the structure's centroid minus the mask's centroid;
- ``extent``: the span of the structure (its 1st to 99th percentile), so a few stray
  voxels do not stretch it but a leak of a quarter of its volume does.

A checkpoint records each label's range of both over its training scans
(:func:`place_ranges`); QC flags a structure whose centroid lies more than
``position_margin`` of the mask's size beyond that range, or whose span exceeds the
largest training span by more than ``extent_margin`` (:func:`place_reasons`). All of it
is computed from a label map, its affine and the mask's :class:`Frame`, so
``livianet report`` judges a hand-edited map again from the file alone.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from nibabel.affines import apply_affine

AXES = (("left", "right"), ("posterior", "anterior"), ("inferior", "superior"))  # RAS +
_SPAN_PERCENTILES = (1.0, 99.0)
_MAX_POINTS = 400_000  # mask voxels used for its frame (evenly strided): plenty for mm figures


@dataclass(frozen=True)
class Frame:
    """A brain mask's centroid and size (1st-99th percentile span) along each RAS axis, mm."""

    centre_mm: tuple[float, float, float]
    size_mm: tuple[float, float, float]
    source: str = "mask"  # what the mask was: "roi", "brain extraction" or "nonzero voxels"

    def as_dict(self) -> dict[str, Any]:
        return {
            "centre_mm": [round(v, 3) for v in self.centre_mm],
            "size_mm": [round(v, 3) for v in self.size_mm],
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, value: Any) -> Frame | None:
        """The frame a manifest recorded, or None when it holds none (or a broken one)."""
        if not isinstance(value, Mapping):
            return None
        centre, size = _triple(value.get("centre_mm")), _triple(value.get("size_mm"))
        if centre is None or size is None or min(size) <= 0:
            return None
        return cls(centre, size, str(value.get("source") or "mask"))


@dataclass(frozen=True)
class StructurePlace:
    """One structure's centroid offset and span, per RAS axis, as fractions of the frame's size."""

    position: tuple[float, float, float]
    extent: tuple[float, float, float]

    def as_dict(self) -> dict[str, list[float]]:
        return {
            "position": [round(v, 5) for v in self.position],
            "extent": [round(v, 5) for v in self.extent],
        }

    @classmethod
    def from_dict(cls, value: Any) -> StructurePlace | None:
        if not isinstance(value, Mapping):
            return None
        position, extent = _triple(value.get("position")), _triple(value.get("extent"))
        return None if position is None or extent is None else cls(position, extent)


@dataclass(frozen=True)
class PlaceRange:
    """A label's positions and spans over the training scans: per axis minimum and maximum."""

    position_min: tuple[float, float, float]
    position_max: tuple[float, float, float]
    extent_max: tuple[float, float, float]
    cases: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "position_min": list(self.position_min),
            "position_max": list(self.position_max),
            "extent_max": list(self.extent_max),
            "cases": self.cases,
        }

    @classmethod
    def from_dict(cls, value: Any) -> PlaceRange | None:
        if not isinstance(value, Mapping):
            return None
        low, high = _triple(value.get("position_min")), _triple(value.get("position_max"))
        extent = _triple(value.get("extent_max"))
        if low is None or high is None or extent is None:
            return None
        cases = value.get("cases")
        return cls(low, high, extent, int(cases) if isinstance(cases, int | float) else 0)


def mask_frame(mask: np.ndarray, affine: np.ndarray, source: str = "mask") -> Frame | None:
    """The frame of a boolean mask on a grid with this affine; None for an empty mask."""
    count = int(np.count_nonzero(mask))
    if count == 0:
        return None
    step = max(1, math.ceil((count / _MAX_POINTS) ** (1 / 3)))  # every step-th voxel per axis
    points = apply_affine(affine, np.argwhere(mask[::step, ::step, ::step]) * step)
    low, high = np.percentile(points, _SPAN_PERCENTILES, axis=0)
    size = np.maximum(high - low, _voxel_floor(affine))
    return Frame(_as_triple(points.mean(axis=0)), _as_triple(size), source)


def structure_places(
    labels: np.ndarray, affine: np.ndarray, num_classes: int, frame: Frame
) -> dict[int, StructurePlace]:
    """Each present label ``1..K-1``'s place in ``frame`` (absent labels have none)."""
    index = np.flatnonzero((labels > 0) & (labels < num_classes))
    if index.size == 0:
        return {}
    values = labels.ravel()[index]
    points = apply_affine(affine, np.column_stack(np.unravel_index(index, labels.shape)))
    centre, size = np.asarray(frame.centre_mm), np.asarray(frame.size_mm)
    places = {}
    for label in np.unique(values):
        mine = points[values == label]
        low, high = np.percentile(mine, _SPAN_PERCENTILES, axis=0)
        places[int(label)] = StructurePlace(
            _as_triple((mine.mean(axis=0) - centre) / size), _as_triple((high - low) / size)
        )
    return places


def places_entry(
    labels: np.ndarray, affine: np.ndarray, num_classes: int, frame: Frame | None
) -> dict[str, Any]:
    """A manifest entry's ``brain_frame`` and ``places`` (nothing without a frame)."""
    if frame is None:
        return {}
    places = structure_places(labels, affine, num_classes, frame)
    return {
        "brain_frame": frame.as_dict(),
        "places": {str(k): v.as_dict() for k, v in sorted(places.items())},
    }


def case_places(
    labels: np.ndarray,
    roi: np.ndarray | None,
    image: np.ndarray,
    affine: np.ndarray,
    num_classes: int,
) -> dict[int, StructurePlace]:
    """A training case's places: in the frame of its ROI, else of its nonzero voxels.

    ``image`` is ``(C, X, Y, Z)``; a case without ROI and without any nonzero voxel has none.
    """
    mask = roi > 0 if roi is not None else np.any(image != 0, axis=0)
    frame = mask_frame(mask, affine)
    return {} if frame is None else structure_places(labels, affine, num_classes, frame)


def place_ranges(cases: Iterable[Mapping[int, StructurePlace]]) -> dict[int, PlaceRange]:
    """Per label, the range of its places over the cases that hold it."""
    seen: dict[int, list[StructurePlace]] = {}
    for places in cases:
        for label, place in places.items():
            seen.setdefault(label, []).append(place)
    ranges = {}
    for label, found in sorted(seen.items()):
        positions = np.array([p.position for p in found])
        extents = np.array([p.extent for p in found])
        ranges[label] = PlaceRange(
            _as_triple(positions.min(axis=0)),
            _as_triple(positions.max(axis=0)),
            _as_triple(extents.max(axis=0)),
            len(found),
        )
    return ranges


@dataclass(frozen=True)
class Misplacement:
    """How far a structure lies beyond its training range, on its worst axis."""

    axis: int
    beyond: float  # fraction of the frame's size beyond the range (0: inside it)
    side: str  # which way ("posterior", ...)


def misplacement(place: StructurePlace, known: PlaceRange) -> Misplacement:
    """The axis where the centroid lies farthest outside the training range, and how far."""
    worst = Misplacement(0, 0.0, "")
    for axis, (below, above) in enumerate(AXES):
        value = place.position[axis]
        low, high = known.position_min[axis], known.position_max[axis]
        if value < low and low - value > worst.beyond:
            worst = Misplacement(axis, low - value, below)
        elif value > high and value - high > worst.beyond:
            worst = Misplacement(axis, value - high, above)
    return worst


def widest_span(place: StructurePlace, known: PlaceRange) -> tuple[int, float]:
    """The axis where the span exceeds the widest training span most, and the ratio there."""
    ratios = [
        span / widest if widest > 0 else math.inf
        for span, widest in zip(place.extent, known.extent_max, strict=True)
    ]
    axis = int(np.argmax(ratios))
    return axis, float(ratios[axis])


def place_reasons(
    name: str,
    place: StructurePlace,
    known: PlaceRange,
    frame_size_mm: tuple[float, float, float],
    position_margin: float,
    extent_margin: float,
) -> list[str]:
    """Why a structure is out of place or over-extended, in mm of this scan; none: it is fine.

    >>> known = PlaceRange((0.0, 0.0, 0.0), (0.1, 0.1, 0.1), (0.2, 0.2, 0.2), 5)
    >>> place_reasons("Thalamus", StructurePlace((0.05, -0.3, 0.05), (0.2, 0.2, 0.3)),
    ...               known, (100.0, 100.0, 100.0), 0.05, 0.25)  # doctest: +NORMALIZE_WHITESPACE
    ['Thalamus centroid 30 mm posterior of the training range (limit 5 mm)',
     'Thalamus spans 30 mm inferior-superior, over the training maximum 20 mm + 25 %']
    """
    reasons = []
    off = misplacement(place, known)
    if off.beyond > position_margin:
        size = frame_size_mm[off.axis]
        reasons.append(
            f"{name} centroid {off.beyond * size:.0f} mm {off.side} of the training range"
            f" (limit {position_margin * size:.0f} mm)"
        )
    axis, ratio = widest_span(place, known)
    if ratio > 1 + extent_margin:
        size, (below, above) = frame_size_mm[axis], AXES[axis]
        reasons.append(
            f"{name} spans {place.extent[axis] * size:.0f} mm {below}-{above}, over the training"
            f" maximum {known.extent_max[axis] * size:.0f} mm + {extent_margin * 100:.0f} %"
        )
    return reasons


def _voxel_floor(affine: np.ndarray) -> np.ndarray:
    """A one-voxel size per world axis, so a flat mask still gives a frame to divide by."""
    return np.maximum(np.abs(np.asarray(affine, float)[:3, :3]).max(axis=1), 1e-3)


def _as_triple(values: np.ndarray) -> tuple[float, float, float]:
    a, b, c = (float(v) for v in values)
    return (a, b, c)


def _triple(value: Any) -> tuple[float, float, float] | None:
    if not isinstance(value, list | tuple) or len(value) != 3:
        return None
    try:
        numbers = [float(v) for v in value]
    except (TypeError, ValueError):
        return None
    return _as_triple(np.array(numbers)) if all(math.isfinite(v) for v in numbers) else None
