"""Crash-safe file writes shared by run folders, caches and dataset writers.

Everything is written to a temporary file in the destination's folder and
moved into place with `os.replace` (atomic on POSIX and Windows), so a crash
or a kill leaves the old file or the new one, never half of one.
"""

import contextlib
import hashlib
import json
import os
import pathlib
import tempfile

import numpy as np


@contextlib.contextmanager
def atomic_open(path, mode="w", opener=open, **kwargs):
    """Opens a temporary file that replaces `path` when the block succeeds.

    Args:
        path: destination file.
        mode: a write mode of `opener` ("w", "wb", "wt", ...).
        opener: `open`, `gzip.open`, `lzma.open`, ... (streams written through
            a compressor are atomic too).
        **kwargs: passed to `opener` (encoding, newline, ...).
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix="-" + os.path.basename(path))
    os.close(fd)
    try:
        with opener(tmp, mode, **kwargs) as f:
            yield f
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def atomic_write_bytes(path, data):
    with atomic_open(path, "wb") as f:
        f.write(data)


def atomic_write_text(path, text):
    with atomic_open(path, "w", encoding="utf-8") as f:
        f.write(text)


def json_default(value):
    """`json.dumps(default=...)` hook for NumPy scalars/arrays, paths and sets."""
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, pathlib.PurePath):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def atomic_write_json(path, obj):
    atomic_write_text(path, json.dumps(obj, indent=2, default=json_default) + "\n")


def file_sha256(path):
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
