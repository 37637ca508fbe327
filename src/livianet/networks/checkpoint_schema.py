"""What a checkpoint holds, as typed values: the one place its entries are named.

A checkpoint file is a dict of plain types and tensors (so ``torch.load(...,
weights_only=True)`` reads it). :class:`CheckpointContents` turns those entries
into typed values and back; :class:`ModelMeta` is the part segmentation needs,
:class:`BestEpoch` the best-model bookkeeping that resuming needs. Every field
has the value an older checkpoint without the entry implies, so a built-in
model (no optimiser, no history) and a format-1 checkpoint read as well.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

FORMAT_VERSION = 2  # 2: training_orientation is the space the network works in (RAS)
KIND = "livianet-checkpoint"


@dataclass(frozen=True)
class ModelMeta:
    """What a checkpoint records about how its network was trained, beside the weights.

    Segmentation reads it to treat a scan as the training data were treated
    (the grid the network works in, normalisation, largest component, label
    names); every field has the value an older checkpoint without it implies.

    Attributes:
        orientation: axis codes of the space the network works in (``RAS``),
            or None when the training arrays' orientation was unknown (scans
            are then used as stored). Format-1 checkpoints predate
            reorientation (their ``training_orientation`` was the stored arrays')
            and read as None, which keeps their behaviour.
        spacing: voxel size in mm along the network's axes (the median over
            the training cases).
        stored_orientation: axis codes that the training ``.mat`` arrays were
            declared to be stored in; a ``.mat`` scan given without
            ``--orientation`` is taken to be stored so.
        label_pairs: left/right label pairs (flip augmentation, ``--tta``).
        training_volumes: per label, ``(min, mean, max)`` volume in mm3 over
            the training label maps (for quality-control flags).
        training_places: per label, the range of its centroid and span in the
            frame of the brain mask over the training scans (misplaced and
            over-extended structures are flagged against it), as the plain
            values of ``livianet.evaluation.placement.PlaceRange.as_dict``.
        original_labels: per label, the code it had before ``livianet labels``
            made labels consecutive (``segment --original-labels``).
    """

    normalization: str = "none"
    normalization_region: str | None = (
        None  # "roi" or "nonzero": where z-score statistics came from
    )
    patch_size: tuple[int, ...] | None = None
    segment_patch_size: tuple[int, ...] | None = None
    apply_padding: bool = True
    largest_component: bool = False
    label_names: dict[int, str] = field(default_factory=dict)
    orientation: str | None = None
    spacing: tuple[float, ...] | None = None
    stored_orientation: str | None = None
    label_pairs: tuple[tuple[int, int], ...] = ()
    training_volumes: dict[int, tuple[float, float, float]] = field(default_factory=dict)
    original_labels: dict[int, int] = field(default_factory=dict)  # label -> its original code
    training_places: dict[int, dict[str, Any]] = field(default_factory=dict)

    def to_state(self) -> dict[str, Any]:
        """The checkpoint entries, as plain types (``weights_only`` loading reads them)."""
        return {
            "normalization": self.normalization,
            "normalization_region": self.normalization_region,
            "patch_size": _plain_list(self.patch_size),
            "segment_patch_size": _plain_list(self.segment_patch_size),
            "apply_padding": self.apply_padding,
            "largest_component": self.largest_component,
            "label_names": {str(k): v for k, v in self.label_names.items()},
            "training_orientation": self.orientation,
            "training_spacing": _plain_list(self.spacing),
            "stored_orientation": self.stored_orientation,
            "label_pairs": [list(pair) for pair in self.label_pairs],
            "training_volumes": {
                str(k): [float(x) for x in v] for k, v in self.training_volumes.items()
            },
            "original_labels": {str(k): v for k, v in self.original_labels.items()},
            "training_places": {str(k): dict(v) for k, v in self.training_places.items()},
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ModelMeta:
        def tuple_of(key: str) -> tuple | None:
            value = state.get(key)
            return tuple(value) if value else None

        return cls(
            normalization=state.get("normalization", "none"),
            normalization_region=state.get("normalization_region") or None,
            patch_size=tuple_of("patch_size"),
            segment_patch_size=tuple_of("segment_patch_size"),
            apply_padding=bool(state.get("apply_padding", True)),
            largest_component=bool(state.get("largest_component", False)),
            label_names={int(k): v for k, v in (state.get("label_names") or {}).items()},
            orientation=_orientation(state),
            spacing=tuple_of("training_spacing"),
            stored_orientation=state.get("stored_orientation") or None,
            label_pairs=tuple(tuple(p) for p in state.get("label_pairs") or ()),
            training_volumes={
                int(k): tuple(v) for k, v in (state.get("training_volumes") or {}).items()
            },
            original_labels={
                int(k): int(v) for k, v in (state.get("original_labels") or {}).items()
            },
            training_places=_places(state.get("training_places")),
        )


def _places(stored: Any) -> dict[int, dict[str, Any]]:
    """The recorded place ranges per label (QC reads them; one that does not read flags nothing)."""
    if not isinstance(stored, dict):
        return {}
    return {int(k): dict(v) for k, v in stored.items() if str(k).isdigit() and isinstance(v, dict)}


def _orientation(state: dict[str, Any]) -> str | None:
    """The network's working orientation; format-1 checkpoints recorded the stored arrays' instead."""
    if int(state.get("format_version", 1)) < 2:
        return None  # trained on arrays as stored: keep using scans as stored
    return state.get("training_orientation") or None


def _plain_list(values: tuple | None) -> list | None:
    return None if values is None else list(values)


@dataclass(frozen=True)
class BestEpoch:
    """The best validation Dice so far, its epoch, and the validated epochs since (``best``).

    ``epoch`` is None until a validation gives a finite Dice; early stopping
    counts ``stale`` against its patience.
    """

    dice: float = -math.inf
    epoch: int | None = None
    stale: int = 0

    def to_state(self) -> dict[str, Any]:
        return {"dice": self.dice, "epoch": self.epoch, "stale": self.stale}

    @classmethod
    def from_state(cls, state: object) -> BestEpoch:
        """The stored entry; anything but a dict (an old or foreign file) reads as no best yet."""
        if not isinstance(state, dict):
            return cls()
        dice, epoch = state.get("dice"), state.get("epoch")
        return cls(
            dice=-math.inf if dice is None else dice,
            epoch=None if epoch is None else int(epoch),
            stale=int(state.get("stale") or 0),
        )


@dataclass(frozen=True)
class CheckpointContents:
    """Every entry of a checkpoint (beside the file header), typed.

    A training checkpoint holds them all, enough to resume exactly and to
    segment. A built-in model holds the network, its config and meta, and adds
    ``model_name`` and ``licence``; entries it lacks read as their defaults.
    No random generator state: every draw of a sub-epoch derives from
    ``(seed, epoch, sub-epoch)``, and each sub-epoch reseeds torch, so the
    ``seed`` is all a resumed run needs.

    Attributes:
        model_config: the network's description as stored (plain types);
            ``stored_model_config`` turns it into a ``ModelConfig``.
        optimizer_state: None when the file holds none (a built-in model).
        scaler_state: the fp16 gradient scaler's (empty when no scaler runs).
        config: the resolved training config, as plain types.
        metrics: one row per epoch trained, as the metrics table has them.
        seed: None in files that predate recording it.
    """

    network_name: str | None
    epoch: int
    model_config: dict[str, Any]
    model_state: dict[str, torch.Tensor]
    meta: ModelMeta = field(default_factory=ModelMeta)
    optimizer_state: dict[str, Any] | None = None
    scaler_state: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    best: BestEpoch = field(default_factory=BestEpoch)
    frozen_layers: tuple[str, ...] = ()
    seed: int | None = None
    model_name: str | None = None  # a built-in model's name
    licence: str | None = None  # a built-in model's terms of use

    def to_state(self) -> dict[str, Any]:
        """The entries, in the order training has always written them."""
        state: dict[str, Any] = {
            "network_name": self.network_name,
            "epoch": self.epoch,
            "model_config": self.model_config,
            "model_state": self.model_state,
        }
        if self.optimizer_state is not None:
            state["optimizer_state"] = self.optimizer_state
        state.update(
            {
                "scaler_state": dict(self.scaler_state),
                "config": self.config,
                **self.meta.to_state(),
                "metrics": self.metrics,
                "best": self.best.to_state(),
                "frozen_layers": list(self.frozen_layers),
                "seed": self.seed,
            }
        )
        for key, value in (("model_name", self.model_name), ("licence", self.licence)):
            if value is not None:
                state[key] = value
        return state

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> CheckpointContents:
        """Read the entries; one missing or of an unexpected kind reads as its default."""
        seed = state.get("seed")
        optimizer = state.get("optimizer_state")
        return cls(
            network_name=_text(state.get("network_name")),
            epoch=int(state.get("epoch") or 0),
            model_config=_mapping(state.get("model_config")),
            model_state=_mapping(state.get("model_state")),
            meta=ModelMeta.from_state(state),
            optimizer_state=optimizer if isinstance(optimizer, dict) else None,
            scaler_state=_mapping(state.get("scaler_state")),
            config=_mapping(state.get("config")),
            metrics=[row for row in _sequence(state.get("metrics")) if isinstance(row, dict)],
            best=BestEpoch.from_state(state.get("best")),
            frozen_layers=tuple(str(name) for name in _sequence(state.get("frozen_layers"))),
            seed=None if seed is None else int(seed),
            model_name=_text(state.get("model_name")),
            licence=_text(state.get("licence")),
        )


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _sequence(value: object) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []
