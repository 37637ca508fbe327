"""Configuration: INI files parsed once into frozen dataclasses.

``load_training_config`` reads a training INI (the original ``LiviaNET_Config.ini``
form), ``load_segmentation_config`` a segmentation INI. Both reject unknown
keys and bad values with a :class:`ConfigError` that names the file, section,
key and value. Below this module, code receives values, never INI text.
"""

from __future__ import annotations

import configparser
import dataclasses
import difflib
import logging
import numbers
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from livianet.config import keys as ck
from livianet.config.values import ValueProblem
from livianet.errors import ConfigError

logger = logging.getLogger(__name__)

Size3 = tuple[int, int, int]


@dataclass(frozen=True)
class ModelConfig:
    """Architecture; the receptive field and output sizes are derived from it."""

    conv_channels: tuple[int, ...]
    conv_kernels: tuple[Size3, ...]
    fc_channels: tuple[int, ...]
    num_classes: int
    dropout_rates: tuple[float, ...]
    in_channels: int = 1
    intermediate_layers: tuple[int, ...] = ()
    activation: str = "prelu"
    conv_init: str = "he"
    fc_init: str = "he"
    batch_norm: bool = True
    batch_norm_epochs: int = 20

    def __post_init__(self) -> None:
        problems = model_problems(self)
        if problems:
            raise ConfigError("; ".join(problems))

    @property
    def receptive_field(self) -> Size3:
        """Receptive field per axis: 1 + sum(k - 1) over conv layers."""
        return tuple(1 + sum(k[a] - 1 for k in self.conv_kernels) for a in range(3))  # type: ignore[return-value]

    @property
    def fc_in_channels(self) -> int:
        """Channels entering the first 1x1x1 layer (last conv + intermediate layers)."""
        return self.conv_channels[-1] + sum(self.conv_channels[i] for i in self.intermediate_layers)

    def output_size(self, input_size: Size3) -> Size3:
        return tuple(s - r + 1 for s, r in zip(input_size, self.receptive_field))  # type: ignore[return-value]


def _positive_ints(values: Any) -> bool:
    return all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) and v > 0 for v in values
    )


def model_problems(model: ModelConfig) -> list[str]:
    """Cross-field rules of the architecture, as readable sentences."""
    problems = []
    if len(model.conv_channels) != len(model.conv_kernels):
        problems.append("need one channel count per conv layer")
    if not model.conv_kernels:
        problems.append("at least one conv layer (a 3-element kernel shape) is required")
    if not all(len(k) == 3 and _positive_ints(k) for k in model.conv_kernels):
        kernels = [list(k) for k in model.conv_kernels]
        problems.append(f"conv kernels {kernels}: expected 3 positive ints each")
    if not _positive_ints((*model.conv_channels, *model.fc_channels, model.in_channels)):
        problems.append("channel counts must be positive integers")
    if not (isinstance(model.num_classes, numbers.Integral) and model.num_classes >= 2):
        problems.append(f"n_classes = {model.num_classes!r}: expected an integer >= 2")
    if len(model.dropout_rates) != len(model.fc_channels) + 1:
        problems.append(
            f"dropout_Rates = {list(model.dropout_rates)} has {len(model.dropout_rates)} values, "
            f"expected {len(model.fc_channels) + 1} (one per 1x1x1 layer plus the classifier)"
        )
    elif not all(0 <= r < 1 for r in model.dropout_rates):
        problems.append(f"dropout_Rates = {list(model.dropout_rates)}: expected rates in [0, 1)")
    bad = [i for i in model.intermediate_layers if not 0 <= i < len(model.conv_kernels)]
    if bad:
        problems.append(
            f"intermediateConnectedLayers {list(bad)} out of range: there are "
            f"{len(model.conv_kernels)} conv layers (0..{len(model.conv_kernels) - 1})"
        )
    return problems


@dataclass(frozen=True)
class OptimConfig:
    optimizer: str = "rmsprop"
    learning_rate: float = 1e-3
    momentum: float = 0.6
    nesterov: bool = True
    momentum_normalized: bool = True
    rho: float = 0.9
    epsilon: float = 1e-4
    weight_decay: float = 0.0
    l1: float = 0.0
    l2: float = 0.0
    lr_schedule: str = "halving"
    first_epoch_change_lr: int = 1
    frequency_change_lr: int = 2
    min_learning_rate: float = 0.0
    warmup_epochs: int = 0


