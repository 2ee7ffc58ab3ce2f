"""On-disk cache of preprocessed datasets (detect, crop, annotate once).

An entry is a folder `<cache_dir>/<name>-<hash>/` where the hash is the
SHA-256 of a canonical JSON of the key: the preprocessing settings plus the
dataset's identity (e.g. `dataset_identity(files)`: names, sizes, mtimes).
It holds `records.npz` (the `Records` fields, `np.savez`), `key.json`,
`meta.json` and, written last, `COMPLETE`. A run killed at any point leaves
either a temporary folder or an entry without `COMPLETE`; neither is ever
read, and the next run rebuilds the entry.
"""

import hashlib
import json
import os
import pathlib
import shutil
import tempfile

import numpy as np

from fer_tf.data.records import Records
from fer_tf.errors import ConfigError
from fer_tf.io import atomic_write_text, json_default
from fer_tf.weights import fer_tf_home

MARKER = "COMPLETE"
RECORDS_FILE = "records.npz"


def default_cache_dir():
    """`<fer_tf home>/cache` (`$FER_TF_HOME/cache` or `~/.keras/fer_tf/cache`)."""
    return fer_tf_home() / "cache"


def canonical_json(key):
    """Sorted-key, whitespace-free JSON: equal settings give equal text."""
    try:
        return json.dumps(key, sort_keys=True, separators=(",", ":"), default=json_default)
    except TypeError as e:
        raise ConfigError(f"Cache key values must be JSON-like: {e}.") from None


def cache_key(key):
    """SHA-256 hex digest of `canonical_json(key)`."""
    return hashlib.sha256(canonical_json(key).encode("utf-8")).hexdigest()


def dataset_identity(paths, root=None):
    """[[name, size, mtime_ns], ...] of files, sorted, as a dataset identity.

    Names are relative to `root` when given, so moving the dataset folder
    keeps its cache valid while editing any file invalidates it.
    """
    out = []
    for p in paths:
        p = pathlib.Path(p)
        try:
            st = p.stat()
        except OSError as e:
            raise ConfigError(f"Cannot read {p} to key the preprocessing cache: {e}.") from e
        name = str(p.relative_to(root)) if root is not None else str(p)
        out.append([name, int(st.st_size), int(st.st_mtime_ns)])
    return sorted(out)


def save_records(records, path):
    """Writes a Records to `path` as .npz (no pickles)."""
    arrays = {"images": records.images, "labels": records.labels,
              "class_names": np.asarray(records.class_names, dtype=str),
              "name": np.asarray(records.name)}
    for field in Records._OPTIONAL:
        value = getattr(records, field)
        if value is not None:
            arrays[field] = value
    with open(path, "wb") as f:
        np.savez(f, **arrays)
        f.flush()
        os.fsync(f.fileno())


def load_records(path):
    """Reads a Records written by `save_records`."""
    with np.load(path, allow_pickle=False) as data:
        fields = {k: data[k] for k in data.files}
    return Records(images=fields.pop("images"), labels=fields.pop("labels"),
                   class_names=tuple(str(c) for c in fields.pop("class_names")),
                   name=str(fields.pop("name")), **fields)


def _write_marker(folder, digest):
    # Written last: its presence is the only proof that the entry is whole.
    atomic_write_text(folder / MARKER, digest)


def _is_complete(folder, digest):
    marker = folder / MARKER
    try:
        return marker.read_text().strip() == digest and (folder / RECORDS_FILE).is_file()
    except OSError:
        return False


def _remove_abandoned_temps(cache_dir, entry_name):
    """Deletes temp folders of this entry left by processes that died."""
    for tmp in cache_dir.glob(f".{entry_name}.tmp-*"):
        try:
            pid = int(tmp.name.rsplit(".tmp-", 1)[1].split("-", 1)[0])
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(tmp, ignore_errors=True)
        except (ValueError, IndexError, PermissionError, OSError):
            continue


def _read_entry(folder):
    records = load_records(folder / RECORDS_FILE)
    meta_path = folder / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else None
    return records, meta


def cached(key, build_fn, cache_dir=None, name="records"):
    """Returns build_fn()'s Records, computing it only once per `key`.

    Args:
        key: JSON-like dict: preprocessing settings and dataset identity.
        build_fn: callable() -> Records, or -> (Records, meta dict); the
            meta dict (JSON-able, e.g. detection statistics) is cached too.
        cache_dir: folder of cache entries (default `default_cache_dir()`).
        name: readable prefix of the entry's folder name.

    Returns:
        What build_fn returns (Records, or (Records, meta)), read from the
        cache when a complete entry for `key` exists.

    Example:
        key = {"dataset": "savee", "files": dataset_identity(paths, root),
               "settings": {"detector": "haar", "size": 64}}
        records = cached(key, lambda: faces_from_videos(clips, names), cache_dir)
    """
    cache_dir = pathlib.Path(cache_dir) if cache_dir is not None else default_cache_dir()
    digest = cache_key(key)
    entry = cache_dir / f"{name}-{digest[:20]}"
    if _is_complete(entry, digest):
        try:
            records, meta = _read_entry(entry)
            return records if meta is None else (records, meta)
        except (OSError, ValueError, KeyError):
            pass  # unreadable despite the marker (disk trouble): rebuild it

    result = build_fn()
    records, meta = result if isinstance(result, tuple) else (result, None)
    if not isinstance(records, Records):
        raise ConfigError(f"cached(): build_fn must return Records or (Records, "
                          f"dict), got {type(records).__name__}.")
    cache_dir.mkdir(parents=True, exist_ok=True)
    _remove_abandoned_temps(cache_dir, entry.name)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".{entry.name}.tmp-{os.getpid()}-",
                                        dir=cache_dir))
    try:
        save_records(records, tmp / RECORDS_FILE)
        atomic_write_text(tmp / "key.json", canonical_json(key))
        if meta is not None:
            atomic_write_text(tmp / "meta.json", json.dumps(meta, default=json_default))
        if entry.exists():
            if _is_complete(entry, digest):  # another process finished first
                shutil.rmtree(tmp, ignore_errors=True)
                return result
            shutil.rmtree(entry)  # an interrupted run's leftovers
        os.replace(tmp, entry)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _write_marker(entry, digest)
    return result
