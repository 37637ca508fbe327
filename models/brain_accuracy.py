"""Brain extraction's effect on accuracy: the built-in model with a given mask and with an extracted one.

    python models/brain_accuracy.py [--data ../shared/data] [--maps 1,2] [--out FILE]

(a) The five example scans (skull-stripped, ``.mat`` stored ``ILA``), segmented with their
ROI files and without (the brain extracted by deepbet): mean Dice over labels 1-8 against
their labels, per scan and over the five, and the difference (issue 27's goal: within 0.01).
(b) Whole heads drawn from SynthSeg's label maps (skull, scalp, eyes included) with fixed
T1-like intensities per code (:func:`t1_like`), segmented with no mask (extraction), with
the map's brain labels as the mask, and with those labels less their CSF (the convention of
the training ROIs); Dice against the map's 10-13 / 49-52 as classes 1-8, the mask's Dice
against the map's brain labels. (c) ``brain_mask`` alone, timed on one scan of each kind,
the networks loaded once (their load timed apart). Single process, the Python API, the
precision ``auto`` resolves to. Nothing here is tuned to these scans.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

from livianet import Segmenter
from livianet.data.orientation import affine_for_codes
from livianet.errors import DataError
from livianet.evaluation import dice_per_class
from livianet.inference.brain import BrainExtractor, brain_mask
from livianet.io import Volume, load_volume

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CLASS_CODES = (10, 11, 12, 13, 49, 50, 51, 52)  # FreeSurfer's codes of the model's classes 1-8
CSF_CODES = (4, 5, 14, 15, 24, 43, 44, 72)  # ventricles and CSF (livianet.synthesis.priors)
BRAIN_CODES_BELOW = 500  # SynthSeg's maps: 502-530 are tissues outside the brain
# T1-like means on a 0-255 scale, chosen once from typical 3 T MPRAGE contrast (not fitted):
TISSUE_MEANS = {"csf": 30.0, "grey": 75.0, "white": 110.0}
STRUCTURE_MEANS = {10: 92.0, 49: 92.0, 11: 78.0, 50: 78.0, 12: 84.0, 51: 84.0, 13: 100.0, 52: 100.0}
# Outside the brain, by where each code lies (515 borders the brain: skull; 511 is the outer
# surface: skin; 507 the bulk of the soft tissue; 509 outer: fat); the rest mid-grey.
HEAD_MEANS = {515: 20.0, 511: 70.0, 507: 55.0, 509: 130.0, 502: 25.0, 516: 40.0}
OTHER_HEAD_MEAN = 60.0
NOISE_SD, BLUR_SD = 4.0, 0.6  # intensity noise, partial-volume blur (voxels)


def t1_like(codes: np.ndarray, seed: int) -> np.ndarray:
    """A T1-like image of a label map: a mean per code, blur, noise, a smooth bias field; air 0."""
    from livianet.synthesis.priors import CSF, FREESURFER_TISSUES, GREY

    names = {CSF: "csf", GREY: "grey"}
    image = np.zeros(codes.shape, np.float32)
    for code in np.unique(codes):
        if code == 0:
            continue
        if code in STRUCTURE_MEANS:
            mean = STRUCTURE_MEANS[int(code)]
        elif code < BRAIN_CODES_BELOW:
            tissue = FREESURFER_TISSUES.get(int(code), GREY)
            mean = TISSUE_MEANS[names.get(tissue, "white")]
        else:
            mean = HEAD_MEANS.get(int(code), OTHER_HEAD_MEAN)
        image[codes == code] = mean
    rng = np.random.default_rng(seed)
    image = ndimage.gaussian_filter(image, BLUR_SD)
    coarse = ndimage.zoom(rng.normal(0, 0.08, (4, 4, 4)), np.asarray(codes.shape) / 4, order=1)
    image *= np.exp(coarse[tuple(slice(0, n) for n in codes.shape)]).astype(np.float32)
    image += rng.normal(0, NOISE_SD, codes.shape).astype(np.float32)
    image[codes == 0] = 0.0  # air left zero, so that today's no-mask path (nonzero voxels) runs
    return np.clip(image, 0, 255).astype(np.float32)


def mean_dice(labels: np.ndarray, reference: np.ndarray, classes: int) -> float:
    return float(np.nanmean(dice_per_class(labels, reference, classes)[1:]))


def mask_dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b)))


def timed(call, *args, **options):
    tick = time.perf_counter()
    value = call(*args, **options)
    return value, time.perf_counter() - tick


def example_scans(segmenter: Segmenter, data: Path) -> list[dict]:
    rows = []
    for n in range(1, 6):
        image, roi = data / "MR" / f"MR_Img{n}.mat", data / "ROI" / f"ROI_Img{n}.mat"
        reference = load_volume(data / "Label" / f"GT_Img{n}.mat").data.astype(np.int64)
        given, t_given = timed(segmenter.segment, image, roi, orientation="ILA")
        found, t_found = timed(segmenter.segment, image, orientation="ILA")
        assert found.brain_mask is not None, f"{image}: no brain found ({found.warnings})"
        roi_mask = load_volume(roi).data > 0
        row = {
            "scan": image.name,
            "dice_with_roi": mean_dice(given.labels, reference, segmenter.num_classes),
            "dice_extracted": mean_dice(found.labels, reference, segmenter.num_classes),
            "seconds_with_roi": t_given,
            "seconds_extracted": t_found,
            "mask_cm3": found.brain_mask.volume_mm3 / 1000,
            "mask_dice_vs_roi_file": mask_dice(found.brain_mask.mask, roi_mask),
        }
        rows.append(row)
        print(f"{row['scan']:<12} with ROI {row['dice_with_roi']:.4f}  extracted "
              f"{row['dice_extracted']:.4f}  diff {row['dice_extracted'] - row['dice_with_roi']:+.4f}"
              f"  ({t_given:.1f} s / {t_found:.1f} s; mask {row['mask_cm3']:.0f} cm3)", flush=True)  # fmt: skip
    with_roi = np.mean([r["dice_with_roi"] for r in rows])
    extracted = np.mean([r["dice_extracted"] for r in rows])
    print(f"{'mean':<12} with ROI {with_roi:.4f}  extracted {extracted:.4f}  "
          f"diff {extracted - with_roi:+.4f}", flush=True)  # fmt: skip
    return rows


def whole_heads(segmenter: Segmenter, maps: Path, indexes: list[int]) -> list[dict]:
    rows = []
    lookup = np.zeros(max(CLASS_CODES) + 1, np.int64)
    lookup[list(CLASS_CODES)] = np.arange(1, len(CLASS_CODES) + 1)
    for i in indexes:
        path = maps / f"training_seg_{i:02d}.nii.gz"
        stored = load_volume(path)
        codes = stored.data.astype(np.int64)
        reference = np.where(codes <= max(CLASS_CODES), lookup[np.minimum(codes, 52)], 0)
        brain = (codes > 0) & (codes < BRAIN_CODES_BELOW)
        tissue = brain & ~np.isin(codes, CSF_CODES)
        image = (t1_like(codes, seed=i), stored.affine)
        classes = segmenter.num_classes
        row: dict = {"map": path.name}
        found, row["seconds_extracted"] = timed(segmenter.segment, image)
        row["dice_extracted"] = mean_dice(found.labels, reference, classes)
        if found.brain_mask is not None:
            row["mask_dice_vs_brain_labels"] = mask_dice(found.brain_mask.mask, brain)
            row["mask_cm3"] = found.brain_mask.volume_mm3 / 1000
        for name, mask in (("brain_labels", brain), ("brain_labels_less_csf", tissue)):
            given = segmenter.segment(image, (mask.astype(np.uint8), stored.affine))
            row[f"dice_{name}"] = mean_dice(given.labels, reference, classes)
        try:
            plain = segmenter_without(segmenter).segment(image).labels
            row["dice_no_extraction"] = mean_dice(plain, reference, classes)
        except DataError as exc:
            row["no_extraction_refused"] = str(exc)
        rows.append(row)
        print(f"{path.name}: " + ", ".join(
            f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()
            if k != "map"), flush=True)  # fmt: skip
    return rows


def segmenter_without(segmenter: Segmenter) -> Segmenter:
    """The same networks with extraction off: today's behaviour for a scan without a mask."""
    return Segmenter(segmenter.members, segmenter.settings, segmenter.largest_component, None)