@dataclass(frozen=True)
class AugmentConfig:
    flip_axes: tuple[int, ...] = ()
    flip_label_pairs: tuple[tuple[int, int], ...] = ()
    intensity_scale: float = 0.0
    intensity_shift: float = 0.0

    @property
    def enabled(self) -> bool:
        return bool(self.flip_axes) or self.intensity_scale > 0 or self.intensity_shift > 0


@dataclass(frozen=True)
class TrainConfig:
    batch_size: int = 10
    num_epochs: int = 3
    num_subepochs: int = 2
    samples_per_subepoch: int = 1000
    patch_size: Size3 = (25, 25, 25)
    segment_patch_size: Size3 = (45, 45, 45)
    loss: str = "ce"
    class_weights: tuple[float, ...] | None = None
    sampling: str = "foreground_background"
    foreground_fraction: float = 0.5
    normalization: str = "none"
    apply_padding: bool = True
    seed: int = 0
    early_stopping_patience: int | None = None
    precision: str = "auto"
    non_finite_loss: str = "stop"
    validation_frequency: int = 1
    largest_component: bool = False
    optim: OptimConfig = field(default_factory=OptimConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)


@dataclass(frozen=True)
class TransferConfig:
    weights_folder: Path | None = None
    weights_indexes: tuple[int, ...] = ()
    init_from: Path | None = None
    freeze: bool = False


@dataclass(frozen=True)
class DataConfig:
    """Folders of one data section; cases pair by position in sorted listings."""

    image_folders: tuple[Path, ...]
    label_folder: Path | None
    roi_folder: Path | None


@dataclass(frozen=True)
class TrainingConfig:
    """A whole training INI."""

    source: Path
    network_name: str
    folder_name: str
    output_root: Path
    model: ModelConfig
    train: TrainConfig
    transfer: TransferConfig
    data: DataConfig
    train_indexes: tuple[int, ...]
    validation_indexes: tuple[int, ...]
    segmentation: SegmentationConfig | None = None

    @property
    def run_dir(self) -> Path:
        return self.output_root / self.folder_name


@dataclass(frozen=True)
class SegmentationConfig:
    """A segmentation INI (``[Segmentation Images]``)."""

    source: Path
    data: DataConfig
    indexes: tuple[int, ...]


# ----------------------------------------------------------------------------- reading


def read_ini(path: str | os.PathLike[str]) -> dict[str, dict[str, tuple[str, str]]]:
    """``{section: {normalised key: (key as written, raw value)}}``; ConfigError on syntax."""
    file = Path(path)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read config ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{file}: not UTF-8 text (byte {exc.start}); save the config as UTF-8"
        ) from None
    if "\x00" in text:
        raise ConfigError(f"{file}: contains NUL bytes, not a text config")
    # Universal newlines, as open() in text mode: old Mac files end lines with CR only.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    # No [DEFAULT] magic: NUL cannot occur in the text, so [DEFAULT] is an ordinary
    # (unknown) section instead of one whose keys leak into every other section.
    parser = configparser.ConfigParser(
        interpolation=None, strict=True, delimiters=("=", ":"), default_section="\x00"
    )
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(text, source=str(file))
    except configparser.Error as exc:
        where = _syntax_message(exc, text.split("\n"))
        raise ConfigError(f"{file}{where}") from None
    sections: dict[str, dict[str, tuple[str, str]]] = {}
    written_as: dict[str, str] = {}
    for section in parser.sections():
        canonical = _canonical_section(file, section)
        if canonical in sections:
            raise ConfigError(
                f"{file}: section [{section}] given twice (also as [{written_as[canonical]}])"
            )
        written_as[canonical] = section
        entries = sections.setdefault(canonical, {})
        for name, value in parser.items(section, raw=True):
            norm = ck.ALIASES.get((canonical, ck.normalise(name)), ck.normalise(name))
            if norm in entries:
                raise ConfigError(
                    f"{file} [{section}] {name}: given twice (also as {entries[norm][0]!r})"
                )
            entries[norm] = (name, value if value is not None else "")
    return sections


def _syntax_message(exc: configparser.Error, lines: list[str]) -> str:
    """configparser's multi-line messages as one line in our ``file [section] key`` form."""
    if isinstance(exc, configparser.DuplicateOptionError):
        return f" [{exc.section}] {exc.option}: given twice (line {exc.lineno})"
    if isinstance(exc, configparser.DuplicateSectionError):
        return f": section [{exc.section}] given twice (line {exc.lineno})"
    if isinstance(exc, configparser.MissingSectionHeaderError):
        line = _line(lines, exc.lineno)
        return f" line {exc.lineno}: {line!r} comes before any [section] header"
    if isinstance(exc, configparser.ParsingError) and exc.errors:
        lineno = exc.errors[0][0]
        line = _line(lines, lineno)
        return f" line {lineno}: {line!r} is not 'key = value', a [section] header or a comment"
    return ": " + " ".join(str(exc).split())


