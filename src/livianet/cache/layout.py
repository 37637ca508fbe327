"""The cache folder on disk: where entries live and what each entry's ``meta.json`` says.

::

    CACHE/
      livianet-cache.json      marks the folder as a livianet cache (prune touches nothing else)
      inputs.json              the input digests' memo (:mod:`livianet.cache.fingerprint`)
      entries/KEY/             one case: meta.json, image.npy, label.npy, positions.npy, roi.npy
      entries/KEY.lock         the process writing KEY (O_CREAT | O_EXCL)
      entries/.tmp-KEY-...     KEY being written: renamed to KEY when whole

Arrays are plain ``.npy`` files, opened with ``np.load(mmap_mode="r", allow_pickle=False)``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from livianet.cache.spec import FORMAT_VERSION, CaseInputs
from livianet.cache.window import Box, Pads
from livianet.data.spatial import Size3

MARKER = "livianet-cache.json"
MEMO = "inputs.json"
ENTRIES = "entries"
META = "meta.json"
IMAGE, LABEL, ROI, POSITIONS = "image.npy", "label.npy", "roi.npy", "positions.npy"
TMP_PREFIX = ".tmp-"
LOCK_SUFFIX = ".lock"


def entries_folder(root: Path) -> Path:
    return root / ENTRIES


def entry_folder(root: Path, key: str) -> Path:
    return root / ENTRIES / key


def lock_path(root: Path, key: str) -> Path:
    return root / ENTRIES / f"{key}{LOCK_SUFFIX}"


def is_cache_folder(root: Path) -> bool:
    return (root / MARKER).is_file()


@dataclass(frozen=True)
class FileRecord:
    """An entry file's size and digest, checked when the entry is opened."""

    size: int
    sha256: str


@dataclass(frozen=True)
class EntryMeta:
    """What an entry holds, and every fact training needs from it without reading its arrays."""

    key: str
    name: str  # the case's name (its first image, without suffix)
    role: str
    inputs: CaseInputs
    input_affine: tuple[tuple[float, ...], ...]  # the first image's grid as read (4x4)
    input_shape: Size3
    model_affine: tuple[tuple[float, ...], ...]
    model_shape: Size3  # the whole model grid, unpadded
    pads: Pads  # how the volume was padded before the box was cut
    box: Box  # of the padded volume
    channels: int
    image_dtype: str
    label_dtype: str
    has_roi: bool
    class_counts: tuple[int, ...]  # voxels of each label over the whole model grid
    position_bounds: tuple[int, ...]
    normalization_region: str | None  # "roi", "nonzero", or None (no normalisation)
    files: dict[str, FileRecord]
    format: int = FORMAT_VERSION
    livianet_version: str = ""
    # each label's place in the frame of the ROI (plain values); None: not recorded
    places: dict[str, dict[str, list[float]]] | None = None

    @property
    def box_shape(self) -> Size3:
        return tuple(b - a for a, b in zip(*self.box, strict=True))  # type: ignore[return-value]

    @property
    def bytes(self) -> int:
        return sum(record.size for record in self.files.values())

    def to_json(self) -> str:
        plain: dict[str, Any] = {
            name: getattr(self, name)
            for name in self.__dataclass_fields__
            if name not in ("inputs", "files")
        }
        plain["inputs"] = self.inputs.to_plain()
        plain["files"] = {n: {"size": r.size, "sha256": r.sha256} for n, r in self.files.items()}
        return json.dumps(plain, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> EntryMeta:
        """Raises ``ValueError``, ``KeyError`` or ``TypeError`` on anything malformed."""
        plain = json.loads(text)
        if not isinstance(plain, dict):
            raise ValueError("not a JSON object")
        nested = lambda value: tuple(tuple(row) for row in value)  # noqa: E731
        return cls(
            key=str(plain["key"]),
            name=str(plain["name"]),
            role=str(plain["role"]),
            inputs=CaseInputs.from_plain(plain["inputs"]),
            input_affine=nested(plain["input_affine"]),
            input_shape=tuple(plain["input_shape"]),
            model_affine=nested(plain["model_affine"]),
            model_shape=tuple(plain["model_shape"]),
            pads=nested(plain["pads"]),  # type: ignore[arg-type]
            box=nested(plain["box"]),  # type: ignore[arg-type]
            channels=int(plain["channels"]),
            image_dtype=str(plain["image_dtype"]),
            label_dtype=str(plain["label_dtype"]),
            has_roi=bool(plain["has_roi"]),
            class_counts=tuple(int(c) for c in plain["class_counts"]),
            position_bounds=tuple(int(b) for b in plain["position_bounds"]),
            normalization_region=plain["normalization_region"],
            files={
                n: FileRecord(int(r["size"]), str(r["sha256"])) for n, r in plain["files"].items()
            },
            format=int(plain["format"]),
            livianet_version=str(plain.get("livianet_version", "")),
            places=plain.get("places") if isinstance(plain.get("places"), dict) else None,
        )
