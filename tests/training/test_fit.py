import io
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
from fer_tf.progress import WorkClock
from fer_tf.training import fit
from fer_tf.training.recipes import OptimizerConfig, Recipe
from tests.helpers.fake_data import tiny_records
from tests.helpers.callbacks import Crash, CrashAfterEpoch, EpochRecorder

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


def _crashed_run(tmp_path, epochs, crash_after, checkpoint_interval):
    """A run killed after epoch `crash_after` (0-based) of `epochs`."""
    fit.set_seed(0)
    run = RunFolder(tmp_path / "run", create=True)
    run.write_config({"model": "tiny"})
    train_ds, val_ds = _data()
    with pytest.raises(Crash):
        fit.train(_tiny_model, train_ds, val_ds, run, _recipe(epochs),
                  callbacks=[CrashAfterEpoch(crash_after)], verbose=0,
                  checkpoint_interval=checkpoint_interval)
    return run, train_ds, val_ds


def test_killed_run_resumes_at_epoch_two(tmp_path):
    run, train_ds, val_ds = _crashed_run(tmp_path, 3, 0, checkpoint_interval=0)
    assert run.read_history()["epoch"] == [1]
    assert os.path.isdir(run.backup_dir)
    first_best = os.path.getmtime(run.best_checkpoint)

    resumed = RunFolder(tmp_path / "run", create=True, resume=True)
    recorder = EpochRecorder()
    _, history = fit.train(_tiny_model, train_ds, val_ds, resumed, _recipe(3),
                           callbacks=[recorder], verbose=0)
    assert recorder.begun == [1, 2], "the restarted run starts at epoch 2"
    assert history["epoch"] == [1, 2, 3]
    assert os.path.getmtime(run.best_checkpoint) >= first_best


class _StateRecorder(keras.callbacks.Callback):
    """Weights and optimizer variables at each epoch's end, and at the first
    epoch's start (after BackupAndRestore's on_train_begin)."""

    def __init__(self):
        super().__init__()
        self.at_end, self.at_first_begin = {}, None

    def _state(self):
        return ([w.copy() for w in self.model.get_weights()],
                [np.array(v) for v in self.model.optimizer.variables])

    def on_epoch_begin(self, epoch, logs=None):
        if self.at_first_begin is None:
            self.at_first_begin = (epoch, self._state())

    def on_epoch_end(self, epoch, logs=None):
        self.at_end[epoch] = self._state()


def _assert_same_state(got, want):
    for group_got, group_want in zip(got, want):
        assert len(group_got) == len(group_want)
        for a, b in zip(group_got, group_want):
            np.testing.assert_array_equal(a, b)


def test_a_resumed_epoch_starts_from_the_last_backups_weights_and_optimizer(tmp_path):
    fit.set_seed(0)
    run = RunFolder(tmp_path / "run", create=True)
    run.write_config({"model": "tiny"})
    train_ds, val_ds = _data()
    crashed = _StateRecorder()
    with pytest.raises(Crash):
        fit.train(_tiny_model, train_ds, val_ds, run, _recipe(4),
                  callbacks=[crashed, CrashAfterEpoch(1)], verbose=0, checkpoint_interval=0)
    resumed = _StateRecorder()
    fit.train(_tiny_model, train_ds, val_ds, RunFolder(run.path, create=True, resume=True),
              _recipe(4), callbacks=[resumed], verbose=0, checkpoint_interval=0)
    epoch, state = resumed.at_first_begin
    assert epoch == 2
    assert int(state[1][0]) > 0, "the optimizer's step counter came back too"
    _assert_same_state(state, crashed.at_end[1])


def test_a_crash_at_the_default_interval_redoes_at_most_its_seconds_of_epochs(tmp_path,
                                                                              monkeypatch):
    # A fake clock: every epoch takes 7 s, so backups fall due every 5th epoch at
    # the default 30 s; a crash after the 9th epoch redoes epochs 6-9.
    now = [0.0]
    monkeypatch.setattr(fit.time, "monotonic", lambda: now[0])
    tick = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: now.__setitem__(0, now[0] + 7.0))
    fit.set_seed(0)
    run = RunFolder(tmp_path / "run", create=True)
    run.write_config({"model": "tiny"})
    train_ds, val_ds = _data()
    crash_after = 8
    with pytest.raises(Crash):
        fit.train(_tiny_model, train_ds, val_ds, run, _recipe(10),
                  callbacks=[tick, CrashAfterEpoch(crash_after)], verbose=0)
    recorder = EpochRecorder()
    fit.train(_tiny_model, train_ds, val_ds, RunFolder(run.path, create=True, resume=True),
              _recipe(10), callbacks=[tick, recorder], verbose=0)
    redone = crash_after + 1 - recorder.begun[0]
    assert 0 < redone <= int(np.ceil(fit.CHECKPOINT_INTERVAL_S / 7.0)), recorder.begun
    assert recorder.begun == list(range(recorder.begun[0], 10))


