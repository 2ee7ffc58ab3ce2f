"""The one model-file lookup: explicit path, cache folders, packages, Keras fetch."""

import os
import pathlib

import keras
import pytest

from fer_tf import weights
from fer_tf.errors import MissingModelFileError

URL = "https://example.invalid/models/tiny.h5"


@pytest.fixture
def homes(tmp_path, monkeypatch):
    """Empty Keras and fer_tf home folders, read by the lookup at call time."""
    keras_home, fer_home = tmp_path / "keras_home", tmp_path / "fer_home"
    keras_home.mkdir()
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    monkeypatch.setenv("FER_TF_HOME", str(fer_home))
    return keras_home, fer_home


def test_the_test_suite_runs_offline():
    assert os.environ["FER_TF_OFFLINE"] == "1" and weights.is_offline()


@pytest.mark.parametrize("value, expected", [("1", True), ("true", True), ("YES", True),
                                             ("0", False), ("", False), ("no", False)])
def test_offline_variable(monkeypatch, value, expected):
    monkeypatch.setenv("FER_TF_OFFLINE", value)
    assert weights.is_offline() is expected
    assert weights.is_offline(True) is True and weights.is_offline(False) is False


def test_explicit_path_must_exist(homes, tmp_path):
    given = tmp_path / "mine.h5"
    given.write_bytes(b"x")
    cached = weights.keras_cache_dirs()[0] / "mine.h5"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"y")
    assert weights.find_model_file("Tiny weights", "mine.h5", given, keras_cache=True) == given
    absent = tmp_path / "absent.h5"
    with pytest.raises(MissingModelFileError, match=f"Tiny weights: no file at {absent}"):
        # never replaced by the cached copy
        weights.find_model_file("Tiny weights", "mine.h5", absent, keras_cache=True)


def test_found_in_the_keras_cache_and_the_fer_tf_home(homes):
    keras_home, fer_home = homes
    assert weights.keras_cache_dirs()[0] == keras_home / "models"
    (keras_home / "models").mkdir()
    (keras_home / "models" / "tiny.h5").write_bytes(b"x")
    found = weights.find_model_file("Tiny", "tiny.h5", keras_cache=True, url=URL, offline=False)
    assert found == keras_home / "models" / "tiny.h5"
    folder = fer_home / "models" / "dlib"
    folder.mkdir(parents=True)
    (folder / "p.dat").write_bytes(b"x")
    assert weights.find_model_file("Predictor", "p.dat", subfolder="dlib") == folder / "p.dat"


def test_package_copy_is_the_last_local_place(homes, tmp_path):
    packaged = tmp_path / "site" / "p.dat"
    packaged.parent.mkdir()
    packaged.write_bytes(b"x")
    assert weights.find_model_file("Predictor", "p.dat", subfolder="dlib",
                                   fallbacks=[None, packaged]) == packaged


def test_missing_offline_names_file_folder_and_url(homes):
    keras_home, _ = homes
    with pytest.raises(MissingModelFileError) as info:
        weights.find_model_file("Tiny weights", "tiny.h5", keras_cache=True, url=URL,
                                how_to_get="Or train from scratch.")
    message = str(info.value)
    assert "\n" not in message
    assert f"put tiny.h5 in {keras_home / 'models'}" in message
    assert URL in message and "FER_TF_OFFLINE" in message and "Or train from scratch." in message


def test_missing_without_url_says_where_to_put_it(homes):
    _, fer_home = homes
    with pytest.raises(MissingModelFileError) as info:
        weights.find_model_file("SSD weights", "ssd.caffemodel", subfolder="face_detector",
                                offline=False)
    message = str(info.value)
    assert "\n" not in message and "FER_TF_HOME" in message
    assert f"put ssd.caffemodel in {fer_home / 'models' / 'face_detector'}" in message


def test_fetch_stores_where_keras_get_file_would(homes, monkeypatch):
    keras_home, _ = homes
    calls = []

    def fake_get_file(fname, origin, cache_dir, cache_subdir, file_hash=None, **kwargs):
        calls.append((fname, origin, cache_dir, cache_subdir, file_hash))
        target = pathlib.Path(cache_dir) / cache_subdir / fname
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"weights")
        return str(target)

    monkeypatch.setattr(keras.utils, "get_file", fake_get_file)
    found = weights.find_model_file("Tiny", "tiny.h5", keras_cache=True, url=URL,
                                    file_hash="abc", offline=False)
    assert found == keras_home / "models" / "tiny.h5" and found.read_bytes() == b"weights"
    assert calls == [("tiny.h5", URL, str(keras_home), "models", "abc")]
    # Found in the cache the second time: no second fetch.
    weights.find_model_file("Tiny", "tiny.h5", keras_cache=True, url=URL, offline=False)
    assert len(calls) == 1
    with pytest.raises(MissingModelFileError):  # the environment variable turns it off
        weights.find_model_file("Tiny", "other.h5", keras_cache=True, url=URL)
    assert len(calls) == 1


def test_failed_fetch_is_one_line_naming_file_folder_and_url(homes, monkeypatch):
    keras_home, _ = homes

    def failing_get_file(*args, **kwargs):
        raise Exception(f"URL fetch failure on {URL}: None -- [Errno -2] Name or\n"
                        "service not known")

    monkeypatch.setattr(keras.utils, "get_file", failing_get_file)
    with pytest.raises(MissingModelFileError) as info:
        weights.find_model_file("Tiny weights", "tiny.h5", keras_cache=True, url=URL,
                                offline=False)
    message = str(info.value)
    assert "\n" not in message
    assert f"downloading {URL} failed" in message and "Name or service not known" in message
    assert f"put tiny.h5 in {keras_home / 'models'}" in message
