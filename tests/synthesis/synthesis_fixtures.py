"""Small label maps for the synthesis tests: nested spheres with FreeSurfer codes.

A head (code 502, skull-like) around a brain (2, white matter) holding a left and a
right structure of each of two kinds (10/49 as thalamus, 11/50 as caudate); the
caudates sit at different heights, so a left-right mirror of the map is not the map.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import nibabel as nib
import numpy as np

SHAPE = (28, 28, 28)
CLASS_CODES = (10, 11, 49, 50)  # classes 1..4
PAIRS = ((1, 3), (2, 4))


def _ball(shape: tuple[int, int, int], centre, radius: float) -> np.ndarray:
    grid = np.indices(shape, dtype=np.float64)
    offset = grid - np.asarray(centre, dtype=np.float64)[:, None, None, None]
    return (offset**2).sum(axis=0) <= radius**2


def nested_spheres(shape: tuple[int, int, int] = SHAPE, shift: int = 0) -> np.ndarray:
    """Codes on a ``shape`` grid; ``shift`` moves the inner structures along axis 1."""
    centre = (np.asarray(shape) - 1) / 2
    codes = np.zeros(shape, dtype=np.int16)
    codes[_ball(shape, centre, 13)] = 502
    codes[_ball(shape, centre, 11)] = 2
    for code, offset, radius in (
        (10, (-5, shift - 2, 0), 3.5),
        (49, (5, shift - 2, 0), 3.5),
        (11, (-4, shift + 5, 2), 3.5),
        (50, (4, shift + 5, -2), 3.5),
    ):
        codes[_ball(shape, centre + np.asarray(offset), radius)] = code
    return codes


def write_map(path: Path, codes: np.ndarray, affine: np.ndarray | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(codes, np.eye(4) if affine is None else affine), str(path))
    return path


def write_maps(folder: Path, count: int = 3) -> Path:
    for n in range(count):
        write_map(folder / f"map_{n:02d}.nii.gz", nested_spheres(shift=n - 1))
    return folder


INI = """\
[General]
networkName = synthetic
folderName = SynthRun
outputRoot = {output}
seed = 5

[CNN_Architecture]
numkernelsperlayer = [4, 4, 4, 8]
kernelshapes = [[3, 3, 3], [3, 3, 3], [3, 3, 3], [1]]
dropout_Rates = [0.0, 0.0]
n_classes = 5

[Training Parameters]
batch_size = 4
number of samples at each SubEpoch Train = 8
sampleSize_Train = [13, 13, 13]
sampleSize_Test = [13, 13, 13]
sampling = class_balanced
normalization = {normalization}
precision = float32

[Label Maps]
labelMapsFolder = {maps}
labelClasses = {classes}
{extra}
"""


# Every random change off: the map's own shapes, one intensity per generation class.
STILL = """
synthRotation = 0
synthScaling = 0
synthShear = 0
synthElastic = 0
synthStds = [0, 0]
synthNoise = 0
synthBiasField = 0
synthGamma = 0
synthMaxVoxelSize = 0
synthMaxSliceSpacing = 0
"""


def write_ini(
    folder: Path,
    maps: Path,
    extra: str = "",
    images: str = "",
    classes: str = "[10, 11, 49, 50]",
    normalization: str = "zscore",
) -> Path:
    """A training INI drawing from the maps in ``maps`` (tiny network, receptive field 7)."""
    text = INI.format(
        output=folder / "out",
        maps=maps,
        classes=classes,
        normalization=normalization,
        extra=textwrap.dedent(extra).strip(),
    )
    if images:
        text += "\n[Training Images]\n" + textwrap.dedent(images).strip() + "\n"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "synth.ini"
    path.write_text(text)
    return path
