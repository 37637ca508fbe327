"""ROI masks from images (the original ``generateROI.py``), with optional clean-up."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from scipy import ndimage

from livianet.data.relabel import output_file
from livianet.errors import DataError
from livianet.io import list_volume_files, load_volume, save_volume

logger = logging.getLogger(__name__)


CONNECTIVITY = np.ones((3, 3, 3), dtype=bool)  # 26-connected: voxels touching at a corner join


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 26-connected component of ``mask`` (the mask itself when it has one or none).

    >>> a = np.zeros((5, 1, 1), dtype=bool); a[0] = a[2:4] = True
    >>> largest_component(a).ravel().tolist()
    [False, False, True, True, False]
    """
    components, count = ndimage.label(mask, structure=CONNECTIVITY)
    if count <= 1:
        return np.asarray(mask, dtype=bool)
    sizes = np.bincount(components.ravel())
    sizes[0] = 0
    return components == int(sizes.argmax())


def roi_from_image(
    image: np.ndarray, threshold: float = 0.0, fill_holes: bool = False, largest: bool = False
) -> np.ndarray:
    """``image > threshold``, optionally with holes filled and only the largest component kept.

    >>> roi_from_image(np.array([[[0, 3, 1]]]), threshold=1).astype(int).tolist()
    [[[0, 1, 0]]]
    """
    mask = np.asarray(image) > threshold
    if largest:
        mask = largest_component(mask)
    if fill_holes:
        mask = ndimage.binary_fill_holes(mask)
    return mask


def process_roi_folder(
    in_dir: Path,
    out_dir: Path,
    threshold: float = 0.0,
    fill_holes: bool = False,
    largest: bool = False,
    fmt: str | None = None,
) -> list[Path]:
    """Write ``ROI_<name>`` for every image of ``in_dir`` (first channel of 4-D images)."""
    files = list_volume_files(in_dir) if in_dir.is_dir() else []
    if not files:
        raise DataError(f"{in_dir}: no .nii, .nii.gz or .mat images found")
    written = []
    for path in files:
        volume = load_volume(path)
        image = volume.channels[0]
        if image.dtype.kind == "f" and not np.isfinite(image).all():
            raise DataError(f"{path}: image holds NaN or Inf voxels")
        mask = roi_from_image(image, threshold, fill_holes, largest)
        if not mask.any():
            logger.warning("%s: no voxel above %g, the ROI is empty", path, threshold)
        target = output_file(out_dir, path, fmt, prefix="ROI_")
        save_volume(mask.astype(np.uint8), target, volume, kind="label")
        written.append(target)
        logger.info("%s -> %s (%d voxels)", path.name, target.name, int(mask.sum()))
    return written
