"""The example data's layout (``MR/``, ``Label/``, ``ROI/`` of ``.mat`` scans), and the quick run's crop of it."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def scan_files(data: Path, scan: int) -> dict[str, Path]:
    return {
        "image": data / "MR" / f"MR_Img{scan}.mat",
        "label": data / "Label" / f"GT_Img{scan}.mat",
        "roi": data / "ROI" / f"ROI_Img{scan}.mat",
    }


def save_mat(array: np.ndarray, path: Path) -> Path:
    import scipy.io

    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(str(path), {"vol": array}, do_compression=True)
    return path


def write_quick_data(source: Path, target: Path, side: int) -> Path:
    """Every scan cropped to ``side``^3 about its labelled structures, in the original layout."""
    from livianet.io import load_volume

    for label_path in sorted((source / "Label").glob("GT_Img*.mat")):
        files = scan_files(source, int(label_path.stem.removeprefix("GT_Img")))
        labels = load_volume(files["label"]).data
        lo = []
        for axis, size in enumerate(labels.shape):
            others = tuple(b for b in range(3) if b != axis)
            found = np.flatnonzero(labels.any(axis=others))
            lo.append(int(min(max((found[0] + found[-1]) // 2 - side // 2, 0), size - side)))
        window = tuple(slice(low, low + side) for low in lo)
        for path in files.values():
            save_mat(load_volume(path).data[window], target / path.parent.name / path.name)
    return target


# ----------------------------------------------------------------------------- rows


def load_volume_data(path: Path) -> np.ndarray:
    from livianet.io import load_volume

    return load_volume(path).data
