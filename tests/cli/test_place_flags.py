"""A structure drawn in the wrong place is flagged, through ``segment`` and ``livianet report``.

The intensity model labels the synthetic scan exactly, and its checkpoint records the
scan's own structures' places (as training would from this one scan): so the segmentation
is in place, and only a structure moved afterwards, in the label map on disk, is out of it.
"""

from __future__ import annotations

import csv
import json

import nibabel as nib
import numpy as np
from conftest import synthetic_case, write_nifti
from ideal_model import write_intensity_checkpoint

from livianet.cli import main
from livianet.evaluation.placement import mask_frame, place_ranges, structure_places


def _qc(folder) -> dict[str, str]:
    with (folder / "qc.csv").open(newline="") as handle:
        return next(csv.DictReader(handle))


def test_a_moved_structure_is_flagged_when_the_report_is_rebuilt(tmp_path, capsys):
    image, labels, roi = synthetic_case(np.random.default_rng(3), shape=(40, 40, 40))
    t1 = write_nifti(tmp_path / "in" / "s.nii.gz", image)
    mask = write_nifti(tmp_path / "in" / "mask.nii.gz", roi)
    affine = nib.load(str(t1)).affine
    places = structure_places(labels, affine, 4, mask_frame(roi > 0, affine))
    known = {k: v.as_dict() for k, v in place_ranges([places, places]).items()}
    model = write_intensity_checkpoint(tmp_path / "m.pt", training_places=known)
    out = tmp_path / "out"
    assert main(["segment", str(model), str(t1), "--roi", str(mask), "--out", str(out)]) == 0
    entry = json.loads((out / "segmentation.json").read_text())["scans"][0]
    assert entry["brain_frame"]["source"] == "roi" and set(entry["places"]) == {"1", "2", "3"}
    row = _qc(out)
    assert row["flagged"] == "0", row["reasons"]
    assert float(row["structure_1_beyond_place_mm"]) == 0.0

    segmentation = out / "Segmentation_s.nii.gz"
    stored = nib.load(str(segmentation))
    moved = np.asanyarray(stored.dataobj).copy()
    one = moved == 1
    moved[one] = 0
    moved[np.roll(one, -10, axis=1) & (moved == 0)] = 1  # 10 mm posterior, about the same size
    nib.save(nib.Nifti1Image(moved, stored.affine, stored.header), str(segmentation))
    assert main(["report", str(out)]) == 0
    row = _qc(out)
    assert row["flagged"] == "1"
    assert "structure_1 centroid" in row["reasons"] and "posterior" in row["reasons"]
    assert float(row["structure_1_beyond_place_mm"]) > 5
    assert "structure_2" not in row["reasons"]  # the others stay where they were
    assert "structure_1 centroid" in (out / "report.html").read_text()
