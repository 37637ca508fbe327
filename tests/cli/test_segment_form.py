"""``segment``'s forms: which positionals are the INI, the checkpoints and the images.

Files are hand-made: a few signature bytes are all the sort reads.
"""

from __future__ import annotations

import gzip
import pickle
import shutil
from importlib import resources
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from livianet.cli import main
from livianet.cli.segment_form import SegmentForm, file_kind, segment_form
from livianet.networks.pretrained import DEFAULT_MODEL


def _file(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def _nifti1_header() -> bytes:
    """348 bytes: sizeof_hdr, zeros, and the single-file magic at offset 344."""
    return (348).to_bytes(4, "little") + bytes(340) + b"n+1\x00"


class _Payload:
    """Unpickling this would create a file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_file_kind_reads_the_signature_not_the_name(tmp_path):
    torch.save({"kind": "livianet-checkpoint"}, tmp_path / "weights.bin")
    assert file_kind(tmp_path / "weights.bin") == "checkpoint"  # torch.save: a zip archive
    assert file_kind(_file(tmp_path / "old.dat", pickle.dumps({"a": 1}, protocol=2))) == (
        "checkpoint"
    )
    assert file_kind(_file(tmp_path / "scan.pt", gzip.compress(b"x" * 400))) == "volume"
    assert file_kind(_file(tmp_path / "plain.pt", _nifti1_header())) == "volume"
    assert file_kind(_file(tmp_path / "v5.pt", b"MATLAB 5.0 MAT-file, Platform: x")) == "volume"
    assert file_kind(_file(tmp_path / "v73.pt", b"\x89HDF\r\n\x1a\n" + bytes(8))) == "volume"
    two = (540).to_bytes(4, "little") + b"n+2\x00" + bytes(8)
    assert file_kind(_file(tmp_path / "two.pt", two)) == "volume"
    for unknown in (
        _file(tmp_path / "empty.pt", b""),
        _file(tmp_path / "notes.txt", b"notes\n"),
        tmp_path / "missing.pt",
        tmp_path,  # a folder
    ):
        assert file_kind(unknown) is None, unknown


def test_file_kind_never_runs_a_pickle(tmp_path):
    marker = tmp_path / "payload-ran"
    torch.save({"payload": _Payload(marker)}, tmp_path / "evil.pt")
    _file(tmp_path / "evil.pkl", pickle.dumps(_Payload(marker)))
    assert file_kind(tmp_path / "evil.pt") == "checkpoint"
    assert file_kind(tmp_path / "evil.pkl") == "checkpoint"
    assert not marker.exists()


def test_an_ini_first_is_the_ini_form_whatever_follows(tmp_path):
    ckpt = tmp_path / "model.pt"
    for name in ("seg.ini", "SEG.CFG", "seg.conf"):
        assert segment_form(tmp_path / name, [ckpt]) == SegmentForm(tmp_path / name, (ckpt,), ())
    assert segment_form(tmp_path / "seg.ini", []) == SegmentForm(tmp_path / "seg.ini", (), ())
    two = segment_form(tmp_path / "seg.ini", [ckpt, ckpt])  # the handler counts them
    assert two.checkpoints == (ckpt, ckpt) and two.images == ()


def test_leading_checkpoints_then_images(tmp_path):
    a, b = tmp_path / "A.pt", tmp_path / "B.bin"
    torch.save({}, a)
    torch.save({}, b)
    t1 = _file(tmp_path / "T1.mgz", gzip.compress(b"mgh"))
    t2 = tmp_path / "T2.nii.gz"  # missing: a volume by its name
    form = segment_form(a, [b, t1, t2])
    assert form == SegmentForm(None, (a, b), (t1, t2))
    assert segment_form(a, [t1]) == SegmentForm(None, (a,), (t1,))
    assert segment_form(a, [b]) == SegmentForm(None, (a, b), ())  # no image: the handler says so


def test_images_only_runs_the_built_in_model_or_model_flag(tmp_path):
    t1 = _file(tmp_path / "t1.nii.gz", gzip.compress(b"nifti"))
    folder = tmp_path / "scans"
    folder.mkdir()
    pattern = tmp_path / "bids" / "sub-*" / "anat" / "*_T1w.nii.gz"
    assert segment_form(t1, []) == SegmentForm(None, (), (t1,))
    assert segment_form(folder, [t1]) == SegmentForm(None, (), (folder, t1))
    assert segment_form(pattern, []) == SegmentForm(None, (), (pattern,))
    # A checkpoint after an image is not a leading one: it is taken as an image.
    late = tmp_path / "late.pt"
    torch.save({}, late)
    assert segment_form(t1, [late]) == SegmentForm(None, (), (t1, late))


def test_paths_whose_bytes_say_nothing_go_by_their_name(tmp_path):
    image = _file(tmp_path / "MR_Img1.nii.gz", gzip.compress(b"nifti"))
    missing, empty = tmp_path / "nothing.pt", _file(tmp_path / "empty.pt", b"")
    notes = _file(tmp_path / "notes.txt", b"notes\n")
    # First: anything not named as a volume is a checkpoint, so its reader names the problem.
    for first in (missing, empty, notes, Path("builtin"), Path(DEFAULT_MODEL)):
        assert segment_form(first, [image]).checkpoints == (first,), first
    assert segment_form(tmp_path / "gone.nii.gz", [image]).checkpoints == ()
    # Later: checkpoint suffixes only.
    ckpt = tmp_path / "first.pt"
    torch.save({}, ckpt)
    assert segment_form(ckpt, [missing, image]).checkpoints == (ckpt, missing)
    assert segment_form(ckpt, [empty, image]).checkpoints == (ckpt, empty)
    assert segment_form(ckpt, [tmp_path / "x.PTH", image]).checkpoints == (ckpt, tmp_path / "x.PTH")
    assert segment_form(ckpt, [notes, image]).images == (notes, image)


def test_bytes_outrank_the_name(tmp_path):
    ckpt = tmp_path / "looks_like.nii.gz"
    torch.save({}, ckpt)
    scan = _file(tmp_path / "looks_like.pt", _nifti1_header())
    assert segment_form(ckpt, [scan]) == SegmentForm(None, (ckpt,), (scan,))
    assert segment_form(scan, []) == SegmentForm(None, (), (scan,))


# --- through the command line, with the built-in model's weights as the checkpoint file ----


def _builtin_copy(path: Path) -> Path:
    source = resources.files("livianet") / "pretrained" / f"{DEFAULT_MODEL}.pt"
    with resources.as_file(source) as weights:
        shutil.copyfile(weights, path)
    return path


def _scan(path: Path) -> Path:
    shape = (20, 22, 20)  # the built-in model's receptive field is 19 mm
    grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, s) for s in shape], indexing="ij"))
    image = np.where((grid**2).sum(0) < 0.8, 100.0, 0.0).astype(np.float32)
    nib.save(nib.Nifti1Image(image, np.eye(4)), path)
    return path


def _labels(path: Path) -> np.ndarray:
    return np.asarray(nib.load(path).dataobj)


def test_a_second_checkpoint_of_any_name_makes_an_ensemble(tmp_path):
    first = _builtin_copy(tmp_path / "A.pt")
    second = _builtin_copy(tmp_path / "model.bin")
    scan = _scan(tmp_path / "t1.nii.gz")
    common = ["--no-report", "--device", "cpu", "--precision", "float32"]
    args = [str(first), str(scan), "--out", str(tmp_path / "one")]
    assert main(["segment", *args, *common]) == 0
    two = [str(first), str(second), str(scan), "--out", str(tmp_path / "two")]
    assert main(["segment", *two, *common]) == 0
    # The same network twice averages to the same probabilities, hence the same labels.
    np.testing.assert_array_equal(
        _labels(tmp_path / "two" / "Segmentation_t1.nii.gz"),
        _labels(tmp_path / "one" / "Segmentation_t1.nii.gz"),
    )
    assert not (tmp_path / "two" / "Segmentation_model.nii.gz").exists()


@pytest.mark.parametrize("name", ["evil.bin", "evil.pt"])
def test_a_hostile_second_checkpoint_is_refused_unrun(capsys, tmp_path, name):
    marker = tmp_path / "payload-ran"
    evil = tmp_path / name
    torch.save({"kind": "livianet-checkpoint", "payload": _Payload(marker)}, evil)
    first = _builtin_copy(tmp_path / "A.pt")
    argv = [str(first), str(evil), str(_scan(tmp_path / "t1.nii.gz")), "--out", str(tmp_path)]
    assert main(["segment", *argv]) == 1
    err = capsys.readouterr().err
    assert f"livianet: error: {evil}: refused:" in err and "Traceback" not in err
    assert not marker.exists()


def test_a_positional_checkpoint_with_model_flag_is_refused(capsys, tmp_path):
    ckpt = _builtin_copy(tmp_path / "weights.bin")
    scan = _scan(tmp_path / "t1.nii.gz")
    argv = ["segment", str(ckpt), str(scan), "--model", DEFAULT_MODEL, "--out", str(tmp_path)]
    assert main(argv) == 1
    assert "give the checkpoint either first or with --model, not both" in capsys.readouterr().err
