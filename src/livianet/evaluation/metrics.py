"""Overlap and surface metrics for label maps: Dice, Jaccard, HD95, ASSD, volumes.

Pure numpy/scipy functions on arrays of axes ``(X, Y, Z)``; no torch.

Conventions (the documentation quotes this section):

- **Masks.** A structure's mask is ``label_map == label``. Dice is
  ``2|P & G| / (|P| + |G|)``; Jaccard is ``|P & G| / |P | G|``.
- **Boundary.** A mask's boundary is its voxels minus its 6-connected erosion
  (``scipy.ndimage.binary_erosion`` with ``generate_binary_structure(3, 1)`` and
  ``border_value=0``, so voxels on the array edge are boundary voxels).
- **Surface distances** run from each boundary voxel of one structure to the
  nearest boundary voxel of the other, in mm: the Euclidean distance transform
  (``scipy.ndimage.distance_transform_edt`` with ``sampling=spacing``) of the
  complement of the other boundary, read at this boundary. Anisotropic voxels are
  handled through ``spacing``; there is no default, so results are never silently
  in voxels.
- **HD95** is the larger of the two directed 95th percentiles (``np.percentile``,
  linear interpolation), as in MONAI; it is not the percentile of the pooled
  distances. **ASSD** is the mean of both directions' distances pooled (one mean
  over the concatenation, so each boundary voxel weighs the same).
- **Volumes** in mm3 are voxel counts times ``prod(spacing)``;
  ``volume_diff_pct = 100 * (pred - gt) / gt``.
- **Empty masks never raise.** Both empty: Dice, Jaccard, HD95 and ASSD are NaN.
  Exactly one empty: Dice and Jaccard are 0.0, HD95 and ASSD are ``inf``.
  ``volume_diff_pct`` is NaN when the ground-truth volume is 0.
- **Speed.** Erosion and distance transforms run only inside the union bounding
  box of the two masks plus a one-voxel margin; this gives the same distances as
  the whole array (distances are straight lines, and every boundary voxel is in
  the box), while a small structure in a 256^3 volume costs milliseconds.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt
from scipy import ndimage

__all__ = [
    "assd",
    "boundary",
    "dice",
    "dice_per_class",
    "hd95",
    "jaccard",
    "label_metrics",
    "mask_metrics",
    "metrics_per_label",
    "surface_distances",
]

MetricRow = dict[str, float]
Box = tuple[slice, ...]

# find_objects allocates one entry per label value up to the maximum.
_MAX_FIND_OBJECTS_LABEL = 1 << 20


def dice(pred_mask: npt.ArrayLike, ref_mask: npt.ArrayLike) -> float:
    """Dice overlap of two boolean masks; NaN when both are empty.

    >>> dice(np.array([1, 1, 0, 0], bool), np.array([1, 1, 1, 0], bool))
    0.8
    """
    pred, ref = _bool_pair(pred_mask, ref_mask)
    return _dice_from_counts(int(np.count_nonzero(pred & ref)), int(pred.sum()), int(ref.sum()))


def jaccard(pred_mask: npt.ArrayLike, ref_mask: npt.ArrayLike) -> float:
    """Jaccard index (intersection over union); NaN when both masks are empty.

    >>> jaccard(np.array([1, 1, 0, 0], bool), np.array([1, 1, 1, 0], bool))
    0.6666666666666666
    """
    pred, ref = _bool_pair(pred_mask, ref_mask)
    return _jaccard_from_counts(int(np.count_nonzero(pred & ref)), int(pred.sum()), int(ref.sum()))


def boundary(mask: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """Voxels of ``mask`` that have a 6-neighbour outside it or lie on the array edge.

    >>> int(boundary(np.ones((3, 3, 3), bool)).sum())  # all but the centre
    26
    """
    array = np.asarray(mask, dtype=bool)
    if not array.any():
        return np.zeros_like(array)
    structure = ndimage.generate_binary_structure(array.ndim, 1)
    eroded = ndimage.binary_erosion(array, structure=structure, border_value=0)
    return array & ~eroded


def surface_distances(
    pred_mask: npt.ArrayLike, ref_mask: npt.ArrayLike, spacing: Sequence[float]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Distances in mm from each boundary voxel to the other mask's boundary.

    Returns:
        ``(pred_to_ref, ref_to_pred)``: one distance per boundary voxel of the
        prediction, then one per boundary voxel of the reference. When the
        target of a direction is empty its distances are all ``inf``; when both
        masks are empty both arrays are empty.

    >>> a = np.zeros((1, 1, 5), bool); a[0, 0, 0] = True
    >>> b = np.zeros((1, 1, 5), bool); b[0, 0, 3] = True
    >>> surface_distances(a, b, (1.0, 1.0, 2.0))
    (array([6.]), array([6.]))
    """
    pred, ref = _bool_pair(pred_mask, ref_mask)
    steps = _check_spacing(spacing, pred.ndim)
    return _surface_distances(pred, ref, steps)


