"""The digest memo: a file rewritten with its size and mtime restored is hashed again."""

from __future__ import annotations

import os
import time

from livianet.cache.fingerprint import FingerprintMemo, file_digest


def test_a_rewrite_that_restores_size_and_mtime_is_still_seen(tmp_path):
    data = tmp_path / "scan.nii.gz"
    data.write_bytes(b"A" * 64)
    memo = FingerprintMemo(tmp_path / "inputs.json")
    first = memo.fingerprint(data)
    assert first.sha256 == file_digest(data)
    assert memo.fingerprint(data).sha256 == first.sha256  # unchanged: from the memo
    stat = os.stat(data)
    time.sleep(0.05)  # past the file system's timestamp tick, as any real rewrite is
    data.write_bytes(b"B" * 64)  # same size ...
    os.utime(data, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # ... and the mtime put back
    assert os.stat(data).st_mtime_ns == stat.st_mtime_ns
    again = memo.fingerprint(data)
    assert again.sha256 == file_digest(data) != first.sha256
