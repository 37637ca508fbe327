"""What a TorchIO user writes to segment a scan with a livianet network.

``tio.GridSampler`` (64^3 input patches, ``patch_overlap`` = RF - 1 = 18,
reflect padding) and ``tio.GridAggregator(overlap_mode='crop')``, batches of 4
from ``tio.SubjectsLoader``, float32 (PyTorch's default), default memory layout,
every patch of the volume (a grid sampler knows no ROI). The network has only
valid convolutions, so its 46^3 output is the centre of the 64^3 patch: it is
zero-padded back to 64^3 before ``add_batch``, and the aggregator's crop of
half the overlap on each side keeps exactly that centre. Voxels outside the ROI
are set to background afterwards, as ``livianet segment`` does.

Loading, normalisation and writing are livianet's own.

Run: ``python bench/torchio_method.py CKPT IMAGE --roi ROI --out DIR``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def segment_torchio(
    model, image: np.ndarray, roi: np.ndarray | None, patch_size: int = 64, batch_size: int = 4
) -> tuple[np.ndarray, int]:
    """Labels ``(X, Y, Z)`` of a normalised ``(C, X, Y, Z)`` image, and the number of patches."""
    import torch
    import torch.nn.functional as F
    import torchio as tio

    rf = tuple(model.receptive_field)
    overlap = tuple(r - 1 for r in rf)
    if any(o % 2 for o in overlap):
        raise ValueError(
            f"receptive field {rf}: TorchIO needs an even overlap (odd receptive field)"
        )
    border = [o // 2 for o in overlap]
    subject = tio.Subject(image=tio.ScalarImage(tensor=torch.from_numpy(image)))
    sampler = tio.GridSampler(subject, patch_size, patch_overlap=overlap, padding_mode="reflect")
    loader = tio.SubjectsLoader(sampler, batch_size=batch_size)
    aggregator = tio.GridAggregator(sampler, overlap_mode="crop")
    # F.pad takes the last axis first.
    pad = (border[2], border[2], border[1], border[1], border[0], border[0])
    model.eval()
    with torch.inference_mode():
        for batch in loader:
            logits = model(batch["image"][tio.DATA])
            aggregator.add_batch(F.pad(logits, pad), batch[tio.LOCATION])
    num_classes = model.config.num_classes
    labels = aggregator.get_output_tensor().argmax(dim=0).numpy()
    labels = labels.astype(np.uint8 if num_classes <= 256 else np.int32)
    if roi is not None:
        labels[~roi.astype(bool)] = 0
    return labels, len(sampler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("image", type=Path)
    parser.add_argument("--roi", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--patch", type=int, default=64, help="input patch side (default 64)")
    parser.add_argument("--batch", type=int, default=4, help="patches per forward pass (default 4)")
    args = parser.parse_args(argv)

    from bench_common import load_model, load_scan

    from livianet.io import save_volume, segmentation_path

    phases = {}
    tick = time.perf_counter()
    model, state = load_model(args.checkpoint)
    case = load_scan(
        args.image, args.roi, state.get("normalization", "none"), model.config.num_classes
    )
    phases["load_s"] = time.perf_counter() - tick
    tick = time.perf_counter()
    labels, patches = segment_torchio(model, case.image, case.roi, args.patch, args.batch)
    phases["compute_s"] = time.perf_counter() - tick
    tick = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    path = save_volume(
        labels, segmentation_path(args.out, args.image), case.reference, kind="label"
    )
    phases["write_s"] = time.perf_counter() - tick
    print("BENCH_JSON " + json.dumps({"tiles": patches, "output": str(path), **phases}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
