"""Reusing trained layers of another livianet network: copy by name and shape, freeze by name.

The original's per-layer ``.npy`` files are read in :mod:`livianet.networks.original_weights`.
"""

from __future__ import annotations

import logging

import torch

from livianet.errors import DataError
from livianet.networks.livianet import LiviaNet

logger = logging.getLogger(__name__)


def transfer_layers(model: LiviaNet, source_state: dict[str, torch.Tensor]) -> list[str]:
    """Copy every layer of ``source_state`` whose tensors all match by name and shape.

    Returns:
        Names of the layers copied (e.g. ``['conv1', 'conv2']``); others keep
        their initialisation and are logged.
    """
    own = model.state_dict()
    copied, skipped = [], []
    for layer in model.layer_names():
        keys = [k for k in own if k.startswith(layer + ".")]
        fits = all(
            k in source_state and tuple(source_state[k].shape) == tuple(own[k].shape) for k in keys
        )
        if fits:
            with torch.no_grad():
                for k in keys:
                    own[k].copy_(source_state[k])
            copied.append(layer)
        else:
            skipped.append(layer)
    if not copied:
        raise DataError("no layer of the source checkpoint matches this network by name and shape")
    if skipped:
        logger.info(
            "layers kept at their initialisation (no match in the source): %s", ", ".join(skipped)
        )
    return copied


def freeze_layers(model: LiviaNet, layers: list[str]) -> None:
    """Stop training ``layers``; their batch norm is kept in eval mode by the trainer.

    Raises:
        ValueError: a name that is not a layer of ``model`` (all such names listed).
    """
    unknown = [layer for layer in layers if layer not in model.layer_names()]
    if unknown:
        raise ValueError(
            f"cannot freeze {unknown}: not layers of this network "
            f"({', '.join(model.layer_names())})"
        )
    for layer in layers:
        for param in getattr(model, layer).parameters():
            param.requires_grad_(False)
