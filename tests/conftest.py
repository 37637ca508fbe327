"""Shared fixtures: tiny synthetic cases (spheres in a volume), datasets and configs.

The original's files (its three INI files, its example scans, its weights) are written here in
their format, so every test runs on a bare clone. The real ones, in the shared folder, are found
through one setting, ``LIVIANET_SHARED`` (default: ``../shared`` beside the repository), by
:func:`shared_path`, which skips naming what is missing; only ``tests/test_shared_data.py`` uses
them, to show that the written stand-ins are true to them.
"""

from __future__ import annotations

import os
import textwrap
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from original_format import write_original_configs

SHARED_VARIABLE = "LIVIANET_SHARED"
DEFAULT_SHARED = Path(__file__).resolve().parents[1].parent / "shared"
# Where each kind of shared file lies under the shared folder.
CONFIGS_PARTS = ("reference", "configs")
EXAMPLE_PARTS = ("data", "livianet-example")
WEIGHTS_PARTS = ("data", "livianet-original-weights")


def shared_root() -> Path:
    """The folder holding ``reference/`` and ``data/``: ``$LIVIANET_SHARED``, else ``../shared``."""
    value = os.environ.get(SHARED_VARIABLE)
    return Path(value).expanduser() if value else DEFAULT_SHARED


def shared_path(*parts: str) -> Path:
    """``shared_root() / parts`` if it exists; otherwise skip the test, naming path and setting."""
    path = shared_root().joinpath(*parts)
    if not path.exists():
        pytest.skip(
            f"needs {path} (set {SHARED_VARIABLE} to the folder holding reference/ and data/;"
            " default ../shared)"
        )
    return path


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
    image_dtype: type | None = None,
) -> Path:
    """``root/MR``, ``root/Label``, ``root/ROI`` in the original's layout.

    ``image_dtype`` (an integer type such as ``np.uint8``, as the original's example scans) rounds
    and clips the images into it; by default they stay float32. ``.mat`` files are compressed
    MAT 5 files holding ``vol``, as the original's.
    """
    import scipy.io

    rng = np.random.default_rng(seed)
    for i in range(1, num_cases + 1):
        image, labels, roi = synthetic_case(rng, shape, num_classes)
        if image_dtype is not None:
            info = np.iinfo(image_dtype)
            image = np.clip(np.rint(image), info.min, info.max).astype(image_dtype)
        for folder, prefix, data in (
            ("MR", "MR_Img", image),
            ("Label", "GT_Img", labels),
            ("ROI", "ROI_Img", roi),
        ):
            if fmt == "mat":
                (root / folder).mkdir(parents=True, exist_ok=True)
                scipy.io.savemat(
                    str(root / folder / f"{prefix}{i}.mat"), {"vol": data}, do_compression=True
                )
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


# ----------------------------------------------------------------------------- the original's files


@pytest.fixture(scope="session")
def original_configs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the original's three INI files, byte for byte (tests/test_shared_data.py)."""
    return write_original_configs(tmp_path_factory.mktemp("configs"))


ORIGINAL_WEIGHT_SHAPES = ((10, 1, 3, 3, 3), (20, 10, 3, 3, 3), (30, 20, 3, 3, 3))


def write_original_weights(folder: Path, seed: int = 0) -> Path:
    """``weights_ConvLayer_{0,1,2}.npy`` of the original's shapes: float32, He-scaled, seeded."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for index, shape in enumerate(ORIGINAL_WEIGHT_SHAPES):
        fan_in = int(np.prod(shape[1:]))
        weights = rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape).astype(np.float32)
        np.save(folder / f"weights_ConvLayer_{index}.npy", weights)
    return folder


@pytest.fixture(scope="session")
def original_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the first three conv layers of the original's default network, seeded."""
    return write_original_weights(tmp_path_factory.mktemp("weights"))


@dataclass(frozen=True)
class ExampleData:
    """The original's example layout: ``root/{MR,Label,ROI}/{MR,GT,ROI}_Img{1..5}.mat``."""

    root: Path
    shape: tuple[int, int, int]  # every volume's


EXAMPLE_CASES = 5
EXAMPLE_CLASSES = 9


def write_example_data(root: Path, shape=(28, 26, 24)) -> ExampleData:
    """A small stand-in for the example scans: five uint8 ``.mat`` cases with labels 0..8 each."""
    import scipy.io

    write_dataset(
        root, EXAMPLE_CASES, shape, EXAMPLE_CLASSES, seed=0, fmt="mat", image_dtype=np.uint8
    )
    for i in range(1, EXAMPLE_CASES + 1):  # sphere overlaps could hide a label: make sure not
        labels = scipy.io.loadmat(str(root / "Label" / f"GT_Img{i}.mat"))["vol"]
        assert np.unique(labels).tolist() == list(range(EXAMPLE_CLASSES)), f"GT_Img{i}"
    return ExampleData(root, tuple(shape))


@pytest.fixture(scope="session")
def example_data(tmp_path_factory: pytest.TempPathFactory) -> ExampleData:
    """Small stand-ins for the original's example scans, in their layout and format."""
    return write_example_data(tmp_path_factory.mktemp("example"))


# ----------------------------------------------------------------------------- reports


# Label names with markup in them: reports must show them as text.
TRAINED_NAMES = {1: "Left-Thalamus", 2: "Right-Thalamus", 3: "<b>Caudate & co</b>"}
_SCREENSHOTS = pytest.StashKey[list]()


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run folder of a finished three-epoch run of the tiny network, shared by report tests."""
    from livianet.config import load_training_config
    from livianet.training import TrainOptions, train

    root = tmp_path_factory.mktemp("trained")
    config = load_training_config(write_tiny_ini(root, write_dataset(root / "data"), epochs=3))
    options = TrainOptions(device="cpu", progress=False, label_names=dict(TRAINED_NAMES))
    return train(config, options).run_dir


@pytest.fixture
def record_screenshot(request):
    """Call with a picture's path: it is listed under "report screenshots" at the end of the run."""

    def record(path: Path) -> None:
        request.config.stash.setdefault(_SCREENSHOTS, []).append((request.node.nodeid, path))
        print(f"screenshot: {path}")

    return record


def pytest_terminal_summary(terminalreporter) -> None:
    shots = terminalreporter.config.stash.get(_SCREENSHOTS, [])
    if shots:
        terminalreporter.section("report screenshots")
        for test, path in shots:
            terminalreporter.write_line(f"{test}: {path}")
