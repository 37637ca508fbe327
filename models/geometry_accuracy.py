"""Accuracy and time of one model on one scan stored in other orientations and voxel sizes.

    python models/geometry_accuracy.py MODEL.pt [MODEL2.pt ...] --data DIR --scan 5 --orientation ILA

The scan (``MR/MR_Img<scan>.mat`` with its ``Label/`` and ``ROI/``, stored with
axis codes ``--orientation``) is written as NIfTI in RAS, LIA and PSR (sagittal),
and resampled to 1.3 x 1.0 x 1.2 mm in LIA (its reference moved the same way,
nearest neighbour); each is segmented through the Python API, as ``livianet
segment`` does, and scored on its own grid. Then ``--tta`` and, with several
models, the ensemble. Prints one table and writes JSON beside ``--out``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import nibabel as nib
import numpy as np
from nibabel.processing import resample_from_to

from livianet import Segmenter
from livianet.data.orientation import affine_for_codes, reorientation
from livianet.data.spatial import grid_for_spacing
from livianet.evaluation import dice_per_class
from livianet.io import load_volume


def stored_as(images: list[nib.Nifti1Image], codes: str) -> list[nib.Nifti1Image]:
    turned = []
    for image in images:
        turn = reorientation(image.affine, image.shape, codes)
        turned.append(nib.Nifti1Image(turn.apply(np.asarray(image.dataobj)), turn.affine))
    return turned


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", type=Path)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--scan", type=int, default=5)
    parser.add_argument("--orientation", default="ILA")
    parser.add_argument("--out", type=Path, default=Path("bench/results/geometry_accuracy.json"))
    args = parser.parse_args()
    arrays = [
        load_volume(args.data / folder / f"{prefix}{args.scan}.mat").data
        for folder, prefix in (("MR", "MR_Img"), ("ROI", "ROI_Img"), ("Label", "GT_Img"))
    ]
    affine = affine_for_codes(args.orientation, arrays[0].shape)
    ras = stored_as([nib.Nifti1Image(np.asarray(a), affine) for a in arrays], "RAS")
    coarse_affine, coarse_shape = grid_for_spacing(ras[0].affine, ras[0].shape, (1.3, 1.0, 1.2))
    coarse = [
        resample_from_to(v, (coarse_shape, coarse_affine), order=o)
        for v, o in zip(ras, (1, 0, 0), strict=True)
    ]
    variants = {
        "RAS": ras,
        "LIA": stored_as(ras, "LIA"),
        "PSR (sagittal)": stored_as(ras, "PSR"),
        "LIA 1.3x1.0x1.2 mm": stored_as(coarse, "LIA"),
    }
    segmenter = Segmenter.from_checkpoint(args.models[0])
    classes = segmenter.num_classes
    rows = []

    def run(name: str, which: Segmenter, images, **options) -> None:
        which.segment(
            images[0], images[1], **options
        )  # warm-up: first-call costs are not the scan's
        tick = time.perf_counter()
        result = which.segment(images[0], images[1], **options)
        seconds = time.perf_counter() - tick
        reference = np.asarray(images[2].dataobj).astype(result.labels.dtype)
        dice = dice_per_class(result.labels, reference, classes)[1:]
        rows.append(
            {"variant": name, "mean_dice": float(np.nanmean(dice)), "dice": [float(d) for d in dice],
             "seconds": seconds, "geometry": result.geometry.as_dict()}
        )  # fmt: skip
        print(f"{name:<34} mean Dice {np.nanmean(dice):.4f}  {seconds:6.1f} s", flush=True)

    for name, images in variants.items():
        run(name, segmenter, images)
    run("RAS, --tta", segmenter, variants["RAS"], tta=True)
    if len(args.models) > 1:
        ensemble = Segmenter.from_checkpoint(args.models)
        run(f"RAS, ensemble of {len(args.models)}", ensemble, variants["RAS"])
        run(f"RAS, ensemble of {len(args.models)}, --tta", ensemble, variants["RAS"], tta=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"models": [str(m) for m in args.models], "rows": rows}, indent=2)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
