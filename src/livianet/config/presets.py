"""Network and training presets, written out as readable, commented INI files.

``paper`` is the NeuroImage network and its training settings (the original's
``LiviaNET_Config_NeuroPaper.ini``); ``fast`` is tuned to learn the most per
CPU second, the demo's default. Both set z-score normalisation, as every
config livianet writes does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from livianet.errors import ConfigError


@dataclass(frozen=True)
class Setting:
    key: str
    value: str
    comment: str = ""


Preset = dict[str, list[Setting]]

_PAPER_ARCH = [
    Setting(
        "numkernelsperlayer",
        "[25, 25, 25, 50, 50, 50, 75, 75, 75, 400, 200, 150]",
        "output channels: 9 conv layers, then 3 1x1x1 layers",
    ),
    Setting(
        "kernelshapes",
        "[[3,3,3],[3,3,3],[3,3,3],[3,3,3],[3,3,3],[3,3,3],[3,3,3],[3,3,3],[3,3,3],[1],[1],[1]]",
        "[1] marks a 1x1x1 layer",
    ),
    Setting(
        "intermediateConnectedLayers",
        "[2, 5]",
        "conv layers (0-based) whose outputs join the last one (multi-scale)",
    ),
    Setting("dropout_Rates", "[0.25, 0.25, 0.25, 0.5]", "one per 1x1x1 layer + the classifier"),
    Setting("activationType", "2", "0 linear, 1 ReLU, 2 PReLU, 3 LeakyReLU (or a name)"),
    Setting("weight_Initialization_CNN", "1", "0 classic N(0, 0.01), 1 He, 2 load .npy files"),
    Setting("weight_Initialization_FCN", "1"),
]

PRESETS: dict[str, Preset] = {
    "paper": {
        "CNN_Architecture": _PAPER_ARCH,
        "Training Parameters": [
            Setting("batch_size", "10"),
            Setting("number Of Epochs", "30"),
            Setting("number Of SubEpochs", "20"),
            Setting("number of samples at each SubEpoch Train", "1000"),
            Setting(
                "sampleSize_Train", "[27, 27, 27]", "training patch (input side); output is 9^3"
            ),
            Setting("sampleSize_Test", "[35, 35, 35]"),
            Setting("L1 Regularization Constant", "1e-6"),
            Setting("L2 Regularization Constant", "1e-4"),
            Setting(
                "Leraning Rate",
                "[0.001]",
                "(sic) the original's spelling; 'Learning Rate' works too",
            ),
            Setting(
                "First Epoch Change LR",
                "1",
                "halve the learning rate after epoch 1, then every 2 epochs",
            ),
            Setting("Frequency Change LR", "2"),
            Setting("Momentum Type", "1", "0 classic, 1 Nesterov"),
            Setting("Momentum Value", "0.6"),
            Setting("momentumNormalized", "1"),
            Setting("Optimizer Type", "1", "0 SGD, 1 RMSprop; also adam, adamw"),
            Setting("Rho RMSProp", "0.9"),
            Setting("Epsilon RMSProp", "1e-4"),
            Setting("applyBatchNormalization", "1"),
            Setting("BatchNormEpochs", "20"),
            Setting("applyPadding", "1"),
            Setting(
                "normalization",
                "zscore",
                "z-score inside the ROI, identical in training and segmentation",
            ),
            Setting("precision", "auto", "bf16 where the CPU/GPU runs it faster"),
        ],
    },
    "fast": {
        "CNN_Architecture": [
            Setting(
                "numkernelsperlayer",
                "[16, 16, 16, 32, 32, 32, 48, 48, 48, 192, 96]",
                "half the paper's widths: about 4x cheaper per voxel",
            ),
            Setting(
                "kernelshapes",
                "[[3,3,3],[3,3,3],[3,3,3],[3,3,3],[3,3,3],[3,3,3],[3,3,3],[3,3,3],[3,3,3],[1],[1]]",
                "receptive field 19^3, as the paper",
            ),
            Setting("intermediateConnectedLayers", "[2, 5]", "multi-scale, as the paper"),
            Setting(
                "dropout_Rates",
                "[0.0, 0.0, 0.0]",
                "no dropout: short CPU runs are far from over-fitting",
            ),
            Setting("activationType", "relu", "in-place ReLU trains faster than PReLU on a CPU"),
            Setting("weight_Initialization_CNN", "1"),
            Setting("weight_Initialization_FCN", "1"),
        ],
        "Training Parameters": [
            Setting("batch_size", "6"),
            Setting(
                "number Of Epochs", "300", "an upper bound: the demo's time budget ends training"
            ),
            Setting("number Of SubEpochs", "1"),
            Setting("number of samples at each SubEpoch Train", "120"),
            Setting(
                "sampleSize_Train",
                "[39, 39, 39]",
                "larger patches: 21^3 outputs per patch instead of the paper's 9^3",
            ),
            Setting("sampleSize_Test", "[45, 45, 45]"),
            Setting(
                "sampling", "class_balanced", "every structure is a patch centre equally often"
            ),
            Setting("costFunction", "dice_ce", "cross-entropy + soft Dice"),
            Setting("Optimizer Type", "adamw"),
            Setting("Leraning Rate", "[0.002]"),
            Setting("weightDecay", "1e-4"),
            Setting("learning Rate change Type", "cosine", "cosine decay over the planned epochs"),
            Setting("warmupEpochs", "1"),
            Setting("minLearningRate", "1e-5"),
            Setting("applyBatchNormalization", "1"),
            Setting("BatchNormEpochs", "20"),
            Setting("applyPadding", "1"),
            Setting(
                "normalization",
                "zscore",
                "z-score inside the ROI, identical in training and segmentation",
            ),
            Setting("augmentIntensity", "[0.1, 0.1]", "random intensity scale and shift per patch"),
            Setting("largestComponent", "1", "keep each structure's largest connected component"),
            Setting("precision", "auto", "bf16 where the CPU/GPU runs it faster"),
        ],
    },
}


def preset_names() -> list[str]:
    return sorted(PRESETS)


def render_config(
    preset: str,
    network_name: str,
    folder_name: str,
    output_root: Path,
    data: Path,
    train_indexes: list[int],
    validation_indexes: list[int],
    num_classes: int,
    overrides: dict[str, dict[str, str]] | None = None,
    header: str = "",
) -> str:
    """INI text for ``preset`` on ``data`` (``MR/``, ``Label/``, ``ROI/``)."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; available: {', '.join(preset_names())}")
    overrides = overrides or {}
    lines = [f"# {line}" if line else "#" for line in header.splitlines()] + [""] if header else []
    sections: list[tuple[str, list[Setting]]] = [
        (
            "General",
            [
                Setting("networkName", network_name, "prefix of checkpoint and report files"),
                Setting("folderName", folder_name, "run folder under outputRoot"),
                Setting("outputRoot", str(output_root)),
                Setting("seed", "0"),
            ],
        ),
        (
            "CNN_Architecture",
            [
                *PRESETS[preset]["CNN_Architecture"],
                Setting("n_classes", str(num_classes), "background included"),
            ],
        ),
        ("Training Parameters", PRESETS[preset]["Training Parameters"]),
        (
            "Training Images",
            [
                Setting("imagesFolder", str(data / "MR")),
                Setting("GroundTruthFolder", str(data / "Label")),
                Setting("ROIFolder", str(data / "ROI")),
                Setting(
                    "indexesForTraining",
                    str(train_indexes),
                    "positions in each folder's sorted listing",
                ),
                Setting(
                    "indexesForValidation",
                    str(validation_indexes),
                    "held out from training; never a test scan",
                ),
            ],
        ),
    ]
    for section, settings in sections:
        lines.append(f"[{section}]")
        replaced = overrides.get(section, {})
        seen = set()
        for setting in settings:
            value = replaced.get(setting.key, setting.value)
            seen.add(setting.key)
            if setting.comment:
                lines.append(f"# {setting.comment}")
            lines.append(f"{setting.key} = {value}")
        for key, value in replaced.items():
            if key not in seen:
                lines.append(f"{key} = {value}")
        lines.append("")
    return "\n".join(lines)
