"""T1-like intensity priors, estimated from real training scans rather than typed in.

Each model class gets the mean and SD of its voxels after the normalisation training
uses, and how much the mean varies between scans. The background inside the ROI (white
matter, cortex, CSF in a brain mask) is split into tissues by a 1-D Gaussian mixture,
darkest first; FreeSurfer's codes of those tissues (:data:`FREESURFER_TISSUES`) draw from
them, so a label map's other structures look like the real scans' too.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from livianet.config.schema import TrainingConfig
from livianet.data import CaseFiles, list_cases, load_case

logger = logging.getLogger(__name__)

TISSUES = 3  # components of the background mixture: CSF, grey and white matter in a T1
CSF, GREY, WHITE = range(TISSUES)  # ranks by mean intensity in a T1 (darkest first)
# FreeSurfer codes by the tissue they look like in a T1 (structures that are model
# classes take their own class's prior instead).
FREESURFER_TISSUES: dict[int, int] = {
    **dict.fromkeys((4, 5, 14, 15, 24, 43, 44, 72), CSF),
    **dict.fromkeys((3, 8, 10, 11, 12, 13, 17, 18, 26, 42, 47, 49, 50, 51, 52, 53, 54, 58), GREY),
    **dict.fromkeys((2, 7, 16, 28, 41, 46, 60, 85), WHITE),
}
MIN_SPREAD = 0.1  # floor of the between-scan SD of a mean, in normalised units
SAMPLE_VOXELS = 200_000  # background voxels per scan used to fit the mixture
EM_STEPS = 60
MIN_TISSUE_SD = 0.05  # of the background's SD: the least SD a tissue of the mixture may have


@dataclass(frozen=True)
class Prior:
    """Intensities of one structure: mean over scans, SD of the mean between scans, SD within."""

    mean: float
    spread: float
    std: float


@dataclass(frozen=True)
class IntensityPriors:
    """Per input channel: a prior per model class (index 0: the background in the ROI) and per tissue."""

    classes: tuple[tuple[Prior | None, ...], ...]
    tissues: tuple[tuple[Prior, ...], ...]

    @property
    def channels(self) -> int:
        return len(self.classes)


def _prior(means: list[float], stds: list[float]) -> Prior | None:
    if not means:
        return None
    spread = float(np.std(means)) if len(means) > 1 else 0.0
    return Prior(float(np.mean(means)), max(spread, MIN_SPREAD), float(np.mean(stds)))


def fit_tissues(
    values: np.ndarray, start: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Means and SDs of a 1-D Gaussian mixture of :data:`TISSUES` components, sorted by mean.

    >>> rng = np.random.default_rng(0)
    >>> data = np.concatenate([rng.normal(m, 0.1, 3000) for m in (-1.0, 0.0, 2.0)])
    >>> fit_tissues(data)[0].round(1).tolist()
    [-1.0, 0.0, 2.0]
    """
    values = np.asarray(values, dtype=np.float64)
    means = np.quantile(values, [0.15, 0.5, 0.85]) if start is None else start.astype(np.float64)
    # a floor keeps a component from collapsing onto one value (scans stored as integers)
    floor = max(MIN_TISSUE_SD * float(values.std()), 1e-3)
    sds = np.full(TISSUES, max(float(values.std()) / TISSUES, floor))
    weights = np.full(TISSUES, 1.0 / TISSUES)
    for _ in range(EM_STEPS):
        log_p = -0.5 * ((values[:, None] - means) / sds) ** 2 - np.log(sds) + np.log(weights)
        log_p -= log_p.max(axis=1, keepdims=True)
        resp = np.exp(log_p)
        resp /= resp.sum(axis=1, keepdims=True)
        mass = resp.sum(axis=0) + 1e-9
        weights = mass / mass.sum()
        means = (resp * values[:, None]).sum(axis=0) / mass
        sds = np.sqrt((resp * (values[:, None] - means) ** 2).sum(axis=0) / mass).clip(floor)
    order = np.argsort(means)
    return means[order], sds[order]


def estimate_priors(
    cases: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray | None]],
    num_classes: int,
    seed: int = 0,
) -> IntensityPriors:
    """Priors from ``(image (C, X, Y, Z), label, roi or None)`` of normalised training scans.

    Without an ROI the background is taken over the nonzero voxels, as z-scoring does.
    """
    rng = np.random.default_rng([seed, 17])
    channels = cases[0][0].shape[0]
    classes, tissues = [], []
    for c in range(channels):
        per_class: list[tuple[list[float], list[float]]] = [([], []) for _ in range(num_classes)]
        backgrounds = []
        for image, label, roi in cases:
            channel = image[c]
            region = roi if roi is not None else channel != 0
            for k in range(num_classes):
                voxels = channel[(label == k) & region] if k == 0 else channel[label == k]
                if voxels.size:
                    per_class[k][0].append(float(voxels.mean()))
                    per_class[k][1].append(float(voxels.std()))
            background = channel[(label == 0) & region]
            take = min(SAMPLE_VOXELS, background.size)
            backgrounds.append(background[rng.choice(background.size, take, replace=False)])
        classes.append(tuple(_prior(means, stds) for means, stds in per_class))
        tissues.append(_tissue_priors(backgrounds))
    return IntensityPriors(tuple(classes), tuple(tissues))


def _tissue_priors(backgrounds: list[np.ndarray]) -> tuple[Prior, ...]:
    """Each tissue's prior: a mixture fitted to all scans, then to each one from there."""
    pooled_means, _ = fit_tissues(np.concatenate(backgrounds))
    fits = [fit_tissues(values, pooled_means) for values in backgrounds if values.size > TISSUES]
    return tuple(
        _prior([m[t] for m, _ in fits], [s[t] for _, s in fits]) or Prior(0.0, MIN_SPREAD, 1.0)
        for t in range(TISSUES)
    )


def priors_from_files(
    files: Sequence[CaseFiles],
    num_classes: int,
    normalization: str,
    orientation: str | None = None,
    seed: int = 0,
) -> IntensityPriors:
    """Priors from image + label files, normalised as training normalises them."""
    cases = []
    for item in files:
        case = load_case(item, normalization, num_classes, True, orientation)
        assert case.label is not None
        cases.append((case.image, case.label, case.roi))
    priors = estimate_priors(cases, num_classes, seed)
    for c, channel in enumerate(priors.classes):
        described = ", ".join(
            f"{k}: {p.mean:.2f}+-{p.std:.2f}" for k, p in enumerate(channel) if p is not None
        )
        logger.info("T1-like priors (channel %d) from %d scans: %s", c, len(cases), described)
    return priors


def training_priors(config: TrainingConfig) -> IntensityPriors | None:
    """The priors of ``config``'s real training scans when ``t1Share`` asks for them, else None."""
    if config.synthesis is None or config.synthesis.t1_share <= 0:
        return None
    files = list_cases(config.data, config.train_indexes, "training")
    return priors_from_files(
        files, config.model.num_classes, config.train.normalization, config.data.orientation
    )
