"""Loading INI files: the training and segmentation configs as frozen dataclasses.

``load_training_config`` reads a training INI (the original ``LiviaNET_Config.ini``
form), ``load_segmentation_config`` a segmentation INI. Both reject unknown
keys and bad values with a :class:`ConfigError` that names the file, section,
key and value.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from livianet.config import keys as ck
from livianet.config.checks import (
    check_pretrained,
    check_synthesis,
    check_training,
    count_conv_layers,
)
from livianet.config.ini import read_ini, section_values
from livianet.config.schema import (
    AugmentConfig,
    CacheConfig,
    DataConfig,
    ModelConfig,
    OptimConfig,
    SegmentationConfig,
    SynthesisConfig,
    TrainConfig,
    TrainingConfig,
    TransferConfig,
)
from livianet.errors import ConfigError


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
        orientation=values["orientation"],
        label_mapping=_resolve_folder(file, values["label_mapping"], None),
    )


def _model_config(
    file: Path, arch: dict[str, Any], training: dict[str, Any], in_channels: int
) -> ModelConfig:
    shapes, channels = arch["kernel_shapes"], arch["channels"]
    where = f"{file} [{ck.ARCHITECTURE}]"
    num_conv = count_conv_layers(where, arch)
    check_pretrained(where, arch, num_conv)
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


def _train_config(
    file: Path, general: dict[str, Any], training: dict[str, Any], model: ModelConfig
) -> TrainConfig:
    check_training(f"{file} [{ck.TRAINING}]", training, model)
    scale_shift = training["intensity_augment"]
    optim = OptimConfig(
        optimizer=training["optimizer"],
        learning_rate=training["learning_rate"][0],
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
        flip_label_pairs=training["flip_label_pairs"],
        intensity_scale=scale_shift[0],
        intensity_shift=scale_shift[1],
        rotation_deg=training["augment_rotation"],
        scaling=training["augment_scaling"],
        gamma=training["augment_gamma"],
        bias_field=training["augment_bias_field"],
        noise=training["augment_noise"],
        blur=training["augment_blur"],
    )
    return TrainConfig(
        batch_size=training["batch_size"],
        num_epochs=training["num_epochs"],
        num_subepochs=training["num_subepochs"],
        samples_per_subepoch=training["samples_per_subepoch"],
        patch_size=training["patch_size"],
        segment_patch_size=training["segment_patch_size"],
        loss=training["loss"],
        class_weights=training["class_weights"],
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


def _training_images(
    file: Path, sections: dict, label_maps: bool, label_maps_only: bool, root: Path | None
) -> tuple[DataConfig, dict[str, Any]]:
    """``[Training Images]``, or no images at all for an INI that draws them from label maps."""
    if ck.TRAINING_IMAGES not in sections and label_maps and label_maps_only:
        return DataConfig((), None, None), {"train_indexes": (), "validation_indexes": ()}
    if ck.TRAINING_IMAGES not in sections and label_maps:
        raise ConfigError(
            f"{file}: missing section [{ck.TRAINING_IMAGES}]; this command needs real images "
            f"(an INI with [{ck.LABEL_MAPS}] alone is for `livianet train` and `livianet synth`)"
        )
    images = section_values(file, sections, ck.TRAINING_IMAGES, required=True)
    assert images is not None
    data = _data_config(file, ck.TRAINING_IMAGES, images, root)
    if data.label_folder is None:
        raise ConfigError(
            f"{file} [{ck.TRAINING_IMAGES}] GroundTruthFolder: training needs a folder of label maps"
        )
    return data, images


def _synthesis_config(
    file: Path, values: dict[str, Any] | None, num_classes: int, has_images: bool, root: Path | None
) -> SynthesisConfig | None:
    if values is None:
        return None
    where = f"{file} [{ck.LABEL_MAPS}]"
    folders = values["map_folders"]
    if not folders:
        raise ConfigError(f"{where} labelMapsFolder: expected a folder of label maps")
    share = values["share"] if values["share"] is not None else 0.5 if has_images else 1.0
    check_synthesis(where, {**values, "share": share}, num_classes, has_images)
    fields = {k: v for k, v in values.items() if k != "map_folders"}
    return SynthesisConfig(
        **{**fields, "share": share},
        map_folders=tuple(_resolve_folder(file, p, root) for p in folders),  # type: ignore[misc]
    )


def load_training_config(
    path: str | os.PathLike[str],
    data_root: str | os.PathLike[str] | None = None,
    label_maps_only: bool = False,
) -> TrainingConfig:
    """Parse a training INI (original keys and livianet's additions).

    Args:
        path: the INI file.
        data_root: when given, each data folder is looked up under it by its
            last folder name (``MR``, ``Label``, ``ROI``).
        label_maps_only: accept an INI without ``[Training Images]`` when it has
            ``[Label Maps]`` (its config then holds no image folders): what
            ``livianet train`` and ``livianet synth`` ask for; commands that need real
            images leave it False and refuse such an INI.
    """
    file = Path(path)
    root = Path(data_root) if data_root is not None else None
    sections = read_ini(file)
    general = section_values(file, sections, ck.GENERAL, required=True)
    arch = section_values(file, sections, ck.ARCHITECTURE, required=True)
    training = section_values(file, sections, ck.TRAINING, required=False)
    if training is None:
        training = section_values(file, {ck.TRAINING: {}}, ck.TRAINING, required=True)
    label_maps = section_values(file, sections, ck.LABEL_MAPS, required=False)
    assert general is not None and arch is not None and training is not None
    data, images = _training_images(file, sections, label_maps is not None, label_maps_only, root)
    model = _model_config(file, arch, training, in_channels=max(len(data.image_folders), 1))
    train = _train_config(file, general, training, model)
    synthesis = _synthesis_config(
        file, label_maps, model.num_classes, bool(data.image_folders), root
    )
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
    seg_values = section_values(file, sections, ck.SEGMENTATION_IMAGES, required=False)
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
        synthesis=synthesis,
        cache=_cache_config(file, training),
    )


def _cache_config(file: Path, training: dict[str, Any]) -> CacheConfig | None:
    """The cache keys; None when they are all at their defaults (the checkpoint then stores none)."""
    settings = CacheConfig(
        enabled=training["cache"],
        folder=_resolve_folder(file, training["cache_folder"], None),
        dtype=training["cache_dtype"],
    )
    return None if settings == CacheConfig() else settings


def load_segmentation_config(
    path: str | os.PathLike[str], data_root: str | os.PathLike[str] | None = None
) -> SegmentationConfig:
    """Parse a segmentation INI; only ``[Segmentation Images]`` is used."""
    file = Path(path)
    root = Path(data_root) if data_root is not None else None
    sections = read_ini(file)
    values = section_values(file, sections, ck.SEGMENTATION_IMAGES, required=True)
    assert values is not None
    return SegmentationConfig(
        file, _data_config(file, ck.SEGMENTATION_IMAGES, values, root), values["indexes"]
    )