def _line(lines: list[str], lineno: int) -> str:
    return lines[lineno - 1].strip() if 0 < lineno <= len(lines) else ""


def _canonical_section(file: Path, section: str) -> str:
    by_norm = {ck.normalise(s): s for s in ck.SECTIONS}
    found = by_norm.get(ck.normalise(section))
    if found is None:
        hint = difflib.get_close_matches(section, ck.SECTIONS, n=1, cutoff=0.5)
        suggestion = (
            f"; did you mean [{hint[0]}]?"
            if hint
            else f"; known sections: {', '.join(ck.SECTIONS)}"
        )
        raise ConfigError(f"{file}: unknown section [{section}]{suggestion}")
    return found


def _section_values(
    file: Path, sections: dict, section: str, required: bool
) -> dict[str, Any] | None:
    """Parse one section's values by the key table; unknown keys are errors."""
    table = ck.keys_by_section()[section]
    entries = sections.get(section)
    if entries is None:
        if required:
            raise ConfigError(f"{file}: missing section [{section}]")
        return None
    values: dict[str, Any] = {}
    for norm, (written, raw) in entries.items():
        key = table.get(norm)
        if key is None:
            hint = _key_hint(section, norm, written)
            raise ConfigError(f"{file} [{section}] {written}: unknown key{hint}")
        try:
            values[key.field] = key.parse(raw)
        except ValueProblem as exc:
            raise ConfigError(f"{file} [{section}] {written} = {raw.strip()!r}: {exc}") from None
    for key in table.values():
        if key.field not in values:
            if key.default is ck.REQUIRED:
                raise ConfigError(f"{file} [{section}]: missing key {key.name!r} ({key.doc})")
            values[key.field] = key.default
    return values


def _key_hint(section: str, norm: str, written: str) -> str:
    """A did-you-mean suggestion for an unknown key, or the section it belongs in."""
    tables = ck.keys_by_section()
    home = [s for s in ck.SECTIONS if norm in tables[s]]
    if home:
        return f"; it belongs in [{home[0]}]"
    table = tables[section]
    names = [k.name for k in table.values()]
    hint = difflib.get_close_matches(written, names, n=1, cutoff=0.6)
    if not hint:
        hint = [
            k.name
            for n, k in table.items()
            if difflib.SequenceMatcher(None, norm, n).ratio() > 0.75
        ][:1]
    return f"; did you mean {hint[0]!r}?" if hint else ""


def _resolve_folder(file: Path, value: str | None, data_root: Path | None) -> Path | None:
    """Relative paths resolve against the config's folder; ``data_root`` keeps the last name."""
    if value is None:
        return None
    raw = Path(os.path.expanduser(value.strip()))
    if data_root is not None:
        return Path(data_root) / raw.name
    return raw if raw.is_absolute() else (file.parent / raw)


def _data_config(file: Path, section: str, values: dict, data_root: Path | None) -> DataConfig:
    images = values["image_folders"]
    if not images:
        raise ConfigError(f"{file} [{section}] imagesFolder: expected a folder of images")
    return DataConfig(
        image_folders=tuple(_resolve_folder(file, p, data_root) for p in images),  # type: ignore[misc]
        label_folder=_resolve_folder(file, values["label_folder"], data_root),
        roi_folder=_resolve_folder(file, values["roi_folder"], data_root),
    )


