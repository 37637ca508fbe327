"""The brain row: one scan segmented with its brain mask (``--roi``) and with the brain extracted.

Both run end to end as a user runs them, on the built-in model (the one brain
extraction was made for) unless a checkpoint is given: ``livianet segment T1
--roi MASK --out DIR`` against ``livianet segment T1 --out DIR``, where deepbet's
networks are loaded and run before the segmentation. The scan is written as
NIfTI, LIA at 1 mm (as the geometry rows' built-in row), so both commands read
what a user's converter writes. The two alternate, ``repeats`` times each, and
the fastest run of each counts: the ratio of the two is what extraction costs on
a noisy machine. Mean Dice against the scan's labels says both rows segmented.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import livianet_command
from bench.memory import GIB
from bench.segment_rows import segmentation_row

REPEATS = 3  # each command's runs, alternating; the fastest counts
ROWS = ("with_roi", "extracted")


def write_brain_inputs(
    files: dict[str, Path], orientation: str, folder: Path
) -> tuple[Path, Path, np.ndarray]:
    """The scan and its ROI as LIA NIfTI at 1 mm in ``folder``; its labels on that grid."""
    import nibabel as nib

    from livianet.data.orientation import affine_for_codes, reorientation
    from livianet.io import load_volume

    arrays = {key: np.asarray(load_volume(path).data) for key, path in files.items()}
    shape = arrays["image"].shape
    turn = reorientation(affine_for_codes(orientation, shape), shape, "LIA")
    folder.mkdir(parents=True, exist_ok=True)
    image, roi = folder / "lia1mm_T1.nii.gz", folder / "lia1mm_roi.nii.gz"
    t1 = turn.apply(arrays["image"].astype(np.float32))
    nib.save(nib.Nifti1Image(t1, turn.affine), str(image))
    mask = turn.apply((arrays["roi"] > 0).astype(np.uint8))
    nib.save(nib.Nifti1Image(mask, turn.affine), str(roi))
    return image, roi, turn.apply(arrays["label"])


def _outcome(out: Path, image: Path, labels: np.ndarray) -> dict[str, Any]:
    """Mean Dice over the labelled structures, and whether (and what) the run extracted."""
    from livianet.evaluation import dice_per_class
    from livianet.io import load_volume, segmentation_path

    written = np.asarray(load_volume(segmentation_path(out, image)).data)
    classes = int(max(labels.max(), written.max())) + 1
    scan = json.loads((out / "segmentation.json").read_text())["scans"][0]
    outcome: dict[str, Any] = {
        "mean_dice": float(np.nanmean(dice_per_class(written, labels, classes)[1:])),
        "brain_extracted": "tiv_mm3" in scan,
    }
    if "tiv_mm3" in scan:
        outcome["tiv_mm3"] = scan["tiv_mm3"]
    return outcome


def brain_section(
    files: dict[str, Path],
    orientation: str | None,
    work: Path,
    checkpoint: Path | None = None,
    repeats: int = REPEATS,
) -> dict[str, Any]:
    """``segment`` with the scan's brain mask against ``segment`` extracting the brain, alternating."""
    if orientation is None:
        return {"skipped": "the scan's orientation is unknown (--orientation none)"}
    image, roi, labels = write_brain_inputs(files, orientation, work / "brain")
    model = [str(checkpoint)] if checkpoint else []  # none: the built-in model
    options = {"with_roi": ["--roi", str(roi)], "extracted": []}
    runs: dict[str, list[dict[str, Any]]] = {key: [] for key in ROWS}
    for run in range(repeats):
        for key in ROWS:
            out = work / f"seg_brain_{key}"
            row = segmentation_row(
                f"brain_{key}_{run + 1}",
                livianet_command("segment", *model, str(image), *options[key], "--out", str(out)),
                out, image, np.zeros(1, bool), None, work / "logs",
            )  # fmt: skip
            if not row["returncode"]:
                row.update(_outcome(out, image, labels))
            runs[key].append(row)
    section: dict[str, Any] = {
        "image": str(files["image"]),
        "model": str(checkpoint) if checkpoint else "built-in",
        "repeats": repeats,
    }
    for key in ROWS:
        done = [row for row in runs[key] if not row["returncode"]]
        best = min(done, key=lambda row: row["seconds"]) if done else runs[key][0]
        section[key] = {**best, "runs_seconds": [row["seconds"] for row in runs[key]]}
    a, b = section["with_roi"], section["extracted"]
    if not a["returncode"] and not b["returncode"]:
        section["ratio"] = b["seconds"] / a["seconds"]
        section["extra_seconds"] = b["seconds"] - a["seconds"]
    return section


def brain_lines(section: dict[str, Any]) -> list[str]:
    """The printed table of :func:`brain_section`."""
    if "skipped" in section:
        return [f"brain rows skipped: {section['skipped']}"]
    lines = [
        f"brain rows ({section['model']} model, {section['image']} as LIA NIfTI; "
        f"the fastest of {section['repeats']} runs each):",
        f"{'':<34}{'s/scan':>8}{'peak GiB':>9}{'mean Dice':>10}",
    ]
    names = {"with_roi": "segment T1 --roi MASK", "extracted": "segment T1 (brain extracted)"}
    for key in ROWS:
        row = section[key]
        if row["returncode"]:
            lines.append(f"  {names[key]:<32}  FAILED (exit {row['returncode']})")
            continue
        note = "" if key == "with_roi" or row["brain_extracted"] else "  (no brain found)"
        lines.append(
            f"  {names[key]:<32}{row['seconds']:>8.1f}{row['peak_rss_bytes'] / GIB:>9.2f}"
            f"{row['mean_dice']:>10.4f}{note}"
        )
    if "ratio" in section:
        lines.append(
            f"  extracted / with mask: {section['ratio']:.2f}x "
            f"({section['extra_seconds']:+.1f} s per scan)"
        )
    return lines
