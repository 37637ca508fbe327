"""A small BIDS dataset written for the tests: the cases the BIDS App must handle.

- ``sub-01``: one T1w, no session;
- ``sub-02``: sessions ``1`` and ``2``, one T1w each;
- ``sub-03``: two runs of an ``acq-fast`` T1w;
- ``sub-04``: a T2w and no T1w;
- ``sub-05``: a T1w that is not a NIfTI file (corrupt).

Scans are 24^3 spheres (``conftest.synthetic_case``) that the tiny trained network knows;
``derivatives/masks`` holds their brain masks the way fMRIPrep names them (per subject and
session, without the run).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from conftest import synthetic_case, write_nifti

READABLE = (
    "sub-01/anat/sub-01_T1w.nii.gz",
    "sub-02/ses-1/anat/sub-02_ses-1_T1w.nii.gz",
    "sub-02/ses-2/anat/sub-02_ses-2_T1w.nii.gz",
    "sub-03/anat/sub-03_acq-fast_run-1_T1w.nii.gz",
    "sub-03/anat/sub-03_acq-fast_run-2_T1w.nii.gz",
)
CORRUPT = "sub-05/anat/sub-05_T1w.nii.gz"
MASKS = {  # mask -> the T1w files it belongs to
    "sub-01/anat/sub-01_desc-brain_mask.nii.gz": READABLE[:1],
    "sub-02/ses-1/anat/sub-02_ses-1_desc-brain_mask.nii.gz": READABLE[1:2],
    "sub-02/ses-2/anat/sub-02_ses-2_desc-brain_mask.nii.gz": READABLE[2:3],
    "sub-03/anat/sub-03_acq-fast_desc-brain_mask.nii.gz": READABLE[3:5],
}


@dataclass(frozen=True)
class BidsData:
    root: Path
    masks: Path  # a derivatives dataset of brain masks


def write_description(root: Path, name: str, **extra: object) -> None:
    root.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"Name": name, "BIDSVersion": "1.10.0", **extra}, indent=2)
    (root / "dataset_description.json").write_text(text)


def write_bids_dataset(root: Path, seed: int = 0) -> BidsData:
    rng = np.random.default_rng(seed)
    write_description(root, "livianet test dataset")
    (root / "participants.tsv").write_text(
        "participant_id\n" + "".join(f"sub-0{i}\n" for i in range(1, 6))
    )
    masks = root / "derivatives" / "masks"
    write_description(
        masks, "brain masks", DatasetType="derivative", GeneratedBy=[{"Name": "hand"}]
    )
    rois = {}
    for relative in READABLE:
        image, _, roi = synthetic_case(rng)
        write_nifti(root / relative, image)
        rois[relative] = roi
    for mask, scans in MASKS.items():
        write_nifti(masks / mask, rois[scans[0]])
    write_nifti(root / "sub-04/anat/sub-04_T2w.nii.gz", synthetic_case(rng)[0])
    (root / CORRUPT).parent.mkdir(parents=True)
    (root / CORRUPT).write_bytes(b"not a NIfTI file")
    return BidsData(root, masks)
