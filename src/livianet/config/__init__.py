"""Configuration: INI files parsed once into frozen dataclasses.

``schema`` holds the dataclasses, ``load`` reads INI files into them (through
``ini`` for syntax and the ``keys`` table, ``checks`` for rules across keys),
``presets`` renders ready-made configs. ``docs`` generates docs/config.md and is
a development tool that nothing at run time imports.
"""

from livianet.config.load import load_segmentation_config, load_training_config
from livianet.config.schema import (
    AugmentConfig,
    DataConfig,
    ModelConfig,
    OptimConfig,
    SegmentationConfig,
    TrainConfig,
    TrainingConfig,
    TransferConfig,
    model_config_from_plain,
    model_problems,
    to_plain,
)

__all__ = [
    "AugmentConfig",
    "DataConfig",
    "ModelConfig",
    "OptimConfig",
    "SegmentationConfig",
    "TrainConfig",
    "TrainingConfig",
    "TransferConfig",
    "load_segmentation_config",
    "load_training_config",
    "model_config_from_plain",
    "model_problems",
    "to_plain",
]
