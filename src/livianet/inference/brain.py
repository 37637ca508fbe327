"""Brain extraction: a whole-head T1 in, a brain mask on the scan's own grid out.

The networks are deepbet's (Fisch et al., Computers in Biology and Medicine 179,
2024; MIT licence): two TorchScript networks inside its wheel, so extraction works
offline after ``pip install``. deepbet resamples its input to 128^3, then the
brain's box to 256^3, whatever the voxel size, and was trained on ~1 mm heads in
RAS order: a scan is brought there first (lossless reorientation, world-space
resampling when its voxels are not 1 mm; :mod:`livianet.data.geometry`) and the
mask back. deepbet keeps the largest component and fills its voids; its own
errors (a bare ``AssertionError`` when it sees too little foreground) become
:class:`NoBrainFound`, which segmentation turns into a warning and a fallback.

The mask's volume is the intracranial-volume estimate livianet reports
(``TIV_mm3``): what deepbet calls TIV, not FreeSurfer's eTIV. Segmentation uses
the mask's tissue as its ROI (:func:`tissue_roi`): the built-in model's training
ROIs hold grey and white matter, not the CSF a brain mask includes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import ndimage

from livianet.data.geometry import GridPlan, ModelGrid, plan_grid
from livianet.data.spatial import bounding_box, resample_to_grid
from livianet.errors import ConfigError, DataError, describe_exception
from livianet.inference.inputs import ScanInput, as_volume
from livianet.io import Volume
from livianet.runtime import autocast, resolve_device, resolve_precision

logger = logging.getLogger(__name__)

EXTRACTOR = "deepbet 1.0.2"
CITATION = (
    "brain masks by deepbet (Fisch et al., Computers in Biology and Medicine 179, 2024; "
    "MIT licence): cite it with results from scans given without a mask"
)
REINSTALL = "pip install --force-reinstall 'deepbet==1.0.2' (or reinstall livianet)"
EXTRACTION_GRID = ModelGrid("RAS", (1.0, 1.0, 1.0))  # what deepbet's networks were trained on
# The smallest adult brain spans ~110 mm along its shortest (inferior-superior) axis: a field
# of view under this along any axis holds no whole brain (a crop, a slab, a 2-D image).
MIN_FIELD_OF_VIEW_MM = 80.0
# deepbet finds a "brain" in anything with a blob of signal, noise included; in a T1 (whole
# head or skull-stripped) the brain is brighter than what lies just outside its edge (CSF,
# skull, or nothing). Below this contrast, in units of the intensity spread inside the mask,
# the mask follows no edge in the image and is refused.
MIN_EDGE_CONTRAST = 0.5
EDGE_SHELL_VOXELS = 2  # the band outside the mask's edge that it compares with (2 mm voxels)
INTENSITY_CLASSES = 3  # CSF, grey matter, white matter: what a T1's brain mask holds


@dataclass(frozen=True)
class BrainSettings:
    """How a mask is cut from deepbet's brain probabilities.

    Attributes:
        threshold: a voxel is brain where its probability is above this (0-1, deepbet's 0.5).
        dilation: grow (> 0) or shrink (< 0) the mask by this many 1 mm voxels.
    """

    threshold: float = 0.5
    dilation: int = 0

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise ConfigError(
                f"--brain-threshold {self.threshold:g}: expected a probability between 0 and 1"
            )
        if abs(self.dilation) > 20:
            raise ConfigError(f"--brain-dilation {self.dilation}: expected -20 to 20 voxels (mm)")


@dataclass(frozen=True)
class BrainMask:
    """An extracted brain mask on the scan's own grid, its volume (the TIV estimate), its tissue.

    Attributes:
        mask: bool, the scan's spatial shape: the brain, CSF and ventricles included.
        voxel_mm3: the scan's voxel volume.
        roi: the part of ``mask`` that segmentation uses as the ROI (:func:`tissue_roi`).
    """

    mask: np.ndarray
    voxel_mm3: float
    roi: np.ndarray

    @property
    def volume_mm3(self) -> float:
        return float(np.count_nonzero(self.mask)) * self.voxel_mm3


class NoBrainFound(DataError):
    """Extraction found no brain in a scan; ``reason`` says why, without the scan's name."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: brain extraction found no brain ({reason})")
        self.reason = reason


class BrainExtractor:
    """deepbet's two networks on livianet's device: loaded once, run on every scan of a batch.

    Threads are PyTorch's (``--threads``); ``precision`` ``bf16``/``fp16`` runs the
    networks under autocast, as livianet's own network runs.
    """

    def __init__(
        self, device: torch.device, precision: str = "float32", weights: Path | None = None
    ) -> None:
        self.device = device
        self.precision = precision
        self._bet = _load_deepbet(device, weights)

    @classmethod
    def create(cls, device: str = "auto", precision: str = "auto") -> BrainExtractor:
        resolved = resolve_device(device)
        return cls(resolved, resolve_precision(precision, resolved))

    def mask(self, ras: np.ndarray, settings: BrainSettings) -> np.ndarray | None:
        """The brain mask of a RAS 1 mm array (same shape); None when deepbet finds none."""
        bet = self._bet
        try:
            with torch.no_grad(), autocast(self.device, self.precision):
                probability = bet.run_model(np.ascontiguousarray(ras, dtype=np.float32))
            # largest component and voids filled inside deepbet's brain box, then grown
            mask = bet.postprocess(probability > settings.threshold, settings.dilation)
        except (AssertionError, ValueError) as exc:  # too little foreground, an empty mask
            logger.debug("deepbet: %s", describe_exception(exc))
            return None
        return np.asarray(mask, dtype=bool)


def _load_deepbet(device: torch.device, weights: Path | None) -> Any:
    """deepbet's ``BrainExtraction`` with its networks on ``device``; one-line errors when broken."""
    try:
        from deepbet.bet import BrainExtraction  # imports pandas, cc3d, fill_voids; not its GUI
        from deepbet.utils import DATA_PATH
    except ImportError as exc:
        raise ConfigError(
            f"brain extraction needs deepbet, which cannot be imported ({describe_exception(exc)}): "
            f"{REINSTALL}; or give a brain mask with --roi, or --no-brain-extraction"
        ) from None
    folder = Path(weights) if weights is not None else Path(DATA_PATH) / "models"
    try:
        bet = BrainExtraction(  # on the CPU first: deepbet would pick a GPU of its own
            no_gpu=True,
            model_path=str(folder / "model.pt"),
            bbox_model_path=str(folder / "bbox_model.pt"),
        )
    except (OSError, RuntimeError, ValueError) as exc:
        raise ConfigError(
            f"{folder}: deepbet's networks cannot be read ({describe_exception(exc)}): {REINSTALL}"
        ) from None
    bet.model.to(device)
    bet.bbox_model.to(device)
    return bet


# ----------------------------------------------------------------------------- one scan


def field_of_view_problem(volume: Volume) -> str | None:
    """Why a scan cannot hold a whole brain (too small a field of view, a constant image), or None.

    Cheap, and checked before the extractor is even loaded.
    """
    extent = [n * s for n, s in zip(volume.spatial_shape, volume.spacing, strict=True)]
    if min(extent) < MIN_FIELD_OF_VIEW_MM:
        size = "x".join(f"{e:.0f}" for e in extent)
        return f"field of view {size} mm, under the {MIN_FIELD_OF_VIEW_MM:g} mm a brain spans"
    image = volume.channels[0]
    if float(image.max()) <= float(image.min()):
        return "the image is constant"
    return None


def brain_mask(
    volume: Volume, extractor: BrainExtractor, settings: BrainSettings | None = None
) -> BrainMask:
    """The brain mask of ``volume``'s first channel (the T1), on the scan's grid.

    Raises:
        NoBrainFound: the field of view cannot hold a brain, deepbet found none, or
            the mask follows no edge in the image (noise, a non-head).
    """
    settings = settings or BrainSettings()
    where = str(volume.path)
    problem = field_of_view_problem(volume)
    if problem is not None:
        raise NoBrainFound(where, problem)
    plan = plan_grid(volume.affine, volume.spatial_shape, EXTRACTION_GRID)
    ras = np.asarray(plan.to_model(volume.channels[0].astype(np.float32, copy=False), order=1))
    found = extractor.mask(ras, settings)
    if found is None or not found.any():
        raise NoBrainFound(where, "deepbet saw too little brain-like foreground")
    contrast = edge_contrast(ras, found)
    if contrast < MIN_EDGE_CONTRAST:
        raise NoBrainFound(
            where,
            f"the mask follows no edge in the image: contrast {contrast:.2f} across it, under "
            f"{MIN_EDGE_CONTRAST:g}; not a T1 of a head?",
        )
    mask = _on_scan_grid(plan, found)
    if not mask.any():
        raise NoBrainFound(where, "the mask holds no voxel of the scan's grid")
    return BrainMask(mask, float(np.prod(volume.spacing)), tissue_roi(volume.channels[0], mask))


def tissue_roi(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The voxels of ``mask`` brighter than its CSF: grey and white matter, as the training ROIs.

    The built-in model was trained with z-scores inside ROIs of brain tissue
    (the ABIDE example's masks leave out sulcal CSF and ventricles). Inside a
    whole brain mask the CSF, and in a skull-stripped scan the zeros the
    stripping left, lower the mean and widen the spread: on the five example
    scans, mean Dice fell by 0.12. The threshold is midway between the two
    darkest of three intensity classes (1-D k-means) inside the mask.
    """
    values = image[mask]
    centres = intensity_centres(values, INTENSITY_CLASSES)
    tissue = mask & (image > (centres[0] + centres[1]) / 2)
    return tissue if tissue.any() else mask


def intensity_centres(values: np.ndarray, classes: int, bins: int = 256) -> np.ndarray:
    """The centres of ``classes`` intensity classes, ascending: k-means on a histogram.

    >>> intensity_centres(np.array([1.0] * 10 + [5.0] * 10 + [9.0] * 10), 3).round(1).tolist()
    [1.0, 5.0, 9.0]
    """
    counts, edges = np.histogram(values, bins=bins)
    middles = (edges[:-1] + edges[1:]) / 2
    centres = np.quantile(values, np.linspace(0.1, 0.9, classes))
    for _ in range(100):
        nearest = np.argmin(np.abs(middles[:, None] - centres[None]), axis=1)
        updated = np.array(
            [np.average(middles[nearest == k], weights=counts[nearest == k])
             if counts[nearest == k].sum() else centres[k] for k in range(classes)]
        )  # fmt: skip
        if np.allclose(updated, centres):
            break
        centres = updated
    return np.sort(centres)


def edge_contrast(image: np.ndarray, mask: np.ndarray) -> float:
    """(mean inside the mask - mean in a shell just outside it) / SD inside, on a 2 mm grid.

    A brain in a T1 is brighter than its surroundings (CSF, skull or, stripped,
    nothing): well above 1. A blob found in noise: about 0.
    """
    coarse_image, coarse_mask = image[::2, ::2, ::2], mask[::2, ::2, ::2]
    if not coarse_mask.any():
        return 0.0
    start, stop = bounding_box(coarse_mask, margin=EDGE_SHELL_VOXELS)
    box = tuple(slice(a, b) for a, b in zip(start, stop, strict=True))
    inside, values = coarse_mask[box], coarse_image[box]
    grown = ndimage.binary_dilation(inside, iterations=EDGE_SHELL_VOXELS)
    shell = grown & ~inside
    spread = float(values[inside].std())
    if not shell.any() or spread <= 0:
        return 0.0
    return (float(values[inside].mean()) - float(values[shell].mean())) / spread


def _on_scan_grid(plan: GridPlan, mask: np.ndarray) -> np.ndarray:
    """A mask on the extraction grid back on the scan's: exact unless the scan was resampled."""
    if plan.resampled:
        fraction = resample_to_grid(
            mask.astype(np.float32), plan.model_affine, plan.oriented_affine,
            plan.oriented_shape, order=1,
        )  # fmt: skip
        mask = fraction > 0.5
    return np.ascontiguousarray(plan.oriented_to_input(mask))


def extract_brain(
    image: ScanInput,
    *,
    threshold: float = 0.5,
    dilation: int = 0,
    device: str = "auto",
    precision: str = "auto",
    orientation: str | None = None,
    extractor: BrainExtractor | None = None,
) -> BrainMask:
    """One scan's brain mask: ``extract_brain("head_T1.nii.gz").mask``, on the scan's grid.

    ``orientation`` gives the axis codes of a ``.mat`` array (which stores no
    affine); ``extractor`` reuses loaded networks across calls.

    Raises:
        NoBrainFound: no brain in the scan (see :func:`brain_mask`).
        ConfigError: deepbet is missing or its networks are unreadable.
    """
    volume = as_volume(image, "image", orientation)
    settings = BrainSettings(threshold, dilation)
    return brain_mask(volume, extractor or BrainExtractor.create(device, precision), settings)


# ----------------------------------------------------------------------------- its outputs


def skull_stripped(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The image (``(X, Y, Z)`` or channels first) with every voxel outside ``mask`` set to 0.

    >>> skull_stripped(np.array([[[3, 4]]]), np.array([[[True, False]]])).tolist()
    [[[3, 0]]]
    """
    return np.where(mask, image, np.zeros((), dtype=image.dtype))


def labels_on_edge(labels: np.ndarray, mask: np.ndarray, num_classes: int) -> dict[int, int]:
    """Per structure ``1..K-1``, its voxels on the mask's edge (the mask's outermost layer).

    Labels are kept inside the mask, so a structure cut by too tight a mask shows
    as labelled voxels on its edge; deep structures of a good mask have none.

    >>> m = np.zeros((5, 5, 5), bool); m[1:4, 1:4, 1:4] = True
    >>> l = np.zeros((5, 5, 5), int); l[2, 2, 2] = 1; l[1, 2, 2] = 2
    >>> labels_on_edge(l, m, 3)
    {1: 0, 2: 1}
    """
    counts = {k: 0 for k in range(1, num_classes)}
    if not labels.any():
        return counts
    start, stop = bounding_box(labels > 0, margin=2)
    box = tuple(slice(a, b) for a, b in zip(start, stop, strict=True))
    inside = mask[box]
    interior = ndimage.binary_erosion(inside, border_value=1)
    edge = inside & ~interior  # the box's faces count as inside: only the mask's own edge
    found = np.bincount(labels[box][edge].ravel(), minlength=num_classes)
    counts.update({k: int(found[k]) for k in range(1, num_classes)})
    return counts


def volume_fractions(volumes: Mapping[int, float], tiv_mm3: float) -> dict[int, float]:
    """Each structure's volume as a fraction of the intracranial volume.

    >>> volume_fractions({1: 15.0, 2: 30.0}, 1500.0)
    {1: 0.01, 2: 0.02}
    """
    if tiv_mm3 <= 0:
        return {}
    return {k: v / tiv_mm3 for k, v in volumes.items()}


__all__ = [
    "CITATION",
    "BrainExtractor",
    "BrainMask",
    "BrainSettings",
    "NoBrainFound",
    "brain_mask",
    "extract_brain",
    "field_of_view_problem",
    "labels_on_edge",
    "skull_stripped",
    "tissue_roi",
    "volume_fractions",
]