def extraction_times(segmenter: Segmenter, data: Path, maps: Path, index: int) -> dict:
    """``brain_mask`` alone, best of two, with the segmenter's (already loaded) networks."""
    extractor: BrainExtractor = segmenter.brain_extractor()
    scan = load_volume(data / "MR" / "MR_Img1.mat")
    stripped = Volume(scan.data, affine_for_codes("ILA", scan.data.shape), scan.header, scan.path)
    stored = load_volume(maps / f"training_seg_{index:02d}.nii.gz")
    codes = stored.data.astype(np.int64)
    head = Volume(t1_like(codes, seed=index), stored.affine, stored.header, Path("head"))
    times = {}
    for name, volume in (("stripped", stripped), ("whole_head", head)):
        runs = [timed(brain_mask, volume, extractor)[1] for _ in range(2)]
        times[f"{name}_s"] = min(runs)
        print(f"brain_mask on {name} {volume.data.shape}: {', '.join(f'{t:.2f}' for t in runs)} s",
              flush=True)  # fmt: skip
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--maps", default="1,2", help="SynthSeg label maps to render (1-20)")
    parser.add_argument("--out", type=Path, default=Path("bench/results/brain_accuracy.json"))
    args = parser.parse_args()
    segmenter = Segmenter.from_pretrained()
    _, load = timed(segmenter.brain_extractor)  # deepbet's networks, once for the run
    print(f"precision {segmenter.settings.precision}, device {segmenter.settings.device}, "
          f"deepbet loaded in {load:.2f} s", flush=True)  # fmt: skip
    indexes = [int(i) for i in args.maps.split(",") if i]
    maps = args.data / "synthseg-label-maps"
    report = {
        "precision": segmenter.settings.precision,
        "extractor_load_s": load,
        "example_scans": example_scans(segmenter, args.data / "livianet-example"),
        "whole_heads": whole_heads(segmenter, maps, indexes),
        "extraction": extraction_times(segmenter, args.data / "livianet-example", maps, indexes[0]),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
