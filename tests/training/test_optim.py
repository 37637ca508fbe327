"""Optimisers reproduce the original's update rules; schedules match the original's halving."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from livianet.config import OptimConfig
from livianet.training.optim import build_optimizer, learning_rate, set_learning_rate


def _original_update(grads, lr, mu, normalised, nesterov, rmsprop, rho=0.9, eps=1e-4):
    """The original LiviaNET/DeepMedic rule, written independently in numpy."""
    theta = np.zeros_like(grads[0])
    v = np.zeros_like(theta)
    a = np.zeros_like(theta)
    c = 1 - mu if normalised else 1.0
    for g in grads:
        if rmsprop:
            a = rho * a + (1 - rho) * g**2
            step = c * lr * g / np.sqrt(a + eps)
        else:
            step = c * lr * g
        v = mu * v - step
        theta = theta + (mu * v - step if nesterov else v)
    return theta


@pytest.mark.parametrize("optimizer", ["sgd", "rmsprop"])
@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize("normalised", [False, True])
def test_updates_match_the_original(optimizer, nesterov, normalised):
    rng = np.random.default_rng(0)
    grads = [rng.normal(size=5).astype(np.float64) for _ in range(6)]
    config = OptimConfig(
        optimizer=optimizer,
        learning_rate=0.01,
        momentum=0.6,
        nesterov=nesterov,
        momentum_normalized=normalised,
    )
    param = torch.nn.Parameter(torch.zeros(5, dtype=torch.float64))
    opt = build_optimizer([param], config)
    for g in grads:
        param.grad = torch.from_numpy(g)
        opt.step()
    expected = _original_update(grads, 0.01, 0.6, normalised, nesterov, optimizer == "rmsprop")
    np.testing.assert_allclose(param.detach().numpy(), expected, rtol=1e-10, atol=1e-12)


def test_set_learning_rate_keeps_the_sgd_scale():
    config = OptimConfig(optimizer="sgd", learning_rate=1.0, momentum=0.6, momentum_normalized=True)
    param = torch.nn.Parameter(torch.zeros(1))
    opt = build_optimizer([param], config)
    set_learning_rate(opt, config, 0.5)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.2)


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_adam_family_builds(name):
    param = torch.nn.Parameter(torch.ones(3))
    opt = build_optimizer(
        [param], OptimConfig(optimizer=name, learning_rate=0.1, weight_decay=0.01)
    )
    param.grad = torch.ones(3)
    opt.step()
    assert (param < 1).all()


def test_halving_as_the_original():
    """Defaults (first 1, every 2): halved after epochs 1, 3, 5, ... (0-based)."""
    config = OptimConfig(learning_rate=8.0, first_epoch_change_lr=1, frequency_change_lr=2)
    rates = [learning_rate(config, e, 0.0, 10) for e in range(8)]
    assert rates == [8, 8, 4, 4, 2, 2, 1, 1]
    late = OptimConfig(learning_rate=1.0, first_epoch_change_lr=3, frequency_change_lr=1)
    assert [learning_rate(late, e, 0.0, 10) for e in range(6)] == [1, 1, 1, 1, 0.5, 0.25]


def test_poly_and_cosine_end_at_the_floor():
    for schedule in ("poly", "cosine"):
        config = OptimConfig(learning_rate=1.0, lr_schedule=schedule, min_learning_rate=0.01)
        assert learning_rate(config, 0, 0.0, 10) == pytest.approx(1.0)
        assert learning_rate(config, 9, 0.999999, 10) == pytest.approx(0.01, abs=1e-3)
        middle = learning_rate(config, 5, 0.0, 10)
        assert 0.01 < middle < 1.0
    cosine = OptimConfig(learning_rate=1.0, lr_schedule="cosine")
    assert learning_rate(cosine, 5, 0.0, 10) == pytest.approx(0.5)


def test_warmup_rises_linearly():
    config = OptimConfig(learning_rate=1.0, lr_schedule="cosine", warmup_epochs=2)
    early, later = learning_rate(config, 0, 0.5, 10), learning_rate(config, 1, 0.5, 10)
    assert early < later < 1.0
    assert math.isclose(later / early, 1.5 / 0.5, rel_tol=1e-2)
