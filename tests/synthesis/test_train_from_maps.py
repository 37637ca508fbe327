"""``livianet train`` drawing from ``[Label Maps]``: the batch stream, maps alone, maps beside scans."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from conftest import write_dataset
from synthesis_fixtures import write_ini, write_maps

from livianet.cli.main import main
from livianet.config import ModelConfig, TrainConfig, load_training_config
from livianet.networks import Checkpoint
from livianet.synthesis import LabelMapSource, row_seeds
from livianet.training import TrainOptions, train
from livianet.training.batches import subepoch_batches, synthetic_rows
from livianet.training.synthetic_data import run_data

PAIRS = "flipLeftRight = 1\nlabelPairs = [[1, 3], [2, 4]]"


def _ini(tmp_path: Path, extra: str = "", images: Path | None = None, epochs: int = 1) -> Path:
    """The synthesis tests' INI, one short epoch, over three maps (the last one held out)."""
    real = ""
    if images is not None:
        real = f"""
            imagesFolder = {images}/MR
            GroundTruthFolder = {images}/Label
            ROIFolder = {images}/ROI
            indexesForTraining = [0, 1]
            indexesForValidation = [2]
        """
    maps = write_maps(tmp_path / "maps", 3)
    ini = write_ini(tmp_path, maps, f"indexesForValidation = [2]\n{PAIRS}\n{extra}", real)
    text = ini.read_text().replace(
        "[Training Parameters]\n",
        f"[Training Parameters]\nnumber Of Epochs = {epochs}\nnumber Of SubEpochs = 1\n",
    )
    ini.write_text(text)
    return ini


def _real_data(tmp_path: Path) -> Path:
    return write_dataset(tmp_path / "data", num_cases=3, shape=(20, 20, 20), num_classes=5)


# ----------------------------------------------------------------------------- the batch stream


def test_rows_are_marked_by_a_stream_of_their_own():
    marked = synthetic_rows(0.25, 16, 5, 1, 0)
    assert marked.sum() == 4 and np.array_equal(marked, synthetic_rows(0.25, 16, 5, 1, 0))
    assert not np.array_equal(marked, synthetic_rows(0.25, 16, 5, 1, 1))  # another sub-epoch
    assert not synthetic_rows(0.0, 16, 5, 1, 0).any() and synthetic_rows(1.0, 16, 5, 1, 0).all()


def _stream(config, sources, train: TrainConfig, model: ModelConfig, synthetic=None, **kw):
    return list(subepoch_batches(sources, train, model, 1, 0, synthetic=synthetic, **kw))


def test_mixed_batches_keep_the_real_stream_and_shard_like_one_batch(tmp_path):
    config = load_training_config(_ini(tmp_path, images=_real_data(tmp_path)))
    data, source = run_data(config, _main())
    assert source is not None and len(data.sources) == 2 and len(data.validation) == 2
    train, model = replace(config.train, samples_per_subepoch=16), config.model
    real_only = _stream(config, data.sources, train, model)
    none = _stream(config, data.sources, train, model, _Share(source, 0.0))
    for a, b in zip(real_only, none, strict=True):  # share 0: today's stream exactly
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    mixed = _stream(config, data.sources, train, model, source)
    marked = synthetic_rows(0.5, 16, train.seed, 1, 0)
    images = np.concatenate([b[0] for b in mixed])
    targets = np.concatenate([b[1] for b in mixed])
    real_images = np.concatenate([b[0] for b in real_only])
    assert np.array_equal(images[~marked], real_images[~marked])  # real rows as without maps
    drawn, drawn_targets = source.patches(row_seeds(train.seed, 1, 0, np.flatnonzero(marked)))
    assert np.array_equal(images[marked], drawn) and np.array_equal(targets[marked], drawn_targets)
    halves = replace(train, batch_size=2)
    rank0 = _stream(config, data.sources, halves, model, source, rank=0, world_size=2)
    rank1 = _stream(config, data.sources, halves, model, source, rank=1, world_size=2)
    split = np.concatenate(
        [np.concatenate([a[0], b[0]]) for a, b in zip(rank0, rank1, strict=True)]
    )
    assert np.array_equal(split, images)  # two processes draw what one draws


class _Share:
    """A source with another share (the stream reads ``share`` and calls ``patches``)."""

    def __init__(self, source: LabelMapSource, share: float) -> None:
        self.source, self.share = source, share

    def patches(self, seeds):
        return self.source.patches(seeds)


def _main():
    from livianet.runtime import DistInfo

    return DistInfo()


# ----------------------------------------------------------------------------- livianet train


