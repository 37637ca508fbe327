"""What ``livianet segment`` is asked to do: scans from files, folders, glob patterns or an INI.

Each job is one scan (one file per channel, an optional ROI and reference) and
the folder its outputs go to. Outputs are named as the original named them
(``Segmentation_<input name>``); when two inputs would share a name
(``sub-01/anat/T1w.nii.gz`` and ``sub-02/anat/T1w.nii.gz``), their outputs
mirror the inputs' folders below the output folder instead of overwriting each
other.
"""

from __future__ import annotations

import glob
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from livianet.config import SegmentationConfig
from livianet.data import CaseFiles, list_cases
from livianet.errors import DataError
from livianet.io import list_volume_files, segmentation_path

_GLOB_CHARACTERS = set("*?[")


@dataclass(frozen=True)
class Job:
    """One scan to segment and where its outputs go."""

    files: CaseFiles
    out_dir: Path

    @property
    def image(self) -> Path:
        return self.files.images[0]


def jobs_from_config(config: SegmentationConfig) -> list[CaseFiles]:
    return list_cases(config.data, config.indexes, "segmentation")


def expand_inputs(paths: list[Path], what: str = "image") -> list[Path]:
    """Files as given; folders as their volume files (sorted); glob patterns as their matches.

    A file that does not exist stays in the list: the batch reports it as a
    failure without stopping. A folder or pattern that yields nothing is an error.
    """
    found: list[Path] = []
    for path in paths:
        text = str(path)
        if _GLOB_CHARACTERS & set(text) and not path.exists():
            matches = sorted(Path(m) for m in glob.glob(os.path.expanduser(text), recursive=True))
            volumes = [m for m in matches if m.is_file() and not m.name.startswith(".")]
            if not volumes:
                raise DataError(f"{path}: the {what} pattern matches no file")
            found += volumes
        elif path.is_dir():
            volumes = list_volume_files(path)
            if not volumes:
                raise DataError(
                    f"{path}: {what} folder holds no .nii, .nii.gz, .mgz, .mgh or .mat files"
                )
            found += volumes
        else:
            found.append(path)
    return found


def jobs_from_files(
    images: list[Path], rois: list[Path] | None, labels: list[Path] | None, channels: int = 1
) -> list[CaseFiles]:
    """Cases from inputs named on the command line (``channels`` consecutive images per case)."""
    images = expand_inputs(images)
    rois = expand_inputs(rois, "ROI") if rois else None
    labels = expand_inputs(labels, "reference") if labels else None
    if len(images) % channels:
        raise DataError(
            f"{len(images)} images given for {channels}-channel cases: expected a multiple of {channels}"
        )
    count = len(images) // channels
    for what, extra in (("--roi", rois), ("--gt", labels)):
        if extra and len(extra) != count:
            raise DataError(
                f"{what}: {len(extra)} files for {count} images; expected one per image"
            )
    return [
        CaseFiles(
            index=i,
            images=tuple(images[i * channels : (i + 1) * channels]),
            label=labels[i] if labels else None,
            roi=rois[i] if rois else None,
        )
        for i in range(count)
    ]


def place_outputs(cases: list[CaseFiles], out_dir: Path) -> list[Job]:
    """Every case with its output folder: ``out_dir``, or below it the input's own folders.

    Inputs whose output names collide keep their relative paths (below the
    inputs' common folder), so no output overwrites another.
    """
    names = Counter(segmentation_path(out_dir, case.images[0]).name for case in cases)
    if all(n == 1 for n in names.values()):
        return [Job(case, out_dir) for case in cases]
    folders = [case.images[0].resolve().parent for case in cases]
    common = Path(os.path.commonpath([str(f) for f in folders]))
    jobs = [
        Job(case, out_dir / folder.relative_to(common))
        for case, folder in zip(cases, folders, strict=True)
    ]
    targets = Counter(segmentation_path(job.out_dir, job.image) for job in jobs)
    repeated = [str(path) for path, n in targets.items() if n > 1]
    if repeated:
        raise DataError(
            f"the same scan is given more than once (outputs would overwrite each other): {repeated[0]}"
        )
    return jobs
