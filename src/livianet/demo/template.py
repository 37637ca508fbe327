"""The demo's template: the MNI152 T1 and FreeSurfer's subcortical labels on its grid.

``MNI152_T1_1mm_brain.nii.gz`` (FSL 5.0, 182x218x182, LAS) and
``atlas_desikan_killiany.nii.gz`` (FreeSurfer 6.0's ``aparc+aseg`` of
``cvs_avg35_inMNI152``, LIA), whose affine maps it onto the MNI152 grid by a
pure axis permutation and integer shift, so nearest-neighbour resampling
through both affines is exact. IDs 10-13 / 49-52 (thalamus, caudate, putamen,
pallidum, left / right) become classes 1-4 / 5-8, the protocol of the ABIDE
example labels of LiviaNET.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from livianet.data import bounding_box, resample_to_grid
from livianet.demo.download import ASEG_FILE, ASEG_LABELS_FILE, T1_FILE
from livianet.errors import DataError
from livianet.io import Volume, load_volume

# FreeSurfer aseg IDs -> LiviaNET classes (1-4 left, 5-8 right).
FREESURFER_TO_CLASS = {10: 1, 11: 2, 12: 3, 13: 4, 49: 5, 50: 6, 51: 7, 52: 8}
_STRUCTURES = ("Thalamus", "Caudate", "Putamen", "Pallidum")

CROP_MARGIN = 12  # voxels kept around the template brain: room for the random warps


def label_names() -> dict[int, str]:
    """Names of the 9 LiviaNET classes: 0 background, 1-4 left, 5-8 right.

    >>> label_names()[1], label_names()[8]
    ('Left-Thalamus', 'Right-Pallidum')
    """
    names = {0: "Background"}
    for offset, side in ((0, "Left"), (4, "Right")):
        for i, structure in enumerate(_STRUCTURES, start=1):
            names[offset + i] = f"{side}-{structure}"
    return names


def load_template(data_dir: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray, Volume]:
    """The MNI152 T1 and the 9-class labels on its grid, cropped around the brain.

    Returns:
        ``(image, labels, reference)``: float32 intensities scaled to ``[0, 1]``
        (0 outside the brain), uint8 classes 0-8, and a data-less
        :class:`Volume` whose affine is the MNI152 affine shifted to the crop.
    """
    folder = Path(data_dir)
    _check_freesurfer_names(folder / ASEG_LABELS_FILE)
    t1 = load_volume(folder / T1_FILE)
    aseg = load_volume(folder / ASEG_FILE)
    brain = t1.data > 0
    if not brain.any():
        raise DataError(f"{folder / T1_FILE}: the template image is empty")
    start, stop = bounding_box(brain, CROP_MARGIN)
    box = tuple(slice(a, b) for a, b in zip(start, stop, strict=True))
    affine = t1.affine.copy()
    affine[:3, 3] = t1.affine[:3, :3] @ start + t1.affine[:3, 3]
    image = t1.data[box].astype(np.float32)
    image /= np.float32(np.percentile(image[brain[box]], 99.9))
    np.clip(image, 0.0, 1.0, out=image)
    lookup = np.zeros(int(aseg.data.max()) + 1, dtype=np.uint8)
    for freesurfer_id, cls in FREESURFER_TO_CLASS.items():
        if freesurfer_id < lookup.size:
            lookup[freesurfer_id] = cls
    classes = lookup[aseg.data.astype(np.int64)]
    labels = resample_to_grid(classes, aseg.affine, affine, image.shape, order=0)
    missing = sorted(set(range(1, 9)) - set(np.unique(labels).tolist()))
    if missing:
        raise DataError(f"{folder / ASEG_FILE}: classes {missing} are missing on the T1 grid")
    header = t1.header.copy()
    header["descrip"] = b"livianet demo: deformed MNI152 template"
    header["cal_min"], header["cal_max"] = 0, 0
    shape = tuple(int(s) for s in image.shape)
    reference = Volume(np.broadcast_to(np.uint8(0), shape), affine, header, folder / T1_FILE)
    return image, labels, reference


def _check_freesurfer_names(csv_file: Path) -> None:
    """Make sure the label IDs mean what :data:`FREESURFER_TO_CLASS` assumes."""
    try:
        rows = (line.split(",", 1) for line in csv_file.read_text().splitlines()[1:])
        table = {int(key): name.strip() for key, name in rows}
    except (OSError, ValueError) as exc:
        raise DataError(f"{csv_file}: cannot read the label table ({exc})") from None
    names = label_names()
    for freesurfer_id, cls in FREESURFER_TO_CLASS.items():
        found = table.get(freesurfer_id, "")
        if found.removesuffix("-Proper") != names[cls]:
            raise DataError(
                f"{csv_file}: label {freesurfer_id} is {found!r}, expected {names[cls]!r}"
            )
