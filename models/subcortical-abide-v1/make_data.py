"""Write the training folder of subcortical-abide-v1: the five ABIDE example scans and three demo subjects.

    python models/subcortical-abide-v1/make_data.py --example ../shared/data/livianet-example --out RUNS/data

The ABIDE scans (``.mat``, no affine, stored with axis codes ILA: see the
example data's README) are written as NIfTI in RAS at 1 mm, turned losslessly
with nibabel; labels 1-8 and the ROI masks move with them. The demo subjects
(``livianet demo``'s pseudo-subjects of the MNI152 template with FreeSurfer's
labels of the same eight structures, seed 0) add a second contrast and a second
labelling protocol. Sorted, the folder lists ``MR_Img1..5`` (positions 0-4) and
then ``MR_Subj01..03`` (positions 5-7).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np

from livianet.data.orientation import affine_for_codes, reorientation
from livianet.demo.dataset import build_default_dataset
from livianet.io import load_volume

ROLES = (("MR", "MR_Img"), ("Label", "GT_Img"), ("ROI", "ROI_Img"))
DEMO_SUBJECTS = 3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--example", type=Path, required=True, help="livianet-example folder")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    for folder, _ in ROLES:
        (args.out / folder).mkdir(parents=True, exist_ok=True)
    for path in sorted((args.example / "MR").glob("MR_Img*.mat")):
        number = path.stem.removeprefix("MR_Img")
        for folder, prefix in ROLES:
            array = np.asarray(load_volume(args.example / folder / f"{prefix}{number}.mat").data)
            turn = reorientation(affine_for_codes("ILA", array.shape), array.shape, "RAS")
            image = nib.Nifti1Image(turn.apply(array).astype(np.uint8), turn.affine)
            image.set_qform(turn.affine, code=1)
            image.set_sform(turn.affine, code=1)
            nib.save(image, args.out / folder / f"{prefix}{number}.nii.gz")
    with tempfile.TemporaryDirectory() as scratch:
        demo = build_default_dataset(Path(scratch) / "demo", num_subjects=6, seed=0)
        for index in range(1, DEMO_SUBJECTS + 1):
            for folder, prefix in (("MR", "MR_"), ("Label", "GT_"), ("ROI", "ROI_")):
                name = f"{prefix}Subj{index:02d}.nii.gz"
                shutil.copyfile(demo / folder / name, args.out / folder / name)
    print(f"training data in {args.out}: {len(list((args.out / 'MR').iterdir()))} scans")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
