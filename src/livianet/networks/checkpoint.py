"""Self-describing checkpoints: written atomically, read without unpickling code.

A checkpoint is a dict of plain types and tensors, so ``torch.load(...,
weights_only=True)`` reads it; a file that needs anything else (a pickle that
would run code, a Theano model) is refused, never executed. What the entries
mean is :mod:`livianet.networks.checkpoint_schema`.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import torch

from livianet.atomic import atomic_path
from livianet.config.schema import ModelConfig, model_config_from_plain, to_plain
from livianet.errors import CheckpointError, ConfigError
from livianet.networks.checkpoint_schema import (
    FORMAT_VERSION,
    KIND,
    BestEpoch,
    CheckpointContents,
    ModelMeta,
)
from livianet.networks.livianet import LiviaNet
from livianet.version import __version__

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint read once: its path (for messages), its entries, and what they describe."""

    path: Path
    state: dict[str, Any]  # the entries as stored; read them through ``contents``

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> Checkpoint:
        return cls(Path(path), load_checkpoint(path))

    @cached_property
    def contents(self) -> CheckpointContents:
        return CheckpointContents.from_state(self.state)

    @property
    def model_config(self) -> ModelConfig:
        return stored_model_config(self.state, self.path)

    @property
    def meta(self) -> ModelMeta:
        return self.contents.meta

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
    """The entries of a training checkpoint built from its parts (for files made outside training).

    ``best`` is written as given (``{}``: no validation yet); training writes
    :class:`CheckpointContents` itself.
    """
    state = CheckpointContents(
        network_name=network_name,
        epoch=epoch,
        model_config=to_plain(model_config),
        model_state=model_state,
        meta=meta,
        optimizer_state=optimizer_state,
        scaler_state=scaler_state,
        config=config,
        metrics=metrics,
        best=BestEpoch(),
        frozen_layers=tuple(frozen_layers),
        seed=int(seed),
    ).to_state()
    state["best"] = dict(best)
    return state


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
