"""Which epoch is best: the highest finite validation Dice, and how many epochs since."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from livianet.networks import BestEpoch


def update_best(best: BestEpoch, row: dict[str, Any], epoch: int) -> tuple[BestEpoch, bool]:
    """The best epoch after ``row`` (1-based ``epoch``), and whether ``row`` is a new best.

    An epoch without a finite validation Dice changes nothing, so it never counts
    against early stopping's patience.
    """
    score = row.get("val_dice_mean")
    if score is None or not math.isfinite(score):
        return best, False
    if score > best.dice:
        return BestEpoch(dice=score, epoch=epoch, stale=0), True
    return replace(best, stale=best.stale + 1), False
