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

Run (from the repository root): ``python -m bench.torchio_method CKPT IMAGE --roi ROI --out DIR``.
"""

from __future__ import annotations

import sys

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
    # a GridSampler is a Dataset of patches, as TorchIO's own examples pass it; its stubs disagree
    loader = tio.SubjectsLoader(sampler, batch_size=batch_size)  # type: ignore[arg-type]
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
    from bench.common import run_method

    size = ("--patch", 64, "input patch side (default 64)")
    return run_method(argv, __doc__.split("\n\n")[0], size, 4, segment_torchio)


if __name__ == "__main__":
    sys.exit(main())