def _model_config(file: Path, arch: dict, training: dict, in_channels: int) -> ModelConfig:
    shapes, channels = arch["kernel_shapes"], arch["channels"]
    where = f"{file} [{ck.ARCHITECTURE}]"
    if len(shapes) != len(channels):
        raise ConfigError(
            f"{where} numkernelsperlayer has {len(channels)} entries but kernelshapes has {len(shapes)}: expected one per layer"
        )
    num_conv = sum(1 for s in shapes if len(s) == 3)
    if any(len(s) == 3 for s in shapes[num_conv:]):
        raise ConfigError(
            f"{where} kernelshapes = {[list(s) for s in shapes]}: conv layers ([k, k, k]) must come before 1x1x1 layers ([1])"
        )
    if arch["conv_init"] == "pretrained" and arch["weights_folder"] is None:
        raise ConfigError(
            f"{where} weight_Initialization_CNN = 2: expected 'weights folderName' to name the .npy folder"
        )
    if arch["conv_init"] == "pretrained" and len(arch["weights_indexes"]) > num_conv:
        raise ConfigError(
            f"{where} weights trained indexes = {list(arch['weights_indexes'])}: "
            f"{len(arch['weights_indexes'])} entries but there are {num_conv} conv layers"
        )
    try:
        return ModelConfig(
            conv_channels=channels[:num_conv],
            conv_kernels=shapes[:num_conv],
            fc_channels=channels[num_conv:],
            num_classes=arch["num_classes"],
            dropout_rates=arch["dropout_rates"],
            in_channels=in_channels,
            intermediate_layers=arch["intermediate_layers"],
            activation=arch["activation"],
            conv_init=arch["conv_init"],
            fc_init=arch["fc_init"],
            batch_norm=training["batch_norm"],
            batch_norm_epochs=training["batch_norm_epochs"],
        )
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _train_config(file: Path, general: dict, training: dict, model: ModelConfig) -> TrainConfig:
    where = f"{file} [{ck.TRAINING}]"
    rates = training["learning_rate"]
    if not rates:
        raise ConfigError(f"{where} Leraning Rate: expected at least one value")
    if len(set(rates)) > 1:
        logger.warning(
            "%s Leraning Rate: per-layer rates are not supported (nor were they in the original); using %g",
            where,
            rates[0],
        )
    rf = model.receptive_field
    for key, size in (
        ("sampleSize_Train", training["patch_size"]),
        ("sampleSize_Test", training["segment_patch_size"]),
    ):
        if any(s < r for s, r in zip(size, rf)):
            raise ConfigError(
                f"{where} {key} = {list(size)}: expected at least the receptive field {list(rf)} on every axis"
            )
    weights = training["class_weights"]
    if weights is not None and len(weights) != model.num_classes:
        raise ConfigError(
            f"{where} classWeights: {len(weights)} values, expected n_classes = {model.num_classes}"
        )
    pairs = training["flip_label_pairs"]
    if any(max(p) >= model.num_classes for p in pairs):
        raise ConfigError(
            f"{where} augmentLabelPairs = {[list(p) for p in pairs]}: labels must be < n_classes = {model.num_classes}"
        )
    if pairs and not training["flip_axes"]:
        raise ConfigError(
            f"{where} augmentLabelPairs: needs augmentFlipAxes (its first axis is left-right)"
        )
    scale_shift = training["intensity_augment"]
    if len(scale_shift) != 2:
        raise ConfigError(
            f"{where} augmentIntensity = {list(scale_shift)}: expected [scale, shift]"
        )
    if training["batch_size"] > training["samples_per_subepoch"]:
        raise ConfigError(
            f"{where} batch_size = {training['batch_size']}: larger than 'number of samples at each SubEpoch Train' "
            f"= {training['samples_per_subepoch']}, so no step would run"
        )
    if training["precision"] == "fp16":
        logger.info("precision fp16 applies on CUDA; CPU runs use bf16 or float32")
    optim = OptimConfig(
        optimizer=training["optimizer"],
        learning_rate=rates[0],
        momentum=training["momentum"],
        nesterov=training["momentum_type"] == "nesterov",
        momentum_normalized=training["momentum_normalized"],
        rho=training["rho"],
        epsilon=training["epsilon"],
        weight_decay=training["weight_decay"],
        l1=training["l1"],
        l2=training["l2"],
        lr_schedule=training["lr_schedule"],
        first_epoch_change_lr=training["first_epoch_change_lr"],
        frequency_change_lr=training["frequency_change_lr"],
        min_learning_rate=training["min_learning_rate"],
        warmup_epochs=training["warmup_epochs"],
    )
    augment = AugmentConfig(
        flip_axes=training["flip_axes"],
        flip_label_pairs=pairs,
        intensity_scale=scale_shift[0],
        intensity_shift=scale_shift[1],
    )
    return TrainConfig(
        batch_size=training["batch_size"],
        num_epochs=training["num_epochs"],
        num_subepochs=training["num_subepochs"],
        samples_per_subepoch=training["samples_per_subepoch"],
        patch_size=training["patch_size"],
        segment_patch_size=training["segment_patch_size"],
        loss=training["loss"],
        class_weights=weights,
        sampling=training["sampling"],
        foreground_fraction=training["foreground_fraction"],
        normalization=training["normalization"],
        apply_padding=training["apply_padding"],
        seed=general["seed"],
        early_stopping_patience=training["early_stopping_patience"],
        precision=training["precision"],
        non_finite_loss=training["non_finite_loss"],
        validation_frequency=training["validation_frequency"],
        largest_component=training["largest_component"],
        optim=optim,
        augment=augment,
    )


