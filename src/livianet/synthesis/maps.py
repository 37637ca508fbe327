"""Label maps read once for synthesis: checked, brought to RAS, cropped, held as code positions.

A map is kept as positions in the :class:`~livianet.synthesis.codes.CodeTable` (one byte a
voxel for up to 256 codes), cropped to its labelled box plus one voxel of background, with
what patch sampling needs computed once: each class's voxels, the ROI's box, and how many
ROI voxels each code has (for the intensity statistics that normalisation needs).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from livianet.config.schema import SynthesisConfig
from livianet.data import bounding_box, distinct_values, folder_listing, label_counts, load_label
from livianet.data.orientation import CANONICAL, reorientation
from livianet.data.spatial import Size3, voxel_sizes
from livianet.errors import DataError
from livianet.synthesis.codes import CodeTable, check_map_codes, code_table

logger = logging.getLogger(__name__)

CROP_MARGIN = 1  # voxels of background kept around the labelled box (patches clamp to it)


@dataclass(frozen=True)
class LabelMap:
    """One map on its own grid (RAS when its orientation is known), as code positions.

    Attributes:
        positions: ``(X, Y, Z)`` positions in the code table.
        affine: voxel-to-world matrix of ``positions``.
        foreground: flat indices of the voxels of classes ``1..K-1``, grouped by class.
        class_starts: class ``k``'s voxels are ``foreground[class_starts[k - 1]:class_starts[k]]``.
        roi_counts: ROI voxels of each code position.
        roi_box: ``(start, stop)`` of the ROI.
    """

    path: Path
    positions: np.ndarray
    affine: np.ndarray
    orientation_known: bool
    foreground: np.ndarray
    class_starts: np.ndarray
    roi_counts: np.ndarray
    roi_box: tuple[Size3, Size3]

    @property
    def shape(self) -> Size3:
        return tuple(int(s) for s in self.positions.shape)  # type: ignore[return-value]

    @property
    def spacing(self) -> tuple[float, float, float]:
        return voxel_sizes(self.affine)

    def class_voxels(self, k: int) -> np.ndarray:
        return self.foreground[self.class_starts[k - 1] : self.class_starts[k]]


def map_files(config: SynthesisConfig) -> list[Path]:
    """Every label map of the configured folders, numbered folder after folder, sorted within."""
    return [path for folder in config.map_folders for path in folder_listing(folder, "label map")]


def pick(files: list[Path], indexes: tuple[int, ...], key: str) -> list[Path]:
    outside = [i for i in indexes if i >= len(files)]
    if outside:
        raise DataError(
            f"[Label Maps] {key}: positions {outside} point past the {len(files)} label maps "
            f"(valid: 0..{len(files) - 1})"
        )
    return [files[i] for i in indexes]


def read_codes(path: Path) -> tuple[np.ndarray, np.ndarray, bool]:
    """A map's codes (RAS when known, cropped to the labelled box), its affine, orientation known."""
    volume = load_label(path, None)
    codes = volume.data
    if codes.dtype.kind == "f":
        codes = np.rint(codes).astype(np.int32)
    affine = np.asarray(volume.affine, dtype=np.float64)
    known = not volume.is_mat
    if known:
        turn = reorientation(affine, codes.shape, CANONICAL)
        codes, affine = turn.apply(codes), turn.affine
    labelled = codes != 0
    if not labelled.any():
        raise DataError(f"{path}: label map holds no nonzero code")
    start, stop = bounding_box(labelled, margin=CROP_MARGIN)
    box = tuple(slice(a, b) for a, b in zip(start, stop, strict=True))
    shifted = affine.copy()
    shifted[:3, 3] = affine[:3, :3] @ np.asarray(start, dtype=np.float64) + affine[:3, 3]
    return np.ascontiguousarray(codes[box]), shifted, known


def index_map(
    path: Path, codes: np.ndarray, affine: np.ndarray, known: bool, table: CodeTable
) -> LabelMap:
    """The compact map and its sampling index."""
    positions = table.positions(codes)
    classes = table.classes.astype(np.uint8)[positions].ravel()
    foreground = np.flatnonzero(classes)
    order = np.argsort(classes[foreground], kind="stable")
    foreground = foreground[order]
    counts = np.bincount(classes[foreground], minlength=int(table.classes.max()) + 1)[1:]
    roi = table.in_roi[positions]
    if not roi.any():
        raise DataError(f"{path}: no voxel of the [Label Maps] roiCodes, so no ROI")
    return LabelMap(
        path=path,
        positions=positions,
        affine=affine,
        orientation_known=known,
        foreground=foreground.astype(np.int64),
        class_starts=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        roi_counts=label_counts(positions[roi], minlength=table.codes.size)[: table.codes.size],
        roi_box=bounding_box(roi),
    )


def load_label_maps(paths: list[Path], config: SynthesisConfig) -> tuple[list[LabelMap], CodeTable]:
    """Read, check and index ``paths``; one code table serves them all.

    Raises:
        DataError: a map is unreadable, not integer, lacks the codes of a class, has no
            ROI voxel, or is of unknown orientation while left-right flips are asked for.
    """
    read = []
    found: list[np.ndarray] = []
    for path in paths:
        codes, affine, known = read_codes(path)
        present = distinct_values(codes)
        check_map_codes(path, present, config)
        if config.flip and not known:
            raise DataError(
                f"{path}: a .mat map has no orientation, so left and right cannot be told "
                "apart; use NIfTI or MGZ maps, or set flipLeftRight = 0"
            )
        read.append((path, codes, affine, known))
        found.append(present)
    table = code_table(np.unique(np.concatenate(found)), config)
    maps = [index_map(path, codes, affine, known, table) for path, codes, affine, known in read]
    logger.info(
        "label maps: %d, %d codes in %d generation classes",
        len(maps),
        table.codes.size,
        table.num_generation,
    )
    return maps, table