def test_checkpoints_between_due_epochs_are_held_and_written_at_the_end(tmp_path):
    """With a long PersistClock interval nothing but the history is written
    during training; the best epoch's model is written when training ends."""
    fit.set_seed(0)
    run = RunFolder(tmp_path / "run", create=True)
    train_ds, val_ds = _data()
    recipe = _recipe(4, monitor="val_loss", mode="min")
    seen = []

    class Spy(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append((os.path.exists(run.best_checkpoint), os.path.isdir(run.backup_dir),
                         [w.copy() for w in self.model.get_weights()]))

    model, history = fit.train(_tiny_model, train_ds, val_ds, run, recipe, verbose=0,
                               callbacks=[Spy()], checkpoint_interval=1e9)
    assert [s[:2] for s in seen] == [(False, False)] * 4
    with open(run.file("checkpoints", "best.json")) as f:
        best = json.load(f)
    epoch = int(np.argmin(history["val_loss"])) + 1
    assert best["epoch"] == epoch and best["value"] == pytest.approx(min(history["val_loss"]))
    saved = keras.saving.load_model(run.best_checkpoint).get_weights()
    for a, b in zip(saved, seen[epoch - 1][2]):
        np.testing.assert_array_equal(a, b)
    assert best["sha256"] == fit.file_sha256(run.best_checkpoint)


def test_a_crash_between_due_epochs_redoes_them_without_stale_history(tmp_path):
    run, train_ds, val_ds = _crashed_run(tmp_path, 4, 2, checkpoint_interval=1e9)
    assert run.read_history()["epoch"] == [1, 2, 3]
    assert not os.path.exists(run.best_checkpoint) and not os.path.isdir(run.backup_dir)

    resumed = RunFolder(tmp_path / "run", create=True, resume=True)
    recorder = EpochRecorder()
    stop = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: setattr(recorder.model, "stop_training", epoch == 1))
    _, history = fit.train(_tiny_model, train_ds, val_ds, resumed, _recipe(4),
                           callbacks=[recorder, stop], verbose=0, checkpoint_interval=1e9)
    assert recorder.begun == [0, 1], "no backup was due: the stage starts again"
    assert history["epoch"] == [1, 2], "rows of the interrupted epochs are not kept"
    assert os.path.exists(resumed.best_checkpoint)


