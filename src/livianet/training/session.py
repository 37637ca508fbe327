"""What a training run trains: the network on its device, its optimiser and loss, as resumed.

The trainer assembles these into a :class:`~livianet.training.epoch.Session`;
a resumed run takes its weights, frozen layers and optimiser state from the
checkpoint it resumes from.
"""

from __future__ import annotations

from typing import cast

import torch

from livianet.config import OptimConfig, TrainingConfig
from livianet.errors import CheckpointError
from livianet.networks import (
    Checkpoint,
    LiviaNet,
    check_compatible,
    freeze_layers,
    load_model_state,
)
from livianet.runtime import DistInfo, distributed
from livianet.training.losses import SegmentationLoss
from livianet.training.optim import build_optimizer


def resumed_model(config: TrainingConfig, checkpoint: Checkpoint) -> tuple[LiviaNet, list[str]]:
    """The checkpoint's network (refused when of another architecture) and its frozen layers."""
    check_compatible(config.model, checkpoint.model_config, checkpoint.path)
    model = LiviaNet(config.model)
    contents = checkpoint.contents
    load_model_state(model, contents.model_state, checkpoint.path)
    frozen = list(contents.frozen_layers)
    if frozen:
        freeze_layers(model, frozen)
    return model, frozen


def place_model(
    model: LiviaNet, config: TrainingConfig, device: torch.device, info: DistInfo
) -> tuple[LiviaNet, torch.nn.Module]:
    """The network on ``device``, and what runs its batches (DistributedDataParallel under torchrun)."""
    # Training runs fastest in the default layout (channels-last slows its backward).
    core = model.to(device)
    if info.enabled and config.model.batch_norm:
        # Its batch-norm layers are replaced in place: the network itself comes back.
        core = cast(LiviaNet, distributed.synchronise_batch_norm(core, device))
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed patch shapes: cuDNN picks its fastest
    if not info.enabled:
        return core, core
    runner = torch.nn.parallel.DistributedDataParallel(
        core, device_ids=[device.index] if device.type == "cuda" else None
    )
    return core, runner


def training_optimizer(
    core: LiviaNet, optim: OptimConfig, resumed: Checkpoint | None
) -> torch.optim.Optimizer:
    """The optimiser of the trainable parameters, in the resumed checkpoint's state if it holds one."""
    optimizer = build_optimizer((p for p in core.parameters() if p.requires_grad), optim)
    saved = None if resumed is None else resumed.contents.optimizer_state
    if resumed is not None and saved is not None:
        try:
            optimizer.load_state_dict(saved)
        except (ValueError, KeyError) as exc:
            raise CheckpointError(
                f"{resumed.path}: optimiser state does not fit this optimiser ({exc})"
            ) from None
    return optimizer


def training_loss(config: TrainingConfig, device: torch.device) -> SegmentationLoss:
    train_cfg, optim = config.train, config.train.optim
    loss = SegmentationLoss(
        train_cfg.loss, config.model.num_classes, train_cfg.class_weights, optim.l1, optim.l2
    )
    return loss.to(device)
