"""What ``Segmenter.segment`` accepts as a scan: a path, a nibabel image, or an array with an affine.

Everything becomes a :class:`~livianet.io.Volume` (data, affine, header, path)
checked once: finite values, a finite invertible affine, an ROI on the same
grid (:func:`livianet.data.check_same_grid`). ``.mat`` arrays store no affine; their axis codes come from
``--orientation`` (or the checkpoint's record of the training arrays); for a
model that knows its orientation, a ``.mat`` without them is refused rather
than guessed (``--orientation as-stored`` takes the array as stored in the
model's grid, the original's behaviour). What cannot be segmented at all is
refused with one line: an empty or constant image, one smaller than the
network's receptive field (:class:`ModelNeeds`), and, where intensities would be
z-scored over the nonzero voxels, an image whose background is not zero
(:func:`check_zero_background`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from livianet.data import check_finite, declared_geometry
from livianet.data.orientation import check_affine
from livianet.errors import DataError
from livianet.io import Volume, header_warnings, load_volume

ScanInput = Any  # str | os.PathLike | nibabel image | (array, affine) | Volume

AS_STORED = "as-stored"  # --orientation: a .mat array taken as stored in the model's grid
# Of the voxels, the share that may be nonzero for "nonzero" normalisation to mean "the brain":
# a skull-stripped 256^3 scan has 10-40 %, a cropped one more; a background of -300 gives 100 %.
MAX_NONZERO_FRACTION = 0.99


@dataclass(frozen=True)
class ModelNeeds:
    """What the model needs of a scan for a segmentation to mean anything.

    Attributes:
        orientation: the model's working axis codes (``RAS``); a ``.mat``
            array without declared codes is then refused. None: a model of
            unknown orientation, which takes arrays as stored.
        min_extent_mm: the network's receptive field in mm; a scan smaller
            along some axis is refused.
    """

    orientation: str | None = None
    min_extent_mm: float = 0.0


def parse_declared_orientation(codes: str | None, where: str = "--orientation") -> str | None:
    """``codes`` as upper-case axis codes, :data:`AS_STORED` kept as is, None as None.

    >>> parse_declared_orientation("ila"), parse_declared_orientation("as-stored")
    ('ILA', 'as-stored')
    """
    if codes is None or codes.lower() == AS_STORED:
        return None if codes is None else AS_STORED
    from livianet.data.orientation import parse_orientation

    return parse_orientation(codes, where)


def as_volume(
    scan: ScanInput,
    what: str = "image",
    orientation: str | None = None,
    needs: ModelNeeds | None = None,
) -> Volume:
    """The scan as a :class:`Volume`; ``orientation`` gives axis codes to ``.mat`` arrays.

    An ``image`` (not an ``ROI``) must vary; with ``needs``, a ``.mat`` must
    have declared codes and the scan must be larger than the receptive field.

    Raises:
        DataError: unreadable file, NaN/Inf voxels, a singular or non-finite
            affine, an input of another type, a constant image, an undeclared
            ``.mat`` orientation or a scan too small (with ``needs``).
    """
    volume = _to_volume(scan, what)
    if needs is not None:
        _check_declared(volume, orientation, needs.orientation)
    volume = declared_geometry(volume, None if orientation == AS_STORED else orientation)
    check_affine(volume.affine, str(volume.path))
    check_finite(volume)
    if what == "image":
        check_not_constant(volume)
        if needs is not None:
            _check_extent(volume, needs.min_extent_mm)
    return volume


def check_not_constant(volume: Volume) -> None:
    """Refuse an image with one value everywhere (all zero: empty): there is nothing to segment."""
    for index, channel in enumerate(volume.channels):
        low, high = float(channel.min()), float(channel.max())
        if low == high:
            which = f" channel {index + 1}" if volume.channels.shape[0] > 1 else ""
            state = "empty (every voxel is 0)" if low == 0 else f"constant (every voxel is {low:g})"
            raise DataError(f"{volume.path}:{which} the image is {state}: nothing to segment")


def check_zero_background(volume: Volume, normalised_on: str = "its nonzero voxels") -> None:
    """Refuse z-scoring over "nonzero voxels" when they are (almost) the whole image.

    Skull-stripped scans are zero outside the brain; a scan with a background
    of, say, -300 or with noise everywhere has no zero voxels, and a z-score
    over all of it is not the training's. A brain mask is the remedy.
    """
    data = volume.channels[0]
    fraction = float(np.count_nonzero(data)) / data.size
    if fraction > MAX_NONZERO_FRACTION:
        values, counts = np.unique(data[:: max(1, data.size // 100_000)], return_counts=True)
        common = float(values[int(np.argmax(counts))])
        raise DataError(
            f"{volume.path}: {100 * fraction:.1f} % of the voxels are nonzero (most common value "
            f"{common:g}), so the background is not zero and normalising over {normalised_on} "
            "would be over the whole image: pass --roi with a brain mask (or a skull-stripped scan)"
        )


def _check_declared(volume: Volume, orientation: str | None, model_orientation: str | None) -> None:
    if volume.is_mat and orientation is None and model_orientation is not None:
        raise DataError(
            f"{volume.path}: a .mat array stores no orientation: pass --orientation CODES (the "
            "axis codes of its storage, e.g. ILA for the LiviaNET example scans), or "
            f"--orientation {AS_STORED} to take it as stored in the model's grid "
            f"({model_orientation})"
        )


def _check_extent(volume: Volume, min_extent_mm: float) -> None:
    extent = [n * s for n, s in zip(volume.spatial_shape, volume.spacing, strict=True)]
    if min(extent) < min_extent_mm:
        shown = " x ".join(f"{e:g}" for e in extent)
        raise DataError(
            f"{volume.path}: the image covers {shown} mm, smaller than the network's receptive "
            f"field ({min_extent_mm:g} mm): not a scan this model can segment"
        )


def _to_volume(scan: ScanInput, what: str) -> Volume:
    if isinstance(scan, Volume):
        return scan
    if isinstance(scan, (str, os.PathLike)):
        return load_volume(scan)
    if isinstance(scan, tuple) and len(scan) == 2:
        data, affine = np.asarray(scan[0]), check_affine(scan[1], f"<{what}>")
        if data.ndim not in (3, 4):
            raise DataError(
                f"{what} array of shape {data.shape}: expected (X, Y, Z) or (C, X, Y, Z)"
            )
        return Volume(
            data=data, affine=affine, header=_nifti_header(affine), path=Path(f"<{what}>")
        )
    if hasattr(scan, "affine") and hasattr(scan, "dataobj"):  # a nibabel spatial image
        data = np.asanyarray(scan.dataobj)
        singleton = data.ndim == 4 and data.shape[-1] == 1
        if singleton:
            data = data[..., 0]  # a 3-D volume with a 4th axis of one, as files are read
        elif data.ndim == 4:
            data = np.moveaxis(data, -1, 0)  # channels first, as files are read
        name = scan.get_filename() if hasattr(scan, "get_filename") else None
        path = Path(name) if name else Path(f"<{what}>")
        return Volume(
            data=np.asarray(data),
            affine=np.asarray(scan.affine, dtype=np.float64),
            header=scan.header.copy(),
            path=path,
            trailing_singleton=singleton,
            warnings=header_warnings(scan.header, path.name),
        )
    raise DataError(
        f"{what}: expected a file path, a nibabel image or an (array, affine) pair, "
        f"got {type(scan).__name__}"
    )


def _nifti_header(affine: np.ndarray) -> Any:
    """A NIfTI header for an array given with its affine (codes: scanner-aligned)."""
    import nibabel as nib

    header = nib.Nifti1Header()
    header.set_sform(affine, 1)
    header.set_qform(affine, 1)
    return header
