"""What a batch stream draws patches from: one case's candidate centres and its arrays.

:class:`PatchSource` is the whole interface: the stream draws centres from ``index``
(flat indices into the model grid), turns them into corners
(:func:`livianet.training.sampling.centres_to_corners`, in the coordinates of the
volume padded by the patch when ``padded``), and asks the source for the patches
there, cut straight or through a rotation and scaling. :class:`PreparedCase` is the
source for arrays, in memory or memory-mapped from a cache entry; another kind of
source (images drawn from label maps, say) implements the same four methods.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from livianet.data.spatial import Size3
from livianet.training.augment import warped_patch
from livianet.training.sampling import CaseIndex, extract_patches


class PatchSource(Protocol):
    """One training case as the batch stream sees it."""

    @property
    def name(self) -> str: ...

    @property
    def index(self) -> CaseIndex: ...

    @property
    def padded(self) -> bool: ...

    @property
    def channels(self) -> int: ...

    def image_patches(self, corners: np.ndarray, size: Size3) -> np.ndarray:
        """``(N, C, *size)`` float32 image patches whose low corners are ``corners`` ``(N, 3)``."""
        ...

    def label_patches(self, corners: np.ndarray, size: Size3) -> np.ndarray:
        """``(N, *size)`` integer label patches whose low corners are ``corners``."""
        ...

    def warped_image(self, centre: np.ndarray, size: Size3, matrix: np.ndarray) -> np.ndarray:
        """``(C, *size)``: the image around ``centre`` through ``matrix`` (linear)."""
        ...

    def warped_label(self, centre: np.ndarray, size: Size3, matrix: np.ndarray) -> np.ndarray:
        """``size``: the labels around ``centre`` through ``matrix`` (nearest)."""
        ...


@dataclass(frozen=True)
class PreparedCase:
    """A case's arrays: the box of its (padded) model-grid volume that starts at ``origin``.

    In memory the box is the whole padded volume (``origin`` 0); from the cache it is
    what the entry keeps, memory-mapped, and corners are moved into it.
    """

    name: str
    image: np.ndarray  # (C, X', Y', Z')
    label: np.ndarray  # (X', Y', Z')
    index: CaseIndex
    padded: bool
    origin: Size3 = (0, 0, 0)

    @property
    def channels(self) -> int:
        return int(self.image.shape[0])

    def image_patches(self, corners: np.ndarray, size: Size3) -> np.ndarray:
        patches = extract_patches(self.image, corners - np.asarray(self.origin), size)
        return patches.astype(np.float32, copy=False)

    def label_patches(self, corners: np.ndarray, size: Size3) -> np.ndarray:
        return extract_patches(self.label, corners - np.asarray(self.origin), size)

    def warped_image(self, centre: np.ndarray, size: Size3, matrix: np.ndarray) -> np.ndarray:
        return warped_patch(self.image, centre, size, matrix, order=1, origin=self.origin)

    def warped_label(self, centre: np.ndarray, size: Size3, matrix: np.ndarray) -> np.ndarray:
        return warped_patch(self.label, centre, size, matrix, order=0, origin=self.origin)
