"""Built-in models: networks shipped inside the package, with their model cards.

Each model is two package files in ``livianet/pretrained/``: ``<name>.pt`` (the
weights and what segmentation needs to know, no optimiser state, read with
``weights_only=True``) and ``<name>.json`` (its card: training data and
licence, labels, expected input, measured accuracy and speed, limits, and the
file's SHA-256, checked on load so a damaged install is named as such).
"""

from __future__ import annotations

import hashlib
import json
import logging
from importlib import resources
from pathlib import Path
from typing import Any

from livianet.errors import CheckpointError
from livianet.networks.checkpoint import Checkpoint

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "subcortical-abide-v1"
BUILTIN_PREFIX = "builtin"  # --init-from builtin / --model builtin: the default model
REINSTALL = "reinstall livianet (pip install --force-reinstall livianet)"


def _folder() -> Path:
    return Path(str(resources.files("livianet") / "pretrained"))


def builtin_names() -> list[str]:
    """Names of the models this installation ships."""
    folder = _folder()
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.json"))


def is_builtin(name: str | Path) -> bool:
    """Whether ``name`` names a built-in model (``builtin``, ``builtin:<name>`` or ``<name>``)."""
    text = str(name)
    if text == BUILTIN_PREFIX or text.startswith(BUILTIN_PREFIX + ":"):
        return True
    return "/" not in text and not text.endswith((".pt", ".pth")) and text in builtin_names()


def _resolve(name: str | Path) -> str:
    text = str(name)
    if text == BUILTIN_PREFIX:
        return DEFAULT_MODEL
    return text.removeprefix(BUILTIN_PREFIX + ":")


def model_card(name: str | Path = DEFAULT_MODEL) -> dict[str, Any]:
    """The card of a built-in model.

    Raises:
        CheckpointError: no such built-in model, or its card is unreadable.
    """
    model = _resolve(name)
    path = _folder() / f"{model}.json"
    if not path.is_file():
        known = ", ".join(builtin_names()) or "none"
        raise CheckpointError(
            f"{model}: no built-in model of that name (this installation has: {known}); "
            f"if it should be there, {REINSTALL}"
        )
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: the model card is damaged ({exc}); {REINSTALL}") from None


def pretrained_checkpoint(name: str | Path = DEFAULT_MODEL) -> Checkpoint:
    """The built-in model's checkpoint, after checking the file is whole.

    Raises:
        CheckpointError: unknown name, missing or damaged weight file (naming
            how to reinstall).
    """
    model = _resolve(name)
    card = model_card(model)
    path = _folder() / f"{model}.pt"
    if not path.is_file():
        raise CheckpointError(f"{path}: the built-in model's weights are missing; {REINSTALL}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if card.get("sha256") and digest != card["sha256"]:
        raise CheckpointError(
            f"{path}: the built-in model's weights are damaged (SHA-256 {digest[:12]}..., "
            f"expected {card['sha256'][:12]}...); {REINSTALL}"
        )
    logger.info("built-in model %s: %s", model, card.get("licence_short", "see livianet models"))
    return Checkpoint.read(path)


def resolve_model(name: str | Path) -> Checkpoint:
    """A checkpoint from a built-in model's name or from a file."""
    return pretrained_checkpoint(name) if is_builtin(name) else Checkpoint.read(name)
