"""Exporting a trained network: ONNX for other runtimes, ``torch.export`` (.pt2) for PyTorch.

The exported graph takes a normalised ``(N, C, X, Y, Z)`` float32 tile and
returns class logits of size ``input - RF + 1``, exactly like :class:`LiviaNet`.
The ONNX graph accepts any tile of at least the receptive field; the ``.pt2``
program one of at least RF + 1 per axis (``torch.export`` treats a dynamic size
of 1 as a special case, so outputs of one voxel are left out of its range).
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import torch

from livianet.atomic import atomic_path
from livianet.errors import ConfigError
from livianet.networks.checkpoint import load_checkpoint, model_from_checkpoint

logger = logging.getLogger(__name__)


def example_input(model, side: int | None = None) -> torch.Tensor:
    """A random tracing input: batch 2 (torch.export specialises a size of 1)."""
    rf = max(model.receptive_field)
    side = side or rf + 16
    generator = torch.Generator().manual_seed(0)
    return torch.randn(2, model.config.in_channels, side, side, side, generator=generator)


def export_model(checkpoint: Path, output: Path) -> Path:
    """Write ``output`` (``.onnx`` or ``.pt2``) from ``checkpoint``."""
    suffix = output.suffix.lower()
    if suffix not in (".onnx", ".pt2"):
        raise ConfigError(f"{output}: expected a file name ending in .onnx or .pt2")
    model = model_from_checkpoint(load_checkpoint(checkpoint), checkpoint).eval()
    sample = example_input(model)
    with atomic_path(output) as tmp:
        if suffix == ".onnx":
            _export_onnx(model, sample, tmp)
        else:
            _export_pt2(model, sample, tmp)
    return output


def _export_onnx(model, sample: torch.Tensor, path: Path) -> None:
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise ConfigError("ONNX export needs the onnx package: pip install onnx") from None
    axes = {0: "batch", 2: "x", 3: "y", 4: "z"}
    # The TorchScript exporter (dynamo=False) is deprecated but still works; the
    # dynamo exporter needs onnxscript, which livianet does not depend on. Its
    # deprecation notices are for us, not for the user running `livianet export`.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export")
        warnings.filterwarnings("ignore", message="The feature will be removed")
        torch.onnx.export(
            model,
            (sample,),
            str(path),
            input_names=["image"],
            output_names=["logits"],
            dynamic_axes={"image": axes, "logits": axes},
            opset_version=17,
            dynamo=False,
        )


def _export_pt2(model, sample: torch.Tensor, path: Path) -> None:
    # One more than the receptive field: torch.export assumes dynamic sizes of
    # at least 2, so a 1-voxel output would violate its guards.
    rf = model.receptive_field
    dims = {
        0: torch.export.Dim("batch", min=1),
        2: torch.export.Dim("x", min=rf[0] + 1),
        3: torch.export.Dim("y", min=rf[1] + 1),
        4: torch.export.Dim("z", min=rf[2] + 1),
    }
    with torch.no_grad():
        program = torch.export.export(model, (sample,), dynamic_shapes=(dims,))
    torch.export.save(program, str(path))
