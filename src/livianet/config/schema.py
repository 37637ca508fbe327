"""The configuration schema: frozen dataclasses that every stage receives as values.

An INI file is parsed once (:mod:`livianet.config.load`) into these; below the
config package, code receives values, never INI text. The architecture's own
rules (:func:`model_problems`) are checked when a :class:`ModelConfig` is made,
so a network described by a checkpoint is checked as one read from an INI.
"""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from livianet.errors import ConfigError

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
        return tuple(s - r + 1 for s, r in zip(input_size, self.receptive_field, strict=True))  # type: ignore[return-value]


def _positive_ints(values: Any) -> bool:
    return all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) and int(v) > 0 for v in values
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
    """Random changes to training patches: what scans from other scanners and sites look like."""

    flip_axes: tuple[int, ...] = ()
    flip_label_pairs: tuple[tuple[int, int], ...] = ()
    intensity_scale: float = 0.0
    intensity_shift: float = 0.0
    rotation_deg: float = 0.0  # largest rotation about each axis
    scaling: float = 0.0  # largest relative change of size per axis
    gamma: float = 0.0  # gamma = exp(U(-g, g)) on the patch's intensity range
    bias_field: float = 0.0  # largest log-amplitude of a smooth multiplicative field
    noise: float = 0.0  # largest Gaussian noise SD (z-score units)
    blur: float = 0.0  # largest Gaussian blur sigma in voxels, per axis (thick slices)

    @property
    def spatial(self) -> bool:
        return self.rotation_deg > 0 or self.scaling > 0

    @property
    def enabled(self) -> bool:
        return (
            bool(self.flip_axes)
            or self.spatial
            or any(
                v > 0
                for v in (
                    self.intensity_scale,
                    self.intensity_shift,
                    self.gamma,
                    self.bias_field,
                    self.noise,
                    self.blur,
                )
            )
        )


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
    orientation: str | None = None  # axis codes of .mat arrays (None: unknown, used as stored)
    label_mapping: Path | None = None  # label_mapping.json: original codes of the labels


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
    # [Label Maps]; left out of to_plain when absent, so runs without it store what they did
    synthesis: SynthesisConfig | None = field(default=None, metadata={"omit_if_none": True})
    # cache, cacheFolder, cacheDtype; None: the defaults (left out of to_plain, as above)
    cache: CacheConfig | None = field(default=None, metadata={"omit_if_none": True})

    @property
    def run_dir(self) -> Path:
        return self.output_root / self.folder_name

    @property
    def cache_settings(self) -> CacheConfig:
        return self.cache or CacheConfig()


@dataclass(frozen=True)
class CacheConfig:
    """Where training's preprocessed cases live (``livianet.cache``), and in what form."""

    enabled: bool = True  # False: every case held in memory (livianet before the cache)
    folder: Path | None = None  # None: ``cache`` in the run folder
    dtype: str = "float32"  # of the cached images: float32 or float16


@dataclass(frozen=True)
class SynthesisConfig:
    """Training images drawn from label maps (``[Label Maps]``): which maps, which codes, how random.

    Ranges follow SynthSeg's (Billot et al., MedIA 2023); intensities are in arbitrary units
    (``means``), normalised afterwards as real scans are.
    """

    map_folders: tuple[Path, ...]
    class_codes: tuple[tuple[int, ...], ...]  # entry k - 1: the codes of model class k
    train_indexes: tuple[int, ...] | None = None  # None: every map not held out for validation
    validation_indexes: tuple[int, ...] = ()
    generation_classes: tuple[tuple[int, ...], ...] = ()  # codes that share one intensity
    roi_codes: tuple[int, ...] | None = None  # None: every nonzero code
    share: float = 1.0  # of the patches in each batch
    t1_share: float = 0.0  # of the synthetic patches: T1-like priors instead of random intensities
    skull_stripped_share: float = 0.0  # of the synthetic patches: zero outside the ROI
    flip: bool = False
    label_pairs: tuple[tuple[int, int], ...] = ()  # class pairs swapped by a left-right flip
    rotation_deg: float = 15.0
    scaling: float = 0.2
    shear: float = 0.012
    elastic_mm: float = 3.0  # largest SD of the smooth displacement's control points
    means: tuple[float, float] = (25.0, 225.0)
    stds: tuple[float, float] = (5.0, 25.0)
    bias_field: float = 0.5  # largest SD of the log bias field's control points
    gamma: float = 0.5  # gamma = exp(U(-g, g))
    noise: float = 5.0  # largest noise SD, in the units of ``means``
    max_voxel_size: float = 4.0  # mm, isotropic acquisitions
    max_slice_spacing: float = 8.0  # mm, along one random axis

    @property
    def class_of_code(self) -> dict[int, int]:
        return {code: k for k, codes in enumerate(self.class_codes, start=1) for code in codes}


@dataclass(frozen=True)
class SegmentationConfig:
    """A segmentation INI (``[Segmentation Images]``)."""

    source: Path
    data: DataConfig
    indexes: tuple[int, ...]


def to_plain(value: Any) -> Any:
    """Dataclasses, paths and tuples as plain JSON-able types (for checkpoints and logs)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: to_plain(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if not (f.metadata.get("omit_if_none") and getattr(value, f.name) is None)
        }
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
