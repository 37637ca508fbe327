"""``--mask-derivatives``: each T1w's brain mask from another tool's derivatives dataset.

A mask is a ``sub-*/[ses-*/]anat/*_desc-brain_mask.nii[.gz]`` file in the scan's own space (no
``space`` entity, or ``space-orig`` / ``space-T1w``). It belongs to a T1w when their subject
matches and each of ``ses``, ``acq``, ``rec`` and ``run`` that the mask names equals the scan's:
fMRIPrep, for one, names one mask per subject and session, without the run. The most specific
mask wins; two equally specific ones are an error for that scan. Whether it lies on the T1w's
grid is checked where the scan is segmented (a one-line error for that scan).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from livianet.bids.entities import BidsName, parse_name
from livianet.bids.layout import T1wScan
from livianet.errors import DataError

MATCHED = ("ses", "acq", "rec", "run")
NATIVE_SPACES = (None, "orig", "T1w")
_MASK_ENDINGS = ("_desc-brain_mask.nii.gz", "_desc-brain_mask.nii")


@dataclass(frozen=True)
class MaskIndex:
    root: Path
    masks: tuple[tuple[Path, BidsName], ...]

    def for_scan(self, scan: T1wScan) -> Path | None:
        """The mask that belongs to ``scan``, None when there is none; an error if ambiguous."""
        best: list[tuple[int, Path]] = []
        for path, name in self.masks:
            if name.get("sub") != scan.subject:
                continue
            named = [key for key in MATCHED if name.get(key) is not None]
            if all(name.get(key) == scan.name.get(key) for key in named):
                best.append((len(named), path))
        if not best:
            return None
        top = max(n for n, _ in best)
        chosen = [p for n, p in best if n == top]
        if len(chosen) > 1:
            raise DataError(
                f"{scan.relative}: {len(chosen)} brain masks in {self.root} fit it equally "
                f"({chosen[0].name}, {chosen[1].name}): expected one"
            )
        return chosen[0]


def index_masks(root: Path) -> MaskIndex:
    """Every native-space ``desc-brain_mask`` of the derivatives dataset at ``root``."""
    if not root.is_dir():
        raise DataError(f"--mask-derivatives {root}: folder not found")
    found = []
    for anat in sorted(root.glob("sub-*/anat")) + sorted(root.glob("sub-*/ses-*/anat")):
        for file_name in sorted(os.listdir(anat)):
            if not file_name.endswith(_MASK_ENDINGS):
                continue
            name = parse_name(file_name)
            if name is not None and name.get("space") in NATIVE_SPACES:
                found.append((anat / file_name, name))
    return MaskIndex(root, tuple(found))
