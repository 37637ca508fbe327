"""A segmentation folder's figures recomputed from the label maps on disk.

``livianet report DIR`` judges what the folder holds now: a map corrected or edited by
hand after the run is measured again (volumes, pieces, place, labels on the brain mask's
edge) with the same functions the run used, so every QC flag follows the file, not the
figures the run recorded. The brain's frame and the extracted mask come from the run
(the frame is recorded in ``segmentation.json``, the mask is ``BrainMask_*``): editing a
label map does not move the brain.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from livianet.data import label_counts
from livianet.data.spatial import voxel_sizes
from livianet.errors import DataError
from livianet.evaluation.placement import Frame, places_entry
from livianet.inference.brain import labels_on_edge
from livianet.inference.postprocess import structure_components
from livianet.io import Volume, load_label_names, load_volume

logger = logging.getLogger(__name__)


def refreshed_manifest(folder: Path, manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The manifest with each scan's label-map figures measured again from its file.

    A scan whose map is missing or unreadable keeps the run's figures and gains a
    warning saying so (the report then flags it).
    """
    fresh = copy.deepcopy(dict(manifest))
    model = fresh.get("model") or {}
    num_classes = _num_classes(model)
    codes = _written_codes(folder, model)
    changed = 0
    for entry in fresh.get("scans") or []:
        if not isinstance(entry, dict) or num_classes is None:
            continue
        try:
            before = {key: entry.get(key) for key in ("volumes_mm3", "places")}
            entry.update(_figures(folder, entry, num_classes, codes))
        except DataError as exc:
            entry["warnings"] = [*(entry.get("warnings") or []), f"figures from the run: {exc}"]
            continue
        if _differs(before["volumes_mm3"], entry["volumes_mm3"]) or before["places"] != entry.get(
            "places"
        ):
            changed += 1
            entry["edited_after_run"] = True
    if changed:
        logger.info("%s: %d label map(s) changed since the run; judged as they are now", folder,
                    changed)  # fmt: skip
    return fresh


def _figures(
    folder: Path, entry: Mapping[str, Any], num_classes: int, codes: dict[int, int] | None
) -> dict[str, Any]:
    """Volumes, pieces, places and labels on the brain's edge of one scan's map on disk."""
    name = entry.get("segmentation")
    if not isinstance(name, str):
        raise DataError("the entry names no label map")
    volume = load_volume(folder / name)
    labels = _as_labels(volume, codes, num_classes)
    voxel_mm3 = float(np.prod(voxel_sizes(volume.affine)))
    counts = label_counts(labels, num_classes)
    figures: dict[str, Any] = {
        "volumes_mm3": {str(k): float(counts[k]) * voxel_mm3 for k in range(1, num_classes)},
        "components": structure_components(labels, num_classes),
        **places_entry(
            labels, volume.affine, num_classes, Frame.from_dict(entry.get("brain_frame"))
        ),
    }
    mask_name = entry.get("brain_mask")
    if isinstance(mask_name, str) and (folder / mask_name).is_file():
        mask = _spatial(load_volume(folder / mask_name)) > 0
        if mask.shape == labels.shape:
            edge = labels_on_edge(labels, mask, num_classes)
            figures["labels_on_brain_edge"] = {str(k): n for k, n in edge.items()}
    return figures


def _as_labels(volume: Volume, codes: dict[int, int] | None, num_classes: int) -> np.ndarray:
    """The map's labels ``0..K-1`` (codes written with ``--original-labels`` mapped back)."""
    data = _spatial(volume)
    if data.dtype.kind == "f" and not np.array_equal(data, np.rint(data)):
        raise DataError(f"{volume.path}: label map holds non-integer values")
    values = np.rint(data).astype(np.int64) if data.dtype.kind == "f" else data.astype(np.int64)
    if codes:
        table = np.zeros(max(max(codes), int(values.max(initial=0))) + 1, np.int64)
        for code, label in codes.items():
            table[code] = label
        values = table[np.clip(values, 0, None)]
    unknown = (values < 0) | (values >= num_classes)
    if unknown.any():
        found = sorted({int(v) for v in np.unique(values[unknown])})[:5]
        raise DataError(
            f"{volume.path}: label map holds values {found} outside the model's 0-{num_classes - 1}"
        )
    return values


def _spatial(volume: Volume) -> np.ndarray:
    """The array without a trailing singleton axis ((X, Y, Z, 1) maps are written so)."""
    data = np.asarray(volume.data)
    return data[..., 0] if data.ndim == 4 and data.shape[-1] == 1 else data


def _num_classes(model: Mapping[str, Any]) -> int | None:
    names = model.get("label_names") or {}
    labels = [int(k) for k in names if str(k).isdigit()]
    return max(labels) + 1 if labels else None


def _written_codes(folder: Path, model: Mapping[str, Any]) -> dict[int, int] | None:
    """Written code -> label, when ``dseg.tsv`` names codes other than the model's labels."""
    dseg = folder / "dseg.tsv"
    if not dseg.is_file():
        return None
    written = load_label_names(dseg)
    names = {str(v): int(k) for k, v in (model.get("label_names") or {}).items()}
    if all(names.get(name) == code for code, name in written.items() if name in names):
        return None  # the model's own labels were written
    return {code: names[name] for code, name in written.items() if name in names}


def _differs(before: Any, after: Mapping[str, Any]) -> bool:
    if not isinstance(before, Mapping):
        return True
    for key, value in after.items():
        old = before.get(key)
        if not isinstance(old, int | float) or abs(float(old) - float(value)) > 1e-6:
            return True
    return False
