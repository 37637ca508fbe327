"""What segmenting gives back: one scan's labels, volumes and geometry; a batch's rows and files.

The batch's report lives here, beside one scan's result, so that the batch
driver (``batch.py``) and what it writes at the end (``run_files.py``) share it
without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from livianet.evaluation.placement import Frame
from livianet.inference.brain import BrainMask
from livianet.io import Volume


@dataclass(frozen=True)
class Geometry:
    """The grid a scan came on and the one it was segmented in."""

    orientation: str
    spacing: tuple[float, float, float]
    shape: tuple[int, int, int]
    model_orientation: str | None
    model_spacing: tuple[float, float, float]
    reoriented: bool
    resampled: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "orientation": self.orientation,
            "spacing": [round(s, 6) for s in self.spacing],
            "shape": list(self.shape),
            "model_orientation": self.model_orientation,
            "model_spacing": [round(s, 6) for s in self.model_spacing],
            "reoriented": self.reoriented,
            "resampled": self.resampled,
        }


@dataclass
class SegmentationResult:
    """One scan's segmentation, on the scan's own grid.

    Attributes:
        labels: integer label map with the scan's shape.
        probabilities: ``(K, X, Y, Z)`` float32 class probabilities (when asked for).
        volumes: mm3 per structure name (labels ``1..K-1``).
        geometry: the scan's grid and the model's.
        warnings: what the caller should know (geometry, intensities).
        source: the scan as read (its affine and header: outputs go on its grid).
        brain_mask: the brain mask extracted for it and used as its ROI (None: an
            ROI was given, the model needs none, or no brain was found).
        frame: the centroid and size of the brain (the ROI, the extracted mask,
            else the nonzero voxels) that structures' places are judged in (None:
            the scan's orientation is unknown).
    """

    labels: np.ndarray
    probabilities: np.ndarray | None
    volumes: dict[str, float]
    geometry: Geometry
    warnings: list[str]
    source: Volume
    label_names: dict[int, str] = field(default_factory=dict)
    brain_mask: BrainMask | None = None
    frame: Frame | None = None

    @property
    def affine(self) -> np.ndarray:
        return self.source.affine

    @property
    def label_image(self) -> Any:
        """The label map as a nibabel image on the scan's grid (MGH for ``.mgz`` scans)."""
        import nibabel as nib

        data = self.labels.astype(np.int32 if self.labels.max(initial=0) > 255 else np.uint8)
        if isinstance(self.source.header, nib.freesurfer.mghformat.MGHHeader):
            return nib.MGHImage(data, self.affine)
        image = nib.Nifti1Image(data, self.affine)
        image.header.set_intent("label")
        return image


@dataclass
class SegmentReport:
    """What a batch wrote and found: files, table rows, manifest entries and failures.

    Each scan's writing fills one report; the batch adds them up (and, under
    ``torchrun``, the main process gathers every process's).
    """

    outputs: list[Path] = field(default_factory=list)
    volume_rows: list[dict[str, Any]] = field(default_factory=list)
    metric_rows: list[dict[str, Any]] = field(default_factory=list)
    scans: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, str]] = field(default_factory=list)

    def add(self, other: SegmentReport) -> None:
        self.outputs += other.outputs
        self.volume_rows += other.volume_rows
        self.metric_rows += other.metric_rows
        self.scans += other.scans
        self.failures += other.failures
