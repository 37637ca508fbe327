"""Which epoch is best: the highest finite validation Dice, and how many epochs since."""

from __future__ import annotations

import math
from typing import Any


def update_best(best: dict[str, Any], row: dict[str, Any], epoch: int) -> bool:
    """Track the best validation Dice and the epochs since; True when ``row`` is a new best."""
    score = row.get("val_dice_mean")
    if score is None or not math.isfinite(score):
        return False
    if score > best["dice"]:
        best.update(dice=score, epoch=epoch, stale=0)
        return True
    best["stale"] = best.get("stale", 0) + 1
    return False
