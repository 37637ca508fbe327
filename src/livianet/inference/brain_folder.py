"""``livianet roi MR/ ROI/ --brain``: ROI masks for training from whole-head T1s, by brain extraction.

The original's ``generateROI`` thresholds an image, which gives a brain only for a
skull-stripped scan. Here each image's brain is extracted (:mod:`livianet.inference.brain`,
the networks loaded once for the folder) and the ROI written is the one ``livianet segment``
derives from an extracted mask (:func:`livianet.inference.brain.tissue_roi`), so that a model
trained on these ROIs is normalised at segmentation exactly as in training. A scan where no
brain is found is listed and skipped; the others are written.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from livianet.data.relabel import output_file
from livianet.errors import DataError
from livianet.inference.brain import (
    BrainExtractor,
    BrainSettings,
    NoBrainFound,
    brain_mask,
    field_of_view_problem,
)
from livianet.inference.inputs import as_volume
from livianet.io import list_volume_files, save_volume

logger = logging.getLogger(__name__)


@dataclass
class BrainRois:
    """What ``brain_roi_folder`` wrote, and the scans it could not (file, reason)."""

    written: list[Path] = field(default_factory=list)
    failures: list[tuple[Path, str]] = field(default_factory=list)


def brain_roi_folder(
    in_dir: Path,
    out_dir: Path,
    settings: BrainSettings | None = None,
    *,
    fmt: str | None = None,
    orientation: str | None = None,
    device: str = "auto",
    extractor: BrainExtractor | None = None,
) -> BrainRois:
    """Write ``ROI_<name>`` (uint8, the image's grid) for every image of ``in_dir`` (first channel).

    deepbet's networks are loaded (on ``device``) at the first image that may hold a brain,
    unless ``extractor`` is given.

    Raises:
        DataError: ``in_dir`` holds no image.
        ConfigError: deepbet is missing or its networks are unreadable.
    """
    files = list_volume_files(in_dir) if in_dir.is_dir() else []
    if not files:
        raise DataError(f"{in_dir}: no .nii, .nii.gz or .mat images found")
    settings = settings or BrainSettings()
    done = BrainRois()
    for path in files:
        try:
            if path.suffix.lower() == ".mat" and orientation is None:
                raise DataError(
                    f"{path}: a .mat array stores no orientation, which brain extraction needs: "
                    "pass --orientation CODES (e.g. ILA)"
                )
            volume = as_volume(path, "image", orientation)
            problem = field_of_view_problem(volume)
            if problem is not None:  # refused before the networks are even loaded
                raise NoBrainFound(str(path), problem)
            extractor = extractor or BrainExtractor.create(device)
            brain = brain_mask(volume, extractor, settings)
        except DataError as exc:  # NoBrainFound among them
            logger.error("no ROI written: %s", exc)
            done.failures.append((path, str(exc)))
            continue
        target = output_file(out_dir, path, fmt, prefix="ROI_")
        save_volume(brain.roi.astype(np.uint8), target, volume, kind="label")
        done.written.append(target)
        logger.info(
            "%s -> %s (brain %.0f cm3, ROI %d voxels)",
            path.name, target.name, brain.volume_mm3 / 1000, int(brain.roi.sum()),
        )  # fmt: skip
    return done


__all__ = ["BrainRois", "brain_roi_folder"]