def hd95(pred_mask: npt.ArrayLike, ref_mask: npt.ArrayLike, spacing: Sequence[float]) -> float:
    """95th-percentile symmetric Hausdorff distance in mm (max of both directions).

    NaN when both masks are empty, ``inf`` when exactly one is.

    >>> a = np.zeros((1, 1, 5), bool); a[0, 0, 0] = True
    >>> b = np.zeros((1, 1, 5), bool); b[0, 0, 3] = True
    >>> hd95(a, b, (1.0, 1.0, 2.0))
    6.0
    """
    return _hd95_from_distances(*surface_distances(pred_mask, ref_mask, spacing))


def assd(pred_mask: npt.ArrayLike, ref_mask: npt.ArrayLike, spacing: Sequence[float]) -> float:
    """Average symmetric surface distance in mm (one mean over both directions).

    NaN when both masks are empty, ``inf`` when exactly one is.

    >>> a = np.zeros((1, 1, 5), bool); a[0, 0, 0] = True
    >>> b = np.zeros((1, 1, 5), bool); b[0, 0, 1:3] = True
    >>> assd(a, b, (1.0, 1.0, 1.0))  # distances [1] and [1, 2]
    1.3333333333333333
    """
    return _assd_from_distances(*surface_distances(pred_mask, ref_mask, spacing))


def mask_metrics(
    pred_mask: npt.ArrayLike, ref_mask: npt.ArrayLike, spacing: Sequence[float]
) -> MetricRow:
    """All metrics of one structure given as two boolean masks.

    Returns:
        ``dice``, ``jaccard``, ``hd95_mm``, ``assd_mm``, ``volume_pred_mm3``,
        ``volume_gt_mm3`` and ``volume_diff_pct``, with the empty-mask values
        of the module docstring.

    >>> row = mask_metrics(np.ones((2, 2, 2), bool), np.ones((2, 2, 2), bool), (1, 1, 2))
    >>> row["dice"], row["hd95_mm"], row["volume_gt_mm3"]
    (1.0, 0.0, 16.0)
    """
    pred, ref = _bool_pair(pred_mask, ref_mask)
    steps = _check_spacing(spacing, pred.ndim)
    box = _union_box(pred, ref)
    if box is not None:
        pred, ref = pred[box], ref[box]
    return _crop_metrics(pred, ref, steps)


def label_metrics(
    pred: npt.ArrayLike, ref: npt.ArrayLike, label: int, spacing: Sequence[float]
) -> MetricRow:
    """Metrics of one label of two label maps; see :func:`mask_metrics`.

    >>> pred = np.array([[[0, 1, 1, 2]]]); ref = np.array([[[0, 1, 2, 2]]])
    >>> label_metrics(pred, ref, 1, (1, 1, 1))["dice"]
    0.6666666666666666
    """
    return metrics_per_label(pred, ref, spacing, labels=[label])[int(label)]


def metrics_per_label(
    pred: npt.ArrayLike,
    ref: npt.ArrayLike,
    spacing: Sequence[float],
    labels: Iterable[int] | None = None,
) -> dict[int, MetricRow]:
    """Metrics of several labels, each computed inside its own bounding box.

    Bounding boxes of all labels come from one pass over each map
    (``scipy.ndimage.find_objects``), so the cost per label is that of its box,
    not of the whole volume.

    Args:
        pred: predicted label map.
        ref: reference (ground-truth) label map of the same shape.
        spacing: voxel size in mm along each axis.
        labels: labels to measure; default: every nonzero label present in
            either map, sorted.

    Returns:
        ``{label: metrics}`` in the order of ``labels``; see :func:`mask_metrics`.

    >>> pred = np.array([[[0, 1, 1, 2]]]); ref = np.array([[[0, 1, 2, 2]]])
    >>> sorted(metrics_per_label(pred, ref, (1, 1, 1)))
    [1, 2]
    """
    pred_map, ref_map = _as_label_map(pred, "pred"), _as_label_map(ref, "ref")
    if pred_map.shape != ref_map.shape:
        raise ValueError(f"label maps differ in shape: {pred_map.shape} vs {ref_map.shape}")
    steps = _check_spacing(spacing, pred_map.ndim)
    pred_boxes, ref_boxes = _label_boxes(pred_map), _label_boxes(ref_map)
    if labels is None:
        wanted = sorted(label for label in set(pred_boxes) | set(ref_boxes) if label != 0)
    else:
        wanted = [int(label) for label in labels]
    results: dict[int, MetricRow] = {}
    for label in wanted:
        if label == 0:  # background is rarely asked for: find its box only then
            pred_box, ref_box = _mask_box(pred_map == 0), _mask_box(ref_map == 0)
        else:
            pred_box, ref_box = pred_boxes.get(label), ref_boxes.get(label)
        box = _merge_boxes(pred_box, ref_box, pred_map.shape)
        if box is None:  # absent from both: an empty corner stands in for the masks
            box = tuple(slice(0, 0) for _ in pred_map.shape)
        results[label] = _crop_metrics(pred_map[box] == label, ref_map[box] == label, steps)
    return results


