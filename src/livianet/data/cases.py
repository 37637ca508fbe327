"""Cases: pairing image, label and ROI files by index, loading and checking them.

The original paired files by position in each folder's sorted listing and
silently trained on nothing when a folder was wrong; here every mismatch is an
error naming the folder, the index and what was expected.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from livianet.config import DataConfig
from livianet.data.geometry import GridPlan, ModelGrid, plan_grid
from livianet.data.orientation import affine_for_codes, check_affine
from livianet.errors import DataError
from livianet.io import (
    Volume,
    list_volume_files,
    load_volume,
    strip_volume_suffix,
    subject_id,
)

logger = logging.getLogger(__name__)

AFFINE_TOLERANCE = 1e-3  # mm; image, label and ROI must share their grid


@dataclass(frozen=True)
class CaseFiles:
    """The files of one case: one image per channel, optional label and ROI."""

    index: int
    images: tuple[Path, ...]
    label: Path | None
    roi: Path | None

    @property
    def name(self) -> str:
        return strip_volume_suffix(self.images[0].name)


@dataclass
class Case:
    """A loaded case: ``image`` is ``(C, X, Y, Z)`` float32.

    ``reference`` is the first image file as stored (its grid is where outputs
    go); ``plan`` maps that grid onto the model's when the arrays were moved
    there (None: they are on the stored grid).
    """

    files: CaseFiles
    image: np.ndarray
    label: np.ndarray | None
    roi: np.ndarray | None
    reference: Volume
    plan: GridPlan | None = None
    orientation_known: bool = True  # False for .mat arrays without declared axis codes

    @property
    def name(self) -> str:
        return self.files.name

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.image.shape[1:]


def folder_listing(folder: Path, what: str) -> list[Path]:
    if not folder.exists():
        raise DataError(f"{folder}: {what} folder not found")
    if not folder.is_dir():
        raise DataError(f"{folder}: {what} folder is not a directory")
    files = list_volume_files(folder)
    if not files:
        raise DataError(f"{folder}: {what} folder is empty: no .nii, .nii.gz or .mat files")
    return files


def _roi_hint(images: Path, roi_folder: Path) -> str:
    """How to make a missing ROI folder: whole-head scans get theirs by brain extraction."""
    return (
        f"; make brain masks from the images with `livianet roi {images} {roi_folder} --brain` "
        "(or remove ROIFolder to train without)"
    )


def folder_problems(data: DataConfig) -> list[str]:
    """Every missing or empty folder, and unequal file counts, as sentences."""
    problems = []
    listings: dict[str, list[Path]] = {}
    folders = [
        (f"image (channel {i})" if len(data.image_folders) > 1 else "image", f)
        for i, f in enumerate(data.image_folders)
    ]
    if data.label_folder is not None:
        folders.append(("label", data.label_folder))
    if data.roi_folder is not None:
        folders.append(("ROI", data.roi_folder))
    for what, folder in folders:
        try:
            listings[f"{what} folder {folder}"] = folder_listing(folder, what)
        except DataError as exc:
            hint = _roi_hint(data.image_folders[0], folder) if what == "ROI" else ""
            problems.append(f"{exc}{hint}")
    counts = {name: len(files) for name, files in listings.items()}
    if len(set(counts.values())) > 1:
        listing = ", ".join(f"{n} files in {name}" for name, n in counts.items())
        problems.append(
            f"folders hold different numbers of files: {listing}; cases pair by sorted position"
        )
    elif len(listings) > 1:
        first, *others = listings.values()
        problems += [p for other in others if (p := subject_problem(first, other)) is not None]
    return problems


_warned_unpaired: set[tuple[Path, Path]] = set()


def subject_problem(images: list[Path], others: list[Path]) -> str | None:
    """A sentence naming the first two files that pair by position but name different subjects.

    Subjects come from the names (:func:`livianet.io.subject_id`: no suffix, no role prefix
    such as ``MR_``/``GT_``/``ROI_``). When no position agrees, the names follow no common
    pattern: pairing stays positional, with a warning.
    """
    ids = [(subject_id(a.name), subject_id(b.name)) for a, b in zip(images, others, strict=True)]
    wrong = [i for i, (a, b) in enumerate(ids) if a != b]
    if not wrong:
        return None
    if len(wrong) == len(ids):
        key = (images[0].parent, others[0].parent)
        if key not in _warned_unpaired:
            _warned_unpaired.add(key)
            logger.warning(
                "%s and %s: file names share no subject (%s / %s): pairing by sorted position",
                *key,
                images[0].name,
                others[0].name,
            )
        return None
    i = wrong[0]
    return (
        f"{images[i]} and {others[i]} pair by sorted position (case {i}) but name different "
        f"subjects ({ids[i][0]!r} and {ids[i][1]!r}): a file is missing, extra or misnamed"
    )


def all_cases(data: DataConfig) -> list[CaseFiles]:
    """The files of every case in the folders, paired by sorted position.

    The subjects the names give (:func:`subject_problem`) must agree at every position.

    Raises:
        DataError: a folder is missing or empty, the counts differ, or two files of a case
            name different subjects.
    """
    problems = folder_problems(data)
    if problems:
        raise DataError("; ".join(problems))
    images = [folder_listing(f, "image") for f in data.image_folders]
    labels = folder_listing(data.label_folder, "label") if data.label_folder else None
    rois = folder_listing(data.roi_folder, "ROI") if data.roi_folder else None
    return [
        CaseFiles(
            index=i,
            images=tuple(listing[i] for listing in images),
            label=labels[i] if labels else None,
            roi=rois[i] if rois else None,
        )
        for i in range(len(images[0]))
    ]


def index_problem(role: str, indexes: tuple[int, ...], count: int, folder: Path) -> str | None:
    """A sentence naming the indexes that point past ``count`` files, or None.

    >>> index_problem("training", (0, 5, 6), 5, Path("MR"))
    'training indexes 5 and 6 point past the 5 images in MR (valid: 0..4)'
    """
    outside = [i for i in indexes if i >= count]
    if not outside:
        return None
    word, verb = ("indexes", "point") if len(outside) > 1 else ("index", "points")
    listed = " and ".join(str(i) for i in outside)
    return (
        f"{role} {word} {listed} {verb} past the {count} images in {folder} (valid: 0..{count - 1})"
    )


def list_cases(data: DataConfig, indexes: tuple[int, ...], role: str) -> list[CaseFiles]:
    """Files of each case at ``indexes`` (positions in the sorted listings).

    Raises:
        DataError: a folder is missing or empty, counts differ, or an index
            points past the files.
    """
    cases = all_cases(data)
    problem = index_problem(role, indexes, len(cases), data.image_folders[0])
    if problem:
        raise DataError(problem)
    return [cases[i] for i in indexes]


def normalise_intensities(image: np.ndarray, mask: np.ndarray | None, method: str) -> np.ndarray:
    """Per-channel z-score inside ``mask`` (nonzero voxels when no mask), or nothing.

    >>> normalise_intensities(np.array([[[[0.0, 2.0, 4.0]]]]), None, "zscore").round(3).tolist()
    [[[[-3.0, -1.0, 1.0]]]]
    """
    image = image.astype(np.float32, copy=False)
    if method == "none":
        return image
    if method != "zscore":
        raise ValueError(f"unknown normalization {method!r}")
    out = np.empty_like(image)
    for c, channel in enumerate(image):
        region = mask if mask is not None else channel != 0
        values = channel[region] if region.any() else channel.ravel()
        mean = float(values.mean(dtype=np.float64))
        std = float(values.std(dtype=np.float64))
        np.subtract(channel, mean, out=out[c])  # in place: no full-volume temporaries
        out[c] /= std if std > 1e-8 else 1.0
    return out


def check_same_grid(reference: Volume, other: Volume, what: str) -> None:
    """``other`` (a channel, label map or ROI) must lie on ``reference``'s voxel grid."""
    if other.spatial_shape != reference.spatial_shape:
        raise DataError(
            f"{other.path}: {what} shape {other.spatial_shape} differs from image {reference.path.name} "
            f"shape {reference.spatial_shape}"
        )
    if reference.header is not None and other.header is not None:
        gap = float(np.abs(other.affine - reference.affine).max())
        if gap > AFFINE_TOLERANCE:
            raise DataError(
                f"{other.path}: {what} affine differs from image {reference.path.name} by {gap:.4g} mm "
                f"(tolerance {AFFINE_TOLERANCE} mm): they are not on the same grid"
            )


