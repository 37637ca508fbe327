"""livianet: LiviaNET 3-D fully convolutional networks for brain-structure segmentation in MRI.

A PyTorch re-creation of Dolz, Desrosiers and Ben Ayed, "3D fully convolutional
networks for subcortical segmentation in MRI: a large-scale study" (NeuroImage
2018). The public API is loaded on first use (PEP 562), so ``import livianet``
and ``livianet --help`` stay instant: torch is imported only when a name that
needs it is asked for.
"""

from __future__ import annotations

import importlib
from typing import Any

from livianet.version import __version__

# Public name -> module that defines it.
_API = {
    "train": "livianet.training.trainer",
    "TrainOptions": "livianet.training.trainer",
    "load_training_config": "livianet.config",
    "load_segmentation_config": "livianet.config",
    "Segmenter": "livianet.inference.segmenter",
    "SegmentationResult": "livianet.inference.segmenter",
    "segment": "livianet.inference.segmenter",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'livianet' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
