"""`livianet export`: ONNX and torch.export programs give the network's own logits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from livianet.cli import main
from livianet.config import ModelConfig, to_plain
from livianet.errors import ConfigError
from livianet.networks import LiviaNet, build_model, export_model, save_checkpoint

# Mixed kernel sizes (an odd crop offset on some axes) and two multi-scale layers.
CONFIG = ModelConfig(
    conv_channels=(4, 6, 8),
    conv_kernels=((3, 3, 3), (2, 3, 3), (3, 2, 3)),
    fc_channels=(10,),
    num_classes=3,
    dropout_rates=(0.25, 0.5),
    intermediate_layers=(1, 0),
)
# Export traces a (RF + 16)^3 tile; these differ in size, shape, parity and batch.
TILES = [(1, 8, 8, 8), (2, 11, 14, 9), (3, 20, 17, 24)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[LiviaNet, Path]:
    """A network in eval mode with non-trivial batch-norm statistics, and its checkpoint."""
    model = build_model(CONFIG, seed=7)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm3d):
                shape = module.running_mean.shape
                module.running_mean.copy_(torch.randn(shape, generator=generator))
                module.running_var.copy_(torch.rand(shape, generator=generator) + 0.5)
                module.weight.copy_(torch.rand(shape, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(shape, generator=generator) * 0.1)
    path = tmp_path_factory.mktemp("export") / "net.pt"
    save_checkpoint(
        {"model_config": to_plain(CONFIG), "model_state": model.state_dict(), "epoch": 1}, path
    )
    return model.eval(), path


def tile(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(shape[0], 1, *shape[1:], generator=generator)


def logits(model: LiviaNet, x: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return model(x).numpy()


def test_onnx_matches_pytorch_through_the_cli(
    trained: tuple[LiviaNet, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import onnxruntime

    model, checkpoint = trained
    output = tmp_path / "net.onnx"
    assert main(["export", str(checkpoint), str(output)]) == 0
    assert output.is_file()
    assert "exported to" in capsys.readouterr().out
    assert [p.name for p in tmp_path.iterdir()] == ["net.onnx"]  # no temporary left behind
    session = onnxruntime.InferenceSession(str(output), providers=["CPUExecutionProvider"])
    rf = CONFIG.receptive_field
    for i, shape in enumerate([(1, *rf), (1, *(r + 16 for r in rf)), *TILES]):
        x = tile(shape, seed=i)
        (got,) = session.run(None, {"image": x.numpy()})
        expected = logits(model, x)
        assert got.shape == expected.shape == (shape[0], 3, *CONFIG.output_size(shape[1:]))
        np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-4)


def test_pt2_matches_pytorch(trained: tuple[LiviaNet, Path], tmp_path: Path) -> None:
    model, checkpoint = trained
    output = export_model(checkpoint, tmp_path / "net.pt2")
    program = torch.export.load(str(output)).module()
    for i, shape in enumerate(TILES):
        x = tile(shape, seed=10 + i)
        with torch.no_grad():
            got = program(x).numpy()
        np.testing.assert_allclose(got, logits(model, x), atol=1e-5, rtol=1e-5)


def test_bad_suffix(trained: tuple[LiviaNet, Path], tmp_path: Path, capsys) -> None:
    _, checkpoint = trained
    expected = r"net\.onnx2: expected a file name ending in \.onnx or \.pt2"
    with pytest.raises(ConfigError, match=expected):
        export_model(checkpoint, tmp_path / "net.onnx2")
    capsys.readouterr()
    assert main(["export", str(checkpoint), str(tmp_path / "net.txt")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("livianet: error: ") and "net.txt" in err and ".pt2" in err
    assert err.count("\n") == 1
    assert not list(tmp_path.iterdir())


def test_missing_checkpoint(tmp_path: Path, capsys) -> None:
    assert main(["export", str(tmp_path / "absent.pt"), str(tmp_path / "net.onnx")]) == 1
    err = capsys.readouterr().err
    assert "checkpoint not found" in err and err.count("\n") == 1
