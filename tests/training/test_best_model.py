"""The best epoch: the highest finite validation Dice, and the validated epochs since."""

from __future__ import annotations

import math

from livianet.networks import BestEpoch
from livianet.training.best_model import update_best


def test_a_higher_dice_is_a_new_best_and_resets_the_count():
    best, improved = update_best(BestEpoch(), {"val_dice_mean": 0.4}, 1)
    assert improved and best == BestEpoch(dice=0.4, epoch=1, stale=0)
    best, improved = update_best(BestEpoch(0.5, 2, 3), {"val_dice_mean": 0.6}, 6)
    assert improved and best == BestEpoch(0.6, 6, 0)


def test_a_dice_no_better_counts_one_more_stale_epoch():
    before = BestEpoch(0.5, 2, 0)
    best, improved = update_best(before, {"val_dice_mean": 0.5}, 3)
    assert not improved and best == BestEpoch(0.5, 2, 1)
    assert before == BestEpoch(0.5, 2, 0)  # a value: the old one is left as it was
    best, _ = update_best(best, {"val_dice_mean": 0.1}, 4)
    assert best.stale == 2 and best.epoch == 2


def test_an_epoch_without_a_finite_dice_changes_nothing():
    before = BestEpoch(0.5, 2, 1)
    for row in ({"train_loss": 0.3}, {"val_dice_mean": math.nan}, {"val_dice_mean": math.inf}):
        best, improved = update_best(before, row, 3)
        assert not improved and best == before
