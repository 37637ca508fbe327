"""What ``Segmenter.segment`` accepts as a scan: a path, a nibabel image, or an array with an affine.

Everything becomes a :class:`~livianet.io.Volume` (data, affine, header, path)
checked once: finite values, a finite invertible affine, an ROI on the same
grid (:func:`livianet.data.check_same_grid`). ``.mat`` arrays store no affine; their axis codes come from
``--orientation`` (or the checkpoint's record of the training arrays).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from livianet.data import check_finite, declared_geometry
from livianet.data.orientation import check_affine
from livianet.errors import DataError
from livianet.io import Volume, load_volume

ScanInput = Any  # str | os.PathLike | nibabel image | (array, affine) | Volume


def as_volume(scan: ScanInput, what: str = "image", orientation: str | None = None) -> Volume:
    """The scan as a :class:`Volume`; ``orientation`` gives axis codes to ``.mat`` arrays.

    Raises:
        DataError: unreadable file, NaN/Inf voxels, a singular or non-finite
            affine, or an input of another type.
    """
    volume = _to_volume(scan, what)
    volume = declared_geometry(volume, orientation)
    check_affine(volume.affine, str(volume.path))
    check_finite(volume)
    return volume


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
        if data.ndim == 4:
            data = np.moveaxis(data, -1, 0)  # channels first, as files are read
        name = scan.get_filename() if hasattr(scan, "get_filename") else None
        return Volume(
            data=np.asarray(data),
            affine=np.asarray(scan.affine, dtype=np.float64),
            header=scan.header.copy(),
            path=Path(name) if name else Path(f"<{what}>"),
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
