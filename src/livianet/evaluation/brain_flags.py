"""The flags of an extracted brain mask: a volume implausible for an adult head, structures cut.

A scan's manifest entry holds ``tiv_mm3`` (the mask's volume) and ``labels_on_brain_edge``
only when its brain was extracted; :func:`~livianet.evaluation.quality.assess` adds these
reasons to the structures'. The label helpers here are shared with ``quality``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from livianet.evaluation.thresholds import Thresholds
from livianet.evaluation.values import as_float, fmt


def brain_mask_reasons(
    scan: Mapping[str, Any], names: Mapping[int, str], limits: Thresholds
) -> list[str]:
    """Why a scan's extracted brain mask looks wrong: its volume, structures cut at its edge.

    >>> brain_mask_reasons({"tiv_mm3": 650e3, "labels_on_brain_edge": {"2": 40}}, {2: "Left-Caudate"}, Thresholds())[1]
    "Left-Caudate: 40 labelled voxels on the brain mask's edge (limit 0): the mask may cut it"
    """
    tiv = as_float(scan.get("tiv_mm3"))
    if tiv is None:
        return []  # no extraction: an ROI was given, or the model needs none
    reasons = []
    cm3 = tiv / 1000
    if not limits.brain_volume_min_cm3 <= cm3 <= limits.brain_volume_max_cm3:
        reasons.append(
            f"brain mask volume {fmt(cm3)} cm³ is implausible for an adult head (expected"
            f" {fmt(limits.brain_volume_min_cm3)}–{fmt(limits.brain_volume_max_cm3)} cm³):"
            " check the brain extraction"
        )
    edge = scan.get("labels_on_brain_edge") or {}
    for key, count in edge.items() if isinstance(edge, Mapping) else ():
        voxels = as_float(count)
        if is_label(key) and voxels is not None and voxels > limits.edge_voxels_max:
            reasons.append(
                f"{label_name(dict(names), int(key))}: {voxels:.0f} labelled voxels on the brain"
                f" mask's edge (limit {limits.edge_voxels_max}): the mask may cut it"
            )
    return reasons


def is_label(value: Any) -> bool:
    """Whether a manifest key or value names a label: an integer, as text or a number."""
    try:
        int(value)
    except (TypeError, ValueError):
        return False
    return not isinstance(value, float) or float(value).is_integer()


def label_name(names: dict[int, str], label: int) -> str:
    """A label's name, else ``label N``."""
    return names.get(label, f"label {label}")
