"""The README's Python example runs as written (on a synthetic scan and a hand-built model)."""

from __future__ import annotations

import re
from pathlib import Path

import nibabel as nib
import numpy as np
from conftest import synthetic_case
from ideal_model import write_intensity_checkpoint

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_python_example_runs(tmp_path, monkeypatch, capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks, "README shows a Python example"
    code = "\n".join(line.removeprefix("  ") for line in blocks[0].splitlines())
    image, _, roi = synthetic_case(np.random.default_rng(0), (32, 32, 32))
    affine = np.diag([-1.0, 1.0, 1.0, 1.0])  # LAS, as many NIfTI files are
    nib.save(nib.Nifti1Image(image, affine), str(tmp_path / "sub-01_T1w.nii.gz"))
    nib.save(nib.Nifti1Image(roi, affine), str(tmp_path / "sub-01_brainmask.nii.gz"))
    names = {1: "Left-Thalamus", 2: "Right-Thalamus", 3: "Brain-Stem"}
    write_intensity_checkpoint(tmp_path / "model.pt", names=names, label_pairs=((1, 2),))
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
    written = nib.load(str(tmp_path / "sub-01_dseg.nii.gz"))
    assert written.shape == image.shape and np.allclose(written.affine, affine)
    volume, resampled = capsys.readouterr().out.split()
    assert float(volume) > 0 and resampled == "False"
