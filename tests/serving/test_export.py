"""`fer_tf.serving.export`: every format gives the in-memory classifier's probabilities
on the same crops within its stated tolerance (issue 13, item 4), the
SavedModel signature is what serving tools list, the .keras file reloads in a
fresh process without fer_tf, and what must be refused is refused."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from fer_tf.errors import ConfigError
from fer_tf.serving.export import (PROBABILITIES_SIGNATURE, TOLERANCES, export_model, load_tflite,
                            tflite_sidecar)
from fer_tf.serving.predict import ModelInfo, keras_classifier, load_classifier, write_info_entry

# Tolerances per format (max abs probability difference), as in fer_tf.serving.export.
SAVEDMODEL_ATOL = 1e-6
KERAS_ATOL = 1e-6
TFLITE_ATOL = 1e-5
TFLITE_FLOAT16_ATOL = 1e-2
CLASSES = ("anger", "happiness", "neutral")
SIZE = (24, 24)


def _tiny_model(channels=1, seed=0, extra=None):
    """Conv -> flatten -> softmax, weights scaled so that the probabilities
    move with the pixels' layout, which CLAHE keeps (so a tolerance check
    means something)."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((*SIZE, channels))
    x = keras.layers.Conv2D(4, 3, strides=3, activation="relu",
                            kernel_initializer=keras.initializers.RandomNormal(0.0, 0.6))(inputs)
    if extra is not None:
        x = extra(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(len(CLASSES), activation="softmax",
                                 kernel_initializer=keras.initializers.RandomNormal(0.0, 0.3))(x)
    return keras.Model(inputs, outputs)


def _keras_file(path, model, info):
    model.save(path)
    write_info_entry(path, info)
    return path


def _run_folder(path, models, normalization="unit", clahe=False):
    """A finished (ensemble) run folder as `fer-tf train` leaves it."""
    for i, m in enumerate(models):
        folder = path / "members" / f"member{i}" / "checkpoints"
        folder.mkdir(parents=True)
        m.save(folder / "best.keras")
    with open(path / "config.json", "w") as f:
        json.dump({"fer_tf_run": 1, "class_names": list(CLASSES),
                   "recipe": {"normalization": normalization}, "data": {"clahe": clahe}}, f)
    return path


def _crops(n, shape, seed):
    """uint8 crops with different brightness and contrast per crop."""
    rng = np.random.default_rng(seed)
    lo = rng.integers(0, 160, (n, 1, 1, 1))
    span = rng.integers(20, 96, (n, 1, 1, 1))
    return (lo + rng.random((n, *shape)) * span).astype(np.uint8)


def _assert_close(got, expected, atol, what, spread=True):
    got, expected = np.asarray(got, np.float64), np.asarray(expected, np.float64)
    assert got.shape == expected.shape, what
    # The probabilities must move with the input, or equality proves nothing.
    assert not spread or np.ptp(expected, axis=0).max() > 0.05, f"{what}: model insensitive"
    np.testing.assert_allclose(got, expected, rtol=0, atol=atol, err_msg=what)


def _no_temporaries(folder):
    assert not [p.name for p in folder.iterdir() if ".tmp-" in p.name or ".old-" in p.name]


@pytest.fixture(scope="module")
def grey(tmp_path_factory):
    """A grey 24x24 model (.keras with its info, symmetric normalisation) and
    the in-memory classifier the exports must agree with."""
    folder = tmp_path_factory.mktemp("grey")
    info = ModelInfo((*SIZE, 1), CLASSES, "symmetric")
    path = _keras_file(folder / "grey.keras", _tiny_model(), info)
    return path, load_classifier(path)


@pytest.fixture(scope="module")
def clahe_ensemble(tmp_path_factory):
    """A two-member colour ensemble trained with CLAHE (run folder)."""
    folder = tmp_path_factory.mktemp("ensemble") / "run"
    folder.mkdir()
    run = _run_folder(folder, [_tiny_model(3, seed=1), _tiny_model(3, seed=2)], "unit",
                      clahe=True)
    return run, load_classifier(run)


def test_saved_model_any_size_and_channels_match_in_memory(grey, tmp_path):
    spec, reference = grey
    out = tmp_path / "sm"
    summary = export_model(spec, "savedmodel", out)
    assert summary["max_abs_diff"] <= SAVEDMODEL_ATOL and summary["within_tolerance"]
    assert summary["class_names"] == list(CLASSES) and summary["size_bytes"] > 0
    assert summary["input_signature"]["images"]["shape"] == [None] * 4
    json.dumps(summary)
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o777 & ~umask, "a server must be able to read it"
    exported = load_classifier(out)
    assert exported.class_names == CLASSES and exported.input_shape == (*SIZE, 1)
    for shape, seed in [((*SIZE, 1), 0), ((37, 29, 3), 1), ((13, 11, 1), 2), ((48, 48, 3), 3)]:
        crops = list(_crops(5, shape, seed))
        _assert_close(exported.predict_faces(crops), reference.predict_faces(crops),
                      SAVEDMODEL_ATOL, f"SavedModel on {shape} crops")
    _no_temporaries(tmp_path)


def test_saved_model_signature_as_serving_tools_list_it(grey, tmp_path):
    import tensorflow as tf

    out = tmp_path / "sm"
    export_model(grey[0], "savedmodel", out)
    fn = tf.saved_model.load(str(out)).signatures["serving_default"]
    (spec,) = fn.structured_input_signature[1].values()
    assert set(fn.structured_input_signature[1]) == {"images"}
    assert spec.dtype == tf.uint8 and spec.shape.as_list() == [None] * 4
    outputs = fn.structured_outputs
    assert outputs["probabilities"].dtype == tf.float32
    assert outputs["probabilities"].shape.as_list() == [None, len(CLASSES)]
    assert outputs["class_names"].dtype == tf.string
    assert outputs["input_shape"].dtype == tf.int32
    crops = tf.constant(_crops(2, (30, 30, 3), 4))
    result = fn(images=crops)
    assert [n.decode() for n in result["class_names"].numpy()] == list(CLASSES)
    assert result["input_shape"].numpy().tolist() == [*SIZE, 1]
    batched = tf.saved_model.load(str(out)).signatures[PROBABILITIES_SIGNATURE]
    alone = batched(images=crops)
    assert set(alone) == {"probabilities"}
    np.testing.assert_array_equal(alone["probabilities"].numpy(),
                                  result["probabilities"].numpy())
    # Each weight is stored once (keras-team/keras#23553 stores them twice).
    stored = tf.train.load_checkpoint(str(out / "variables" / "variables"))
    sizes = [int(np.prod(s)) for k, s in stored.get_variable_to_shape_map().items()
             if k != "_CHECKPOINTABLE_OBJECT_GRAPH"]
    assert sum(sizes) == sum(m.count_params() for m in grey[1].models)
    cli = shutil.which("saved_model_cli", path=os.path.dirname(sys.executable))
    assert cli, "saved_model_cli comes with tensorflow"
    shown = subprocess.run([cli, "show", "--dir", str(out), "--all"], capture_output=True,
                           text=True, timeout=120, env={**os.environ,
                                                        "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert shown.returncode == 0, shown.stderr[-2000:]
    listed = shown.stdout.split("signature_def['serving_default']")[1]
    assert "inputs['images']" in listed and "DT_UINT8" in listed
    assert "(-1, -1, -1, -1)" in listed
    for name in ("probabilities", "class_names", "input_shape"):
        assert f"outputs['{name}']" in listed
    assert f"signature_def['{PROBABILITIES_SIGNATURE}']" in shown.stdout


def test_clahe_ensemble_saved_model_and_tflite_keep_clahe_inside(clahe_ensemble, tmp_path):
    run, reference = clahe_ensemble
    without_clahe = keras_classifier(reference.models, ModelInfo(
        reference.input_shape, CLASSES, "unit", False))
    crops = list(_crops(5, (*SIZE, 3), 5))
    sm = export_model(run, "savedmodel", tmp_path / "sm")
    assert sm["members"] == 2 and sm["clahe"] is True
    exported = load_classifier(tmp_path / "sm")
    _assert_close(exported.predict_faces(crops), reference.predict_faces(crops),
                  SAVEDMODEL_ATOL, "CLAHE ensemble SavedModel")
    odd = list(_crops(3, (40, 31, 1), 6))
    _assert_close(exported.predict_faces(odd), reference.predict_faces(odd),
                  SAVEDMODEL_ATOL, "CLAHE ensemble SavedModel, grey crops of another size")
    lite = export_model(run, "tflite", tmp_path / "ensemble.tflite")
    assert lite["within_tolerance"]
    got = load_tflite(tmp_path / "ensemble.tflite").predict(np.stack(crops))
    _assert_close(got, reference.predict_faces(crops), TFLITE_ATOL, "CLAHE ensemble TFLite")
    # CLAHE changes the answer, so agreement above shows it runs inside.
    assert np.abs(got - without_clahe.predict_faces(crops)).max() > 10 * TFLITE_ATOL
    with pytest.raises(ConfigError, match="CLAHE.*savedmodel"):
        export_model(run, "keras", tmp_path / "ensemble.keras")
    assert not (tmp_path / "ensemble.keras").exists()


def test_tflite_float32_and_float16_match_in_memory(grey, tmp_path):
    spec, reference = grey
    crops = _crops(6, (*SIZE, 1), 7)
    expected = reference.predict_faces(list(crops))
    full = export_model(spec, "tflite", tmp_path / "m.tflite")
    half = export_model(spec, "tflite", tmp_path / "m16.tflite", float16=True)
    assert full["tolerance"] == TOLERANCES["tflite"] == TFLITE_ATOL
    assert half["tolerance"] == TOLERANCES["tflite-float16"] == TFLITE_FLOAT16_ATOL
    assert full["within_tolerance"] and half["within_tolerance"]
    model = load_tflite(tmp_path / "m.tflite")
    halved = load_tflite(tmp_path / "m16.tflite")

    def float16_tensors(m):
        return [d["name"] for d in m.interpreter.get_tensor_details() if d["dtype"] == np.float16]

    assert float16_tensors(halved) and not float16_tensors(model)
    assert model.class_names == CLASSES and model.input_shape == (*SIZE, 1)
    _assert_close(model.predict(crops), expected, TFLITE_ATOL, "TFLite float32")
    _assert_close(model.predict(crops[:1]), expected[:1], TFLITE_ATOL,
                  "TFLite float32, batch of 1", spread=False)
    _assert_close(halved.predict(crops), expected,
                  TFLITE_FLOAT16_ATOL, "TFLite float16")
    meta = json.loads(tflite_sidecar(tmp_path / "m.tflite").read_text())
    assert meta["class_names"] == list(CLASSES) and meta["input_shape"] == [*SIZE, 1]
    with pytest.raises(ConfigError, match=r"shape \(N, 24, 24, 1\)"):
        model.predict(_crops(1, (30, 30, 1), 0))
    _no_temporaries(tmp_path)


def test_keras_export_reloads_in_a_fresh_process_without_fer_tf(grey, tmp_path):
    spec, reference = grey
    out = tmp_path / "export.keras"
    summary = export_model(spec, "keras", out)
    assert summary["within_tolerance"]
    crops = _crops(5, (*SIZE, 1), 8)
    np.save(tmp_path / "crops.npy", crops.astype(np.float32))
    script = textwrap.dedent("""
        import sys
        import numpy as np
        import keras
        model = keras.saving.load_model(sys.argv[1])
        probs = keras.ops.convert_to_numpy(model(np.load(sys.argv[2])))
        np.save(sys.argv[3], probs)
        assert not [m for m in sys.modules if m.split(".")[0] == "fer_tf"], "fer_tf imported"
    """)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"}
    env.pop("PYTHONPATH", None)
    done = subprocess.run([sys.executable, "-c", script, str(out), str(tmp_path / "crops.npy"),
                           str(tmp_path / "probs.npy")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    expected = reference.predict_faces(list(crops))
    _assert_close(np.load(tmp_path / "probs.npy"), expected, KERAS_ATOL, "fresh-process .keras")
    again = load_classifier(out)
    assert again.info.normalization == "none" and again.class_names == CLASSES
    _assert_close(again.predict_faces(list(crops)), expected, KERAS_ATOL, ".keras via fer_tf")
    _no_temporaries(tmp_path)


def test_keras_export_refuses_fer_tf_layers(tmp_path):
    from fer_tf.layers.attention import SqueezeExcite

    model = _tiny_model(extra=SqueezeExcite(reduction=2))
    spec = _keras_file(tmp_path / "se.keras", model, ModelInfo((*SIZE, 1), CLASSES))
    with pytest.raises(ConfigError, match="SqueezeExcite.*savedmodel"):
        export_model(spec, "keras", tmp_path / "out.keras")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["se.keras"]


def test_refusals_and_overwrite_rules(grey, tmp_path):
    spec, _ = grey
    sm = tmp_path / "sm"
    export_model(spec, "savedmodel", sm)
    with pytest.raises(ConfigError, match="SavedModel is already an export"):
        export_model(sm, "tflite", tmp_path / "x.tflite")
    text = tmp_path / "notes.keras"
    text.write_text("not a model")
    with pytest.raises(ConfigError, match="notes.keras"):
        export_model(text, "savedmodel", tmp_path / "y")
    with pytest.raises(ConfigError, match="Unknown export format"):
        export_model(spec, "onnx", tmp_path / "z")
    with pytest.raises(ConfigError, match="float16"):
        export_model(spec, "savedmodel", tmp_path / "w", float16=True)
    # An existing destination: refused without overwrite, replaced with it.
    with pytest.raises(ConfigError, match="already exists"):
        export_model(spec, "savedmodel", sm)
    first = (sm / "saved_model.pb").stat().st_mtime_ns
    export_model(spec, "savedmodel", sm, overwrite=True)
    assert (sm / "saved_model.pb").stat().st_mtime_ns != first
    # Something export did not write is never replaced, even with overwrite.
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not a savedmodel export"):
        export_model(spec, "savedmodel", foreign, overwrite=True)
    assert (foreign / "keep.txt").read_text() == "mine"
    with pytest.raises(ConfigError, match="not a keras export"):
        export_model(spec, "keras", spec, overwrite=True)
    lonely = tmp_path / "lonely.tflite"
    lonely.write_bytes(b"mine")
    with pytest.raises(ConfigError, match="not a tflite export"):
        export_model(spec, "tflite", lonely, overwrite=True)
    assert lonely.read_bytes() == b"mine"
    with pytest.raises(ConfigError, match=r"\.tflite file"):
        export_model(spec, "tflite", tmp_path / "model.bin")
    with pytest.raises(ConfigError, match="already exists"):
        export_model(spec, "tflite", lonely)
    with pytest.raises(ConfigError, match="lonely.tflite.json"):
        load_tflite(lonely)
    _no_temporaries(tmp_path)


def test_a_killed_exports_temporary_folder_is_removed_by_the_next(grey, tmp_path):
    spec, _ = grey
    out = tmp_path / "serving" / "1"
    out.parent.mkdir()
    dead = 2 ** 22 + 12345  # above Linux's largest pid: no such process
    orphan = out.parent / f"1.tmp-{dead}-k1ll3d00"
    (orphan / "variables").mkdir(parents=True)
    (orphan / "saved_model.pb").write_bytes(b"half written")
    live = out.parent / f"1.tmp-{os.getpid()}-inflight"
    live.mkdir()
    foreign = out.parent / "1.tmp-notes"
    foreign.mkdir()
    export_model(spec, "savedmodel", out)
    assert not orphan.exists()
    assert live.is_dir() and foreign.is_dir()  # a live writer's, and not of our pattern
    assert sorted(p.name for p in out.parent.iterdir()) == sorted([
        "1", live.name, foreign.name])
