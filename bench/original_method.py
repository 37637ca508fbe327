"""The original LiviaNET's segmentation method, reproduced on a livianet network.

``startTesting.py:segmentVolume`` with ``sampling.py:sampleWholeImage``: the
whole volume is reflect-padded (``imgOp.py:applyPadding``); input tiles of the
test sample size (35^3 for the paper network) are visited z, then y, then x,
with a stride equal to the output size (17), the last tile of each axis shifted
to end at the edge; tiles whose *input* holds no ROI voxel are skipped; the list
is padded to a multiple of the batch size (10) by repeating its last tile; each
output tile is written into a float32 probability map of the padded volume
(last write wins), then argmax and unpadding. Float32, default memory layout.

Loading, normalisation and writing are livianet's own, so that only the tiling
and the arithmetic differ from ``livianet segment``.

Run (from the repository root): ``python -m bench.original_method CKPT IMAGE --roi ROI --out DIR``.
"""

from __future__ import annotations

import sys

import numpy as np

Size3 = tuple[int, int, int]


def original_padding(shape: Size3, rf: Size3, sample: Size3) -> list[tuple[int, int]]:
    """``applyPadding``: left ``(RF-1)//2``, right the rest of ``RF-1``, plus up to ``sample``.

    >>> original_padding((256, 256, 10), (19, 19, 19), (35, 35, 35))
    [(9, 9), (9, 9), (9, 16)]
    """
    pads = []
    for s, r, t in zip(shape, rf, sample, strict=True):
        left = (r - 1) // 2
        right = r - 1 - left
        right += max(0, t - (s + left + right))
        pads.append((left, right))
    return pads


def axis_starts(length: int, sample: int, stride: int) -> list[int]:
    """Tile starts on one axis: multiples of ``stride``, the last shifted to end at the edge.

    >>> axis_starts(58, 35, 17)
    [0, 17, 23]
    >>> axis_starts(35, 35, 17)
    [0]
    """
    starts = []
    next_min = 0
    while True:
        stop = min(next_min + sample, length)
        starts.append(stop - sample)
        next_min += stride
        if stop >= length:
            return starts


def original_tiles(
    padded_roi: np.ndarray | None, sample: Size3, stride: Size3, batch_size: int
) -> list[Size3]:
    """Input-tile origins in the padded volume, in the original's order, padded to full batches.

    Order: z outermost, x innermost. A tile is skipped when its input window
    holds no ROI voxel. The list is extended by repeating its last tile until
    its length is a multiple of ``batch_size``.
    """
    if padded_roi is None:
        raise ValueError("original_tiles needs the padded ROI (or an all-ones mask)")
    shape = padded_roi.shape
    xs, ys, zs = (axis_starts(shape[a], sample[a], stride[a]) for a in range(3))
    tiles: list[Size3] = []
    for z in zs:
        for y in ys:
            for x in xs:
                window = padded_roi[x : x + sample[0], y : y + sample[1], z : z + sample[2]]
                if not window.any():
                    continue
                tiles.append((x, y, z))
    if tiles and len(tiles) % batch_size:
        tiles += [tiles[-1]] * (batch_size - len(tiles) % batch_size)
    return tiles


def segment_original(
    model,
    image: np.ndarray,
    roi: np.ndarray | None,
    sample: int = 35,
    batch_size: int = 10,
    return_probabilities: bool = False,
):
    """Labels ``(X, Y, Z)`` of a normalised ``(C, X, Y, Z)`` image by the original's method.

    Voxels no output tile covers keep probability 0 for every class, so
    argmax makes them background, as in the original.
    """
    import torch

    rf: Size3 = tuple(model.receptive_field)
    sample3: Size3 = (sample, sample, sample)
    out: Size3 = tuple(s - r + 1 for s, r in zip(sample3, rf, strict=True))  # type: ignore[assignment]
    if min(out) < 1:
        raise ValueError(f"sample size {sample} is smaller than the receptive field {rf}")
    shape: Size3 = image.shape[1:]
    pads = original_padding(shape, rf, sample3)
    padded = np.pad(image, [(0, 0), *pads], mode="reflect").astype(np.float32, copy=False)
    mask = np.ones(shape, dtype=bool) if roi is None else roi.astype(bool)
    padded_roi = np.pad(mask, pads, mode="reflect")
    tiles = original_tiles(padded_roi, sample3, out, batch_size)
    num_classes = model.config.num_classes
    prob_maps = np.zeros((num_classes, *padded.shape[1:]), dtype=np.float32)
    half = [(r - 1) // 2 for r in rf]
    batch = np.zeros((batch_size, image.shape[0], *sample3), dtype=np.float32)
    model.eval()
    with torch.inference_mode():
        for first in range(0, len(tiles), batch_size):
            chunk = tiles[first : first + batch_size]
            for n, (x, y, z) in enumerate(chunk):
                batch[n] = padded[:, x : x + sample, y : y + sample, z : z + sample]
            probs = torch.softmax(model(torch.from_numpy(batch)), dim=1).numpy()
            for n, (x, y, z) in enumerate(chunk):
                x0, y0, z0 = x + half[0], y + half[1], z + half[2]
                prob_maps[:, x0 : x0 + out[0], y0 : y0 + out[1], z0 : z0 + out[2]] = probs[n]
    labels_padded = np.argmax(prob_maps, axis=0)
    window = tuple(slice(left, left + s) for (left, _), s in zip(pads, shape, strict=True))
    labels = labels_padded[window].astype(np.uint8 if num_classes <= 256 else np.int32)
    if return_probabilities:
        every_class = (slice(None), *window)
        return labels, prob_maps[every_class], len(tiles)
    return labels, len(tiles)


def main(argv: list[str] | None = None) -> int:
    from bench.common import run_method

    size = ("--sample", 35, "input tile side (default 35)")
    return run_method(argv, __doc__.split("\n\n")[0], size, 10, segment_original)


if __name__ == "__main__":
    sys.exit(main())
