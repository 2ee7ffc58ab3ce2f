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
