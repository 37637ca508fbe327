"""Self-describing checkpoints: written atomically, read without unpickling code.

A checkpoint is a dict of plain types and tensors, so ``torch.load(...,
weights_only=True)`` reads it; a file that needs anything else (a pickle that
would run code, a Theano model) is refused, never executed.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from livianet.atomic import atomic_path
from livianet.config.schema import ModelConfig, model_config_from_plain, to_plain
from livianet.errors import CheckpointError, ConfigError
from livianet.networks.livianet import LiviaNet
from livianet.version import __version__

logger = logging.getLogger(__name__)

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
            label_pairs=tuple(tuple(p) for p in state.get("label_pairs") or ()),  # type: ignore[misc]
            training_volumes={
                int(k): tuple(v) for k, v in (state.get("training_volumes") or {}).items()
            },
            original_labels={
                int(k): int(v) for k, v in (state.get("original_labels") or {}).items()
            },
        )


def _orientation(state: dict[str, Any]) -> str | None:
    """The network's working orientation; format-1 checkpoints recorded the stored arrays' instead."""
    if int(state.get("format_version", 1)) < 2:
        return None  # trained on arrays as stored: keep using scans as stored
    return state.get("training_orientation") or None


def _plain_list(values: tuple | None) -> list | None:
    return None if values is None else list(values)


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint read once: its path (for messages), its entries, and what they describe."""

    path: Path
    state: dict[str, Any]

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> Checkpoint:
        return cls(Path(path), load_checkpoint(path))

    @property
    def model_config(self) -> ModelConfig:
        return stored_model_config(self.state, self.path)

    @property
    def meta(self) -> ModelMeta:
        return ModelMeta.from_state(self.state)

    def network(self) -> LiviaNet:
        return model_from_checkpoint(self.state, self.path)


def training_checkpoint(
    *,
    network_name: str,
    epoch: int,
    model_config: ModelConfig,
    model_state: dict[str, Any],
    meta: ModelMeta,
    optimizer_state: dict[str, Any],
    scaler_state: dict[str, Any],
    config: dict[str, Any],
    metrics: list[dict[str, Any]],
    best: dict[str, Any],
    frozen_layers: list[str],
    seed: int,
) -> dict[str, Any]:
    """Every entry of a checkpoint written during training: enough to resume exactly and to segment.

    ``scaler_state`` is the fp16 gradient scaler's (empty when no scaler runs). No random
    generator state: every draw of a sub-epoch derives from ``(seed, epoch, sub-epoch)``, and
    each sub-epoch reseeds torch, so the ``seed`` is all a resumed run needs.
    """
    return {
        "network_name": network_name,
        "epoch": epoch,
        "model_config": to_plain(model_config),
        "model_state": model_state,
        "optimizer_state": optimizer_state,
        "scaler_state": dict(scaler_state),
        "config": config,
        **meta.to_state(),
        "metrics": metrics,
        "best": dict(best),
        "frozen_layers": list(frozen_layers),
        "seed": int(seed),
    }


def checkpoint_name(network_name: str, epoch: int) -> str:
    return f"{network_name}_Epoch{epoch}.pt"


def list_epoch_checkpoints(folder: Path, network_name: str) -> list[tuple[int, Path]]:
    """``(epoch, path)`` of every ``<network>_Epoch<k>.pt``, by epoch."""
    if not folder.is_dir():
        return []
    pattern = re.compile(rf"^{re.escape(network_name)}_Epoch(\d+)\.pt$")
    found = []
    for path in folder.iterdir():
        match = pattern.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write ``state`` atomically (temporary file, fsync, rename)."""
    payload = {
        "kind": KIND,
        "format_version": FORMAT_VERSION,
        "livianet_version": __version__,
        **state,
    }
    target = Path(path)
    with atomic_path(target) as tmp:
        torch.save(payload, tmp)
    return target


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a livianet checkpoint safely.

    Raises:
        CheckpointError: missing, truncated, not a livianet checkpoint, or
            holding anything but tensors and plain values.
    """
    file = Path(path)
    if not file.is_file():
        raise CheckpointError(f"{file}: checkpoint not found")
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises UnpicklingError, RuntimeError, EOFError...
        reason = " ".join(str(exc).split())[:160]
        if (
            "weights_only" in reason
            or "Unsupported global" in reason
            or "Unpickl" in type(exc).__name__
        ):
            raise CheckpointError(
                f"{file}: refused: the file holds Python objects beyond tensors and plain values "
                "(possibly code); livianet never unpickles such files"
            ) from None
        raise CheckpointError(
            f"{file}: cannot read as a checkpoint ({type(exc).__name__}: {reason})"
        ) from None
    if not isinstance(state, dict) or state.get("kind") != KIND:
        raise CheckpointError(f"{file}: not a livianet checkpoint")
    version = state.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"{file}: checkpoint format {version!r} is newer than this livianet understands ({FORMAT_VERSION}); upgrade livianet"
        )
    for key in ("model_config", "model_state", "epoch"):
        if key not in state:
            raise CheckpointError(f"{file}: checkpoint lacks {key!r}")
    return state


def stored_model_config(
    state: dict[str, Any], path: str | os.PathLike[str] = "checkpoint"
) -> ModelConfig:
    try:
        return model_config_from_plain(state["model_config"])
    except (ConfigError, TypeError, KeyError, ValueError) as exc:
        raise CheckpointError(f"{path}: stored network description is invalid ({exc})") from None


def model_from_checkpoint(
    state: dict[str, Any], path: str | os.PathLike[str] = "checkpoint"
) -> LiviaNet:
    """Rebuild the network described in the checkpoint and load its weights."""
    model = LiviaNet(stored_model_config(state, path))
    load_model_state(model, state["model_state"], path)
    return model


def load_model_state(
    model: LiviaNet,
    model_state: dict[str, torch.Tensor],
    path: str | os.PathLike[str] = "checkpoint",
) -> None:
    """Load weights, naming every missing, unexpected and mis-shaped tensor at once."""
    own = model.state_dict()
    missing = sorted(set(own) - set(model_state))
    unexpected = sorted(set(model_state) - set(own))
    shapes = [
        f"{k} {tuple(model_state[k].shape)} vs {tuple(v.shape)}"
        for k, v in own.items()
        if k in model_state and tuple(model_state[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or shapes:
        parts = []
        if shapes:
            parts.append(
                "shape mismatches: " + ", ".join(shapes[:8]) + (" ..." if len(shapes) > 8 else "")
            )
        if missing:
            parts.append(
                "missing: " + ", ".join(missing[:8]) + (" ..." if len(missing) > 8 else "")
            )
        if unexpected:
            parts.append(
                "unexpected: " + ", ".join(unexpected[:8]) + (" ..." if len(unexpected) > 8 else "")
            )
        raise CheckpointError(f"{path}: weights do not fit this network ({'; '.join(parts)})")
    model.load_state_dict(model_state)


def check_compatible(
    model_config: ModelConfig, stored: ModelConfig, path: str | os.PathLike[str]
) -> None:
    """Refuse to resume into a network of another architecture or class count."""
    if stored == model_config:
        return
    differences = [
        f"{name} {getattr(stored, name)!r} (checkpoint) vs {getattr(model_config, name)!r} (config)"
        for name in model_config.__dataclass_fields__
        if getattr(stored, name) != getattr(model_config, name)
    ]
    raise CheckpointError(f"{path}: checkpoint is of another network: " + "; ".join(differences))
