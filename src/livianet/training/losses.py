"""Training losses: cross-entropy (optionally class-weighted), soft Dice, and L1/L2 penalties."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def soft_dice_loss(
    logits: torch.Tensor, target: torch.Tensor, num_classes: int, eps: float = 1.0
) -> torch.Tensor:
    """1 - mean soft Dice over the foreground classes, pooled over the batch."""
    probs = torch.softmax(logits.float(), dim=1)
    one_hot = F.one_hot(target, num_classes).permute(0, 4, 1, 2, 3).to(probs.dtype)
    dims = (0, 2, 3, 4)
    intersection = (probs * one_hot).sum(dims)
    denominator = probs.sum(dims) + one_hot.sum(dims)
    dice = (2 * intersection + eps) / (denominator + eps)
    return 1.0 - dice[1:].mean()


def weight_penalty(model: nn.Module, l1: float, l2: float) -> torch.Tensor | None:
    """``l1 * sum|W| + l2 * sum W^2`` over conv weights (the original's penalties, no 1/2)."""
    if l1 == 0 and l2 == 0:
        return None
    total: torch.Tensor | None = None
    for name, param in model.named_parameters():
        if not name.endswith("conv.weight") or not param.requires_grad:
            continue
        term = _penalty(param, l1, l2)
        total = term if total is None else total + term
    return total


def _penalty(param: torch.Tensor, l1: float, l2: float) -> torch.Tensor:
    """One weight's penalty; at least one of ``l1`` and ``l2`` is not zero."""
    if not l1:
        return l2 * param.pow(2).sum()
    term = l1 * param.abs().sum()
    return term + l2 * param.pow(2).sum() if l2 else term


class SegmentationLoss(nn.Module):
    """Cross-entropy (+ soft Dice for ``dice_ce``) plus the L1/L2 penalties."""

    class_weights: torch.Tensor | None  # a buffer: moves with the module

    def __init__(
        self,
        kind: str,
        num_classes: int,
        class_weights: tuple[float, ...] | None,
        l1: float,
        l2: float,
    ) -> None:
        super().__init__()
        self.kind = kind
        self.num_classes = num_classes
        self.l1, self.l2 = l1, l2
        weight = torch.tensor(class_weights, dtype=torch.float32) if class_weights else None
        self.register_buffer("class_weights", weight, persistent=False)

    def forward(self, logits: torch.Tensor, target: torch.Tensor, model: nn.Module) -> torch.Tensor:
        loss = F.cross_entropy(logits.float(), target, weight=self.class_weights)
        if self.kind == "dice_ce":
            loss = loss + soft_dice_loss(logits, target, self.num_classes)
        penalty = weight_penalty(model, self.l1, self.l2)
        return loss if penalty is None else loss + penalty
