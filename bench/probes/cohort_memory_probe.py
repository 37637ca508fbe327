"""Where a batch's memory goes, scan by scan: glibc's heap against what the process holds.

    python -m bench.probes.cohort_memory_probe FOLDER --out DIR [--scans 40] [--checkpoint CKPT]

Runs ``livianet segment`` in this process, as the CLI does (``livianet.cli.main``,
freed memory kept), over ``--scans`` image/ROI pairs of FOLDER (``*_T1.nii.gz``
with ``*_roi.nii.gz``, cycled under new names when there are fewer; the
benchmark's cohort folder is one), with the built-in model unless a checkpoint
is given. After each scan, just before and after the batch hands freed pages
back (``malloc_trim``), it prints the process's resident memory and glibc's
``mallinfo2``: bytes in use (``uordblks``), free but kept in the heap
(``fordblks``) and the heap's size (``arena``). Resident memory that grows
while bytes in use stay level is fragmentation or kept pages; bytes in use that
grow are memory something holds.
"""

from __future__ import annotations

import argparse
import ctypes
import itertools
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench.memory import MIB, own_resident_bytes


class MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd",
            "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost",
        )
    ]  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--scans", type=int, default=40)
    parser.add_argument("--checkpoint", type=Path, default=None)
    args = parser.parse_args()
    images = sorted(args.folder.glob("*_T1.nii.gz"))
    if not images:
        print(f"{args.folder}: no *_T1.nii.gz scans", file=sys.stderr)
        return 2
    links = Path(tempfile.mkdtemp(prefix="cohort_memory_"))
    pairs = []
    for n, image in zip(range(args.scans), itertools.cycle(images)):
        roi = image.with_name(image.name.replace("_T1.nii.gz", "_roi.nii.gz"))
        pair = (links / f"s{n:03d}_T1.nii.gz", links / f"s{n:03d}_roi.nii.gz")
        pair[0].symlink_to(image.resolve())
        pair[1].symlink_to(roi.resolve())
        pairs.append(pair)

    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = MallInfo2
    import livianet.inference.batch as files

    trim = files.release_freed_memory
    count = itertools.count(1)
    start = time.perf_counter()
    print(f"{'scan':>4} {'s':>7} {'RSS before':>10} {'in use':>8} {'free kept':>9} "
          f"{'heap':>8} {'RSS after':>9} {'peak':>7}  (MiB)", flush=True)  # fmt: skip

    def logged_trim() -> bool:
        info = libc.mallinfo2()
        before = own_resident_bytes("VmRSS") / MIB
        released = trim()
        print(f"{next(count):>4} {time.perf_counter() - start:>7.1f} {before:>10.0f} "
              f"{info.uordblks / MIB:>8.0f} {info.fordblks / MIB:>9.0f} {info.arena / MIB:>8.0f} "
              f"{own_resident_bytes('VmRSS') / MIB:>9.0f} "
              f"{own_resident_bytes('VmHWM') / MIB:>7.0f}", flush=True)  # fmt: skip
        return released

    files.release_freed_memory = logged_trim
    from livianet.cli.main import main as cli

    checkpoint = [str(args.checkpoint)] if args.checkpoint else []
    if args.out.exists():
        shutil.rmtree(args.out)
    argv = [
        "segment", *checkpoint, *(str(i) for i, _ in pairs),
        "--roi", *(str(r) for _, r in pairs), "--out", str(args.out),
    ]  # fmt: skip
    try:
        return cli(argv)
    finally:
        shutil.rmtree(links, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