def dice_per_class(pred: npt.ArrayLike, ref: npt.ArrayLike, num_classes: int) -> np.ndarray:
    """Dice of every class ``0..num_classes-1`` from one confusion-matrix count.

    Index ``c`` holds the Dice of class ``c`` (background included); NaN where
    the class is absent from both maps. Built from a single ``np.bincount`` of
    ``pred * num_classes + ref``, so it is cheap enough for every validation.

    Raises:
        ValueError: shapes differ, or a value is outside ``0..num_classes-1``.

    >>> dice_per_class(np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2]), 4).round(3)
    array([1.   , 0.667, 0.667,   nan])
    """
    n = int(num_classes)
    if n < 1:
        raise ValueError(f"num_classes must be at least 1, got {num_classes}")
    pred_map, ref_map = _class_indices(pred, n, "pred"), _class_indices(ref, n, "ref")
    if pred_map.shape != ref_map.shape:
        raise ValueError(f"label maps differ in shape: {pred_map.shape} vs {ref_map.shape}")
    # Background pairs dominate brain volumes: count the rest, then derive cell (0, 0).
    dtype = np.min_scalar_type(n * n - 1)
    combined = pred_map.astype(dtype) * dtype.type(n) + ref_map.astype(dtype)
    foreground = combined[combined != 0]
    counts = np.bincount(foreground, minlength=n * n)
    counts[0] = combined.size - foreground.size
    counts = counts.reshape(n, n)
    both = counts.sum(axis=1) + counts.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        scores = 2.0 * np.diag(counts) / both
    scores[both == 0] = np.nan
    return scores


# --- internals -------------------------------------------------------------------


def case_dice(labels: np.ndarray, reference: np.ndarray, num_classes: int) -> np.ndarray:
    """Dice of classes ``1..K-1`` (NaN where absent from both): the validation score of a case."""
    return dice_per_class(labels, reference.astype(labels.dtype, copy=False), num_classes)[1:]


