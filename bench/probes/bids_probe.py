"""How fast ``livianet bids`` indexes a big dataset, and whether its memory stays flat over a cohort.

    python -m bench.probes.bids_probe index [--subjects 1000] [--repeat 3] [--validator]
    python -m bench.probes.bids_probe memory [--scans 200] [--side 32] [--checkpoint CKPT]

``index`` writes a BIDS layout of ``--subjects`` generated subjects (empty files, ``{}`` sidecars: anatomical,
functional, diffusion and field-map scans with their sidecars, every other subject with two
sessions; the walk reads names, not contents) and times :func:`livianet.bids.index_t1w` on it,
best of ``--repeat``; with ``--validator``, also one run of ``bids-validator-deno`` (which
opens every file). pybids and ancpbids are timed too when they are importable.

``memory`` writes a BIDS dataset of ``--scans`` small T1w scans (``--side``^3 voxels of
bright spheres, one subject each), runs the participant level on them in this process (the
built-in model unless ``--checkpoint``; brain masks from a generated ``--mask-derivatives``
folder, so no brain extraction) and prints the process's resident memory as scans finish:
flat means the peak after the first tens of scans stays where it was.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.memory import MIB, own_resident_bytes

# One subject's files per session, besides its T1w: what a typical MRI dataset holds.
_SESSION_FILES = (
    "anat/{p}_T1w.json",
    "anat/{p}_T2w.nii.gz",
    "anat/{p}_T2w.json",
    "func/{p}_task-rest_run-1_bold.nii.gz",
    "func/{p}_task-rest_run-1_bold.json",
    "func/{p}_task-nback_run-1_bold.nii.gz",
    "func/{p}_task-nback_run-1_bold.json",
    "func/{p}_task-nback_run-1_events.tsv",
    "dwi/{p}_dwi.nii.gz",
    "dwi/{p}_dwi.json",
    "dwi/{p}_dwi.bval",
    "dwi/{p}_dwi.bvec",
    "fmap/{p}_phasediff.nii.gz",
    "fmap/{p}_phasediff.json",
)


def write_layout(root: Path, subjects: int) -> int:
    """A dataset of ``subjects`` generated subjects (empty files, ``{}`` sidecars); its file count."""
    root.mkdir(parents=True)
    (root / "dataset_description.json").write_text(
        json.dumps({"Name": "generated", "BIDSVersion": "1.10.0"})
    )
    (root / "participants.tsv").write_text(
        "participant_id\n" + "".join(f"sub-{s:04d}\n" for s in range(subjects))
    )
    count = 2
    for s in range(subjects):
        sessions = ("1", "2") if s % 2 else (None,)
        for session in sessions:
            folder = root / f"sub-{s:04d}" / (f"ses-{session}" if session else "")
            prefix = f"sub-{s:04d}" + (f"_ses-{session}" if session else "")
            runs = ("_run-1", "_run-2") if s % 10 == 0 else ("",)
            names = [f"anat/{prefix}{run}_T1w.nii.gz" for run in runs]
            names += [pattern.format(p=prefix) for pattern in _SESSION_FILES]
            for name in names:
                (folder / name).parent.mkdir(parents=True, exist_ok=True)
                (folder / name).write_text("{}" if name.endswith(".json") else "")
            count += len(names)
    return count


def best_of(repeat: int, work: Callable[[], object]) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - start)
    return min(times), result


def probe_index(args: argparse.Namespace) -> None:
    from livianet.bids import index_t1w

    folder = Path(tempfile.mkdtemp(prefix="bids_probe_"))
    try:
        root = folder / "ds"
        start = time.perf_counter()
        files = write_layout(root, args.subjects)
        print(
            f"{args.subjects} subjects, {files} files written in {time.perf_counter() - start:.1f} s"
        )
        seconds, index = best_of(args.repeat, lambda: index_t1w(root))
        scans = len(index.scans)  # type: ignore[attr-defined]
        print(f"livianet.bids.index_t1w: {seconds:.3f} s (best of {args.repeat}), {scans} T1w")
        for module, call in (("bids", _pybids), ("ancpbids", _ancpbids)):
            if importlib.util.find_spec(module) is not None:
                seconds, found = best_of(1, lambda call=call: call(root))
                print(f"{module}: {seconds:.1f} s, {found} T1w")
        if args.validator:
            from livianet.bids.validator import run_validator

            seconds, findings = best_of(1, lambda: run_validator(root))
            count = "no report" if findings is None else f"{len(findings)} findings"  # type: ignore[arg-type]
            print(f"bids-validator-deno: {seconds:.1f} s ({count})")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _pybids(root: Path) -> int:
    from bids import BIDSLayout

    layout = BIDSLayout(root, validate=False)
    return len(layout.get(suffix="T1w", extension=[".nii", ".nii.gz"]))


def _ancpbids(root: Path) -> int:
    import ancpbids

    layout = ancpbids.BIDSLayout(str(root))
    return len(layout.get(suffix="T1w", extension=".nii.gz"))


def write_cohort(root: Path, scans: int, side: int) -> Path:
    """``scans`` one-T1w subjects of bright spheres, and a derivatives folder of their masks."""
    import nibabel as nib

    rng = np.random.default_rng(0)
    masks = root / "derivatives" / "masks"
    for folder, extra in ((root, {}), (masks, {"DatasetType": "derivative"})):
        folder.mkdir(parents=True, exist_ok=True)
        description = {"Name": "generated", "BIDSVersion": "1.10.0", **extra}
        (folder / "dataset_description.json").write_text(json.dumps(description))
    grid = np.indices((side,) * 3).transpose(1, 2, 3, 0) - (side - 1) / 2
    brain = np.linalg.norm(grid, axis=-1) < 0.45 * side
    for n in range(scans):
        image = np.where(brain, 20.0, 0.0).astype(np.float32)
        for k in range(1, 4):
            centre = rng.uniform(-0.2, 0.2, 3) * side
            image[np.linalg.norm(grid - centre, axis=-1) < 0.12 * side] = 20.0 + 25 * k
        image += rng.normal(0, 2.0, image.shape).astype(np.float32) * brain
        subject = f"sub-{n:03d}"
        for folder, name, data in (
            (root, f"{subject}_T1w.nii.gz", image),
            (masks, f"{subject}_desc-brain_mask.nii.gz", brain.astype(np.uint8)),
        ):
            (folder / subject / "anat").mkdir(parents=True, exist_ok=True)
            nib.save(nib.Nifti1Image(data, np.eye(4)), folder / subject / "anat" / name)
    return masks


def probe_memory(args: argparse.Namespace) -> int:
    from livianet.cli.main import main as cli

    folder = Path(tempfile.mkdtemp(prefix="bids_memory_"))
    root, out = folder / "ds", folder / "out"
    masks = write_cohort(root, args.scans, args.side)
    records = out / "logs" / "scans"
    marks = sorted({1, 10, 20, 50, 100, 150, args.scans} & set(range(1, args.scans + 1)))
    stop = threading.Event()
    start = time.perf_counter()
    print(f"{'scans':>5} {'s':>7} {'RSS':>7} {'peak':>7}  (MiB)", flush=True)

    def sample() -> None:
        shown = 0
        while not stop.wait(0.1):
            done = len(list(records.glob("*.json"))) if records.is_dir() else 0
            while shown < len(marks) and done >= marks[shown]:
                print(f"{marks[shown]:>5} {time.perf_counter() - start:>7.1f} "
                      f"{own_resident_bytes('VmRSS') / MIB:>7.0f} "
                      f"{own_resident_bytes('VmHWM') / MIB:>7.0f}", flush=True)  # fmt: skip
                shown += 1

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    model = ["--model", str(args.checkpoint)] if args.checkpoint else []
    argv = ["bids", str(root), str(out), "participant", "--mask-derivatives", str(masks)]
    try:
        return cli([*argv, *model, "--skip-bids-validation", "--device", "cpu"])
    finally:
        time.sleep(0.3)
        stop.set()
        watcher.join()
        shutil.rmtree(folder, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    probes = parser.add_subparsers(dest="probe", required=True)
    index = probes.add_parser("index")
    index.add_argument("--subjects", type=int, default=1000)
    index.add_argument("--repeat", type=int, default=3)
    index.add_argument("--validator", action="store_true")
    memory = probes.add_parser("memory")
    memory.add_argument("--scans", type=int, default=200)
    memory.add_argument("--side", type=int, default=32)
    memory.add_argument("--checkpoint", type=Path, default=None)
    args = parser.parse_args()
    if args.probe == "index":
        probe_index(args)
        return 0
    return probe_memory(args)


if __name__ == "__main__":
    raise SystemExit(main())
