"""What each label code of the maps becomes: a model class, a generation class, in or out of the ROI.

Maps are held as positions in one sorted list of every code the maps hold
(:class:`CodeTable`), so a voxel's class, intensity group and ROI membership
are each one table lookup, whatever codes the labelling protocol uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from livianet.config.schema import SynthesisConfig
from livianet.errors import DataError

BACKGROUND_CODE = 0


@dataclass(frozen=True)
class CodeTable:
    """Per code (by position in ``codes``): its model class, generation class and ROI membership.

    Attributes:
        codes: every code, sorted (int64).
        classes: model class of each code (0: background for the loss).
        generation: generation class of each code, ``0..num_generation - 1``; codes
            of one class share one intensity in every synthetic image.
        in_roi: whether voxels of each code belong to the ROI.
        background: the generation class of code 0 (dark more often than not, as
            the air around a head), or -1 when no map holds code 0.
    """

    codes: np.ndarray
    classes: np.ndarray
    generation: np.ndarray
    in_roi: np.ndarray
    background: int

    @property
    def num_generation(self) -> int:
        return int(self.generation.max()) + 1 if self.generation.size else 0

    def positions(self, labels: np.ndarray) -> np.ndarray:
        """``labels`` (codes) as positions in :attr:`codes`: the compact form maps are kept in."""
        dtype = np.uint8 if self.codes.size <= 256 else np.int16
        lookup = np.zeros(int(self.codes[-1]) + 1, dtype=dtype)
        lookup[self.codes] = np.arange(self.codes.size)
        return lookup[labels]

    def generation_codes(self) -> list[tuple[int, ...]]:
        """The codes of each generation class, in order."""
        return [
            tuple(int(c) for c in self.codes[self.generation == g])
            for g in range(self.num_generation)
        ]


def code_table(found: np.ndarray, config: SynthesisConfig) -> CodeTable:
    """The table for the codes ``found`` in the maps (and every code the config names).

    Generation classes: the configured groups first, in order, then each other code
    on its own, in code order.
    """
    declared = [c for group in (*config.class_codes, *config.generation_classes) for c in group]
    codes = np.union1d(np.asarray(found, dtype=np.int64), np.asarray(declared, dtype=np.int64))
    class_of = config.class_of_code
    classes = np.array([class_of.get(int(c), 0) for c in codes], dtype=np.int64)
    group_of = {c: g for g, group in enumerate(config.generation_classes) for c in group}
    generation = np.empty(codes.size, dtype=np.int64)
    next_class = len(config.generation_classes)
    for position, code in enumerate(codes):
        if int(code) in group_of:
            generation[position] = group_of[int(code)]
        else:
            generation[position] = next_class
            next_class += 1
    _, generation = np.unique(generation, return_inverse=True)  # groups without a code drop out
    if config.roi_codes is None:
        in_roi = codes != BACKGROUND_CODE
    else:
        in_roi = np.isin(codes, np.asarray(config.roi_codes, dtype=np.int64))
    zero = np.flatnonzero(codes == BACKGROUND_CODE)
    background = int(generation[zero[0]]) if zero.size else -1
    return CodeTable(codes, classes, generation.astype(np.int64), in_roi, background)


def check_map_codes(path: Path, present: np.ndarray, config: SynthesisConfig) -> None:
    """Every model class must have at least one of its codes in every map.

    Raises:
        DataError: a map holds none of a class's codes.
    """
    have = set(int(c) for c in present)
    for k, codes in enumerate(config.class_codes, start=1):
        if not have.intersection(codes):
            listed = codes[0] if len(codes) == 1 else list(codes)
            raise DataError(
                f"{path}: holds no voxel of code {listed}, declared for class {k} in "
                f"[Label Maps] labelClasses (codes found: {_summary(sorted(have))})"
            )


def _summary(codes: list[int], limit: int = 12) -> str:
    shown = ", ".join(str(c) for c in codes[:limit])
    return shown + (f", ... ({len(codes)} codes)" if len(codes) > limit else "")


def swap_table(pairs: tuple[tuple[int, int], ...], num_classes: int) -> np.ndarray:
    """Lookup table exchanging each left/right class pair.

    >>> swap_table(((1, 3),), 4).tolist()
    [0, 3, 2, 1]
    """
    table = np.arange(num_classes, dtype=np.int64)
    for left, right in pairs:
        table[left], table[right] = right, left
    return table
