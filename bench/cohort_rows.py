"""The cohort row: one ``livianet segment`` call over many scans, against one call per scan.

The cohort is every scan of the data folder written as NIfTI in several
orientations (RAS, LIA, PSR, ILA; cycled to ``size`` scans), so that each scan
is read, reoriented, computed and written as a user's folder would be. Seconds
per scan of the one call, against the single-scan row of the same run, say
what reading ahead, writing behind and paying start-up once save.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import livianet_command
from bench.memory import GIB, run_child
from bench.segment_rows import segmentation_row

ORIENTATIONS = ("RAS", "LIA", "PSR", "ILA")


def write_cohort(data: Path, orientation: str, size: int, folder: Path) -> list[tuple[Path, Path]]:
    """``size`` (image, ROI) NIfTI pairs from the ``.mat`` scans of ``data`` (stored as ``orientation``)."""
    import nibabel as nib

    from livianet.data.orientation import affine_for_codes, reorientation
    from livianet.io import load_volume

    folder.mkdir(parents=True, exist_ok=True)
    scans = sorted((data / "MR").glob("MR_Img*.mat"))
    pairs = []
    for n, (scan, codes) in enumerate(itertools.product(scans, ORIENTATIONS)):
        if n == size:
            break
        roi_file = data / "ROI" / scan.name.replace("MR_", "ROI_")
        arrays = [load_volume(scan).data.astype(np.float32), load_volume(roi_file).data > 0]
        stored = affine_for_codes(orientation, arrays[0].shape)
        turn = reorientation(stored, arrays[0].shape, codes)
        paths = (
            folder / f"{scan.stem}_{codes}_T1.nii.gz",
            folder / f"{scan.stem}_{codes}_roi.nii.gz",
        )
        for array, path in zip((arrays[0], arrays[1].astype(np.uint8)), paths, strict=True):
            nib.save(nib.Nifti1Image(turn.apply(array), turn.affine), str(path))
        pairs.append(paths)
    if len(pairs) < size:  # fewer scans than asked: repeat them under other names
        for n, (image, roi) in zip(range(size - len(pairs)), itertools.cycle(list(pairs))):
            copies = [folder / f"copy{n}_{p.name}" for p in (image, roi)]
            for source, target in zip((image, roi), copies, strict=True):
                target.write_bytes(source.read_bytes())
            pairs.append((copies[0], copies[1]))
    return pairs


def cohort_row(
    checkpoint: Path, data: Path, orientation: str | None, size: int, work: Path
) -> dict[str, Any]:
    """One ``segment`` call over ``size`` scans, and one over the first scan alone."""
    if orientation is None:
        return {"skipped": "the scans' orientation is unknown (--orientation none)"}
    pairs = write_cohort(data, orientation, size, work / "cohort")
    first = pairs[0]
    single = segmentation_row(
        "cohort_single",
        livianet_command("segment", str(checkpoint), str(first[0]), "--roi", str(first[1]),
                         "--out", str(work / "seg_cohort_single")),
        work / "seg_cohort_single", first[0], np.zeros(1, bool), None, work / "logs",
    )  # fmt: skip
    out = work / "seg_cohort"
    command = livianet_command(
        "segment", str(checkpoint), *(str(i) for i, _ in pairs),
        "--roi", *(str(r) for _, r in pairs), "--out", str(out),
    )  # fmt: skip
    print(f"  cohort: livianet segment CKPT <{size} scans> ...", flush=True)
    child = run_child(command, work / "logs" / "cohort.log")
    row: dict[str, Any] = {
        "command": f"livianet segment CKPT <{size} NIfTI scans in {', '.join(ORIENTATIONS)}> "
        "--roi <their masks> --out DIR",
        "scans": size,
        "seconds": child.seconds,
        "seconds_per_scan": child.seconds / size,
        "peak_rss_bytes": child.peak_rss_bytes,
        "returncode": child.returncode,
    }
    if child.returncode:
        print(f"    FAILED (exit {child.returncode}); log {child.log}", flush=True)
        return row
    written = sorted(out.glob("Segmentation_*.nii.gz"))
    row["written"] = len(written)
    row["single"] = single
    if single.get("seconds") and not single.get("returncode"):
        row["speedup_per_scan"] = single["seconds"] / row["seconds_per_scan"]
    print(
        f"    {child.seconds:.1f} s, {row['seconds_per_scan']:.1f} s/scan, "
        f"peak {child.peak_rss_bytes / GIB:.2f} GiB, {len(written)} label maps",
        flush=True,
    )
    return row
