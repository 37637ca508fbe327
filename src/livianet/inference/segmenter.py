"""The Python API of segmentation: ``Segmenter`` and the one-off ``segment``.

A scan in any orientation and voxel size is brought to each model's grid
(lossless reorientation, then world-space resampling when its voxel size
differs), segmented there, and its class probabilities are brought back to the
scan's own grid, where the argmax is taken. Several checkpoints (an ensemble)
and left-right test-time augmentation average their probabilities. The CLI
(``livianet segment``) runs on this same class.

Use (``tests/test_readme.py`` runs README.md's copy of this on a real model)::

    from livianet import Segmenter
    segmenter = Segmenter.from_checkpoint("model.pt")
    result = segmenter.segment("sub-01_T1w.nii.gz", roi="brain_mask.nii.gz")
    result.volumes["Left-Thalamus"], result.geometry.resampled

A model trained with ROI masks (the built-in model) given a scan without one
extracts the brain first (:mod:`livianet.inference.brain`, deepbet's networks,
loaded once per segmenter) and uses the mask as the ROI; ``result.brain_mask``
holds it. Where no brain is found, the scan is segmented as without extraction,
with a warning.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from livianet.data import check_same_grid, label_counts
from livianet.data.geometry import Box, GridPlan, ModelGrid, plan_grid, shift_box
from livianet.data.orientation import orientation_of
from livianet.data.spatial import spacing_differs, voxel_sizes
from livianet.errors import CheckpointError, ConfigError, DataError
from livianet.evaluation.placement import Frame, mask_frame
from livianet.inference.averaging import (
    average_on_grid,
    dense,
    foreground_box,
    sub_box,
)
from livianet.inference.brain import (
    BrainExtractor,
    BrainMask,
    BrainSettings,
    NoBrainFound,
    brain_mask,
    field_of_view_problem,
)
from livianet.inference.inputs import (
    AS_STORED,
    ModelNeeds,
    ScanInput,
    as_volume,
    check_zero_background,
)
from livianet.inference.member import Member, member_probabilities, model_input, run_member
from livianet.inference.plausibility import volumes_far_from_training
from livianet.inference.postprocess import remove_stray_components
from livianet.inference.predictor import InferenceSettings, prepare_for_inference
from livianet.inference.result import Geometry, SegmentationResult
from livianet.inference.tiling import triple
from livianet.io import Volume, label_name
from livianet.networks import Checkpoint
from livianet.runtime import resolve_device, resolve_precision

logger = logging.getLogger(__name__)

MAX_SPACING_RATIO = 3.0  # scans coarser than this times the model's voxel size are refused
ORIENTATION_KEY = "orientation"  # [Training Images] key naming .mat axis codes
NO_ROI_WARNING = (
    "no ROI given, but the model was trained with ROI masks (intensities z-scored "
    "inside them): this scan is normalised over its nonzero voxels and segmented "
    "everywhere; pass --roi with a brain mask for results like the training's"
)


class Segmenter:
    """Segments scans with one checkpoint, or several averaged (an ensemble)."""

    def __init__(
        self,
        members: list[Member],
        settings: InferenceSettings,
        largest_component: bool,
        brain: BrainSettings | None = None,
    ) -> None:
        self.members = members
        self.settings = settings
        self.largest_component = largest_component
        self.brain = brain  # None: no brain extraction
        self._extractor: BrainExtractor | None = None  # loaded at the first scan that needs it

    @classmethod
    def from_checkpoint(
        cls,
        path: str | os.PathLike[str] | Checkpoint | Sequence[str | os.PathLike[str] | Checkpoint],
        device: str = "auto",
        precision: str = "auto",
        *,
        tile: int | None = None,
        batch_size: int = 1,
        largest_component: bool | None = None,
        brain_extraction: bool = True,
        brain_threshold: float = 0.5,
        brain_dilation: int = 0,
    ) -> Segmenter:
        """A segmenter for one checkpoint (or a list of them, averaged).

        ``path`` is a checkpoint file, a :class:`Checkpoint`, or a built-in
        model's name: ``"builtin"`` (the default model, as
        :meth:`from_pretrained`), ``"builtin:<name>"`` or ``<name>``.

        ``brain_extraction``: a scan given without an ROI, for a model trained
        with ROI masks, gets a brain mask from deepbet (``brain_threshold`` on
        its probabilities, grown by ``brain_dilation`` mm); False keeps the
        scan as given.

        Raises:
            CheckpointError: a checkpoint is missing or unreadable, or the
                ensemble's checkpoints have different class or channel counts.
        """
        paths = [path] if isinstance(path, (str, os.PathLike, Checkpoint)) else list(path)
        if not paths:
            raise ConfigError("segment: expected at least one checkpoint")
        from livianet.networks.pretrained import resolve_model

        checkpoints = [p if isinstance(p, Checkpoint) else resolve_model(Path(p)) for p in paths]
        resolved = resolve_device(device)
        settings = InferenceSettings(
            device=resolved,
            precision=resolve_precision(precision, resolved),
            tile=tile,
            batch_size=batch_size,
        )
        members = []
        for checkpoint in checkpoints:
            network = checkpoint.network()
            config = network.config
            members.append(
                Member(
                    checkpoint,
                    prepare_for_inference(network, settings),
                    checkpoint.meta,
                    config.num_classes,
                    config.in_channels,
                )
            )
        _check_ensemble(members)
        if largest_component is None:
            largest_component = members[0].meta.largest_component
        brain = BrainSettings(brain_threshold, brain_dilation) if brain_extraction else None
        return cls(members, settings, largest_component, brain)

    @classmethod
    def from_pretrained(
        cls,
        name: str = "subcortical-abide-v1",
        device: str = "auto",
        precision: str = "auto",
        **options: Any,
    ) -> Segmenter:
        """A segmenter for a built-in model (``livianet models`` lists them and their cards).

        The default model was trained on ABIDE scans: research and teaching use,
        not commercial (ABIDE's terms).
        """
        from livianet.networks.pretrained import pretrained_checkpoint

        return cls.from_checkpoint(pretrained_checkpoint(name), device, precision, **options)

    @property
    def num_classes(self) -> int:
        return self.members[0].num_classes

    @property
    def in_channels(self) -> int:
        return self.members[0].in_channels

    @property
    def label_names(self) -> dict[int, str]:
        return dict(self.members[0].meta.label_names)

    def segment(
        self,
        image: ScanInput | Sequence[ScanInput],
        roi: ScanInput | None = None,
        *,
        probabilities: bool = False,
        tta: bool = False,
        orientation: str | None = None,
        resample: bool = True,
        force: bool = False,
    ) -> SegmentationResult:
        """Segment one scan (one input per channel for multi-channel models).

        Args:
            image: a path (NIfTI, MGZ, ``.mat``), a nibabel image, or an
                ``(array, affine)`` pair; a list of them for several channels.
            roi: a brain mask on the same grid, in the same forms. Without one, a
                model trained with ROI masks gets the brain extracted
                (``result.brain_mask``) unless the segmenter was made with
                ``brain_extraction=False``.
            probabilities: also return the class probabilities.
            tta: average with the left-right mirrored scan (labels swapped back).
            orientation: axis codes of ``.mat`` arrays (e.g. ``ILA``); required for
                a ``.mat`` with a model that knows its orientation, or ``"as-stored"``
                to take the array as stored in the model's grid.
            resample: bring scans of another voxel size to the model's (world space).
            force: segment scans coarser than 3x the model's voxel size anyway.

        Raises:
            DataError: unreadable or invalid inputs, mismatched grids, a scan
                far coarser than the model's voxels (without ``force``).
            ConfigError: ``tta`` with a model that cannot tell left from right.
        """
        inputs = (
            list(image) if isinstance(image, (list, tuple)) and not _is_pair(image) else [image]
        )
        declared = orientation or self._stored_orientation()
        channels = [as_volume(scan, "image", declared, self._needs()) for scan in inputs]
        source = channels[0]
        for other in channels[1:]:
            check_same_grid(source, other, "image channel")
        data = np.concatenate([v.channels.astype(np.float32, copy=False) for v in channels])
        if data.shape[0] != self.in_channels:
            raise DataError(
                f"{source.path}: {data.shape[0]} channel(s), but the network expects "
                f"{self.in_channels} (one per image file)"
            )
        mask = _given_roi(roi, declared, source) if roi is not None else None
        known = not source.is_mat or declared not in (None, AS_STORED)
        warnings = [*source.warnings, *self._orientation_warnings(source, known)]
        brain = None
        if mask is None and any(m.meta.normalization_region == "roi" for m in self.members):
            brain, note = self._brain_or_note(source, known)
            if brain is not None:
                mask = brain.roi
            else:
                if any(m.meta.normalization != "none" for m in self.members):
                    check_zero_background(source)  # else "nonzero" would be the whole image
                warnings.append(note)
        if tta:
            self._check_tta()
        result = self._segment_array(
            source, data, mask, known, warnings, probabilities, tta, resample, force
        )
        frame = _frame(mask, data, source, brain is not None) if known else None
        return dataclasses.replace(result, brain_mask=brain, frame=frame)

    def brain_extractor(self) -> BrainExtractor:
        """deepbet's networks on this segmenter's device, loaded at the first call only."""
        if self._extractor is None:
            self._extractor = BrainExtractor(self.settings.device, self.settings.precision)
        return self._extractor

    def _brain_or_note(self, source: Volume, known: bool) -> tuple[BrainMask | None, str]:
        """The scan's extracted brain mask, or the warning of its segmentation without one."""
        if self.brain is None:
            return None, NO_ROI_WARNING
        if not known:
            reason = "it needs the orientation of a .mat array: pass --orientation"
        elif (problem := field_of_view_problem(source)) is not None:
            reason = problem  # found before deepbet's networks are loaded
        else:
            try:
                return brain_mask(source, self.brain_extractor(), self.brain), ""
            except NoBrainFound as exc:
                reason = exc.reason
        return None, f"brain extraction found no brain ({reason}); {NO_ROI_WARNING}"

    def _needs(self) -> ModelNeeds:
        """What every member needs of a scan: its orientation known, its receptive field covered."""
        orientations = {m.meta.orientation for m in self.members}
        extent = 0.0
        for member in self.members:
            spacing = member.meta.spacing or (1.0, 1.0, 1.0)
            field = member.network.receptive_field
            extent = max(extent, min(f * s for f, s in zip(field, spacing, strict=True)))
        known = orientations.pop() if len(orientations) == 1 else None
        return ModelNeeds(orientation=known, min_extent_mm=extent)

    def _stored_orientation(self) -> str | None:
        """How training ``.mat`` arrays were stored, when every member agrees."""
        stored = {m.meta.stored_orientation for m in self.members}
        return stored.pop() if len(stored) == 1 else None

    def _orientation_warnings(self, source: Volume, known: bool) -> list[str]:
        notes = []
        if not source.is_mat and any(m.meta.orientation is None for m in self.members):
            notes.append(
                "the model was trained on arrays of unknown orientation (.mat without "
                f"'{ORIENTATION_KEY}' in [Training Images]); this scan is used as stored, not "
                "reoriented: if it is stored differently from the training arrays, results are poor"
            )
        return notes

    def _check_tta(self) -> None:
        for member in self.members:
            if member.meta.orientation is None:
                raise ConfigError(
                    f"--tta: {member.checkpoint.path} was trained on arrays of unknown "
                    "orientation, so left and right cannot be mirrored"
                )
            if not member.meta.label_pairs:
                raise ConfigError(
                    f"--tta: {member.checkpoint.path} names no left/right label pairs "
                    "(augmentLabelPairs, or Left-/Right- label names)"
                )

    def _segment_array(
        self,
        source: Volume,
        data: np.ndarray,
        roi: np.ndarray | None,
        known: bool,
        warnings: list[str],
        want_probabilities: bool,
        tta: bool,
        resample: bool,
        force: bool,
    ) -> SegmentationResult:
        plans = [self._plan(source, m, known, resample, force, warnings) for m in self.members]
        fast = len(self.members) == 1 and not tta and not want_probabilities
        if fast and not plans[0].resampled:
            labels = self._labels_directly(self.members[0], plans[0], data, roi)
            probs = None
        else:
            labels, probs = self._by_probabilities(plans, data, roi, tta, want_probabilities)
        if roi is not None:
            np.multiply(labels, roi, out=labels)  # 0 outside the ROI, without a negated mask
            if probs is not None:
                probs[:, ~roi] = 0.0
                probs[0, ~roi] = 1.0
        if self.largest_component:
            labels = remove_stray_components(labels, self.num_classes, probs)
        plan = plans[0]
        geometry = Geometry(
            orientation=orientation_of(source.affine),
            spacing=voxel_sizes(source.affine),
            shape=source.spatial_shape,
            model_orientation=self.members[0].meta.orientation if known else None,
            model_spacing=plan.model_spacing,
            reoriented=plan.reoriented,
            resampled=plan.resampled,
        )
        names = self.label_names
        voxel = float(np.prod(geometry.spacing))
        counts = label_counts(labels, self.num_classes)
        volumes = {
            label_name(names, k): float(counts[k]) * voxel for k in range(1, self.num_classes)
        }
        far = volumes_far_from_training(
            {k: float(counts[k]) * voxel for k in range(1, self.num_classes)},
            self.members[0].meta.training_volumes,
            {k: label_name(names, k) for k in range(1, self.num_classes)},
        )
        if far:
            warnings.append(far)
        for note in warnings:
            if note not in source.warnings:  # the file's own were logged as it was read
                logger.warning("%s: %s", source.path.name, note)
        return SegmentationResult(labels, probs, volumes, geometry, warnings, source, names)

    def _plan(
        self,
        source: Volume,
        member: Member,
        known: bool,
        resample: bool,
        force: bool,
        warnings: list[str],
    ) -> GridPlan:
        spacing_mm = triple(member.meta.spacing) if member.meta.spacing is not None else None
        grid = ModelGrid(member.meta.orientation if known else None, spacing_mm)
        plan = plan_grid(source.affine, source.spatial_shape, grid, resample=resample)
        spacing = voxel_sizes(plan.oriented_affine)
        if member.meta.spacing is not None:
            ratio = max(s / t for s, t in zip(spacing, member.meta.spacing, strict=True))
            if ratio > MAX_SPACING_RATIO and not force:
                raise DataError(
                    f"{source.path}: voxel size {_mm(spacing)} mm is {ratio:.1f}x the model's "
                    f"{_mm(member.meta.spacing)} mm (more than {MAX_SPACING_RATIO:g}x): too coarse "
                    "for this model; pass --force to segment it anyway"
                )
            if not resample and plan.model_spacing != tuple(member.meta.spacing):
                if spacing_differs(spacing, member.meta.spacing):
                    warnings.append(
                        f"voxel size {_mm(spacing)} mm differs from the model's "
                        f"{_mm(member.meta.spacing)} mm and --no-resample keeps it"
                    )
        return plan

    def _labels_directly(
        self, member: Member, plan: GridPlan, data: np.ndarray, roi: np.ndarray | None
    ) -> np.ndarray:
        """One model, no resampling: the argmax on the model grid is the argmax on the scan's."""
        image, roi_m, _ = model_input(member, plan, data, roi)  # not resampled: all of it
        return plan.labels_to_input(
            run_member(member, self.settings, image, roi_m, probabilities=False).labels
        )

    def _by_probabilities(
        self,
        plans: list[GridPlan],
        data: np.ndarray,
        roi: np.ndarray | None,
        tta: bool,
        want_probabilities: bool,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Average the members' (and mirrors') probabilities on the scan's grid; argmax there.

        Each run's probabilities come back over a box of the reoriented scan
        grid: the ROI's box when probabilities are wanted, else only where some
        foreground could win (elsewhere the average is background).
        """
        first = plans[0]
        pieces: list[tuple[np.ndarray, Box]] = []
        runs = 0
        for member, plan in zip(self.members, plans, strict=True):
            if plan.oriented_shape != first.oriented_shape:
                raise DataError("the ensemble's models disagree on the scan's orientation")
            image, roi_m, origin = model_input(member, plan, data, roi)
            for mirrored in (False, True) if tta else (False,):
                probs, box = member_probabilities(member, self.settings, image, roi_m, mirrored)
                box = shift_box(box, origin)
                runs += 1
                if not want_probabilities:
                    region = foreground_box(probs, box)
                    if region is None:
                        continue
                    probs, box = sub_box(probs, box, region)
                pieces.append(plan.probabilities_to_input(probs, box))
        shape = first.oriented_shape
        labels, mean, union = average_on_grid(pieces, runs, self.num_classes, shape)
        probabilities = None
        if want_probabilities:
            probabilities = first.oriented_to_input(dense(mean, union, self.num_classes, shape))
        return first.oriented_to_input(labels), probabilities


def segment(
    image: ScanInput | Sequence[ScanInput],
    checkpoint: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] = "builtin",
    roi: ScanInput | None = None,
    *,
    device: str = "auto",
    precision: str = "auto",
    **options: Any,
) -> SegmentationResult:
    """Segment one scan: ``Segmenter.from_checkpoint(checkpoint).segment(image, roi)``.

    ``checkpoint`` is a file, a list of files (an ensemble) or a built-in
    model's name; by default the built-in model.
    """
    from livianet.networks.pretrained import resolve_model

    paths = [checkpoint] if isinstance(checkpoint, (str, os.PathLike)) else list(checkpoint)
    segmenter = Segmenter.from_checkpoint(
        [resolve_model(p if isinstance(p, (str, Path)) else Path(p)) for p in paths],
        device=device,
        precision=precision,
    )
    return segmenter.segment(image, roi, **options)


def _frame(
    mask: np.ndarray | None, data: np.ndarray, source: Volume, extracted: bool
) -> Frame | None:
    """The brain's frame that structures' places are judged in: the ROI, else nonzero voxels."""
    if mask is not None:
        return mask_frame(mask, source.affine, "brain extraction" if extracted else "roi")
    return mask_frame(np.any(data != 0, axis=0), source.affine, "nonzero voxels")


def _given_roi(roi: ScanInput, declared: str | None, source: Volume) -> np.ndarray:
    """The ROI given with a scan, as a mask on the scan's grid (checked: 3-D, same grid, not empty)."""
    roi_volume = as_volume(roi, "ROI", declared)
    if roi_volume.data.ndim != 3:
        raise DataError(f"{roi_volume.path}: ROI has shape {roi_volume.data.shape}, expected 3-D")
    check_same_grid(source, roi_volume, "ROI")
    mask = roi_volume.data > 0
    if not mask.any():
        raise DataError(f"{roi_volume.path}: ROI is empty (no nonzero voxel)")
    return mask


def _check_ensemble(members: list[Member]) -> None:
    classes = {m.num_classes for m in members}
    channels = {m.in_channels for m in members}
    if len(classes) > 1 or len(channels) > 1:
        listed = ", ".join(
            f"{m.checkpoint.path} ({m.num_classes} classes, {m.in_channels} channel(s))"
            for m in members
        )
        raise CheckpointError(
            f"an ensemble needs checkpoints of one class count and channel count: {listed}"
        )


def _is_pair(value: Any) -> bool:
    """An ``(array, affine)`` tuple rather than a list of channels."""
    return (
        isinstance(value, tuple)
        and len(value) == 2
        and np.asarray(value[1]).shape == (4, 4)
        and np.asarray(value[0]).ndim >= 3
    )


def _mm(values: Sequence[float]) -> str:
    return "x".join(f"{v:.3g}" for v in values)


__all__ = ["Geometry", "SegmentationResult", "Segmenter", "segment"]