def load_training_config(
    path: str | os.PathLike[str], data_root: str | os.PathLike[str] | None = None
) -> TrainingConfig:
    """Parse a training INI (original keys and livianet's additions).

    Args:
        path: the INI file.
        data_root: when given, each data folder is looked up under it by its
            last folder name (``MR``, ``Label``, ``ROI``).
    """
    file = Path(path)
    root = Path(data_root) if data_root is not None else None
    sections = read_ini(file)
    general = _section_values(file, sections, ck.GENERAL, required=True)
    arch = _section_values(file, sections, ck.ARCHITECTURE, required=True)
    training = _section_values(file, sections, ck.TRAINING, required=False)
    if training is None:
        training = _section_values(file, {ck.TRAINING: {}}, ck.TRAINING, required=True)
    images = _section_values(file, sections, ck.TRAINING_IMAGES, required=True)
    assert general is not None and arch is not None and images is not None and training is not None
    data = _data_config(file, ck.TRAINING_IMAGES, images, root)
    if data.label_folder is None:
        raise ConfigError(
            f"{file} [{ck.TRAINING_IMAGES}] GroundTruthFolder: training needs a folder of label maps"
        )
    model = _model_config(file, arch, training, in_channels=len(data.image_folders))
    train = _train_config(file, general, training, model)
    weights_folder = (
        _resolve_folder(file, arch["weights_folder"], None)
        if model.conv_init == "pretrained"
        else None
    )
    init_from = _resolve_folder(file, arch["init_from"], None)
    transfer = TransferConfig(
        weights_folder=weights_folder,
        weights_indexes=arch["weights_indexes"],
        init_from=init_from,
        freeze=arch["freeze_transferred"],
    )
    seg_values = _section_values(file, sections, ck.SEGMENTATION_IMAGES, required=False)
    segmentation = None
    if seg_values is not None:
        segmentation = SegmentationConfig(
            file,
            _data_config(file, ck.SEGMENTATION_IMAGES, seg_values, root),
            seg_values["indexes"],
        )
    return TrainingConfig(
        source=file,
        network_name=general["network_name"],
        folder_name=general["folder_name"],
        output_root=Path(os.path.expanduser(general["output_root"] or "outputFiles")),
        model=model,
        train=train,
        transfer=transfer,
        data=data,
        train_indexes=images["train_indexes"],
        validation_indexes=images["validation_indexes"],
        segmentation=segmentation,
    )


def load_segmentation_config(
    path: str | os.PathLike[str], data_root: str | os.PathLike[str] | None = None
) -> SegmentationConfig:
    """Parse a segmentation INI; only ``[Segmentation Images]`` is used."""
    file = Path(path)
    root = Path(data_root) if data_root is not None else None
    sections = read_ini(file)
    values = _section_values(file, sections, ck.SEGMENTATION_IMAGES, required=True)
    assert values is not None
    return SegmentationConfig(
        file, _data_config(file, ck.SEGMENTATION_IMAGES, values, root), values["indexes"]
    )


# ----------------------------------------------------------------------------- plain data


def to_plain(value: Any) -> Any:
    """Dataclasses, paths and tuples as plain JSON-able types (for checkpoints and logs)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    return value


def model_config_from_plain(plain: dict[str, Any]) -> ModelConfig:
    """Rebuild a ModelConfig stored with :func:`to_plain` (e.g. in a checkpoint)."""
    known = {f.name for f in dataclasses.fields(ModelConfig)}
    unknown = set(plain) - known
    if unknown:
        raise ConfigError(f"stored model config has unknown fields {sorted(unknown)}")
    values = dict(plain)
    try:
        for name in ("conv_channels", "fc_channels", "dropout_rates", "intermediate_layers"):
            if name in values:
                values[name] = tuple(values[name])
        if "conv_kernels" in values:
            values["conv_kernels"] = tuple(tuple(k) for k in values["conv_kernels"])
        return ModelConfig(**values)
    except ConfigError as exc:
        raise ConfigError(f"stored model config: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"stored model config is malformed: {exc}") from None