def _metrics(run: Path) -> list[dict[str, str]]:
    with open(next(run.glob("*_metrics.csv")), newline="") as handle:
        return list(csv.DictReader(handle))


def test_train_on_label_maps_alone_validates_on_renders(tmp_path, capsys):
    ini = _ini(tmp_path)
    assert main(["train", str(ini), "--device", "cpu"]) == 0
    run = tmp_path / "out" / "SynthRun"
    checkpoint = run / "Networks" / "synthetic_Epoch1.pt"
    assert f"last checkpoint: {checkpoint}" in capsys.readouterr().out
    rows = _metrics(run)
    assert len(rows) == 1 and 0.0 <= float(rows[0]["val_dice_mean"]) <= 1.0
    saved = sorted(p.name for p in (run / "Pred" / "Validation").iterdir())
    assert len(saved) == 1 and "map_02_render" in saved[0]  # the held-out map, rendered
    meta = Checkpoint.read(checkpoint).meta
    assert meta.orientation == "RAS" and meta.spacing == (1.0, 1.0, 1.0)
    assert meta.original_labels == {1: 10, 2: 11, 3: 49, 4: 50}
    assert meta.label_pairs == ((1, 3), (2, 4)) and set(meta.training_volumes) == {1, 2, 3, 4}


def test_train_on_maps_beside_real_scans(tmp_path):
    ini = _ini(tmp_path, "syntheticShare = 0.5", images=_real_data(tmp_path))
    result = train(load_training_config(ini), TrainOptions(device="cpu", progress=False))
    assert result.last_checkpoint is not None and result.last_checkpoint.is_file()
    row = result.history[0]
    assert np.isfinite(row["train_loss"]) and 0.0 <= row["val_dice_mean"] <= 1.0
    names = sorted(p.name for p in (result.run_dir / "Pred" / "Validation").iterdir())
    assert len(names) == 2 and any("render" in n for n in names)  # a real scan and a render


def test_resume_draws_the_same_synthetic_patches(tmp_path):
    ini = _ini(tmp_path, epochs=2)
    config = load_training_config(ini, label_maps_only=True)
    whole = train(config, TrainOptions(device="cpu", progress=False))
    first = whole.run_dir / "Networks" / "synthetic_Epoch1.pt"
    again = train(config, TrainOptions(device="cpu", progress=False, resume=first))
    ours, theirs = whole.model.state_dict(), again.model.state_dict()
    for key, value in ours.items():
        assert torch.equal(value, theirs[key]), key


def test_a_map_without_a_declared_code_stops_training_in_one_line(tmp_path, capsys):
    ini = _ini(tmp_path)
    data = np.asarray(nib.load(str(tmp_path / "maps" / "map_01.nii.gz")).dataobj)
    data[data == 50] = 2
    nib.save(nib.Nifti1Image(data, np.eye(4)), str(tmp_path / "maps" / "map_01.nii.gz"))
    assert main(["train", str(ini), "--device", "cpu"]) == 1
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("livianet: error: ")
    assert "map_01.nii.gz: holds no voxel of code 50, declared for class 4" in last


HARNESS = """
import os, sys, torch
from livianet.config import load_training_config
from livianet.training import TrainOptions, train
from livianet.runtime import distributed

result = train(load_training_config(sys.argv[1]), TrainOptions(device="cpu", progress=False))
rank = int(os.environ["RANK"])
state = {k: v.detach().clone() for k, v in result.model.state_dict().items()}
torch.save(state, sys.argv[2] + f"/weights_rank{rank}.pt")
distributed.shutdown()
"""


@pytest.mark.slow  # the stream's sharding is checked above without processes
def test_mixed_training_runs_under_torchrun(tmp_path):
    data = _real_data(tmp_path)
    ini = _ini(tmp_path / "two", "syntheticShare = 0.5", images=data)
    ini.write_text(ini.read_text().replace("batch_size = 4", "batch_size = 2"))
    harness = tmp_path / "harness.py"
    harness.write_text(textwrap.dedent(HARNESS))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("RANK", None)
    env.pop("WORLD_SIZE", None)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    done = subprocess.run(
        [*command, str(harness), str(ini), str(tmp_path / "two")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rank0 = torch.load(tmp_path / "two" / "weights_rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "two" / "weights_rank1.pt", weights_only=True)
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0)
    single = train(
        load_training_config(_ini(tmp_path / "one", "syntheticShare = 0.5", images=data)),
        TrainOptions(device="cpu", progress=False),
    )
    reference = single.model.state_dict()
    for key, value in rank0.items():
        if value.is_floating_point():
            np.testing.assert_allclose(
                value.numpy(), reference[key].numpy(), rtol=1e-3, atol=1e-4, err_msg=key
            )
