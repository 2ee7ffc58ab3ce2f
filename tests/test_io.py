import gzip
import json
import os

import numpy as np
import pytest

from fer_tf.io import atomic_open, atomic_write_json


def test_atomic_open_streams_through_a_compressor(tmp_path):
    path = tmp_path / "rows.csv.gz"
    with atomic_open(path, "wt", opener=gzip.open, encoding="ascii") as f:
        f.write("a,b\n1,2\n")
    with gzip.open(path, "rt") as f:
        assert f.read() == "a,b\n1,2\n"


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_open(path, "w") as f:
            f.write("new, half")
            raise RuntimeError("killed mid-write")
    assert path.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["table.csv"]


def test_json_handles_numpy_and_paths(tmp_path):
    path = tmp_path / "m.json"
    atomic_write_json(path, {"acc": np.float32(0.5), "n": np.int64(3), "cm": np.eye(2, dtype=int),
                             "where": tmp_path, "ok": np.bool_(True)})
    data = json.loads(path.read_text())
    assert data == {"acc": 0.5, "n": 3, "cm": [[1, 0], [0, 1]], "where": str(tmp_path),
                    "ok": True}
    with pytest.raises(TypeError):
        atomic_write_json(tmp_path / "bad.json", {"x": object()})
    assert not (tmp_path / "bad.json").exists()


def test_atomic_writes_honour_the_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        atomic_write_json(tmp_path / "config.json", {"a": 1})
        with atomic_open(tmp_path / "plot.png", "wb") as f:
            f.write(b"png")
    finally:
        os.umask(previous)
    for name in ("config.json", "plot.png"):
        assert oct((tmp_path / name).stat().st_mode & 0o777) == oct(0o644), name


def test_owned_outputs_replace_only_fer_tfs_unchanged_files(tmp_path):
    from fer_tf.errors import ConfigError
    from fer_tf.io import OUTPUTS_MANIFEST, OwnedOutputs, check_output_file

    (tmp_path / "user.png").write_bytes(b"theirs")
    owned = OwnedOutputs(tmp_path)
    assert owned.free_name("user", ".png") == "user-1.png"
    with pytest.raises(ConfigError, match="user.png: exists and was not written by fer-tf"):
        owned.write_bytes("user.png", b"ours")
    assert (tmp_path / "user.png").read_bytes() == b"theirs"
    owned.write_bytes("cam.png", b"ours 1")
    again = OwnedOutputs(tmp_path)  # a later run reads the manifest
    assert again.owns("cam.png") and not again.owns("user.png")
    again.write_bytes("cam.png", b"ours 2")
    assert (tmp_path / "cam.png").read_bytes() == b"ours 2"
    (tmp_path / "cam.png").write_bytes(b"edited by the user since")
    assert not OwnedOutputs(tmp_path).owns("cam.png")
    with pytest.raises(ConfigError, match="cam.png: exists and was not written by fer-tf"):
        check_output_file(tmp_path / "cam.png", ".png")
    with pytest.raises(ConfigError, match="notes.txt: expected a .png file name"):
        check_output_file(tmp_path / "notes.txt", ".png")
    (tmp_path / OUTPUTS_MANIFEST).write_text("someone else's file\n")
    with pytest.raises(ConfigError, match="is not fer-tf's list of the outputs"):
        OwnedOutputs(tmp_path)


def test_abandoned_temporaries_of_dead_processes_are_removed(tmp_path):
    from fer_tf.io import remove_abandoned_temps

    dead = 2 ** 22 + 12345  # above Linux's largest pid
    for name in (f"sm.tmp-{dead}-abcd1234", f"sm.tmp-{os.getpid()}-abcd1234", "sm.tmp-x",
                 f"other.tmp-{dead}-abcd1234"):
        (tmp_path / name).mkdir()
    (tmp_path / f"m.keras.tmp-{dead}-abcd1234.keras").write_bytes(b"half")
    assert sorted(os.path.basename(p) for p in remove_abandoned_temps(tmp_path, "sm")) == [
        f"sm.tmp-{dead}-abcd1234"]
    assert remove_abandoned_temps(tmp_path, "m.keras")
    assert sorted(os.listdir(tmp_path)) == sorted([
        f"sm.tmp-{os.getpid()}-abcd1234", "sm.tmp-x", f"other.tmp-{dead}-abcd1234"])
