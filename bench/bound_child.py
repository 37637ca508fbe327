"""Row (d), measured in a fresh process: the bound and (a)'s compute alone.

Run by the benchmark as a child so that the measurement sees what ``livianet
segment`` sees: a fresh heap with the CLI's allocator setting. Measured in the
benchmark's own long-lived process, after the float32 reference had filled
and fragmented its heap, the network ran at half its real speed (0.21 against
0.35 M output voxels/s on an 80^3 tile), and the "bound" came out slower than
livianet itself.

    python -m bench.bound_child CKPT IMAGE ROI --tiles 64 80 --seconds 8 --out bound.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("image", type=Path)
    parser.add_argument("roi", type=Path)
    parser.add_argument("--tiles", type=int, nargs="+", required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    from livianet.runtime import keep_freed_memory

    keep_freed_memory()  # as the CLI does, before any large allocation

    from bench.bound_rows import measure_bound
    from bench.common import load_model, load_scan
    from bench.segment_rows import timed_segmentation

    model, state = load_model(args.checkpoint)
    bound = measure_bound(model, args.tiles, args.seconds)
    case = load_scan(args.image, args.roi, state, model.config.num_classes)
    # (a)'s segment_volume call in a warm process (no start, no I/O), counting its work.
    _, seconds, computed = timed_segmentation(model, case, bound["precision"])
    bound["livianet_compute_seconds_in_process"] = seconds
    bound["computed_voxels"] = computed["voxels"]
    bound["forward_passes"] = computed["forward_passes"]
    args.out.write_text(json.dumps(bound, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
