"""Config loading: the original INI files, friendly extras, and every named error."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
from original_format import DEFAULT, NEURO_PAPER, SEGMENTATION

from livianet.config import (
    ModelConfig,
    load_segmentation_config,
    load_training_config,
    model_config_from_plain,
    to_plain,
)
from livianet.errors import ConfigError, LivianetError

# The original INI files come from the `original_configs` fixture (conftest): written byte for byte
# as the shared copies are (tests/test_shared_data.py).


@pytest.fixture
def default_ini(original_configs: Path) -> Path:
    return original_configs / DEFAULT


@pytest.fixture
def neuro_ini(original_configs: Path) -> Path:
    return original_configs / NEURO_PAPER


@pytest.fixture
def segment_ini(original_configs: Path) -> Path:
    return original_configs / SEGMENTATION


@pytest.fixture
def default_text(default_ini: Path) -> str:
    return default_ini.read_text(encoding="utf-8")


@pytest.fixture
def segment_text(segment_ini: Path) -> str:
    return segment_ini.read_text(encoding="utf-8")


def variant(folder: Path, base: str, *edits: tuple[str, str], name: str = "bad.ini") -> Path:
    """The base INI with each ``(old, new)`` replacement applied once, saved as ``folder/name``."""
    text = base
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def message(*parts: str) -> str:
    """A regex matching the parts in order (file, section, key, value, expectation)."""
    return ".*".join(re.escape(p) for p in parts)


# ----------------------------------------------------------------------------- the originals


def test_default_config_parses_to_original_values(default_ini: Path) -> None:
    config = load_training_config(default_ini)
    assert (config.network_name, config.folder_name) == ("liviaTest", "LiviaNet_Test")
    assert config.output_root == Path("outputFiles")
    assert config.run_dir == Path("outputFiles/LiviaNet_Test")
    model = config.model
    assert model.conv_channels == (10, 20, 30)
    assert model.conv_kernels == ((3, 3, 3),) * 3
    assert model.fc_channels == (100,)
    assert model.num_classes == 9
    assert model.dropout_rates == (0.25, 0.5)
    assert model.intermediate_layers == ()
    assert (model.activation, model.conv_init, model.fc_init) == ("prelu", "he", "he")
    assert (model.batch_norm, model.batch_norm_epochs, model.in_channels) == (True, 20, 1)
    assert model.receptive_field == (7, 7, 7)
    assert model.fc_in_channels == 30
    train = config.train
    assert (train.batch_size, train.num_epochs, train.num_subepochs) == (10, 3, 2)
    assert train.samples_per_subepoch == 1000
    assert (train.patch_size, train.segment_patch_size) == ((25, 25, 25), (45, 45, 45))
    assert model.output_size(train.patch_size) == (19, 19, 19)
    assert model.output_size(train.segment_patch_size) == (39, 39, 39)
    assert (train.loss, train.apply_padding) == ("ce", True)
    optim = train.optim
    assert (optim.optimizer, optim.learning_rate) == ("rmsprop", 1e-3)
    assert (optim.momentum, optim.nesterov, optim.momentum_normalized) == (0.6, True, True)
    assert (optim.l1, optim.l2, optim.rho, optim.epsilon) == (1e-6, 1e-4, 0.9, 1e-4)
    assert (optim.lr_schedule, optim.first_epoch_change_lr, optim.frequency_change_lr) == (
        "halving",
        1,
        2,
    )
    # weight_Initialization_CNN = 1, so the weights folder is not used.
    assert config.transfer.weights_folder is None
    assert config.transfer.weights_indexes == (0, 1, 2)
    assert config.data.image_folders == (Path("/~yourpath/Dataset/MR"),)
    assert config.data.label_folder == Path("/~yourpath/Dataset/Label")
    assert config.data.roi_folder == Path("/~yourpath/Dataset/ROI")
    assert (config.train_indexes, config.validation_indexes) == ((0, 1, 2, 3, 4), (5,))
    assert config.segmentation is None


def test_neuro_paper_config_parses_to_paper_values(neuro_ini: Path) -> None:
    config = load_training_config(neuro_ini)
    model, train, optim = config.model, config.train, config.train.optim
    assert model.conv_channels == (25,) * 3 + (50,) * 3 + (75,) * 3
    assert model.conv_kernels == ((3, 3, 3),) * 9
    assert model.fc_channels == (400, 200, 150)
    assert model.num_classes == 9
    assert model.intermediate_layers == (2, 5)
    assert model.dropout_rates == (0.25, 0.25, 0.25, 0.5)
    assert (model.activation, model.conv_init, model.fc_init) == ("prelu", "he", "he")
    assert (model.batch_norm, model.batch_norm_epochs) == (True, 20)
    assert (optim.optimizer, optim.nesterov, optim.momentum, optim.momentum_normalized) == (
        "rmsprop",
        True,
        0.6,
        True,
    )
    assert (optim.learning_rate, optim.l1, optim.l2) == (1e-3, 1e-6, 1e-4)
    assert (optim.rho, optim.epsilon) == (0.9, 1e-4)
    assert train.apply_padding is True
    assert (train.num_epochs, train.num_subepochs, train.samples_per_subepoch) == (30, 20, 1000)
    assert train.batch_size == 10
    assert (train.patch_size, train.segment_patch_size) == ((27, 27, 27), (35, 35, 35))
    assert model.receptive_field == (19, 19, 19)
    assert model.output_size(train.patch_size) == (9, 9, 9)
    assert model.output_size(train.segment_patch_size) == (17, 17, 17)
    assert model.fc_in_channels == 150  # 75 (last conv) + 25 (layer 2) + 50 (layer 5)
    assert (config.train_indexes, config.validation_indexes) == ((0, 1, 2, 3, 4, 5), (6,))


def test_relative_folders_resolve_against_the_config_folder(original_configs: Path) -> None:
    data = load_training_config(original_configs / NEURO_PAPER).data  # "../Dataset/MR/ " (space)
    assert data.image_folders == (original_configs / "../Dataset/MR",)
    assert data.label_folder == original_configs / "../Dataset/Label"
    assert data.roi_folder == original_configs / "../Dataset/ROI"


def test_segmentation_config_parses_to_original_values(segment_ini: Path) -> None:
    config = load_segmentation_config(segment_ini)
    assert config.source == segment_ini
    assert config.indexes == (6,)
    assert config.data.image_folders == (Path("/~yourpath/Dataset/MR"),)
    assert config.data.label_folder == Path("/~yourpath/Dataset/Label")
    assert config.data.roi_folder == Path("/~yourpath/Dataset/ROI")


@pytest.mark.parametrize("name", [DEFAULT, NEURO_PAPER, SEGMENTATION], ids=lambda n: Path(n).stem)
def test_data_root_keeps_the_last_folder_name(
    original_configs: Path, name: str, tmp_path: Path
) -> None:
    load = load_segmentation_config if name == SEGMENTATION else load_training_config
    data = load(original_configs / name, data_root=tmp_path).data
    assert data.image_folders == (tmp_path / "MR",)
    assert (data.label_folder, data.roi_folder) == (tmp_path / "Label", tmp_path / "ROI")


# ----------------------------------------------------------------------------- accepted variants


@pytest.mark.parametrize(
    ("old", "new", "field", "expected"),
    [
        ("activationType = 2", "activationType = relu", "activation", "relu"),
        ("activationType = 2", "activationType = LeakyReLU", "activation", "leaky_relu"),
        ("activationType = 2", "activationType = 0", "activation", "linear"),
        ("weight_Initialization_CNN = 1", "weight_Initialization_CNN = kaiming", "conv_init", "he"),
        ("weight_Initialization_FCN = 1", "weight_Initialization_FCN = 0", "fc_init", "classic"),
        ("numkernelsperlayer", "NUMKERNELSPERLAYER", "conv_channels", (10, 20, 30)),
        ("n_classes = 9", "N Classes = 4", "num_classes", 4),
        ("applyBatchNormalization = 1", "apply_batch_normalization = false", "batch_norm", False),
    ],
)
def test_model_keys_accept_names_and_any_case(
    tmp_path, default_text, old, new, field, expected
) -> None:
    model = load_training_config(variant(tmp_path, default_text, (old, new))).model
    assert getattr(model, field) == expected


@pytest.mark.parametrize(
    ("old", "new", "field", "expected"),
    [
        ("Optimizer Type = 1", "Optimizer Type = adamw", "optimizer", "adamw"),
        (
            "Optimizer Type = 1",
            "Optimizer Type = 2",
            "optimizer",
            "rmsprop",
        ),  # 2 is 1, as the original
        ("Optimizer Type = 1", "optimizer_type = 0", "optimizer", "sgd"),
        ("Momentum Type = 1", "MomentumType = 0", "nesterov", False),
        ("Leraning Rate = [0.001]", "Learning Rate = [0.01]", "learning_rate", 0.01),
        ("Leraning Rate = [0.001]", "leraning_rate = 0.02", "learning_rate", 0.02),
        ("Epsilon RMSProp = 1e-4", "EPSILON RMSPROP = 1e-8", "epsilon", 1e-8),
    ],
)
def test_optimiser_keys_accept_names_aliases_and_codes(
    tmp_path, default_text, old, new, field, expected
) -> None:
    optim = load_training_config(variant(tmp_path, default_text, (old, new))).train.optim
    assert getattr(optim, field) == expected


def test_section_names_match_like_keys(tmp_path: Path, default_text: str) -> None:
    path = variant(
        tmp_path,
        default_text,
        ("[CNN_Architecture]", "[cnn architecture]"),
        ("[Training Parameters]", "[TRAINING_PARAMETERS]"),
        ("number Of Epochs = 3", "numberOfEpochs = 7"),
    )
    assert load_training_config(path).train.num_epochs == 7


@pytest.mark.parametrize(
    "encode",
    [
        lambda text: text.encode("utf-8-sig"),
        lambda text: text.replace("\n", "\r\n").encode(),
        lambda text: text.replace("\n", "\r").encode(),
    ],
    ids=["bom", "crlf", "cr"],
)
def test_bom_and_line_endings_are_accepted(tmp_path: Path, default_text: str, encode) -> None:
    path = tmp_path / "config.ini"
    path.write_bytes(encode(default_text))
    assert load_training_config(path).model.conv_channels == (10, 20, 30)


def test_pretrained_weights_folder_resolves_against_the_config(
    tmp_path: Path, default_text: str
) -> None:
    path = variant(
        tmp_path,
        default_text,
        ("weight_Initialization_CNN = 1", "weight_Initialization_CNN = 2"),
        ("weights folderName = /~yourpath/trainedWeights", "weights folderName = weights/"),
    )
    config = load_training_config(path)
    assert config.model.conv_init == "pretrained"
    assert config.transfer.weights_folder == tmp_path / "weights"
    assert config.transfer.weights_indexes == (0, 1, 2)


def test_several_image_folders_give_several_input_channels(
    tmp_path: Path, default_text: str
) -> None:
    path = variant(
        tmp_path,
        default_text,
        ("imagesFolder = /~yourpath/Dataset/MR/ ", 'imagesFolder = ["T1/", "/abs/T2"]'),
        ("ROIFolder = /~yourpath/Dataset/ROI/", "ROIFolder = []"),
    )
    config = load_training_config(path, data_root=None)
    assert config.data.image_folders == (tmp_path / "T1", Path("/abs/T2"))
    assert config.model.in_channels == 2
    assert config.data.roi_folder is None


def test_missing_training_parameters_take_the_defaults(tmp_path: Path, default_text: str) -> None:
    text = default_text
    start, end = text.index("[Training Parameters]"), text.index("[Training Images]")
    path = tmp_path / "short.ini"
    path.write_text(text[:start] + text[end:])
    train = load_training_config(path).train
    assert (train.batch_size, train.num_epochs, train.patch_size) == (10, 3, (25, 25, 25))
    assert (train.optim.l1, train.optim.l2) == (0.0, 0.0)


def test_per_layer_learning_rates_use_the_first_and_warn(
    tmp_path: Path, default_text: str, caplog
) -> None:
    path = variant(
        tmp_path, default_text, ("Leraning Rate = [0.001]", "Leraning Rate = [0.001, 0.002]")
    )
    with caplog.at_level(logging.WARNING, logger="livianet.config"):
        assert load_training_config(path).train.optim.learning_rate == 0.001
    assert "per-layer rates are not supported" in caplog.text


def test_training_ini_may_carry_a_segmentation_section(
    tmp_path: Path, default_text: str, segment_text: str
) -> None:
    seg = segment_text[segment_text.index("[Segmentation Images]") :]
    path = tmp_path / "both.ini"
    path.write_text(default_text + "\n" + seg.replace("/~yourpath/", ""))
    config = load_training_config(path)
    assert config.segmentation is not None
    assert config.segmentation.indexes == (6,)
    assert config.segmentation.data.image_folders == (tmp_path / "Dataset/MR",)
    assert load_segmentation_config(path).indexes == (6,)


# ----------------------------------------------------------------------------- errors

ARCH = "[CNN_Architecture]"
TRAIN = "[Training Parameters]"

BAD_TRAINING = {
    "unknown key with hint": (
        [("numkernelsperlayer =", "numkernelsperlayr =")],
        message(
            "bad.ini", ARCH, "numkernelsperlayr: unknown key; did you mean 'numkernelsperlayer'?"
        ),
    ),
    "key in the wrong section": (
        [("batch_size=10", ""), ("n_classes = 9", "n_classes = 9\nbatch_size = 10")],
        message("bad.ini", ARCH, "batch_size: unknown key; it belongs in [Training Parameters]"),
    ),
    "unknown section": (
        [("[Training Parameters]", "[Training Paramters]")],
        message(
            "bad.ini: unknown section [Training Paramters]; did you mean [Training Parameters]?"
        ),
    ),
    "DEFAULT is not special": (
        [("[General]", "[DEFAULT]\nseed = 1\n[General]")],
        message("bad.ini: unknown section [DEFAULT]"),
    ),
    "missing section": (
        [("[General]\nnetworkName = liviaTest", "[CNN_Architecture]\nnetworkName = liviaTest")],
        message("bad.ini: section [CNN_Architecture] given twice"),
    ),
    "missing required key": (
        [("n_classes = 9", "")],
        message("bad.ini", ARCH, ": missing key 'n_classes'"),
    ),
    "one-element kernel other than [1]": (
        [("[3, 3, 3], [1]]", "[3, 3, 3], [3]]")],
        message(
            "bad.ini",
            ARCH,
            "kernelshapes = '[[3, 3, 3], [3, 3, 3], [3, 3, 3], [3]]'",
            "entry 3 is [3]: a one-element kernel must be [1]",
        ),
    ),
    "conv layer after a 1x1x1 layer": (
        [("[3, 3, 3], [1]]", "[1], [3, 3, 3]]")],
        message(
            "bad.ini",
            ARCH,
            "kernelshapes = [[3, 3, 3], [3, 3, 3], [1], [3, 3, 3]]",
            "conv layers ([k, k, k]) must come before 1x1x1 layers ([1])",
        ),
    ),
    "channels and kernels differ in length": (
        [("[10,20,30,100]", "[10,20,30]")],
        message("bad.ini", ARCH, "numkernelsperlayer has 3 entries but kernelshapes has 4"),
    ),
    "wrong-length dropout_Rates": (
        [("dropout_Rates = [0.25,0.5]", "dropout_Rates = [0.25,0.25,0.5]")],
        message("bad.ini", ARCH, "dropout_Rates = [0.25, 0.25, 0.5] has 3 values, expected 2"),
    ),
    "dropout rate of 1": (
        [("dropout_Rates = [0.25,0.5]", "dropout_Rates = [0.25,1]")],
        message("bad.ini", ARCH, "dropout_Rates = '[0.25,1]': expected numbers <= 0.99"),
    ),
    "out-of-range intermediateConnectedLayers": (
        [("intermediateConnectedLayers = []", "intermediateConnectedLayers = [1, 3]")],
        message(
            "bad.ini",
            ARCH,
            "intermediateConnectedLayers [3] out of range: there are 3 conv layers (0..2)",
        ),
    ),
    "training patch smaller than the receptive field": (
        [("sampleSize_Train = [25,25,25]", "sampleSize_Train = [25,6,25]")],
        message("bad.ini", TRAIN, "sampleSize_Train = [25, 6, 25]", "receptive field [7, 7, 7]"),
    ),
    "segmentation patch smaller than the receptive field": (
        [("sampleSize_Test  = [45,45,45]", "sampleSize_Test = 5")],
        message("bad.ini", TRAIN, "sampleSize_Test = [5, 5, 5]", "receptive field [7, 7, 7]"),
    ),
    "two-element patch size": (
        [("sampleSize_Train = [25,25,25]", "sampleSize_Train = [25, 25]")],
        message("bad.ini", TRAIN, "sampleSize_Train = '[25, 25]': expected 3 positive ints"),
    ),
    "bad activation code": (
        [("activationType = 2", "activationType = 7")],
        message(
            "bad.ini", ARCH, "activationType = '7': expected one of 0 (linear), 1 (relu), 2 (prelu)"
        ),
    ),
    "bad optimizer name": (
        [("Optimizer Type = 1", "Optimizer Type = adagrad")],
        message("bad.ini", TRAIN, "Optimizer Type = 'adagrad': expected one of 0 (sgd)"),
    ),
    "costFunction 1 was never defined": (
        [("costFunction = 0", "costFunction = 1")],
        message("bad.ini", TRAIN, "costFunction = '1': expected one of 0 (ce)"),
    ),
    "non-JSON list": (
        [("[10,20,30,100]", "[10,20,30,100")],
        message(
            "bad.ini", ARCH, "numkernelsperlayer = '[10,20,30,100': expected a list of integers"
        ),
    ),
    "JSON has no .5": (
        [("dropout_Rates = [0.25,0.5]", "dropout_Rates = [.25,.5]")],
        message("bad.ini", ARCH, "dropout_Rates = '[.25,.5]': expected a list of numbers"),
    ),
    "float where an integer is expected": (
        [("batch_size=10", "batch_size=2.5")],
        message("bad.ini", TRAIN, "batch_size = '2.5': expected an integer >= 1"),
    ),
    "huge integer": (
        [("n_classes = 9", "n_classes = 99999999999999999999")],
        message(
            "bad.ini", ARCH, "n_classes = '99999999999999999999': expected integers <= 2147483647"
        ),
    ),
    "huge number": (
        [("Momentum Value = 0.6", "Momentum Value = 1" + "0" * 400)],
        message("bad.ini", TRAIN, "Momentum Value = '10000", "expected a number >= 0 and <= 0.999"),
    ),
    "duplicate key": (
        [("n_classes = 9", "n_classes = 9\nn_classes = 4")],
        message("bad.ini", ARCH, "n_classes: given twice (line"),
    ),
    "duplicate key in another spelling": (
        [("n_classes = 9", "n_classes = 9\nN_Classes = 4")],
        message("bad.ini", ARCH, "N_Classes: given twice (also as 'n_classes')"),
    ),
    "both spellings of the learning rate": (
        [("Leraning Rate = [0.001]", "Leraning Rate = [0.001]\nLearning Rate = [0.01]")],
        message("bad.ini", TRAIN, "Learning Rate: given twice (also as 'Leraning Rate')"),
    ),
    "section given twice in another spelling": (
        [("[Training Images]", "[General]\n[Training Images]"), ("[General]", "[general]")],
        message("bad.ini: section [General] given twice (also as [general])"),
    ),
    "line that is not key = value": (
        [("n_classes = 9", "n_classes = 9\nthis is not a key")],
        message("bad.ini line", "'this is not a key' is not 'key = value'"),
    ),
    "key before any section": (
        [("\n", "seed = 1\n")],
        message("bad.ini line 1: 'seed = 1' comes before any [section] header"),
    ),
    "pretrained without a weights folder": (
        [
            ("weight_Initialization_CNN = 1", "weight_Initialization_CNN = 2"),
            ("weights folderName = /~yourpath/trainedWeights", ""),
        ],
        message("bad.ini", ARCH, "weight_Initialization_CNN = 2: expected 'weights folderName'"),
    ),
    "pretrained with too many indexes": (
        [
            ("weight_Initialization_CNN = 1", "weight_Initialization_CNN = 2"),
            ("weights trained indexes = [0,1,2]", "weights trained indexes = [0,1,2,3]"),
        ],
        message(
            "bad.ini",
            ARCH,
            "weights trained indexes = [0, 1, 2, 3]: 4 entries but there are 3 conv layers",
        ),
    ),
    "training without labels": (
        [("GroundTruthFolder = /~yourpath/Dataset/Label/", "GroundTruthFolder = []")],
        message(
            "bad.ini [Training Images] GroundTruthFolder: training needs a folder of label maps"
        ),
    ),
    "no training cases": (
        [("indexesForTraining = [0,1,2,3,4]", "indexesForTraining = []")],
        message("bad.ini [Training Images] indexesForTraining = '[]': expected a non-empty list"),
    ),
    "batch larger than a sub-epoch": (
        [
            (
                "number of samples at each SubEpoch Train = 1000",
                "number of samples at each SubEpoch Train = 5",
            )
        ],
        message("bad.ini", TRAIN, "batch_size = 10: larger than"),
    ),
    "network name with a slash": (
        [("networkName = liviaTest", "networkName = a/b")],
        message("bad.ini [General] networkName = 'a/b': expected a plain name"),
    ),
}


@pytest.mark.parametrize(("edits", "pattern"), BAD_TRAINING.values(), ids=BAD_TRAINING.keys())
def test_bad_training_config_names_file_section_key_and_value(
    tmp_path, default_text, edits, pattern
) -> None:
    path = variant(tmp_path, default_text, *edits)
    with pytest.raises(ConfigError, match=pattern):
        load_training_config(path)


def test_config_error_is_a_user_error() -> None:
    assert issubclass(ConfigError, LivianetError) and issubclass(ConfigError, ValueError)


@pytest.mark.parametrize(
    ("encode", "pattern"),
    [
        (
            lambda text: text.replace("liviaTest", "liviaT\u00e9st").encode("latin-1"),
            "not UTF-8 text (byte",
        ),
        (lambda text: text.encode("utf-16"), "not UTF-8 text (byte 0)"),
        (lambda text: text.encode()[:500] + b"\x00" + text.encode()[500:], "contains NUL bytes"),
        (lambda text: b"", "missing section [General]"),
    ],
    ids=["latin-1", "utf-16", "nul", "empty"],
)
def test_unreadable_bytes_are_config_errors(
    tmp_path: Path, default_text: str, encode, pattern: str
) -> None:
    path = tmp_path / "bytes.ini"
    path.write_bytes(encode(default_text))
    with pytest.raises(ConfigError, match=message("bytes.ini", pattern)):
        load_training_config(path)


@pytest.mark.parametrize("path", ["missing.ini", "."], ids=["missing", "folder"])
def test_unreadable_file_is_a_config_error(tmp_path: Path, path: str) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_training_config(tmp_path / path)


@pytest.mark.parametrize(
    ("edits", "pattern"),
    [
        ([("indexesToSegment = [6]", "")], "[Segmentation Images]: missing key 'indexesToSegment'"),
        (
            [("indexesToSegment", "indexesToSegmnt")],
            "indexesToSegmnt: unknown key; did you mean 'indexesToSegment'?",
        ),
        (
            [("imagesFolder = /~yourpath/Dataset/MR/ ", "imagesFolder = []")],
            "imagesFolder: expected a folder of images",
        ),
        (
            [("imageTypes = 1", "imageTypes = 2")],
            "imageTypes = '2': expected one of 0 (nifti), 1 (mat)",
        ),
        (
            [("[Segmentation Images]", "[Segmentation]")],
            "unknown section [Segmentation]; did you mean [Segmentation Images]?",
        ),
    ],
    ids=["missing key", "unknown key", "no images", "bad image type", "unknown section"],
)
def test_bad_segmentation_config(tmp_path, segment_text, edits, pattern) -> None:
    path = variant(tmp_path, segment_text, *edits)
    with pytest.raises(ConfigError, match=message("bad.ini", pattern)):
        load_segmentation_config(path)


def test_each_loader_wants_its_own_section(default_ini: Path, segment_ini: Path) -> None:
    with pytest.raises(ConfigError, match=message(segment_ini.name, ": missing section [General]")):
        load_training_config(segment_ini)
    with pytest.raises(
        ConfigError, match=message(default_ini.name, ": missing section [Segmentation Images]")
    ):
        load_segmentation_config(default_ini)


# ----------------------------------------------------------------------------- plain data


@pytest.mark.parametrize("name", [DEFAULT, NEURO_PAPER], ids=lambda n: Path(n).stem)
def test_model_config_round_trips_through_plain_json(original_configs: Path, name: str) -> None:
    config = load_training_config(original_configs / name)
    plain = json.loads(json.dumps(to_plain(config)))
    assert plain["model"]["conv_kernels"][0] == [3, 3, 3]
    assert plain["data"]["label_folder"] == str(config.data.label_folder)
    assert plain["train"]["optim"]["learning_rate"] == 1e-3
    rebuilt = model_config_from_plain(plain["model"])
    assert rebuilt == config.model
    assert rebuilt.receptive_field == config.model.receptive_field


def test_to_plain_handles_nested_containers() -> None:
    assert to_plain({1: (Path("a"), [2, (3,)])}) == {"1": ["a", [2, [3]]]}


@pytest.mark.parametrize(
    ("change", "pattern"),
    [
        ({"surprise": 1}, "unknown fields ['surprise']"),
        ({"dropout_rates": [0.5]}, "dropout_Rates = [0.5] has 1 values, expected 2"),
        ({"conv_kernels": [[3, 3], [3, 3, 3]]}, "expected 3 positive ints each"),
        ({"num_classes": 1}, "n_classes = 1: expected an integer >= 2"),
        ({"conv_channels": 5}, "malformed"),
    ],
    ids=["unknown field", "dropout", "kernel", "classes", "not a list"],
)
def test_bad_stored_model_config_is_a_config_error(
    default_ini: Path, change: dict, pattern: str
) -> None:
    plain = to_plain(load_training_config(default_ini).model)
    plain.update(change)
    with pytest.raises(ConfigError, match=re.escape(pattern)):
        model_config_from_plain(plain)


def test_stored_model_config_missing_a_field_is_a_config_error(default_ini: Path) -> None:
    plain = to_plain(load_training_config(default_ini).model)
    del plain["num_classes"]
    with pytest.raises(ConfigError, match="stored model config is malformed"):
        model_config_from_plain(plain)


def test_receptive_field_per_axis() -> None:
    model = ModelConfig(
        conv_channels=(4, 4),
        conv_kernels=((3, 3, 1), (5, 5, 1)),
        fc_channels=(),
        num_classes=2,
        dropout_rates=(0.0,),
    )
    assert model.receptive_field == (7, 7, 1)
    assert model.output_size((13, 13, 4)) == (7, 7, 4)
    assert model.fc_in_channels == 4