def _bool_pair(
    pred_mask: npt.ArrayLike, ref_mask: npt.ArrayLike
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    pred, ref = np.asarray(pred_mask, dtype=bool), np.asarray(ref_mask, dtype=bool)
    if pred.shape != ref.shape:
        raise ValueError(f"masks differ in shape: {pred.shape} vs {ref.shape}")
    return pred, ref


def _check_spacing(spacing: Sequence[float], ndim: int) -> tuple[float, ...]:
    steps = tuple(float(s) for s in spacing)
    if len(steps) != ndim or not all(math.isfinite(s) and s > 0 for s in steps):
        raise ValueError(
            f"spacing {tuple(spacing)} must be {ndim} positive finite voxel sizes in mm"
        )
    return steps


def _dice_from_counts(intersection: int, n_pred: int, n_ref: int) -> float:
    total = n_pred + n_ref
    return math.nan if total == 0 else 2.0 * intersection / total


def _jaccard_from_counts(intersection: int, n_pred: int, n_ref: int) -> float:
    union = n_pred + n_ref - intersection
    return math.nan if union == 0 else intersection / union


def _hd95_from_distances(pred_to_ref: np.ndarray, ref_to_pred: np.ndarray) -> float:
    if pred_to_ref.size == 0 and ref_to_pred.size == 0:
        return math.nan
    if pred_to_ref.size == 0 or ref_to_pred.size == 0:
        return math.inf  # exactly one mask is empty
    return float(max(np.percentile(pred_to_ref, 95), np.percentile(ref_to_pred, 95)))


def _assd_from_distances(pred_to_ref: np.ndarray, ref_to_pred: np.ndarray) -> float:
    if pred_to_ref.size == 0 and ref_to_pred.size == 0:
        return math.nan
    if pred_to_ref.size == 0 or ref_to_pred.size == 0:
        return math.inf
    return float(np.concatenate([pred_to_ref, ref_to_pred]).mean())


def _surface_distances(
    pred: np.ndarray, ref: np.ndarray, spacing: tuple[float, ...]
) -> tuple[np.ndarray, np.ndarray]:
    box = _union_box(pred, ref)
    if box is not None:
        pred, ref = pred[box], ref[box]
    pred_edge, ref_edge = boundary(pred), boundary(ref)
    n_pred, n_ref = int(pred_edge.sum()), int(ref_edge.sum())
    if n_pred == 0 or n_ref == 0:
        return np.full(n_pred, np.inf), np.full(n_ref, np.inf)
    to_ref = ndimage.distance_transform_edt(~ref_edge, sampling=spacing)
    to_pred = ndimage.distance_transform_edt(~pred_edge, sampling=spacing)
    return to_ref[pred_edge], to_pred[ref_edge]


def _crop_metrics(pred: np.ndarray, ref: np.ndarray, spacing: tuple[float, ...]) -> MetricRow:
    """Metrics of two masks already cropped to (at least) their union box."""
    n_pred, n_ref = int(np.count_nonzero(pred)), int(np.count_nonzero(ref))
    intersection = int(np.count_nonzero(pred & ref))
    pred_to_ref, ref_to_pred = _surface_distances(pred, ref, spacing)
    voxel_mm3 = float(np.prod(spacing))
    volume_pred, volume_gt = n_pred * voxel_mm3, n_ref * voxel_mm3
    return {
        "dice": _dice_from_counts(intersection, n_pred, n_ref),
        "jaccard": _jaccard_from_counts(intersection, n_pred, n_ref),
        "hd95_mm": _hd95_from_distances(pred_to_ref, ref_to_pred),
        "assd_mm": _assd_from_distances(pred_to_ref, ref_to_pred),
        "volume_pred_mm3": volume_pred,
        "volume_gt_mm3": volume_gt,
        "volume_diff_pct": (
            math.nan if n_ref == 0 else 100.0 * (volume_pred - volume_gt) / volume_gt
        ),
    }


def _union_box(pred: np.ndarray, ref: np.ndarray, margin: int = 1) -> Box | None:
    """Bounding box of ``pred | ref`` grown by ``margin`` and clipped; None if empty."""
    union = (pred | ref).view(np.uint8)
    if union.size == 0:
        return None
    found = ndimage.find_objects(union)
    if not found or found[0] is None:
        return None
    return _grow(found[0], union.shape, margin)


def _grow(box: Box, shape: tuple[int, ...], margin: int) -> Box:
    return tuple(
        slice(max(s.start - margin, 0), min(s.stop + margin, size))
        for s, size in zip(box, shape, strict=True)
    )


def _merge_boxes(a: Box | None, b: Box | None, shape: tuple[int, ...]) -> Box | None:
    if a is None or b is None:
        box = a if b is None else b
    else:
        box = tuple(
            slice(min(x.start, y.start), max(x.stop, y.stop)) for x, y in zip(a, b, strict=True)
        )
    return None if box is None else _grow(box, shape, 1)


def _label_boxes(label_map: np.ndarray) -> dict[int, Box]:
    """``{label: bounding box}`` for the labels present (0 only on the slow path).

    One ``find_objects`` pass for the usual non-negative maps; other maps fall
    back to one pass per distinct value.
    """
    if label_map.size == 0:
        return {}
    low, high = int(label_map.min()), int(label_map.max())
    if low < 0 or high > _MAX_FIND_OBJECTS_LABEL:
        boxes = {int(v): _mask_box(label_map == v) for v in np.unique(label_map)}
        return {label: box for label, box in boxes.items() if box is not None}
    found = ndimage.find_objects(label_map)
    return {index + 1: box for index, box in enumerate(found) if box is not None}


def _as_label_map(labels: npt.ArrayLike, what: str) -> np.ndarray:
    """Integer view of a label map; float maps must hold whole numbers."""
    array = np.asarray(labels)
    if array.dtype == bool:
        return array.view(np.uint8)
    if array.dtype.kind in "iu":
        return array
    if array.dtype.kind == "f":
        if np.all(np.isfinite(array)) and np.array_equal(array, np.rint(array)):
            return array.astype(np.int64)
        raise ValueError(f"{what} holds non-integer values; expected a label map")
    raise ValueError(f"{what} has dtype {array.dtype}; expected an integer label map")


def _mask_box(mask: np.ndarray) -> Box | None:
    if mask.size == 0:
        return None
    found = ndimage.find_objects(mask.view(np.uint8))
    return found[0] if found and found[0] is not None else None


def _class_indices(labels: npt.ArrayLike, num_classes: int, what: str) -> np.ndarray:
    array = _as_label_map(labels, what)
    if array.size:
        low, high = int(array.min()), int(array.max())
        if low < 0 or high >= num_classes:
            raise ValueError(f"{what} values span {low}..{high}; expected 0..{num_classes - 1}")
    return array
