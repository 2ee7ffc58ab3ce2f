import json
import os

import numpy as np
import pytest

from fer_tf.data.records import Records
from fer_tf.errors import ConfigError
from fer_tf.preprocess import cache


def _records(seed=0, n=5):
    rng = np.random.default_rng(seed)
    return Records(images=rng.integers(0, 256, (n, 8, 8, 1)).astype(np.uint8),
                   labels=rng.integers(0, 3, n), class_names=("a", "b", "c"),
                   subjects=[f"s{i % 2}" for i in range(n)],
                   landmarks=rng.normal(size=(n, 68, 2)).astype(np.float32),
                   groups=[f"g{i}" for i in range(n)], name="toy")


class _Builder:
    def __init__(self, result):
        self.result = result
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return self.result


def _assert_same(a, b):
    assert a.class_names == b.class_names and a.name == b.name
    for field in ("images", "labels", "subjects", "landmarks", "groups"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert b.split is None and b.sources is None


def test_save_load_round_trip(tmp_path):
    records = _records()
    cache.save_records(records, tmp_path / "r.npz")
    _assert_same(records, cache.load_records(tmp_path / "r.npz"))


def test_second_call_reads_the_cache(tmp_path):
    build = _Builder(_records())
    key = {"dataset": "toy", "settings": {"size": 8}}
    first = cache.cached(key, build, tmp_path)
    second = cache.cached(dict(reversed(list(key.items()))), build, tmp_path)
    assert build.calls == 1
    _assert_same(first, second)
    (entry,) = [p for p in tmp_path.iterdir()]
    assert (entry / cache.MARKER).read_text() == cache.cache_key(key)
    assert json.loads((entry / "key.json").read_text()) == key


def test_key_changes_with_settings_and_files(tmp_path):
    build = _Builder(_records())
    cache.cached({"settings": {"size": 8}}, build, tmp_path)
    cache.cached({"settings": {"size": 16}}, build, tmp_path)
    assert build.calls == 2
    assert cache.cache_key({"a": 1, "b": [1, 2]}) == cache.cache_key({"b": [1, 2], "a": 1})
    assert cache.cache_key({"a": 1}) != cache.cache_key({"a": 1.5})
    data = tmp_path / "data"
    data.mkdir()
    (data / "x.avi").write_bytes(b"1234")
    before = cache.dataset_identity([data / "x.avi"], root=data)
    assert before[0][:2] == ["x.avi", 4]
    (data / "x.avi").write_bytes(b"12345")
    assert cache.dataset_identity([data / "x.avi"], root=data) != before
    with pytest.raises(ConfigError, match="gone.avi"):
        cache.dataset_identity([data / "gone.avi"])
    with pytest.raises(ConfigError, match="JSON-like"):
        cache.cache_key({"detector": object()})


def test_meta_is_cached_with_the_records(tmp_path):
    build = _Builder((_records(), {"detection_rate": 0.75}))
    records, meta = cache.cached({"k": 1}, build, tmp_path)
    again, meta_again = cache.cached({"k": 1}, build, tmp_path)
    assert build.calls == 1 and meta == meta_again == {"detection_rate": 0.75}
    _assert_same(records, again)
    with pytest.raises(ConfigError, match="Records"):
        cache.cached({"k": 2}, lambda: {"not": "records"}, tmp_path)


def test_crash_before_the_marker_is_never_read_as_complete(tmp_path, monkeypatch):
    key = {"k": "crash"}
    real_marker = cache._write_marker

    def killed(folder, digest):
        raise KeyboardInterrupt("killed after the arrays were renamed into place")

    monkeypatch.setattr(cache, "_write_marker", killed)
    with pytest.raises(KeyboardInterrupt):
        cache.cached(key, _Builder(_records(seed=1)), tmp_path)
    (entry,) = [p for p in tmp_path.iterdir()]
    assert (entry / cache.RECORDS_FILE).is_file() and not (entry / cache.MARKER).exists()

    monkeypatch.setattr(cache, "_write_marker", real_marker)
    build = _Builder(_records(seed=2))
    result = cache.cached(key, build, tmp_path)
    assert build.calls == 1  # the half-finished entry was rebuilt, not read
    _assert_same(_records(seed=2), result)
    assert cache.cached(key, build, tmp_path) is not None and build.calls == 1


def test_crash_while_writing_arrays(tmp_path, monkeypatch):
    key = {"k": "mid-write"}
    real_save = cache.save_records

    def dies_halfway(records, path):
        with open(path, "wb") as f:
            f.write(b"PK\x03\x04 partial npz")
        raise OSError("disk full")

    monkeypatch.setattr(cache, "save_records", dies_halfway)
    with pytest.raises(OSError):
        cache.cached(key, _Builder(_records()), tmp_path)
    assert list(tmp_path.iterdir()) == []  # the temp folder was removed

    # A process killed mid-write leaves its temp folder behind: it is ignored
    # and, once its process is gone, deleted.
    entry_name = f"records-{cache.cache_key(key)[:20]}"
    dead_pid = 2 ** 22 + 12345
    orphan = tmp_path / f".{entry_name}.tmp-{dead_pid}-abc"
    orphan.mkdir()
    (orphan / cache.RECORDS_FILE).write_bytes(b"PK partial")
    monkeypatch.setattr(cache, "save_records", real_save)
    build = _Builder(_records())
    cache.cached(key, build, tmp_path)
    assert build.calls == 1 and not orphan.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [entry_name]


def test_marker_of_another_key_or_garbage_entry_is_rebuilt(tmp_path):
    key = {"k": 3}
    entry = tmp_path / f"records-{cache.cache_key(key)[:20]}"
    entry.mkdir()
    (entry / cache.RECORDS_FILE).write_bytes(b"not an npz")
    (entry / cache.MARKER).write_text("0" * 64)
    build = _Builder(_records())
    cache.cached(key, build, tmp_path)
    assert build.calls == 1
    _assert_same(_records(), cache.load_records(entry / cache.RECORDS_FILE))


def test_default_cache_dir_follows_fer_tf_home(tmp_path, monkeypatch):
    monkeypatch.setenv("FER_TF_HOME", str(tmp_path))
    assert cache.default_cache_dir() == tmp_path / "cache"
    cache.cached({"k": 4}, _Builder(_records()))
    assert len(os.listdir(tmp_path / "cache")) == 1


_KILLED_WRITER = r"""
import sys, time
import numpy as np
from fer_tf.data.records import Records
from fer_tf.preprocess import cache

def stalls(folder, digest):
    print("arrays in place", flush=True)
    time.sleep(60)  # killed here, before the completion marker exists

cache._write_marker = stalls
records = Records(images=np.zeros((3, 4, 4, 1), np.uint8), labels=[0, 1, 0],
                  class_names=("a", "b"))
cache.cached({"k": "sigkill"}, lambda: records, sys.argv[1])
"""


def test_process_killed_mid_write_leaves_no_readable_entry(tmp_path):
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(tmp_path)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "arrays in place"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    (entry,) = list(tmp_path.iterdir())
    assert not (entry / cache.MARKER).exists()
    build = _Builder(_records())
    _assert_same(_records(), cache.cached({"k": "sigkill"}, build, tmp_path))
    assert build.calls == 1
