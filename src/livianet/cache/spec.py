"""What an entry is made from and how: its inputs and every setting that changes its arrays, hashed.

The key is the SHA-256 of a canonical JSON of: the cache format and livianet's
version, the role (training or validation), the model grid (orientation and voxel
size: see :mod:`livianet.cache.geometry`), the ``.mat`` axis codes, the number of
classes, the normalisation, the stored image type, and the box rule (the patch, its
padding and warp reach for training; the network's context for validation), and of
each input file its role, size and content digest (not its path or time: a moved or
touched scan with the same bytes keeps its entry).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any, Literal

from livianet.cache.fingerprint import FileFingerprint
from livianet.data.geometry import ModelGrid
from livianet.data.spatial import Size3
from livianet.version import __version__

FORMAT_VERSION = 1  # raised whenever an entry's files or their meaning change
Role = Literal["training", "validation"]


@dataclass(frozen=True)
class EntrySpec:
    """How one case becomes an entry, apart from its files."""

    role: Role
    grid: ModelGrid
    stored_orientation: str | None  # .mat axis codes
    num_classes: int
    channels: int
    normalization: str
    image_dtype: str  # float32 or float16
    patch: Size3 | None = None  # training: the patch, whether it is padded, the warp reach
    padded: bool = False
    reach: int = 0
    context: Size3 | None = None  # validation: the network's receptive field

    def to_plain(self) -> dict[str, Any]:
        plain = asdict(self)
        plain["grid"] = {"orientation": self.grid.orientation, "spacing": self.grid.spacing}
        return plain


@dataclass(frozen=True)
class CaseInputs:
    """A case's input files, fingerprinted: one image per channel, the label map, the ROI."""

    images: tuple[FileFingerprint, ...]
    label: FileFingerprint
    roi: FileFingerprint | None

    @property
    def files(self) -> tuple[FileFingerprint, ...]:
        return (*self.images, self.label, *((self.roi,) if self.roi is not None else ()))

    def to_plain(self) -> dict[str, Any]:
        return {
            "images": [f.to_plain() for f in self.images],
            "label": self.label.to_plain(),
            "roi": self.roi.to_plain() if self.roi is not None else None,
        }

    @classmethod
    def from_plain(cls, plain: dict[str, Any]) -> CaseInputs:
        roi = plain.get("roi")
        return cls(
            tuple(FileFingerprint.from_plain(f) for f in plain["images"]),
            FileFingerprint.from_plain(plain["label"]),
            FileFingerprint.from_plain(roi) if roi is not None else None,
        )

    def change(self) -> str | None:
        """``'PATH was modified'`` for the first input that changed on disk, or None."""
        for file in self.files:
            what = file.change()
            if what is not None:
                return f"{file.path} {what}"
        return None


def entry_key(spec: EntrySpec, inputs: CaseInputs) -> str:
    """The entry's name: a hash of everything that decides its arrays."""
    contents = {
        "format": FORMAT_VERSION,
        "livianet": __version__,
        "spec": spec.to_plain(),
        "images": [[f.size, f.sha256] for f in inputs.images],
        "label": [inputs.label.size, inputs.label.sha256],
        "roi": [inputs.roi.size, inputs.roi.sha256] if inputs.roi is not None else None,
    }
    text = json.dumps(contents, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]