def check_finite(volume: Volume) -> None:
    if volume.data.dtype.kind == "f" and not np.isfinite(volume.data).all():
        bad = int((~np.isfinite(volume.data)).sum())
        raise DataError(f"{volume.path}: {bad} voxels are NaN or Inf")


def load_label(path: Path, num_classes: int | None) -> Volume:
    volume = load_volume(path)
    if volume.data.ndim != 3:
        raise DataError(f"{path}: label map has shape {volume.data.shape}, expected 3-D")
    check_finite(volume)
    data = volume.data
    if data.dtype.kind == "f":
        if not np.array_equal(data, np.rint(data)):
            raise DataError(f"{path}: label map holds non-integer values")
    if data.min() < 0:
        raise DataError(f"{path}: label map holds negative values (min {data.min()})")
    if num_classes is not None and data.max() >= num_classes:
        found = np.unique(data)
        bad = [int(v) for v in found if v >= num_classes]
        raise DataError(
            f"{path}: label values {bad[:10]} are >= n_classes = {num_classes}; make labels consecutive with `livianet labels`"
        )
    return volume


def declared_geometry(volume: Volume, orientation: str | None) -> Volume:
    """A ``.mat`` volume with the affine its declared axis codes imply (1 mm voxels, centred).

    NIfTI and MGH volumes keep their own affine; a ``.mat`` without declared
    codes keeps the identity and counts as of unknown orientation.
    """
    if not volume.is_mat or orientation is None:
        return volume
    return replace(volume, affine=affine_for_codes(orientation, volume.spatial_shape))


