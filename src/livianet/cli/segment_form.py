"""Which form of ``livianet segment`` a command line is, and what each positional names.

The forms, as README.md and docs/ list them:

- ``segment SEG.ini CKPT``: the original's INI form (the first path ends ``.ini``,
  ``.cfg`` or ``.conf``);
- ``segment CKPT [CKPT...] IMAGE... --out DIR``: one checkpoint, or several (an ensemble);
- ``segment IMAGE... --out DIR [--model NAME|PATH ...]``: the built-in model or ``--model``.

Images may be files, folders or glob patterns. Whether a positional is a checkpoint is
read from the file's first bytes where it exists: ``torch.save`` writes a zip archive
(older torch a bare pickle stream), NIfTI, MGZ and ``.mat`` files carry their own
signatures. Nothing is unpickled here. Only a path whose bytes say neither (missing,
empty, another format) is judged by its name, as before: a first path not named as a
volume is a checkpoint, so a missing or hostile one gets the checkpoint reader's own
message; a later one is a checkpoint when it ends ``.pt``, ``.pth`` or ``.ckpt``.

The checks below run before any model loads or any folder is made, so that a typing
mistake costs one line and leaves nothing behind: a missing input, an ``--out`` that
is a file (or named like one), a model name that is neither a file nor built in.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from livianet.errors import ConfigError, DataError
from livianet.io import VOLUME_SUFFIXES

CONFIG_SUFFIXES = (".ini", ".cfg", ".conf")
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt")
FileKind = Literal["checkpoint", "volume"]

_HEAD_BYTES = 352  # through the NIfTI-1 magic at offset 344
_CHECKPOINT_HEADS = (b"PK\x03\x04",)  # torch.save's zip archive (any torch since 1.6)
_PICKLE_PROTOCOLS = range(2, 6)  # b"\x80" + protocol: torch.save's legacy format, or a bare pickle
_VOLUME_HEADS = (
    b"\x1f\x8b",  # gzip: .nii.gz, .mgz
    b"MATLAB",  # the text header of MAT 5 and MAT 7.3 files
    b"\x89HDF\r\n\x1a\n",  # HDF5 (MAT 7.3) without a user block
)
_NIFTI1_MAGIC = (b"n+1\x00", b"ni1\x00")  # at offset 344
_NIFTI2_MAGIC = (b"n+2\x00", b"ni2\x00")  # at offset 4


@dataclass(frozen=True)
class SegmentForm:
    """The positionals of one ``segment`` command, sorted by what they name.

    Attributes:
        config: the segmentation INI (the INI form), else ``None``.
        checkpoints: the checkpoints named positionally: the INI form's (every path after
            the INI, counted by its handler), or the file form's leading ones. With
            ``--model`` they are a contradiction that the handler reports.
        images: the file form's images, folders and patterns (empty in the INI form).
    """

    config: Path | None
    checkpoints: tuple[Path, ...]
    images: tuple[Path, ...]


def segment_form(first: Path, rest: list[Path]) -> SegmentForm:
    """Sort ``segment``'s positionals into INI, checkpoints and images; nothing is loaded.

    ``--model`` does not change the sort: its images are sorted the same way, so that a
    checkpoint given both positionally and with ``--model`` is found and refused.
    """
    if is_config_path(first):
        return SegmentForm(config=first, checkpoints=tuple(rest), images=())
    paths = [first, *rest]
    count = 0
    while count < len(paths) and is_checkpoint_path(paths[count], first=count == 0):
        count += 1
    return SegmentForm(config=None, checkpoints=tuple(paths[:count]), images=tuple(paths[count:]))


def is_config_path(path: Path) -> bool:
    return path.suffix.lower() in CONFIG_SUFFIXES


def is_checkpoint_path(path: Path, first: bool) -> bool:
    """Whether a positional names a checkpoint: by its bytes, else by its name (module doc)."""
    if path.is_dir() or _is_pattern(path):
        return False
    kind = file_kind(path)
    if kind is not None:
        return kind == "checkpoint"
    name = path.name.lower()
    if first:
        return not name.endswith(VOLUME_SUFFIXES)
    return name.endswith(CHECKPOINT_SUFFIXES)


def file_kind(path: Path) -> FileKind | None:
    """What a file's first bytes say it is; ``None`` for a missing, empty or other file."""
    if not path.is_file():  # a folder, a pattern, a pipe: nothing to read (or to block on)
        return None
    try:
        with path.open("rb") as handle:
            head = handle.read(_HEAD_BYTES)
    except OSError:
        return None
    if head.startswith(_CHECKPOINT_HEADS) or (
        len(head) >= 2 and head[0] == 0x80 and head[1] in _PICKLE_PROTOCOLS
    ):
        return "checkpoint"
    if (
        head.startswith(_VOLUME_HEADS)
        or head[344:348] in _NIFTI1_MAGIC
        or head[4:8] in _NIFTI2_MAGIC
    ):
        return "volume"
    return None


def _is_pattern(path: Path) -> bool:
    return bool(set("*?[") & set(str(path)))


def check_inputs_exist(
    images: Sequence[Path], rois: Sequence[Path], references: Sequence[Path]
) -> None:
    """Refuse a named input file that is not there, before the ``--out`` folder is made.

    Folders and glob patterns are left to :func:`livianet.inference.expand_inputs`, which
    refuses those that yield nothing.
    """
    named = [("image", p) for p in images] + [("ROI", p) for p in rois]
    named += [("reference", p) for p in references]
    missing = [(what, p) for what, p in named if not _is_pattern(p) and not p.exists()]
    if missing:
        what, first = missing[0]
        more = f" ({len(missing)} of {len(named)} inputs are missing)" if len(missing) > 1 else ""
        raise DataError(f"{first}: {what} not found{more}; nothing segmented")


def check_out_folder(out: Path) -> None:
    """``--out`` names the folder of the outputs: not an existing file, nor a volume's name."""
    if out.is_dir():
        return
    if out.exists():
        raise ConfigError(f"--out {out}: is a file; expected a folder for the outputs")
    if out.name.lower().endswith(VOLUME_SUFFIXES):
        raise ConfigError(
            f"--out {out}: named like an image file; expected a folder for the outputs "
            "(each scan's label map is written in it as Segmentation_<scan name>)"
        )


def unknown_model(name: str | Path, option: str, known: Sequence[str]) -> str | None:
    """Why ``name`` names no model (a one-line message), or ``None`` where it may name one.

    A bare name that is no file and not one of the ``known`` built-in models gets the
    real names, with the closest as a guess; a path or a checkpoint's name is left to the
    checkpoint reader, whose "not found" names it. ``builtin`` alone is the default model.
    """
    text = str(name)
    wanted = text.removeprefix("builtin:")
    by_name = text.startswith("builtin:") or (
        "/" not in text
        and not text.lower().endswith(CHECKPOINT_SUFFIXES)
        and not Path(text).exists()
    )
    if not by_name or text == "builtin" or wanted in known:
        return None
    close = difflib.get_close_matches(wanted, known, n=1, cutoff=0.6)
    guess = f"; did you mean {close[0]}?" if close else ""
    names = ", ".join(known) or "none in this installation"
    return (
        f"{option} {text}: no checkpoint file or built-in model of that name "
        f"(built-in models: {names}){guess}"
    )
