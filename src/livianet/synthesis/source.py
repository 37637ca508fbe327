"""Synthetic training patches and renders, drawn from label maps: the object training draws from.

:class:`LabelMapSource` holds the maps (read once) and what a sample needs; each patch
is generated on the fly from its own seed, ``[seed, epoch, sub_epoch, SYNTHESIS_STREAM,
n]`` (:func:`sample_seeds`), as the real-image stream derives its own, so a run is
reproducible and resumable, and ``N`` processes may share one stream. Patches come out
shaped as the real batches are (images ``(N, C, *patch)`` float32, targets the centre
``output_size`` of each patch, int64); whole maps render deterministically for validation.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from livianet.config.schema import Size3, SynthesisConfig, TrainingConfig
from livianet.data import Case, CaseFiles, normalise_intensities
from livianet.data.spatial import grid_for_spacing
from livianet.errors import DataError
from livianet.io import Volume
from livianet.synthesis import render as r
from livianet.synthesis.codes import CodeTable, swap_table
from livianet.synthesis.maps import LabelMap, load_label_maps, map_files, pick
from livianet.synthesis.params import (
    Appearance,
    Geometry,
    draw_appearance,
    draw_geometry,
    generation_priors,
)
from livianet.synthesis.priors import IntensityPriors

logger = logging.getLogger(__name__)

SYNTHESIS_STREAM = 13  # the real stream seeds its augmentation with 11, dropout with 7
VALIDATION_STREAM = 19
BACKGROUND_TRIES = 64  # candidates per round when drawing a background centre in the ROI


def row_seeds(seed: int, epoch: int, sub_epoch: int, rows: Iterable[int]) -> list[list[int]]:
    """Seeds of the synthetic samples at ``rows`` (positions in the sub-epoch's global stream)."""
    return [[seed, epoch, sub_epoch, SYNTHESIS_STREAM, int(n)] for n in rows]


def sample_seeds(seed: int, epoch: int, sub_epoch: int, first: int, count: int) -> list[list[int]]:
    """Seeds of synthetic samples ``first .. first + count - 1`` of one sub-epoch."""
    return row_seeds(seed, epoch, sub_epoch, range(first, first + count))


@dataclass(frozen=True)
class PatchPlan:
    """What a patch is: sizes, the model's grid, normalisation and where centres go."""

    patch_size: Size3
    target_offset: Size3  # the target cube starts here in the patch ((receptive field - 1) // 2)
    target_size: Size3
    spacing: tuple[float, float, float]  # mm per voxel of the model's grid
    channels: int
    num_classes: int
    normalization: str
    sampling: str = "class_balanced"
    foreground_fraction: float = 0.5

    @classmethod
    def from_config(cls, config: TrainingConfig, spacing: Sequence[float]) -> PatchPlan:
        model, train = config.model, config.train
        return cls(
            patch_size=train.patch_size,
            target_offset=tuple((f - 1) // 2 for f in model.receptive_field),  # type: ignore[arg-type]
            target_size=model.output_size(train.patch_size),
            spacing=tuple(float(s) for s in spacing),  # type: ignore[arg-type]
            channels=model.in_channels,
            num_classes=model.num_classes,
            normalization=train.normalization,
            sampling=train.sampling,
            foreground_fraction=train.foreground_fraction,
        )


@dataclass(frozen=True)
class Rendered:
    """A whole map rendered: the image (normalised as configured), class labels, ROI, grid."""

    image: np.ndarray  # (C, X, Y, Z) float32
    labels: np.ndarray  # (X, Y, Z) uint8 model classes
    roi: np.ndarray  # (X, Y, Z) bool
    affine: np.ndarray
    source: Path


class LabelMapSource:
    """Label maps and everything a synthetic sample needs; patches and renders on request."""

    def __init__(
        self,
        maps: list[LabelMap],
        table: CodeTable,
        config: SynthesisConfig,
        plan: PatchPlan,
        priors: IntensityPriors | None = None,
        held_out: Sequence[LabelMap] = (),
        device: torch.device | str = "cpu",
    ) -> None:
        if config.t1_share > 0 and priors is None:
            raise DataError(
                "[Label Maps] t1Share > 0 needs T1-like priors from real training scans"
            )
        self.maps, self.held_out, self.table = maps, list(held_out), table
        self.config, self.plan, self.device = config, plan, torch.device(device)
        self._t1 = generation_priors(table, priors)
        self._volumes = [torch.from_numpy(m.positions).to(self.device) for m in maps]
        self._generation = torch.as_tensor(table.generation, device=self.device)
        self._roi = torch.as_tensor(table.in_roi, dtype=torch.float32, device=self.device)
        self._classes = torch.as_tensor(table.classes, device=self.device)
        self._swap = torch.as_tensor(
            swap_table(config.label_pairs, plan.num_classes), device=self.device
        )
        self._grid = r.offsets(plan.patch_size, self.device)
        self._extent = (np.asarray(plan.patch_size) - 1) * np.asarray(plan.spacing)
        self._present = [
            k for k in range(1, plan.num_classes) if any(m.class_voxels(k).size for m in maps)
        ]

    @classmethod
    def from_config(
        cls,
        config: TrainingConfig,
        spacing: Sequence[float] | None = None,
        priors: IntensityPriors | None = None,
        device: torch.device | str = "cpu",
    ) -> LabelMapSource:
        """The training maps (and held-out ones) of ``config``'s ``[Label Maps]``.

        ``spacing``: the model grid's voxel size (that of the real training scans); not
        given, the median of the training maps' own.
        """
        synthesis = config.synthesis
        assert synthesis is not None, "the config has no [Label Maps] section"
        files = map_files(synthesis)
        held = pick(files, synthesis.validation_indexes, "indexesForValidation")
        train_at = synthesis.train_indexes
        if train_at is None:
            train_at = tuple(i for i in range(len(files)) if i not in synthesis.validation_indexes)
        chosen = pick(files, train_at, "indexesForTraining")
        if not chosen:
            raise DataError("[Label Maps]: no label map left for training")
        loaded, table = load_label_maps(chosen + held, synthesis)
        maps, held_out = loaded[: len(chosen)], loaded[len(chosen) :]
        if spacing is None:
            spacing = tuple(float(np.median([m.spacing[a] for m in maps])) for a in range(3))
        plan = PatchPlan.from_config(config, spacing)
        return cls(maps, table, synthesis, plan, priors, held_out, device)

    @property
    def share(self) -> float:
        """The share of each sub-epoch's patches drawn from the maps (``syntheticShare``)."""
        return self.config.share

    # ------------------------------------------------------------------ patches

    def patches(self, seeds: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
        """One patch per seed: images ``(N, C, *patch_size)`` float32, targets ``(N, *target_size)`` int64."""
        plan = self.plan
        images = np.empty((len(seeds), plan.channels, *plan.patch_size), dtype=np.float32)
        targets = np.empty((len(seeds), *plan.target_size), dtype=np.int64)
        with torch.no_grad(), _one_thread(self.device):
            for row, seed in enumerate(seeds):
                image, target = self._patch(np.random.default_rng(list(seed)))
                images[row] = image.cpu().numpy()
                targets[row] = target.cpu().numpy()
        return images, targets

    def _patch(self, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        plan, config = self.plan, self.config
        t1 = self._t1 if rng.random() < config.t1_share else None
        index, centre = self._centre(rng)
        item = self.maps[index]
        spacing = np.asarray(plan.spacing)
        geometry = draw_geometry(
            rng, config, index, centre, self._extent, spacing, np.asarray(item.spacing)
        )
        look = draw_appearance(rng, config, self.table, plan.channels, self._extent, spacing, t1)
        positions = self._sample_map(self._volumes[index], geometry, plan.patch_size, self._grid)
        image = self._paint(positions, look, rng)
        image = self._normalise_patch(image, look, item)
        start = plan.target_offset
        box = tuple(slice(a, a + n) for a, n in zip(start, plan.target_size, strict=True))
        target = self._classes[positions[box].long()]
        return image, self._swap[target] if geometry.flipped else target

    def _centre(self, rng: np.random.Generator) -> tuple[int, np.ndarray]:
        """A map and a voxel of it: a class first (or foreground/background), as real patches."""
        plan = self.plan
        if plan.sampling == "class_balanced":
            k = int(rng.choice([0, *self._present]))
        else:
            k = -1 if rng.random() < plan.foreground_fraction else 0
        if k == 0:
            index = int(rng.integers(len(self.maps)))
            return index, self._background_voxel(self.maps[index], rng)
        holders = [
            i
            for i, m in enumerate(self.maps)
            if (m.foreground if k < 0 else m.class_voxels(k)).size
        ]
        index = int(rng.choice(holders))
        item = self.maps[index]
        pool = item.foreground if k < 0 else item.class_voxels(k)
        flat = pool[rng.integers(pool.size)]
        return index, np.array(np.unravel_index(flat, item.shape), dtype=np.float64)

    def _background_voxel(self, item: LabelMap, rng: np.random.Generator) -> np.ndarray:
        """A voxel of the ROI outside every class, by rejection inside the ROI's box."""
        start, stop = (np.asarray(b) for b in item.roi_box)
        for _ in range(16):
            candidates = rng.integers(start, stop, size=(BACKGROUND_TRIES, 3))
            positions = item.positions[tuple(candidates.T)]
            ok = self.table.in_roi[positions] & (self.table.classes[positions] == 0)
            if ok.any():
                return candidates[int(np.argmax(ok))].astype(np.float64)
        return ((start + stop - 1) / 2).astype(np.float64)

    def _normalise_patch(
        self, image: torch.Tensor, look: Appearance, item: LabelMap
    ) -> torch.Tensor:
        """z-scored with the statistics of the whole map's ROI (:func:`render.region_statistics`)."""
        if self.plan.normalization == "none":
            return image
        weights = np.bincount(
            self.table.generation, weights=item.roi_counts, minlength=self.table.num_generation
        )
        kept = r.noise_factors(look.blur, look.resolution)
        mean, sd = r.region_statistics(
            weights / weights.sum(), look.means, look.stds, look.gamma, look.noise, kept
        )
        sd = np.where(sd > 1e-8, sd, 1.0)
        shift = torch.as_tensor(mean, dtype=torch.float32, device=image.device)[:, None, None, None]
        scale = torch.as_tensor(sd, dtype=torch.float32, device=image.device)[:, None, None, None]
        return (image - shift) / scale

    # ------------------------------------------------------------------ shared steps

    @staticmethod
    def _sample_map(
        volume: torch.Tensor, geometry: Geometry, size: tuple[int, ...], grid: torch.Tensor
    ) -> torch.Tensor:
        coords = r.map_coordinates(grid, size, geometry.centre, geometry.linear, geometry.elastic)
        return r.nearest(volume, coords, size)

    def _paint(
        self, positions: torch.Tensor, look: Appearance, rng: np.random.Generator
    ) -> torch.Tensor:
        """The image of a label patch (code positions), before normalisation."""
        size = tuple(positions.shape)
        channels = look.means.shape[0]
        generator = torch.Generator().manual_seed(int(rng.integers(1 << 62)))
        flat = positions.reshape(-1).long()
        generation = self._generation.take(flat).reshape(size)
        noise = torch.randn((channels, *size), generator=generator).to(self.device)
        image = r.mixture_image(generation, look.means, look.stds, noise)
        if look.bias is not None:
            field = torch.as_tensor(look.bias, dtype=torch.float32, device=image.device)
            image *= r.upsample(field, size).exp_()
        image = r.gamma_contrast(image, look.gamma)
        image = r.acquire(image, look.blur, look.resolution, look.noise, generator)
        if look.stripped:
            image *= self._roi.take(flat).reshape(size)
        return image

    # ------------------------------------------------------------------ whole maps

    def render(
        self,
        index: int,
        seed: Sequence[int],
        spatial: bool = True,
        held_out: bool = False,
        t1: bool | None = None,
    ) -> Rendered:
        """Map ``index`` (of the training maps, or the held-out ones) as one image on the model's grid.

        ``spatial=False`` keeps the map's shapes (only resampled to the model's voxel size);
        ``t1`` forces T1-like (True) or random (False) intensities, None draws as patches do.
        """
        item = (self.held_out if held_out else self.maps)[index]
        rng = np.random.default_rng(list(seed))
        use_t1 = rng.random() < self.config.t1_share if t1 is None else t1
        affine, shape = grid_for_spacing(item.affine, item.shape, self.plan.spacing)
        spacing = np.asarray(self.plan.spacing)
        extent = (np.asarray(shape) - 1) * spacing
        centre = (np.asarray(item.shape, dtype=np.float64) - 1) / 2
        geometry = draw_geometry(
            rng, self.config, index, centre, extent, spacing, np.asarray(item.spacing), spatial
        )
        look = draw_appearance(
            rng, self.config, self.table, self.plan.channels, extent, spacing,
            self._t1 if use_t1 else None,
        )  # fmt: skip
        volume = torch.from_numpy(item.positions).to(self.device)
        with torch.no_grad():
            positions = self._sample_map(volume, geometry, shape, r.offsets(shape, self.device))
            image = self._paint(positions, look, rng).cpu().numpy()
            classes = self._classes[positions.long()]
            if geometry.flipped:
                classes = self._swap[classes]
        codes = positions.cpu().numpy()
        roi = self.table.in_roi[codes]
        image = normalise_intensities(image, roi, self.plan.normalization)
        return Rendered(image, classes.cpu().numpy().astype(np.uint8), roi, affine, item.path)

    def validation_cases(self, seed: int) -> list[Case]:
        """Each held-out map rendered at a fixed seed (its shapes kept), as a validation case."""
        import nibabel as nib

        cases = []
        for i, item in enumerate(self.held_out):
            done = self.render(i, [seed, VALIDATION_STREAM, i], spatial=False, held_out=True)
            name = f"{_stem(item.path)}_render"
            files = CaseFiles(
                i, images=(item.path.with_name(f"{name}.nii.gz"),), label=item.path, roi=None
            )
            header = nib.Nifti1Image(done.labels, done.affine).header
            reference = Volume(done.labels, done.affine, header, files.images[0])
            cases.append(Case(files, done.image, done.labels, done.roi, reference))
        return cases


@contextlib.contextmanager
def _one_thread(device: torch.device) -> Iterator[None]:
    """One CPU thread for this thread's operations while patches are made.

    Patches are small and are made beside the training step (a prefetch thread): a
    second team of threads on the same cores would slow both. PyTorch's thread count is
    the calling thread's, so the step's own threads are left as they are.
    """
    if device.type != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _stem(path: Path) -> str:
    from livianet.io import strip_volume_suffix

    return strip_volume_suffix(path.name)