def test_persist_clock_answers_once_per_epoch(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(fit.time, "monotonic", lambda: now[0])
    clock = fit.PersistClock(30.0)
    assert not clock.due(0)
    now[0] = 131.0
    assert clock.due(1) and clock.due(1), "both callbacks get the same answer"
    now[0] = 150.0
    assert not clock.due(2)
    now[0] = 162.0
    assert clock.due(3)
    assert fit.PersistClock(0).due(0)


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


def _two_output_model(num_classes=3, points=68):
    """A tiny extractor with a landmark head and an expression head, named as
    the landmark paper's parts so stages can freeze them by name."""
    inputs = keras.Input((16, 16, 1))
    extractor = keras.Sequential([keras.layers.Conv2D(4, 3, activation="relu"),
                                  keras.layers.GlobalAveragePooling2D()], name="extractor")
    features = extractor(inputs)
    landmarks = keras.layers.Dense(2 * points, name="landmark_head")(features)
    hidden = keras.layers.Dense(8, name="expression_head_hidden")(features)
    labels = keras.layers.Dense(num_classes, activation="softmax", dtype="float32",
                                name="expression_head")(hidden)
    return keras.Model(inputs, {"landmarks": landmarks, "labels": labels}, name="two_output")


def _three_stage_recipe(epochs=1):
    from fer_tf.training.recipes import Stage

    landmark_opt = OptimizerConfig("adam", 1e-2)
    return Recipe(
        name="three_stage", epochs=epochs, batch_size=8, optimizer=OptimizerConfig("adam", 1e-4),
        loss={"labels": "sparse_categorical_crossentropy", "landmarks": "mae"},
        metrics={"labels": ["accuracy"], "landmarks": ["mae"]},
        monitor="val_labels_accuracy",
        stages=(Stage("landmarks", epochs, trainable=("extractor", "landmark_head"),
                      optimizer=landmark_opt, loss={"landmarks": "mae"}, monitor="val_loss",
                      mode="min"),
                Stage("head", epochs, trainable=("expression_head",), optimizer=landmark_opt,
                      loss={"labels": "sparse_categorical_crossentropy"}),
                Stage("finetune", epochs, trainable=("extractor", "expression_head"),
                      loss={"labels": "sparse_categorical_crossentropy"})))


class _Snapshot(keras.callbacks.Callback):
    """Records the extractor's weights when each stage begins and ends."""

    def __init__(self):
        super().__init__()
        self.begin, self.end = [], []

    def on_train_begin(self, logs=None):
        self.begin.append([w.copy() for w in self.model.get_layer("extractor").get_weights()])

    def on_train_end(self, logs=None):
        self.end.append([w.copy() for w in self.model.get_layer("extractor").get_weights()])


def test_two_output_model_trains_in_three_stages_and_resumes_after_a_stage(tmp_path):
    fit.set_seed(0)
    r = tiny_records()
    train_ds = make_dataset(r, batch_size=8, training=True, with_landmarks=True)
    val_ds = make_dataset(r, batch_size=8, with_landmarks=True)
    run = RunFolder(tmp_path / "run", create=True)
    run.write_config({"model": "two_output"})
    snap = _Snapshot()
    model, history = fit.train(_two_output_model, train_ds, val_ds, run, _three_stage_recipe(),
                               callbacks=[snap], verbose=0)
    stages = sorted(os.listdir(run.file("stages")))
    assert stages == ["1-landmarks", "2-head", "3-finetune"]
    for s in stages:
        assert os.path.exists(run.file("stages", s, "stage.json"))
        assert os.path.exists(run.file("stages", s, "checkpoints", "best.keras"))
    assert history["stage"] == [1, 2, 3] and history["epoch"] == [1, 2, 3]
    assert "landmarks_mae" in history and "labels_accuracy" in history
    # Stage 1 trains the extractor, stage 2 leaves it frozen, stage 3 trains it again.
    changed = [any(not np.allclose(a, b) for a, b in zip(begin, end))
               for begin, end in zip(snap.begin, snap.end)]
    assert changed == [True, False, True]
    assert model.get_layer("extractor").trainable and not model.get_layer("landmark_head").trainable
    assert os.path.exists(run.best_checkpoint)
    out = keras.saving.load_model(run.best_checkpoint).predict(
        np.zeros((2, 16, 16, 1), np.float32), verbose=0)
    assert out["labels"].shape == (2, 3) and out["landmarks"].shape == (2, 136)

    # A resumed run skips finished stages: remove the last stage's marker only.
    os.remove(run.file("stages", "3-finetune", "stage.json"))
    recorder = EpochRecorder()
    log = io.StringIO()
    clock = WorkClock(3 * 2, stream=log)
    fit.train(_two_output_model, train_ds, val_ds, RunFolder(run.path, create=True, resume=True),
              _three_stage_recipe(), callbacks=[recorder, fit.EpochProgress(clock, "fold 1", 2)],
              verbose=0)
    assert recorder.begun == [0], "only the unfinished stage ran again"
    lines = log.getvalue().splitlines()
    assert [t.split(" | elapsed")[0] for t in lines[:2]] == [
        "fold 1 | stage 1/3 landmarks | finished by an earlier process",
        "fold 1 | stage 2/3 head | finished by an earlier process"]
    assert len(lines) == 3 and lines[2].startswith("fold 1 | stage 3/3 finetune | epoch 1/1 | ")
    assert " labels_accuracy " in lines[2] and lines[2].endswith("remaining ~0s")
    assert (clock.timed, clock.untimed) == (2, 4)


def test_monitoring_val_loss_keeps_the_lowest_checkpoint(tmp_path):
    """Regression: `mode` was not passed on, so monitoring val_loss kept the worst."""
    fit.set_seed(0)
    run = RunFolder(tmp_path / "run", create=True)
    train_ds, val_ds = _data()
    _, history = fit.train(_tiny_model, train_ds, val_ds, run,
                           _recipe(4, monitor="val_loss", mode="min"), verbose=0)
    with open(run.file("checkpoints", "best.json")) as f:
        best = json.load(f)
    assert best["value"] == pytest.approx(min(history["val_loss"]))
    assert best["epoch"] == int(np.argmin(history["val_loss"])) + 1
    assert min(history["val_loss"]) < max(history["val_loss"])


def test_a_kill_during_the_best_checkpoint_save_keeps_the_previous_best(tmp_path, monkeypatch):
    """Regression: best.keras was written in place, so a kill mid-save destroyed it."""
    fit.set_seed(0)
    run = RunFolder(tmp_path / "run", create=True)
    train_ds, val_ds = _data()
    model, _ = fit.train(_tiny_model, train_ds, val_ds, run, _recipe(1), verbose=0)
    before = open(run.best_checkpoint, "rb").read()
    with open(run.file("checkpoints", "best.json")) as f:
        recorded = json.load(f)["value"]

    def killed_save(self, path, *args, **kwargs):
        with open(path, "wb") as f:
            f.write(b"half a zip")
        raise KeyboardInterrupt("killed during save")

    monkeypatch.setattr(keras.Model, "save", killed_save)
    checkpoint = fit.AtomicBestCheckpoint(run.best_checkpoint, "val_accuracy", "max")
    checkpoint.set_model(model)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.on_epoch_end(5, {"val_accuracy": recorded + 1.0})
    monkeypatch.undo()
    assert open(run.best_checkpoint, "rb").read() == before
    assert not [f for f in os.listdir(run.checkpoints_dir) if f.startswith(".tmp-")]
    assert fit.read_best(run.best_checkpoint, "val_accuracy", "max") == recorded
    keras.saving.load_model(run.best_checkpoint)
    # A best.json that does not describe the file is not trusted; the history is.
    with open(run.file("checkpoints", "best.json"), "w") as f:
        json.dump({"monitor": "val_accuracy", "value": 99.0, "sha256": "stale"}, f)
    rows = [{"epoch": 1, "val_accuracy": 0.25}, {"epoch": 2, "val_accuracy": 0.5}]
    assert fit.read_best(run.best_checkpoint, "val_accuracy", "max", rows) == 0.5


def test_members_are_sub_runs_and_a_finished_member_is_not_retrained(tmp_path):
    run = RunFolder(tmp_path / "run", create=True)
    train_ds, val_ds = _data()
    calls = []

    def train_member(m, sub):
        calls.append(m)
        fit.set_seed(m)
        fit.train(_tiny_model, train_ds, val_ds, sub, _recipe(1), verbose=0)
        return {"seed": m}

    results = fit.run_subruns(run, "members", range(3), train_member)
    assert results == {0: {"seed": 0}, 1: {"seed": 1}, 2: {"seed": 2}}
    assert sorted(os.listdir(run.file("members"))) == ["0", "1", "2"]
    for m in "012":
        assert os.path.exists(run.file("members", m, "checkpoints", "best.keras"))
    os.remove(run.file("members", "2", "result.json"))
    fit.run_subruns(run, "members", range(3), train_member)
    assert calls == [0, 1, 2, 2]


def test_progress_is_one_line_per_epoch_in_files_and_pipes(monkeypatch):
    import io

    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert fit.progress_verbosity("auto") == 2
    assert fit.progress_verbosity(0) == 0


def test_recipe_label_smoothing_reaches_the_loss():
    from fer_tf.training.recipes import make_loss

    y_true = np.array([0, 1])
    y_pred = np.array([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1]], np.float32)
    plain = float(make_loss("sparse_categorical_crossentropy")(y_true, y_pred))
    smooth = float(make_loss("sparse_categorical_crossentropy", 0.1)(y_true, y_pred))
    q = np.eye(3)[y_true] * 0.9 + 0.1 / 3
    expected = float(np.mean(-(q * np.log(y_pred)).sum(-1)))
    assert smooth == pytest.approx(expected, rel=1e-5)
    assert plain == pytest.approx(float(np.mean(-np.log([0.9, 0.8]))), rel=1e-5)


