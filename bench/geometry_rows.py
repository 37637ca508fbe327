"""Rows (e): the same scan stored otherwise (NIfTI as the model works, LIA at another voxel size), and the built-in model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bench.common import livianet_command, on_stored_grid
from bench.data import load_volume_data
from bench.segment_rows import segmentation_row


def geometry_section(
    checkpoint: Path, files: dict[str, Path], case, orientation: str | None, work: Path
) -> dict[str, Any]:
    """The same scan as NIfTI in the model's own grid, and as LIA at 1.3 x 1.0 x 1.2 mm.

    The second needs reorienting and resampling in, and its probabilities
    resampled back: the ratio of the two is what another scanner's storage costs.
    A third row segments the scan stored as LIA at 1 mm with the built-in model
    (no checkpoint named), as a new user first runs livianet.
    """
    import nibabel as nib
    from nibabel.processing import resample_from_to

    from livianet.data.orientation import affine_for_codes, reorientation
    from livianet.data.spatial import grid_for_spacing

    if orientation is None:
        return {"skipped": "the scans' orientation is unknown (--orientation none)"}
    stored_shape = case.reference.spatial_shape
    stored = affine_for_codes(orientation, stored_shape)
    turn = reorientation(stored, stored_shape, "RAS")
    raw = np.asarray(load_volume_data(files["image"]), dtype=np.float32)
    roi = on_stored_grid(case, case.roi).astype(np.uint8)
    ras = [nib.Nifti1Image(turn.apply(a), turn.affine) for a in (raw, roi)]
    folder = work / "geometry"
    folder.mkdir(parents=True, exist_ok=True)
    names = {
        "as_model": ("ras_t1.nii.gz", "ras_roi.nii.gz"),
        "lia_coarse": ("lia_t1.nii.gz", "lia_roi.nii.gz"),
        "builtin": ("lia1mm_t1.nii.gz", "lia1mm_roi.nii.gz"),
    }
    for image, name in zip(ras, names["as_model"], strict=True):
        nib.save(image, str(folder / name))
    lia_1mm = reorientation(turn.affine, turn.shape, "LIA")
    for image, name in zip(ras, names["builtin"], strict=True):
        data = lia_1mm.apply(np.asarray(image.dataobj))
        nib.save(nib.Nifti1Image(data, lia_1mm.affine), str(folder / name))
    affine, shape = grid_for_spacing(turn.affine, turn.shape, (1.3, 1.0, 1.2))
    coarse = [
        resample_from_to(v, (shape, affine), order=o) for v, o in zip(ras, (1, 0), strict=True)
    ]
    lia = reorientation(affine, shape, "LIA")
    for image, name in zip(coarse, names["lia_coarse"], strict=True):
        data = lia.apply(np.asarray(image.dataobj))
        nib.save(nib.Nifti1Image(data, lia.affine), str(folder / name))
    rows: dict[str, Any] = {}
    for key, (image_name, roi_name) in names.items():
        # the built-in row names no checkpoint: `livianet segment T1 --roi MASK --out DIR`
        model = [] if key == "builtin" else [str(checkpoint)]
        rows[key] = segmentation_row(
            f"geometry_{key}",
            livianet_command("segment", *model, str(folder / image_name), "--roi",
                             str(folder / roi_name), "--out", str(work / f"seg_{key}")),
            work / f"seg_{key}", folder / image_name, np.zeros(1, bool), None, work / "logs",
        )  # fmt: skip
    rows["lia_coarse"]["shape"] = list(shape)
    if rows["as_model"].get("seconds") and rows["lia_coarse"].get("seconds"):
        rows["overhead"] = rows["lia_coarse"]["seconds"] / rows["as_model"]["seconds"] - 1.0
    return rows
