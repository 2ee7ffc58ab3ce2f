import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from fer_tf.errors import ConfigError

from fer_tf.data.pipeline import make_dataset
from fer_tf.evaluation.report import RunFolder
from fer_tf.training import fit
from fer_tf.training.recipes import OptimizerConfig, Recipe
from tests.helpers.fake_data import tiny_records

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _tiny_model(num_classes=3):
    inputs = keras.Input((16, 16, 1))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", dtype="float32")(x)
    return keras.Model(inputs, outputs)


def _recipe(epochs, **kw):
    return Recipe(name="tiny", epochs=epochs, batch_size=8,
                  optimizer=OptimizerConfig("adam", 1e-2), **kw)


def _data():
    r = tiny_records()
    return make_dataset(r, batch_size=8, training=True), make_dataset(r, batch_size=8)


def test_train_writes_history_and_best_checkpoint(tmp_path):
    fit.set_seed(0)
    run = RunFolder(tmp_path / "run", create=True)
    train_ds, val_ds = _data()
    model, history = fit.train(_tiny_model, train_ds, val_ds, run, _recipe(2), verbose=0)
    assert history["epoch"] == [1, 2]
    assert np.all(np.isfinite(history["loss"]))
    assert os.path.exists(run.best_checkpoint)
    reloaded = keras.saving.load_model(run.best_checkpoint)
    assert reloaded.output_shape == (None, 3)
    assert not os.path.exists(run.backup_dir), "backup is deleted after a finished run"


class _Crash(Exception):
    pass


class _CrashAfterEpoch(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            raise _Crash()


class _EpochRecorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.begun = []

    def on_epoch_begin(self, epoch, logs=None):
        self.begun.append(epoch)


def test_killed_run_resumes_at_epoch_two(tmp_path):
    fit.set_seed(0)
    run = RunFolder(tmp_path / "run", create=True)
    run.write_config({"model": "tiny"})
    train_ds, val_ds = _data()
    with pytest.raises(_Crash):
        fit.train(_tiny_model, train_ds, val_ds, run, _recipe(3),
                  callbacks=[_CrashAfterEpoch()], verbose=0)
    assert run.read_history()["epoch"] == [1]
    assert os.path.isdir(run.backup_dir)
    first_best = os.path.getmtime(run.best_checkpoint)

    resumed = RunFolder(tmp_path / "run", create=True, resume=True)
    recorder = _EpochRecorder()
    _, history = fit.train(_tiny_model, train_ds, val_ds, resumed, _recipe(3),
                           callbacks=[recorder], verbose=0)
    assert recorder.begun == [1, 2], "the restarted run starts at epoch 2"
    assert history["epoch"] == [1, 2, 3]
    assert os.path.getmtime(run.best_checkpoint) >= first_best


def test_mixed_precision_outputs_float32_and_scales_loss(tmp_path):
    run = RunFolder(tmp_path / "run", create=True)
    train_ds, val_ds = _data()
    model, history = fit.train(_tiny_model, train_ds, val_ds, run, _recipe(1),
                               mixed_precision=True, verbose=0)
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert model.layers[1].compute_dtype == "float16"
    out = model.predict(np.zeros((2, 16, 16, 1), np.float32), verbose=0)
    assert out.dtype == np.float32
    assert np.isfinite(history["loss"]).all()
    assert keras.config.dtype_policy().name == "float32", "policy restored afterwards"


def test_strategy_selection_rules(monkeypatch):
    assert fit.get_strategy("default").num_replicas_in_sync == 1
    with pytest.raises(ConfigError):
        fit.get_strategy("tpu")
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ConfigError, match="TF_CONFIG"):
        fit.get_strategy("multiworker")


MIRRORED_SCRIPT = textwrap.dedent("""
    import json, sys
    import keras
    from fer_tf.training import fit
    fit.split_cpu(2)
    from fer_tf.data.pipeline import make_dataset
    from fer_tf.evaluation.report import RunFolder
    from tests.helpers.fake_data import tiny_records
    from tests.training.test_fit import _tiny_model
    strategy = fit.get_strategy("auto")
    r = tiny_records()
    run = RunFolder(sys.argv[1], create=True)
    from fer_tf.training.recipes import OptimizerConfig, Recipe
    recipe = Recipe(epochs=2, batch_size=8, optimizer=OptimizerConfig("adam", 1e-2))
    model, history = fit.train(_tiny_model, make_dataset(r, batch_size=8, training=True),
                               make_dataset(r, batch_size=8), run, recipe,
                               strategy=strategy, verbose=0)
    out = model.predict(make_dataset(r, batch_size=8), verbose=0)
    print(json.dumps({"replicas": strategy.num_replicas_in_sync,
                      "kind": type(strategy).__name__, "shape": list(out.shape),
                      "loss": history["loss"]}))
""")


def test_mirrored_strategy_on_two_logical_cpus(tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("TF_CONFIG", None)
    proc = subprocess.run([sys.executable, "-c", MIRRORED_SCRIPT, str(tmp_path / "run")],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["kind"] == "MirroredStrategy" and result["replicas"] == 2
    assert result["shape"] == [36, 3]
    assert len(result["loss"]) == 2 and np.isfinite(result["loss"]).all()