def test_the_registered_baseline_trains_by_its_preset_from_python(tmp_path):
    from fer_tf.models import registry
    from fer_tf.training import runner

    spec = registry.get_spec("baseline_cnn")
    recipe = spec.default_recipe().with_epochs(1)
    assert recipe.name == "camnet_baseline_cnn" and recipe.optimizer.learning_rate == 3e-4
    records, _ = runner.load_records("synthetic", input_shape=(32, 32, 1),
                                     synthetic={"num_subjects": 6, "images_per_class": 1})
    train, val, _ = runner.split_records(records, "synthetic")
    run = RunFolder(tmp_path / "run", create=True)
    model, history = fit.train(
        lambda: registry.build_model("baseline_cnn", input_shape=(32, 32, 1)),
        make_dataset(train, training=True, batch_size=16, image_size=(32, 32)),
        make_dataset(val, batch_size=16, image_size=(32, 32)), run, recipe, verbose=0)
    assert history["epoch"] == [1] and os.path.exists(run.best_checkpoint)
    assert model.optimizer.learning_rate.numpy() == pytest.approx(3e-4)


def test_recipe_overrides_reach_nested_fields_and_bad_ones_are_one_line_errors():
    recipe = Recipe(model_kwargs={"weights": "imagenet", "dropout": 0.2})
    changed = recipe.replace(model_kwargs__weights="random", optimizer__learning_rate=0.5)
    assert changed.model_kwargs == {"weights": "random", "dropout": 0.2}
    assert changed.optimizer.learning_rate == 0.5 and recipe.optimizer.learning_rate == 1e-3
    for bad in ({"nothing__x": 1}, {"optimizer__nope": 1}, {"epochs__x": 1}, {"nope": 1}):
        with pytest.raises(ConfigError):
            recipe.replace(**bad)


