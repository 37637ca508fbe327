"""The original LiviaNET's segmentation method as a careful PyTorch user would write it: the lean baseline (b').

The same method as ``original_method.py`` (input tiles of the test sample size,
35^3 for the paper network, stride = output size 17, batches of 10, float32,
tiles without ROI skipped), without the reproduction's extra work: no
probability map of the padded volume (each tile's argmax goes straight into a
uint8 label volume), no batch padded with repeated tiles, no edge-shifted
overlapping tiles (the volume is padded on the far side instead, so every
output voxel is computed once), tiles kept only when their *output* holds ROI
voxels, and the padding only the receptive field needs. The network is the
checkpoint's own module in eval mode (batch norm as trained), under
``torch.inference_mode``.

Loading, normalisation and writing are livianet's, as in the other rows.

Run (from the repository root): ``python -m bench.lean_method CKPT IMAGE --roi ROI --out DIR``.
"""

from __future__ import annotations

import sys

import numpy as np

Size3 = tuple[int, int, int]


def output_origins(roi: np.ndarray, out: Size3) -> list[Size3]:
    """Origins of the output tiles (a grid of step ``out``) that hold an ROI voxel.

    >>> roi = np.zeros((20, 10, 10), bool); roi[15, 2, 2] = True
    >>> output_origins(roi, (8, 8, 8))
    [(8, 0, 0)]
    """
    origins = []
    for x in range(0, roi.shape[0], out[0]):
        for y in range(0, roi.shape[1], out[1]):
            for z in range(0, roi.shape[2], out[2]):
                if roi[x : x + out[0], y : y + out[1], z : z + out[2]].any():
                    origins.append((x, y, z))
    return origins


def segment_lean(
    model, image: np.ndarray, roi: np.ndarray | None, sample: int = 35, batch_size: int = 10
):
    """Labels ``(X, Y, Z)`` (uint8) of a normalised ``(C, X, Y, Z)`` image, and the tile count."""
    import torch

    rf = model.receptive_field
    out: Size3 = tuple(sample - r + 1 for r in rf)
    if min(out) < 1:
        raise ValueError(f"sample size {sample} is smaller than the receptive field {rf}")
    shape = image.shape[1:]
    mask = np.ones(shape, bool) if roi is None else roi.astype(bool)
    half = [(r - 1) // 2 for r in rf]
    pads = [(h, r - 1 - h + (-s) % o) for h, r, s, o in zip(half, rf, shape, out, strict=True)]
    padded = np.pad(image.astype(np.float32, copy=False), [(0, 0), *pads], mode="reflect")
    origins = output_origins(mask, out)
    labels = np.zeros(shape, np.uint8)
    model.eval()
    with torch.inference_mode():
        for first in range(0, len(origins), batch_size):
            chunk = origins[first : first + batch_size]
            batch = np.stack(
                [padded[:, x : x + sample, y : y + sample, z : z + sample] for x, y, z in chunk]
            )
            best = model(torch.from_numpy(batch)).argmax(dim=1).to(torch.uint8).numpy()
            for tile, (x, y, z) in zip(best, chunk, strict=True):
                target = labels[x : x + out[0], y : y + out[1], z : z + out[2]]
                target[...] = tile[: target.shape[0], : target.shape[1], : target.shape[2]]
    return labels, len(origins)


def main(argv: list[str] | None = None) -> int:
    from bench.common import run_method

    size = ("--sample", 35, "input tile side (default 35)")
    return run_method(argv, __doc__.split("\n\n")[0], size, 10, segment_lean)


if __name__ == "__main__":
    sys.exit(main())
