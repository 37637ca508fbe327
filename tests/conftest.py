"""Shared fixtures: tiny synthetic cases (spheres in a volume), datasets and configs."""

from __future__ import annotations

import textwrap
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
EXAMPLE_DATA = SHARED / "data" / "livianet-example"
ORIGINAL_CONFIGS = SHARED / "reference" / "configs"
ORIGINAL_WEIGHTS = SHARED / "data" / "livianet-original-weights"


def synthetic_case(
    rng: np.random.Generator, shape: tuple[int, int, int] = (24, 24, 24), num_classes: int = 4
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An image with ``num_classes - 1`` bright spheres, their labels and a brain-like ROI.

    Each class has its own intensity, so a small network can learn it quickly.
    """
    grid = np.stack(np.meshgrid(*[np.arange(s) for s in shape], indexing="ij"), axis=-1).astype(
        np.float32
    )
    centre = (np.array(shape) - 1) / 2
    image = np.zeros(shape, np.float32)
    labels = np.zeros(shape, np.uint8)
    roi = np.linalg.norm((grid - centre) / (np.array(shape) / 2), axis=-1) < 0.95
    image[roi] = 20.0
    for k in range(1, num_classes):
        offset = rng.uniform(-0.22, 0.22, size=3) * np.array(shape)
        radius = rng.uniform(0.12, 0.17) * min(shape)
        inside = np.linalg.norm(grid - (centre + offset), axis=-1) < radius
        labels[inside & roi] = k
        image[inside & roi] = 20.0 + 25.0 * k
    image += rng.normal(0, 2.0, size=shape).astype(np.float32) * roi
    return image, labels, roi.astype(np.uint8)


def write_nifti(path: Path, data: np.ndarray, spacing=(1.0, 1.0, 1.0)) -> Path:
    affine = np.diag([*spacing, 1.0])
    affine[:3, 3] = [-10.0, 5.0, 2.0]
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(data, affine), str(path))
    return path


def write_dataset(
    root: Path,
    num_cases: int = 3,
    shape=(24, 24, 24),
    num_classes: int = 4,
    seed: int = 0,
    fmt: str = "nifti",
) -> Path:
    """``root/MR``, ``root/Label``, ``root/ROI`` in the original's layout."""
    import scipy.io

    rng = np.random.default_rng(seed)
    for i in range(1, num_cases + 1):
        image, labels, roi = synthetic_case(rng, shape, num_classes)
        for folder, prefix, data in (
            ("MR", "MR_Img", image),
            ("Label", "GT_Img", labels),
            ("ROI", "ROI_Img", roi),
        ):
            if fmt == "mat":
                (root / folder).mkdir(parents=True, exist_ok=True)
                scipy.io.savemat(str(root / folder / f"{prefix}{i}.mat"), {"vol": data})
            else:
                write_nifti(root / folder / f"{prefix}{i}.nii.gz", data)
    return root


TINY_INI = """\
[General]
networkName = tiny
folderName = TinyRun
outputRoot = {output}
seed = 3

[CNN_Architecture]
numkernelsperlayer = [6, 8, 8, 12]
kernelshapes = [[3, 3, 3], [3, 3, 3], [3, 3, 3], [1]]
intermediateConnectedLayers = [1]
dropout_Rates = [0.0, 0.0]
activationType = 2
n_classes = 4
weight_Initialization_CNN = 1
weight_Initialization_FCN = 1

[Training Parameters]
batch_size = 4
number Of Epochs = {epochs}
number Of SubEpochs = 2
number of samples at each SubEpoch Train = 16
sampleSize_Train = [13, 13, 13]
sampleSize_Test = [17, 17, 17]
costFunction = 0
L1 Regularization Constant = 1e-6
L2 Regularization Constant = 1e-4
Leraning Rate = [0.005]
First Epoch Change LR = 1
Frequency Change LR = 2
Momentum Type = 1
Momentum Value = 0.6
momentumNormalized = 1
Optimizer Type = 1
Rho RMSProp = 0.9
Epsilon RMSProp = 1e-4
applyBatchNormalization = 1
BatchNormEpochs = 20
applyPadding = 1
normalization = zscore
precision = float32

[Training Images]
imagesFolder = {data}/MR
GroundTruthFolder = {data}/Label
ROIFolder = {data}/ROI
imageTypes = 0
indexesForTraining = [0, 1]
indexesForValidation = [2]
"""


def write_tiny_ini(folder: Path, data: Path, epochs: int = 2, extra: str = "") -> Path:
    """A small but complete training INI (receptive field 7, 13^3 patches)."""
    text = TINY_INI.format(output=folder / "out", data=data, epochs=epochs)
    if extra:
        text = text.replace(
            "[Training Images]", textwrap.dedent(extra).strip() + "\n\n[Training Images]"
        )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tiny.ini"
    path.write_text(text)
    return path


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture
def tiny_dataset(tmp_path: Path) -> Path:
    return write_dataset(tmp_path / "data")


@pytest.fixture
def tiny_ini(tmp_path: Path, tiny_dataset: Path) -> Path:
    return write_tiny_ini(tmp_path, tiny_dataset)
