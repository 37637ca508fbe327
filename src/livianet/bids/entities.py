"""BIDS file names: entities, suffix and extension, read and written by the specification's rules.

A BIDS name is ``key-value`` pairs joined by ``_``, then ``_<suffix>`` and an extension
(``sub-01_ses-2_acq-mprage_run-1_T1w.nii.gz``). Keys are lower-case letters, values and
suffixes letters and digits only; the extension is everything from the first dot. Written
names put their entities in the specification's order (:data:`ENTITY_ORDER`), so a derivative
keeps its source's entities and adds ``space``, ``label`` or ``desc`` where BIDS puts them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

# BIDS 1.10 (appendix "Entities"): short key -> the long name that tables and filter files use.
ENTITY_NAMES: dict[str, str] = {
    "sub": "subject",
    "ses": "session",
    "sample": "sample",
    "task": "task",
    "tracksys": "tracksys",
    "acq": "acquisition",
    "nuc": "nucleus",
    "voi": "volume",
    "ce": "ceagent",
    "trc": "tracer",
    "stain": "stain",
    "rec": "reconstruction",
    "dir": "direction",
    "run": "run",
    "mod": "modality",
    "echo": "echo",
    "flip": "flip",
    "inv": "inversion",
    "mt": "mtransfer",
    "part": "part",
    "proc": "processing",
    "hemi": "hemisphere",
    "space": "space",
    "split": "split",
    "recording": "recording",
    "chunk": "chunk",
    "seg": "segmentation",
    "res": "resolution",
    "den": "density",
    "label": "label",
    "desc": "description",
}
ENTITY_ORDER = tuple(ENTITY_NAMES)
SHORT_KEYS = {long: short for short, long in ENTITY_NAMES.items()}

_KEY = re.compile(r"[a-z]+")
_VALUE = re.compile(r"[A-Za-z0-9]+")


@dataclass(frozen=True)
class BidsName:
    """A parsed BIDS file name: ``entities`` in the name's order, ``suffix``, ``extension``."""

    entities: tuple[tuple[str, str], ...]
    suffix: str
    extension: str

    def get(self, key: str) -> str | None:
        return dict(self.entities).get(key)

    @property
    def stem(self) -> str:
        """The name without its extension: ``sub-01_T1w``."""
        return format_name(dict(self.entities), self.suffix, "", ordered=False)

    def derivative(self, suffix: str, extension: str, **added: str | None) -> str:
        """A derived file's name: these entities plus ``added`` ones, in BIDS order.

        >>> parse_name("sub-01_ses-2_run-1_T1w.nii").derivative("dseg", ".nii.gz", space="orig")
        'sub-01_ses-2_run-1_space-orig_dseg.nii.gz'
        """
        entities = dict(self.entities)
        entities.update({k: v for k, v in added.items() if v is not None})
        return format_name(entities, suffix, extension)


def parse_name(name: str) -> BidsName | None:
    """``name`` read by the BIDS rules, or None when it does not follow them.

    >>> parse_name("sub-01_acq-fast_T1w.nii.gz")
    BidsName(entities=(('sub', '01'), ('acq', 'fast')), suffix='T1w', extension='.nii.gz')
    >>> parse_name("sub-01_T1w_backup.nii.gz") is None, parse_name("T1.nii.gz") is None
    (True, True)
    """
    stem, dot, rest = name.partition(".")
    extension = dot + rest
    *pairs, suffix = stem.split("_")
    if not pairs or not _VALUE.fullmatch(suffix):
        return None
    entities = []
    for pair in pairs:
        key, dash, value = pair.partition("-")
        if not dash or not _KEY.fullmatch(key) or not _VALUE.fullmatch(value):
            return None
        entities.append((key, value))
    if entities[0][0] != "sub" or len({k for k, _ in entities}) != len(entities):
        return None
    return BidsName(tuple(entities), suffix, extension)


def format_name(
    entities: Mapping[str, str], suffix: str, extension: str, *, ordered: bool = True
) -> str:
    """``key-value_..._suffix.ext``, entities in BIDS order (unknown keys before ``space``).

    >>> format_name({"run": "2", "sub": "01", "desc": "brain"}, "mask", ".nii.gz")
    'sub-01_run-2_desc-brain_mask.nii.gz'
    """
    keys = list(entities)
    if ordered:
        keys.sort(key=_order_of)
    return "_".join([*(f"{k}-{entities[k]}" for k in keys), suffix]) + extension


def entity_label(text: str) -> str:
    """``text`` as a BIDS label: letters and digits only (``Left-Thalamus`` -> ``LeftThalamus``).

    >>> entity_label("Left-Thalamus"), entity_label("<b>Caudate & co</b>"), entity_label("--")
    ('LeftThalamus', 'bCaudatecob', '')
    """
    return "".join(re.findall(r"[A-Za-z0-9]", text))


def _order_of(key: str) -> float:
    if key in ENTITY_NAMES:
        return ENTITY_ORDER.index(key)
    return ENTITY_ORDER.index("space") - 0.5
