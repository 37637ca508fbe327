"""Optimisers and learning-rate schedules.

The original's update (from DeepMedic), with ``c = 1 - momentum`` when momentum
is normalised (else 1):

* SGD: ``step = c * lr * g``; RMSprop: ``a = rho*a + (1-rho)*g^2``,
  ``step = c * lr * g / sqrt(a + eps)``;
* ``v = momentum*v - step``; ``delta = v`` (classic) or ``momentum*v - step``
  (Nesterov); ``theta += delta``.

SGD with that rule is exactly ``torch.optim.SGD`` with learning rate ``c * lr``;
RMSprop differs from PyTorch's (epsilon inside the square root, Nesterov), so
it has its own small class. Adam and AdamW are PyTorch's, with betas
(0.9, 0.999).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from livianet.config import OptimConfig


class NormalisedRMSprop(torch.optim.Optimizer):
    """RMSprop with classic or Nesterov momentum, as the original LiviaNET."""

    def __init__(
        self,
        params: Iterable,
        lr: float,
        rho: float,
        eps: float,
        momentum: float,
        nesterov: bool,
        scale: float,
    ) -> None:
        defaults = {
            "lr": lr,
            "rho": rho,
            "eps": eps,
            "momentum": momentum,
            "nesterov": nesterov,
            "scale": scale,
        }
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, rho, eps, mu, scale = (
                group["lr"],
                group["rho"],
                group["eps"],
                group["momentum"],
                group["scale"],
            )
            for param in group["params"]:
                if param.grad is None:
                    continue
                grad = param.grad
                state = self.state[param]
                if not state:
                    state["square_avg"] = torch.zeros_like(param)
                    state["velocity"] = torch.zeros_like(param)
                square_avg, velocity = state["square_avg"], state["velocity"]
                square_avg.mul_(rho).addcmul_(grad, grad, value=1 - rho)
                step = grad / (square_avg + eps).sqrt() * (scale * lr)
                velocity.mul_(mu).sub_(step)
                if group["nesterov"]:
                    param.add_(velocity * mu - step)
                else:
                    param.add_(velocity)
        return loss


def momentum_scale(config: OptimConfig) -> float:
    return 1.0 - config.momentum if config.momentum_normalized else 1.0


def build_optimizer(params: Iterable, config: OptimConfig) -> torch.optim.Optimizer:
    params = list(params)
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            params,
            lr=config.learning_rate * momentum_scale(config),
            momentum=config.momentum,
            nesterov=config.nesterov and config.momentum > 0,
        )
    if config.optimizer == "rmsprop":
        return NormalisedRMSprop(
            params,
            lr=config.learning_rate,
            rho=config.rho,
            eps=config.epsilon,
            momentum=config.momentum,
            nesterov=config.nesterov,
            scale=momentum_scale(config),
        )
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.learning_rate, weight_decay=config.weight_decay)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)
    raise ValueError(f"unknown optimizer {config.optimizer!r}")


def learning_rate(config: OptimConfig, epoch: int, progress: float, num_epochs: int) -> float:
    """The base learning rate during ``epoch`` (0-based), ``progress`` in [0, 1) through it.

    ``halving`` reproduces the original: after the training of epoch
    ``first_epoch_change_lr`` and every ``frequency_change_lr`` epochs after it,
    the rate halves. Being a function of the epoch alone, it resumes exactly
    (the original lost its counter on restart).

    >>> from livianet.config import OptimConfig
    >>> [learning_rate(OptimConfig(learning_rate=1.0), e, 0.0, 8) for e in range(6)]
    [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    """
    base = config.learning_rate
    if config.lr_schedule == "constant":
        return base
    if config.lr_schedule == "halving":
        first, every = config.first_epoch_change_lr, config.frequency_change_lr
        halvings = 0 if epoch <= first else 1 + (epoch - 1 - first) // every
        return base / (2.0**halvings)
    position = epoch + progress
    warmup = config.warmup_epochs
    if warmup and position < warmup:
        return base * (position + 1e-3) / warmup
    span = max(num_epochs - warmup, 1e-9)
    fraction = min(max((position - warmup) / span, 0.0), 1.0)
    floor = config.min_learning_rate
    if config.lr_schedule == "poly":
        return floor + (base - floor) * (1.0 - fraction) ** 0.9
    if config.lr_schedule == "cosine":
        return floor + (base - floor) * 0.5 * (1.0 + math.cos(math.pi * fraction))
    raise ValueError(f"unknown schedule {config.lr_schedule!r}")


def set_learning_rate(optimizer: torch.optim.Optimizer, config: OptimConfig, rate: float) -> None:
    """Apply ``rate``, including the normalised-momentum scale SGD folds into its lr."""
    effective = rate * momentum_scale(config) if config.optimizer == "sgd" else rate
    for group in optimizer.param_groups:
        group["lr"] = effective
