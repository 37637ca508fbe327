"""Hand-made segmentation manifests and output folders for the QC and report tests.

Volumes are typical adult subcortical volumes (mm³); healthy scans vary them by up to +-10 %,
about the spread between healthy people, so the flags must leave them alone.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np

NAMES = {
    1: "Left-Thalamus",
    2: "Left-Caudate",
    3: "Left-Putamen",
    4: "Left-Pallidum",
    5: "Right-Thalamus",
    6: "Right-Caudate",
    7: "Right-Putamen",
    8: "Right-Pallidum",
}
PAIRS = [[1, 5], [2, 6], [3, 7], [4, 8]]
TYPICAL = {1: 8000.0, 2: 3700.0, 3: 5100.0, 4: 1700.0, 5: 7900.0, 6: 3750.0, 7: 5000.0, 8: 1650.0}
# Per healthy scan, per structure: a factor within +-10 %, the extremes included, and left and
# right pushed opposite ways in scan 3 (the largest healthy asymmetry: about 20 %).
HEALTHY_FACTORS = [
    [1.00, 1.05, 0.95, 1.02, 0.98, 1.04, 0.97, 1.01],
    [0.90, 0.92, 0.91, 0.93, 0.90, 0.91, 0.94, 0.92],
    [1.10, 1.10, 1.10, 1.10, 0.90, 0.90, 0.90, 0.90],
    [0.95, 1.08, 1.03, 0.94, 0.96, 1.07, 1.02, 0.95],
    [1.06, 0.96, 1.07, 1.09, 1.05, 0.97, 1.08, 1.10],
    [0.97, 1.01, 0.93, 0.90, 0.99, 1.00, 0.92, 0.91],
]


def scan_entry(index: int, factors: list[float], **changes: Any) -> dict[str, Any]:
    """One scan's manifest entry with volumes ``TYPICAL x factors``; ``changes`` override keys."""
    name = f"sub-{index:02d}_T1w"
    entry: dict[str, Any] = {
        "image": f"{name}.nii.gz",
        "input": f"/data/study/{name}.nii.gz",
        "segmentation": f"Segmentation_{name}.nii.gz",
        "qa_picture": None,
        "mosaic": None,
        "geometry": {
            "orientation": "LIA",
            "spacing": [1.0, 1.0, 1.2],
            "shape": [256, 256, 200],
            "model_orientation": "RAS",
            "model_spacing": [1.0, 1.0, 1.0],
            "reoriented": True,
            "resampled": True,
        },
        "volumes_mm3": {str(k): TYPICAL[k] * f for k, f in zip(TYPICAL, factors, strict=True)},
        "components": {str(k): {"count": 1, "largest_fraction": 1.0} for k in TYPICAL},
        "warnings": [],
    }
    entry.update(changes)
    return entry


def manifest(scans: list[dict[str, Any]], training: bool = True, **changes: Any) -> dict[str, Any]:
    """A whole manifest around ``scans``; training ranges span +-15 % of the typical volumes."""
    ranges = (
        {str(k): {"min": v * 0.85, "max": v * 1.15, "mean": v} for k, v in TYPICAL.items()}
        if training
        else None
    )
    result: dict[str, Any] = {
        "livianet_version": "0.1.0",
        "model": {
            "path": "/models/paper_best.pt",
            "orientation": "RAS",
            "spacing": [1.0, 1.0, 1.0],
            "label_names": {str(k): v for k, v in NAMES.items()},
            "label_pairs": copy.deepcopy(PAIRS),
            "training_volumes_mm3": ranges,
        },
        "scans": scans,
        "failures": [],
    }
    result.update(changes)
    return result


def healthy_scans(count: int = 6) -> list[dict[str, Any]]:
    return [scan_entry(i + 1, HEALTHY_FACTORS[i % len(HEALTHY_FACTORS)]) for i in range(count)]


def with_volume(entry: dict[str, Any], label: int, factor: float) -> dict[str, Any]:
    """``entry`` with structure ``label``'s volume scaled (0: removed, components too)."""
    changed = copy.deepcopy(entry)
    changed["volumes_mm3"][str(label)] *= factor
    if factor == 0:
        changed["components"][str(label)] = {"count": 0, "largest_fraction": 0.0}
    return changed


# ----------------------------------------------------------------------------- folders with pictures


def phantom(shape=(40, 48, 40), missing: int | None = None, seed: int = 0):
    """A head-like image and 8 labelled blobs (left labels 1-4 at low x: RAS storage)."""
    rng = np.random.default_rng(seed)
    grid = np.indices(shape).astype(np.float32)
    centre = (np.array(shape, dtype=np.float32) - 1) / 2
    radii = np.array(shape) * 0.45
    head = (((grid - centre[:, None, None, None]) / radii[:, None, None, None]) ** 2).sum(0) <= 1
    image = np.where(head, 60.0 + 8.0 * rng.standard_normal(shape), 0.0).astype(np.float32)
    labels = np.zeros(shape, np.uint8)
    offsets = {1: (-6, 0, 2), 2: (-5, 8, 6), 3: (-12, 3, 0), 4: (-9, 2, -2)}
    for left, (dx, dy, dz) in offsets.items():
        for label, sign in ((left, -1), (left + 4, 1)):
            if label == missing:
                continue
            c = centre + np.array((abs(dx) * sign, dy, dz))
            radius = 4.0 if left == 1 else 2.5
            blob = ((grid - c[:, None, None, None]) ** 2).sum(0) <= radius**2
            labels[blob] = label
            image[blob] = 90.0 + 10.0 * left
    affine = np.diag([1.0, 1.0, 1.0, 1.0])
    affine[:3, 3] = -centre
    return image, labels, affine


def write_segmentation_folder(folder: Path, broken_index: int = 4) -> dict[str, Any]:
    """Six healthy scans and one with Left-Putamen removed, with real mosaic pictures.

    The broken scan sits in the middle of the manifest, so a report that lists it first has
    sorted it there. Returns the manifest written to ``folder/segmentation.json``.
    """
    from livianet.reporting import save_mosaic

    folder.mkdir(parents=True, exist_ok=True)
    scans = healthy_scans(6)
    scans.insert(broken_index, with_volume(scan_entry(7, [1.0] * 8), 3, 0.0))
    for position, entry in enumerate(scans):
        stem = entry["image"].removesuffix(".nii.gz")
        missing = 3 if entry["volumes_mm3"]["3"] == 0 else None
        image, labels, affine = phantom(missing=missing, seed=position)
        mosaic = save_mosaic(image, labels, affine, folder / f"Mosaic_{stem}.png", NAMES)
        entry["mosaic"] = mosaic.name
        if position == 0:  # one scan with a separate full-size picture, one in an awkward name
            qa = save_mosaic(image, labels, affine, folder / f"Snapshot {stem} #1.png", NAMES)
            entry["qa_picture"] = qa.name
    scans[1]["warnings"] = ["intensities <look> odd: 40 % of voxels are 0 & clipped"]
    data = manifest(scans)
    data["failures"] = [{"image": "bad.nii.gz", "error": "bad.nii.gz: cannot read as NIfTI (x)"}]
    (folder / "segmentation.json").write_text(json.dumps(data, indent=1))
    return data