def read_case(
    files: CaseFiles,
    num_classes: int | None = None,
    need_label: bool = False,
    orientation: str | None = None,
) -> Case:
    """Load and check one case on its stored grid; the image is float32, not yet normalised.

    Args:
        orientation: axis codes of ``.mat`` files (which store no affine).
    """
    channels = []
    reference = declared_geometry(load_volume(files.images[0]), orientation)
    check_affine(reference.affine, str(reference.path))
    for position, path in enumerate(files.images):
        volume = reference if position == 0 else load_volume(path)
        check_finite(volume)
        if position:
            check_same_grid(reference, volume, "image channel")
        channels.append(volume.channels.astype(np.float32, copy=False))
    image = np.concatenate(channels, axis=0) if len(channels) > 1 else channels[0]
    label = None
    if files.label is not None:
        label_volume = load_label(files.label, num_classes)
        check_same_grid(reference, label_volume, "label")
        label = label_volume.data.astype(
            np.int64 if num_classes is None or num_classes > 255 else np.uint8
        )
    elif need_label:
        raise DataError(f"case {files.name}: a label map is required for training")
    roi = None
    if files.roi is not None:
        roi_volume = load_volume(files.roi)
        if roi_volume.data.ndim != 3:
            raise DataError(f"{files.roi}: ROI has shape {roi_volume.data.shape}, expected 3-D")
        check_same_grid(reference, roi_volume, "ROI")
        check_finite(roi_volume)
        roi = roi_volume.data > 0
        if not roi.any():
            raise DataError(f"{files.roi}: ROI is empty (no nonzero voxel)")
    known = not reference.is_mat or orientation is not None
    return Case(files, image, label, roi, reference, orientation_known=known)


def to_model_grid(case: Case, grid: ModelGrid, resample: bool = True) -> Case:
    """The case on the model's grid: reoriented (lossless), resampled when its voxel size differs.

    Images are interpolated linearly, labels and the ROI by nearest neighbour.
    """
    plan = plan_grid(case.reference.affine, case.reference.spatial_shape, grid, resample)
    return replace(
        case,
        image=plan.to_model(case.image, order=1),
        label=plan.to_model(case.label, order=0) if case.label is not None else None,
        roi=plan.to_model(case.roi, order=0) if case.roi is not None else None,
        plan=plan,
    )


def normalised(case: Case, normalization: str) -> Case:
    return replace(case, image=normalise_intensities(case.image, case.roi, normalization))


def load_case(
    files: CaseFiles,
    normalization: str,
    num_classes: int | None = None,
    need_label: bool = False,
    orientation: str | None = None,
    grid: ModelGrid | None = None,
) -> Case:
    """Load and check one case, on ``grid`` when given, with its image normalised as configured."""
    case = read_case(files, num_classes, need_label, orientation)
    if grid is not None:
        case = to_model_grid(case, grid)
    return normalised(case, normalization)


def check_channels(case: Case, expected: int) -> None:
    """The network was built for ``expected`` input channels; refuse anything else."""
    found = case.image.shape[0]
    if found != expected:
        raise DataError(
            f"{case.files.images[0]}: {found} channel{'s' if found != 1 else ''}, but the network expects "
            f"{expected} (one per image folder or file)"
        )
