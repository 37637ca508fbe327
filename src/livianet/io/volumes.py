"""Reading and writing volumes: NIfTI (``.nii``, ``.nii.gz``), FreeSurfer (``.mgz``, ``.mgh``), ``.mat``.

Volumes are arrays in stored voxel order, axes ``(X, Y, Z)``; a 4-D NIfTI or MGH
is read as channels ``(C, X, Y, Z)``, except one stored ``(X, Y, Z, 1)``: a 3-D
volume whose outputs are written back in that shape (``trailing_singleton``).
A NIfTI whose sform and qform both claim to be valid but disagree is read with
its sform, as nibabel does, with a warning (``Volume.warnings``). Geometry (affine, header) travels with the
data in a :class:`Volume` so that outputs are written on the input's own grid,
with its sform/qform codes. ``.mat`` files carry no geometry: they get an
identity affine (1 mm voxels) unless their axis codes are declared
(:func:`livianet.data.orientation.affine_for_codes`). Label maps are written as
integers with the NIfTI label intent and ``cal_min``/``cal_max`` of their range,
never with the T1's intensity header fields.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np

from livianet.atomic import atomic_path
from livianet.errors import DataError, describe_exception

if TYPE_CHECKING:
    from nibabel.spatialimages import SpatialImage

logger = logging.getLogger(__name__)

VOLUME_SUFFIXES = (".nii.gz", ".nii", ".mgz", ".mgh", ".mat")
VolumeKind = Literal["label", "prob", "image"]
VolumeFormat = Literal["nifti", "mgh", "mat"]
NIFTI_INTENT_LABEL = "label"  # NIFTI_INTENT_LABEL (1002): values index a label table
_MGH_DTYPES = (np.uint8, np.int16, np.int32, np.float32)


@dataclass(frozen=True)
class Volume:
    """Voxel data plus the geometry needed to write results back in place.

    Attributes:
        data: ``(X, Y, Z)``, or ``(C, X, Y, Z)`` for a 4-D NIfTI or MGH.
        affine: 4x4 voxel-to-world matrix (identity for ``.mat`` unless declared).
        header: the NIfTI or MGH header, or ``None`` for ``.mat``.
        path: the file it came from.
        trailing_singleton: stored as ``(X, Y, Z, 1)``; NIfTI outputs on its grid
            are written in that shape too.
        warnings: what was odd about its geometry (already logged), for the
            scan's record.
    """

    data: np.ndarray
    affine: np.ndarray
    header: Any
    path: Path
    trailing_singleton: bool = False
    warnings: tuple[str, ...] = ()

    @property
    def spatial_shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.data.shape[-3:])  # type: ignore[return-value]

    @property
    def channels(self) -> np.ndarray:
        """Data as ``(C, X, Y, Z)``."""
        return self.data if self.data.ndim == 4 else self.data[np.newaxis]

    @property
    def spacing(self) -> tuple[float, float, float]:
        return voxel_spacing(self.affine)

    @property
    def orientation(self) -> str:
        return orientation_code(self.affine)

    @property
    def is_mat(self) -> bool:
        return self.header is None


def volume_format(path: str | os.PathLike[str]) -> VolumeFormat:
    name = Path(path).name.lower()
    if name.endswith((".nii", ".nii.gz")):
        return "nifti"
    if name.endswith((".mgz", ".mgh")):
        return "mgh"
    if name.endswith(".mat"):
        return "mat"
    raise DataError(f"{path}: unsupported file type, expected .nii, .nii.gz, .mgz, .mgh or .mat")


def strip_volume_suffix(name: str) -> str:
    """``'MR_Img1.nii.gz'`` -> ``'MR_Img1'``."""
    lower = name.lower()
    for suffix in VOLUME_SUFFIXES:
        if lower.endswith(suffix):
            return name[: -len(suffix)]
    return name


def list_volume_files(folder: str | os.PathLike[str]) -> list[Path]:
    """Volume files in ``folder`` sorted by name, as the original indexed them.

    Only ``.nii``, ``.nii.gz``, ``.mgz``, ``.mgh`` and ``.mat`` count; hidden files (including our
    own temporary files) and stray files such as a Readme are ignored.
    """
    root = Path(folder)
    files = [
        p
        for p in root.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.name.lower().endswith(VOLUME_SUFFIXES)
    ]
    return sorted(files, key=lambda p: p.name)


def voxel_spacing(affine: np.ndarray) -> tuple[float, float, float]:
    """Voxel size in mm along each array axis (column norms of the affine)."""
    zooms = np.sqrt((np.asarray(affine, dtype=np.float64)[:3, :3] ** 2).sum(axis=0))
    return tuple(float(z) for z in zooms)  # type: ignore[return-value]


def orientation_code(affine: np.ndarray) -> str:
    """Axis codes such as ``'RAS'`` or ``'LIA'``."""
    import nibabel as nib

    return "".join(nib.aff2axcodes(np.asarray(affine, dtype=np.float64)))


def load_volume(path: str | os.PathLike[str]) -> Volume:
    """Read a ``.nii``, ``.nii.gz``, ``.mgz``, ``.mgh`` or ``.mat`` file.

    Raises:
        DataError: the file is missing, truncated, corrupt, of the wrong
            dimensionality, or holds no usable array.
    """
    file = Path(path)
    if not file.is_file():
        raise DataError(f"{file}: file not found")
    fmt = volume_format(file)
    data, affine, header = _read_mat(file) if fmt == "mat" else _read_nibabel(file, fmt)
    if data.dtype.kind not in "biuf":
        raise DataError(
            f"{file}: holds {_describe_dtype(data.dtype)}, expected a numeric array "
            "(integer, float or boolean)"
        )
    singleton = data.ndim == 4 and fmt != "mat" and data.shape[-1] == 1
    if singleton:
        data = data[..., 0]  # one 3-D volume, stored with a 4th axis of one
    elif data.ndim == 4 and fmt != "mat":
        data = np.moveaxis(data, -1, 0)
    if data.ndim not in (3, 4):
        raise DataError(
            f"{file}: array has {data.ndim} dimensions {tuple(data.shape)}, "
            "expected a 3-D volume (or 4-D channels for NIfTI and MGH)"
        )
    if data.ndim == 4 and fmt == "mat":
        raise DataError(f"{file}: 4-D .mat arrays are not supported, expected a 3-D 'vol'")
    if min(data.shape) < 1:
        raise DataError(f"{file}: empty array of shape {tuple(data.shape)}")
    notes = header_warnings(header, file.name)
    return Volume(data, affine, header, file, trailing_singleton=singleton, warnings=notes)


SFORM_QFORM_TOLERANCE_MM = 1e-3  # float32 storage of either moves a corner by ~1e-5 mm


def header_warnings(header: Any, name: str) -> tuple[str, ...]:
    """Geometry a NIfTI header holds that the caller should know of (each logged once here).

    Both sform and qform coded valid but more than a micron apart at the grid's
    corners: viewers that prefer the qform show the scan elsewhere than we read it.
    """
    import nibabel as nib

    if not isinstance(header, nib.Nifti1Header):
        return ()
    sform, sform_code = header.get_sform(coded=True)
    qform, qform_code = header.get_qform(coded=True)
    if sform is None or qform is None or int(sform_code) <= 0 or int(qform_code) <= 0:
        return ()
    shape = header.get_data_shape()[:3]
    corners = np.array(
        [
            [i, j, k, 1.0]
            for i in (0, shape[0] - 1)
            for j in (0, shape[1] - 1)
            for k in (0, shape[2] - 1)
        ]
    )
    apart = float(np.abs((np.asarray(sform) - np.asarray(qform)) @ corners.T).max())
    if apart <= SFORM_QFORM_TOLERANCE_MM:
        return ()
    codes = nib.nifti1.xform_codes
    note = (
        f"sform and qform disagree by up to {apart:.3g} mm (sform code {int(sform_code)} "
        f"'{codes.label[int(sform_code)]}', qform code {int(qform_code)} "
        f"'{codes.label[int(qform_code)]}'); using the sform"
    )
    logger.warning("%s: %s", name, note)
    return (note,)


def _describe_dtype(dtype: np.dtype) -> str:
    if dtype.kind == "O":
        return "Python objects (a MATLAB cell array?)"
    if dtype.kind == "V":
        return "a structured array (a MATLAB struct?)"
    if dtype.kind in "US":
        return "text"
    return f"{dtype} values"


def _read_nibabel(file: Path, fmt: VolumeFormat) -> tuple[np.ndarray, np.ndarray, Any]:
    import nibabel as nib

    kind = "NIfTI" if fmt == "nifti" else "FreeSurfer MGH"
    try:
        image = cast("SpatialImage", nib.load(str(file)))  # NIfTI and MGH are spatial images
        data = np.asanyarray(image.dataobj)
        if data.ndim == 5 and data.shape[3] == 1:
            data = data[:, :, :, 0, :]  # NIfTI stores vectors on axis 4; time axis unused
        header = image.header.copy()
        affine = np.asarray(image.affine, dtype=np.float64)
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - nibabel/gzip/zlib raise many types
        raise DataError(f"{file}: cannot read as {kind} ({describe_exception(exc)})") from None
    return np.asarray(data), affine, header


_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _is_hdf5(file: Path) -> bool:
    """HDF5 signature at offset 0 or after a user block (512, 1024, ... bytes; MATLAB uses 512)."""
    try:
        with open(file, "rb") as handle:
            for offset in (0, 512, 1024, 2048, 4096, 8192):
                handle.seek(offset)
                signature = handle.read(len(_HDF5_SIGNATURE))
                if len(signature) < len(_HDF5_SIGNATURE):
                    return False
                if signature == _HDF5_SIGNATURE:
                    return True
    except OSError:
        return False
    return False


def _read_mat(file: Path) -> tuple[np.ndarray, np.ndarray, None]:
    import scipy.io

    if _is_hdf5(file):  # MATLAB v7.3, or HDF5 saved under a .mat name
        return _read_mat_v73(file), np.eye(4), None
    try:
        contents = scipy.io.loadmat(str(file))
    except NotImplementedError:
        return _read_mat_v73(file), np.eye(4), None
    except Exception as exc:  # noqa: BLE001 - scipy raises ValueError, OSError, zlib errors
        raise DataError(f"{file}: cannot read as MATLAB .mat ({describe_exception(exc)})") from None
    arrays = {
        k: v for k, v in contents.items() if not k.startswith("__") and isinstance(v, np.ndarray)
    }
    return _pick_mat_variable(file, arrays), np.eye(4), None


def _pick_mat_variable(
    file: Path, arrays: dict[str, Any], others: tuple[str, ...] = ()
) -> np.ndarray:
    """``vol``, else the single numeric array; ``others`` are names listed in the error only."""
    if "vol" in arrays:
        return np.asarray(arrays["vol"])
    if "vol" in others:
        raise DataError(f"{file}: variable 'vol' is not a numeric array")
    numeric = {k: v for k, v in arrays.items() if v.dtype.kind in "biuf" and v.ndim >= 2}
    if len(numeric) == 1:
        return np.asarray(next(iter(numeric.values())))
    names = ", ".join(sorted({*arrays, *others})) or "none"
    raise DataError(f"{file}: expected a variable 'vol' or a single array variable, found: {names}")


def _read_mat_v73(file: Path) -> np.ndarray:
    """MATLAB v7.3 files are HDF5; read them with h5py when it is installed."""
    try:
        import h5py
    except ImportError:
        raise DataError(
            f"{file}: MATLAB v7.3 (HDF5) file; install h5py to read it, or re-save it in "
            "MATLAB with save(name, 'vol', '-v7')"
        ) from None
    try:
        with h5py.File(file, "r") as handle:
            names = tuple(k for k in handle if not k.startswith("#"))  # '#refs#' is internal
            arrays = {
                k: handle[k]
                for k in names
                if isinstance(handle[k], h5py.Dataset)
                and _matlab_class(handle[k]) not in _MATLAB_NON_NUMERIC
            }
            data = _pick_mat_variable(file, arrays, names)  # reads only the chosen variable
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise DataError(f"{file}: cannot read as MATLAB v7.3 ({describe_exception(exc)})") from None
    # HDF5 stores MATLAB's column-major arrays with reversed axes.
    return np.ascontiguousarray(data.T)


# MATLAB stores text as uint16 and cells as object references: never volumes.
_MATLAB_NON_NUMERIC = ("char", "cell", "struct", "function_handle")


def _matlab_class(dataset: Any) -> str:
    value = dataset.attrs.get("MATLAB_class", b"")
    return value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)


def label_dtype(data: np.ndarray) -> np.dtype:
    """Smallest integer type that holds every label value."""
    if data.size == 0:
        return np.dtype(np.uint8)
    low, high = int(data.min()), int(data.max())
    for dtype in (np.uint8, np.int16, np.int32):
        info = np.iinfo(dtype)
        if info.min <= low and high <= info.max:
            return np.dtype(dtype)
    return np.dtype(np.int64)


def save_volume(
    data: np.ndarray,
    path: str | os.PathLike[str],
    reference: Volume | None = None,
    kind: VolumeKind = "image",
) -> Path:
    """Write ``data`` atomically, on ``reference``'s grid (affine, sform/qform codes) when given.

    Label maps are written as integers (NIfTI: label intent, ``cal_min`` and
    ``cal_max`` of the label range), probability maps as float32; the format
    follows the suffix of ``path``.
    """
    target = Path(path)
    fmt = volume_format(target)
    array = np.asarray(data)
    if kind == "label":
        if array.dtype.kind == "f":
            if not np.isfinite(array).all():
                raise ValueError(f"{target}: label map holds NaN or Inf values")
            array = np.rint(array)
        array = array.astype(label_dtype(array))
    elif kind == "prob":
        array = array.astype(np.float32)
    if reference is not None and array.shape[-3:] != reference.spatial_shape:
        raise ValueError(
            f"output shape {array.shape} does not match reference {reference.spatial_shape}"
        )
    with atomic_path(target) as tmp:
        if fmt == "mat":
            import scipy.io

            scipy.io.savemat(str(tmp), {"vol": array}, do_compression=True)
        elif fmt == "mgh":
            _write_mgh(array, tmp, reference)
        else:
            if reference is not None and reference.trailing_singleton and array.ndim == 3:
                array = array[np.newaxis]  # one channel: the input's (X, Y, Z, 1) once written
            _write_nifti(array, tmp, reference, kind)
    return target


def _write_nifti(array: np.ndarray, tmp: Path, reference: Volume | None, kind: VolumeKind) -> None:
    import nibabel as nib

    if array.ndim == 4:
        array = np.moveaxis(array, 0, -1)  # (C, X, Y, Z) -> NIfTI's (X, Y, Z, C), as read
    affine = np.eye(4) if reference is None else reference.affine
    source = reference.header if reference is not None else None
    # Nifti2Header derives from Nifti1Header
    if isinstance(source, nib.Nifti1Header) and kind != "label":
        image = nib.Nifti1Image(array, affine, header=source.copy())
        image.header.set_slope_inter(1.0, 0.0)
    else:
        image = nib.Nifti1Image(array, affine)
    if isinstance(source, nib.Nifti1Header):
        # The input's own sform/qform and their codes (scanner, aligned, MNI...), not nibabel's.
        sform, sform_code = source.get_sform(coded=True)
        qform, qform_code = source.get_qform(coded=True)
        image.set_sform(affine if sform is None else sform, int(sform_code))
        image.set_qform(affine if qform is None else qform, int(qform_code))
        image.header.set_xyzt_units(*source.get_xyzt_units())
    if kind == "label":
        image.header.set_intent(NIFTI_INTENT_LABEL)
        image.header["cal_min"] = float(array.min()) if array.size else 0.0
        image.header["cal_max"] = float(array.max()) if array.size else 0.0
        image.header["descrip"] = b"livianet label map"
    image.set_data_dtype(array.dtype)
    nib.save(image, str(tmp))


def _write_mgh(array: np.ndarray, tmp: Path, reference: Volume | None) -> None:
    import nibabel as nib

    if array.ndim == 4:
        array = np.moveaxis(array, 0, -1)  # channels as MGH frames
    if array.dtype not in [np.dtype(d) for d in _MGH_DTYPES]:
        narrow = np.int32 if array.dtype.kind in "biu" else np.float32
        if array.dtype.kind in "iu" and array.size and np.abs(array).max() > np.iinfo(np.int32).max:
            raise ValueError(f"{tmp}: values beyond int32 cannot be stored in MGH")
        array = array.astype(narrow)
    affine = np.eye(4) if reference is None else reference.affine
    nib.save(nib.MGHImage(array, affine), str(tmp))
