"""Where each T1w's outputs go in the derivatives dataset, by the BIDS-derivatives naming rules.

For ``sub-01/ses-2/anat/sub-01_ses-2_run-1_T1w.nii.gz`` (paths relative to OUT_DIR):

- ``sub-01/ses-2/anat/sub-01_ses-2_run-1_space-orig_dseg.nii.gz``: the label map, on the T1w's grid
- ``..._space-orig_desc-brain_mask.nii.gz``: the brain mask the segmentation used
- ``..._space-orig_label-<structure>_probseg.nii.gz``: each structure's probabilities (optional)
- ``..._space-orig_volumes.tsv``: the scan's volumes (not a BIDS file: listed in ``.bidsignore``)
- ``sub-01/figures/sub-01_ses-2_run-1_space-orig_dseg.png``: the mosaic the reports show
- ``logs/scans/sub-01_ses-2_run-1_T1w.json``: what was done (or what failed), for resuming and
  for the group level

Every image has a JSON sidecar beside it (same name, ``.json``).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from livianet.bids.layout import T1wScan

SPACE = "orig"  # the T1w's own grid
LOGS = "logs"
RECORDS = f"{LOGS}/scans"
FIGURES = "figures"
GROUP = "group"


@dataclass(frozen=True)
class ScanOutputs:
    """The paths (POSIX, relative to OUT_DIR) of one T1w's outputs."""

    scan: T1wScan

    @property
    def folder(self) -> str:
        """The source's folder, mirrored: ``sub-01/ses-2/anat``."""
        return posixpath.dirname(self.scan.relative)

    @property
    def dseg(self) -> str:
        return self._beside("dseg", ".nii.gz")

    @property
    def mask(self) -> str:
        return self._beside("mask", ".nii.gz", desc="brain")

    def probseg(self, label: str) -> str:
        """``label``: the structure's name as a BIDS label (letters and digits)."""
        return self._beside("probseg", ".nii.gz", label=label)

    @property
    def volumes(self) -> str:
        return self._beside("volumes", ".tsv")

    @property
    def figure(self) -> str:
        name = self.scan.name.derivative("dseg", ".png", space=SPACE)
        return f"sub-{self.scan.subject}/{FIGURES}/{name}"

    @property
    def record(self) -> str:
        return f"{RECORDS}/{self.scan.stem}.json"

    def _beside(self, suffix: str, extension: str, **added: str) -> str:
        name = self.scan.name.derivative(suffix, extension, space=SPACE, **added)
        return f"{self.folder}/{name}"


def sidecar(image: str) -> str:
    """The JSON sidecar's path of an image path.

    >>> sidecar("sub-01/anat/sub-01_space-orig_dseg.nii.gz")
    'sub-01/anat/sub-01_space-orig_dseg.json'
    """
    folder, name = posixpath.split(image)
    return posixpath.join(folder, name.split(".", 1)[0] + ".json")


def subject_report(subject: str) -> str:
    return f"sub-{subject}.html"
