"""How a scan's voxel grid maps onto the grid a model works in, and back.

A model works in one orientation (``RAS`` for every model whose training scans
had a known orientation, or "as stored" when they had none) and at one voxel
size. A scan is brought there by a lossless reorientation, then, when its voxel
size differs, by resampling in world space (linear for images and
probabilities, nearest for label maps and masks). Results go back the same way:
probabilities are resampled to the scan's grid before the argmax is taken, and
the reorientation is undone, so every output lies on the scan's own grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from livianet.data.orientation import Reorientation, reorientation
from livianet.data.spatial import (
    SPACING_TOLERANCE,
    Size3,
    bounding_box,
    grid_for_spacing,
    resample_to_grid,
    spacing_differs,
    voxel_sizes,
)

Box = tuple[Size3, Size3]  # (start, stop) per axis


@dataclass(frozen=True)
class ModelGrid:
    """The space a model works in.

    Attributes:
        orientation: axis codes (``RAS``), or None when the training arrays'
            orientation was unknown (scans are then used as stored).
        spacing: voxel size in mm along the model's axes, or None (any).
    """

    orientation: str | None
    spacing: tuple[float, float, float] | None


@dataclass(frozen=True)
class GridPlan:
    """One scan's way into a model's grid and back.

    Attributes:
        input_affine, input_shape: the scan's own grid.
        reorient: the lossless reorientation to the model's orientation (None: as stored).
        model_affine, model_shape: the grid the network sees.
        resampled: whether the voxel size was changed (otherwise the model
            grid is the reoriented scan grid, voxel for voxel).
    """

    input_affine: np.ndarray
    input_shape: Size3
    reorient: Reorientation | None
    model_affine: np.ndarray
    model_shape: Size3
    resampled: bool

    @property
    def oriented_affine(self) -> np.ndarray:
        return self.reorient.affine if self.reorient is not None else self.input_affine

    @property
    def oriented_shape(self) -> Size3:
        return self.reorient.shape if self.reorient is not None else self.input_shape

    @property
    def reoriented(self) -> bool:
        return self.reorient is not None and not self.reorient.is_identity

    @property
    def model_spacing(self) -> tuple[float, float, float]:
        return voxel_sizes(self.model_affine)

    def to_model(self, array: np.ndarray, order: int, region: Box | None = None) -> np.ndarray:
        """An array on the scan's grid (channels first allowed) on the model's grid.

        ``order`` 1 for intensities (float32 out), 0 for labels and masks (dtype kept).
        ``region``: only that box of the model grid (resampled plans only), the
        rest of the grid being work that nothing reads.
        """
        oriented = self.reorient.apply(array) if self.reorient is not None else array
        if not self.resampled:
            if region is not None:
                raise ValueError("a region of the model grid needs a resampled plan")
            return oriented
        if oriented.ndim == 3:
            return self._resample_in(oriented, order, region)
        return np.stack([self._resample_in(channel, order, region) for channel in oriented])

    def _resample_in(self, volume: np.ndarray, order: int, region: Box | None) -> np.ndarray:
        source = volume.astype(np.float32, copy=False) if order else volume
        if source.dtype == bool:
            source = source.view(np.uint8)
        region = region or ((0, 0, 0), self.model_shape)
        shape = _box_shape(region)
        target = box_affine(self.model_affine, region[0])
        out = resample_to_grid(source, self.oriented_affine, target, shape, order, mode="nearest")
        return out.astype(bool) if volume.dtype == bool else out

    def mask_region(self, mask: np.ndarray, margin: Size3) -> Box | None:
        """The model-grid box that holds ``mask`` (on the scan's grid) once resampled, grown by ``margin``.

        A network that reads ``margin`` voxels around each output voxel then
        sees, inside this box, all it would see on the whole grid. None when
        the plan does not resample or the mask is empty.
        """
        if not self.resampled or not mask.any():
            return None
        # the mask's box in world space: the scan's own grid serves, no reorientation needed
        start, stop = covering_box(
            bounding_box(mask), self.input_affine, self.model_affine, self.model_shape
        )
        grown_start = tuple(max(a - m, 0) for a, m in zip(start, margin, strict=True))
        grown_stop = tuple(
            min(b + m, n) for b, m, n in zip(stop, margin, self.model_shape, strict=True)
        )
        return grown_start, grown_stop  # type: ignore[return-value]

    def labels_to_input(self, labels: np.ndarray) -> np.ndarray:
        """Labels on the model grid back on the scan's grid; only for plans that did not resample."""
        if self.resampled:
            raise ValueError("a resampled plan brings probabilities back, not labels")
        return self.reorient.undo(labels) if self.reorient is not None else labels

    def probabilities_to_input(
        self, probabilities: np.ndarray, box: Box, region: Box | None = None
    ) -> tuple[np.ndarray, Box]:
        """Class probabilities of the model-grid ``box`` on the scan's grid.

        Returns the probabilities ``(K, ...)`` over a box of the *reoriented*
        scan grid (the part that ``box`` covers, or ``region`` of it when
        given) and that box; :meth:`oriented_to_input` then undoes the
        reorientation of whatever is computed from them.
        """
        if not self.resampled:
            return probabilities, box
        target = region or covering_box(
            box, self.model_affine, self.oriented_affine, self.oriented_shape
        )
        source_affine = box_affine(self.model_affine, box[0])
        target_affine = box_affine(self.oriented_affine, target[0])
        shape = _box_shape(target)
        out = np.stack(
            [resample_to_grid(p, source_affine, target_affine, shape, order=1, mode="nearest")
             for p in probabilities]
        )  # fmt: skip
        return out, target

    def oriented_to_input(self, array: np.ndarray) -> np.ndarray:
        """A whole array on the reoriented scan grid, back in the scan's stored axis order."""
        return self.reorient.undo(array) if self.reorient is not None else array


def plan_grid(
    affine: npt.ArrayLike,
    shape: tuple[int, ...],
    model: ModelGrid,
    resample: bool = True,
    tolerance: float = SPACING_TOLERANCE,
) -> GridPlan:
    """The plan for a scan of ``affine`` and ``shape`` and a model working in ``model``."""
    matrix = np.asarray(affine, dtype=np.float64)
    spatial: Size3 = tuple(int(s) for s in shape[-3:])  # type: ignore[assignment]
    turn = reorientation(matrix, spatial, model.orientation) if model.orientation else None
    oriented_affine = turn.affine if turn is not None else matrix
    oriented_shape = turn.shape if turn is not None else spatial
    change = (
        resample
        and model.spacing is not None
        and spacing_differs(voxel_sizes(oriented_affine), model.spacing, tolerance)
    )
    if change:
        assert model.spacing is not None
        model_affine, model_shape = grid_for_spacing(oriented_affine, oriented_shape, model.spacing)
    else:
        model_affine, model_shape = oriented_affine, oriented_shape
    return GridPlan(matrix, spatial, turn, model_affine, model_shape, bool(change))


def shift_box(box: Box, origin: Size3) -> Box:
    """A box of a region starting at ``origin``, in the coordinates of the whole grid.

    >>> shift_box(((1, 2, 3), (4, 5, 6)), (10, 0, 1))
    ((11, 2, 4), (14, 5, 7))
    """
    start = tuple(a + o for a, o in zip(box[0], origin, strict=True))
    stop = tuple(b + o for b, o in zip(box[1], origin, strict=True))
    return start, stop  # type: ignore[return-value]


def box_affine(affine: np.ndarray, start: tuple[int, ...]) -> np.ndarray:
    """The affine of a sub-grid whose first voxel is voxel ``start`` of ``affine``'s grid."""
    shifted = np.array(affine, dtype=np.float64)
    shifted[:3, 3] = affine[:3, :3] @ np.asarray(start, dtype=np.float64) + affine[:3, 3]
    return shifted


def covering_box(
    box: Box, source_affine: np.ndarray, target_affine: np.ndarray, target_shape: Size3
) -> Box:
    """The voxels of the target grid that lie within ``box`` of the source grid (world space)."""
    start, stop = (np.asarray(b, dtype=np.float64) for b in box)
    corners = np.array(
        [[a, b, c, 1.0] for a in (start[0] - 0.5, stop[0] - 0.5)
         for b in (start[1] - 0.5, stop[1] - 0.5) for c in (start[2] - 0.5, stop[2] - 0.5)]
    ).T  # fmt: skip
    voxels = (np.linalg.inv(target_affine) @ source_affine @ corners)[:3]
    low = np.clip(np.floor(voxels.min(axis=1)), 0, target_shape).astype(int)
    high = np.clip(np.ceil(voxels.max(axis=1)) + 1, 0, target_shape).astype(int)
    return tuple(int(v) for v in low), tuple(int(v) for v in high)  # type: ignore[return-value]


def _box_shape(box: Box) -> Size3:
    """The voxel counts of a ``(start, stop)`` box."""
    (x0, y0, z0), (x1, y1, z1) = box
    return (x1 - x0, y1 - y0, z1 - z0)