def _bn_model():
    inputs = keras.Input((4,))
    x = keras.layers.BatchNormalization(name="bn")(inputs)
    outputs = keras.layers.Dense(2, activation="softmax", name="head")(x)
    return keras.Model(inputs, outputs)


def test_recalibrate_batch_norm_averages_the_batch_statistics():
    model = _bn_model()
    rng = np.random.default_rng(0)
    batches = [rng.normal(5.0, 2.0, (16, 4)).astype("float32") for _ in range(3)]
    head = [w.numpy().copy() for w in model.get_layer("head").weights]
    assert fit.recalibrate_batch_norm(model, iter(batches)) == 3
    bn = model.get_layer("bn")
    np.testing.assert_allclose(bn.moving_mean.numpy(),
                               np.mean([b.mean(0) for b in batches], axis=0), rtol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.numpy(),
                               np.mean([b.var(0) for b in batches], axis=0), rtol=1e-4)
    assert bn.momentum == 0.99
    for before, after in zip(head, model.get_layer("head").weights):
        np.testing.assert_array_equal(before, after.numpy())


def test_precise_bn_recipe_recalibrates_before_each_validation(tmp_path):
    # Inputs with mean 5: after one epoch of 2 steps at momentum 0.99 the
    # moving mean is still near 0; precise BN puts it at the data's mean.
    rng = np.random.default_rng(1)
    x = rng.normal(5.0, 1.0, (32, 4)).astype("float32")
    y = rng.integers(0, 2, 32)
    for batches, near in ((0, 0.0), (4, 5.0)):
        fit.set_seed(0)
        run = RunFolder(tmp_path / f"run{batches}", create=True)
        recipe = Recipe(name="bn", epochs=1, batch_size=16, precise_bn_batches=batches,
                        optimizer=OptimizerConfig("adam", 1e-3))
        model, _ = fit.train(_bn_model, (x, y), (x, y), run, recipe, verbose=0)
        mean = model.get_layer("bn").moving_mean.numpy()
        assert np.abs(mean - near).max() < 0.6, (batches, mean)


def test_without_validation_data_the_full_budget_runs_and_the_last_weights_are_kept(tmp_path):
    """No validation split (the landmark paper's protocols): neither early
    stopping nor checkpoint selection may watch the training loss. A spy
    biases the output towards class 0 more every epoch, so the training
    loss rises: the old fallback stopped after two epochs and kept epoch 1."""
    fit.set_seed(0)
    run = RunFolder(tmp_path / "run", create=True)
    train_ds, _ = _data()
    recipe = Recipe(name="rising", epochs=4, batch_size=8,
                    optimizer=OptimizerConfig("adam", 1e-6), patience=1, monitor="val_loss",
                    mode="min")
    last = []

    class Spy(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            dense = self.model.layers[-1]
            dense.bias.assign(np.array([3.0 * (epoch + 1), 0.0, 0.0], np.float32))

        def on_epoch_end(self, epoch, logs=None):
            last[:] = [w.copy() for w in self.model.get_weights()]

    model, history = fit.train(_tiny_model, train_ds, None, run, recipe, verbose=0,
                               callbacks=[Spy()])
    assert np.all(np.diff(history["loss"]) > 0), "the training loss rose every epoch"
    assert history["epoch"] == [1, 2, 3, 4], "the whole epoch budget, no early stopping"
    with open(run.file("checkpoints", "best.json")) as f:
        best = json.load(f)
    assert best["monitor"] == fit.LAST_EPOCH and best["epoch"] == 4
    saved = keras.saving.load_model(run.best_checkpoint).get_weights()
    for kept, on_disk, final in zip(model.get_weights(), saved, last):
        np.testing.assert_array_equal(kept, final)
        np.testing.assert_array_equal(on_disk, final)


def test_saved_checkpoints_honour_the_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        fit.atomic_save_model(_tiny_model(), tmp_path / "best.keras")
    finally:
        os.umask(previous)
    assert oct((tmp_path / "best.keras").stat().st_mode & 0o777) == oct(0o644)
