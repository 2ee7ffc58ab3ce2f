"""The one training loop of the package: every model of every paper trains here.

`train(build_model, train_data, val_data, run, recipe)` compiles and fits a
model by its `Recipe`:
- single- or multi-output models (losses, metrics and loss weights per output);
- staged schedules (landmark paper Sec. III-D2): each `Stage` names the
  layers that train, its loss, optimizer and epochs; stage k lives in
  `stages/<k>-<name>/` of the run folder and a finished stage is skipped on
  resume;
- members and folds as sub-runs (`members/<k>/`, `folds/<k>/`) through
  `run_subruns`, which the runner aggregates.

Distribution: the default strategy on one device, `MirroredStrategy` over
several local devices, `MultiWorkerMirroredStrategy` (configured through
`TF_CONFIG`) over several processes or machines; only the chief writes the
run folder. Mixed precision: `mixed_float16` compute with each model's last
layer in float32 and dynamic loss scaling. Crash safety: the best checkpoint
is written to a temporary file and renamed, with its monitored value beside
it in `best.json` (the value resume trusts); `BackupAndRestore` resumes an
interrupted stage after its last backup. Both are written every
`CHECKPOINT_INTERVAL_S` seconds of training and at its end (a checkpoint
write costs about as much as an epoch of a small model), so a crash redoes
at most that much.
"""

import contextlib
import json
import math
import os
import random
import shutil
import sys
import tempfile
import time

import keras
import numpy as np

from fer_tf.errors import ConfigError
from fer_tf.io import atomic_write_json, current_umask, file_sha256
from fer_tf.models.saving import load_model
from fer_tf.training import recipes as recipes_lib

MIXED_POLICY = "mixed_float16"
STRATEGIES = ("auto", "default", "mirrored", "multiworker")
BEST_JSON = "best.json"
#: Seconds of training between two writes of the best checkpoint and the
#: backup (`PersistClock`); a crash redoes at most this much.
CHECKPOINT_INTERVAL_S = 30.0
STAGE_DONE = "stage.json"
#: What the best checkpoint "monitors" when there is no validation data: the
#: epoch number, so the latest epoch is always kept. A run without a
#: validation split trains its fixed epoch budget and ends with its last
#: weights (no early stopping, no selection on training metrics).
LAST_EPOCH = "epoch"


def set_seed(seed):
    """Seeds Python, NumPy and the backend (TensorFlow or JAX)."""
    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)


def _tf_config():
    return json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")


def get_strategy(kind="auto"):
    """Returns a `tf.distribute.Strategy`.

    Args:
        kind: "auto" (multi-worker if TF_CONFIG has a cluster, mirrored over
            several visible GPUs - or logical CPUs if several were configured -
            else the default strategy), "default", "mirrored" or "multiworker"
            (`MultiWorkerMirroredStrategy` from TF_CONFIG; create it before any
            other TensorFlow op runs).
    """
    import tensorflow as tf

    kind = {"multi_worker": "multiworker"}.get(kind, kind)
    if kind == "auto":
        if _tf_config().get("cluster"):
            kind = "multiworker"
        elif len(tf.config.list_logical_devices("GPU")) > 1:
            kind = "mirrored"
        elif len(tf.config.list_logical_devices("CPU")) > 1:
            kind = "mirrored"
        else:
            kind = "default"
    if kind == "default":
        return tf.distribute.get_strategy()
    if kind == "mirrored":
        devices = [d.name for d in tf.config.list_logical_devices("GPU")]
        if len(devices) < 2:
            devices = [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=devices)
    if kind == "multiworker":
        if not _tf_config().get("cluster"):
            raise ConfigError("--strategy multiworker needs TF_CONFIG with a cluster "
                              '(e.g. {"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                              '"task": {"type": "worker", "index": 0}}).')
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ConfigError(f"Unknown strategy {kind!r}; expected one of {', '.join(STRATEGIES)}.")


def is_chief():
    """True unless TF_CONFIG names this process a non-chief worker."""
    config = _tf_config()
    task = config.get("task") or {}
    if not config.get("cluster") or not task:
        return True
    if task.get("type") == "chief":
        return True
    return task.get("type") == "worker" and int(task.get("index", 0)) == 0 \
        and "chief" not in config["cluster"]


def is_multi_worker(strategy):
    import tensorflow as tf

    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def _multi_worker_keras(model):
    """Lets Keras 3's TensorFlow trainer fit under MultiWorkerMirroredStrategy.

    Two defects stop `model.fit` there (keras-team/keras#20585, present in
    Keras 3.15): its symbolic build reduces a whole distributed batch with
    `strategy.reduce`, which the collective strategy rejects, and it
    all-reduces every step's scalar loss and metrics with
    `reduce("MEAN", v, axis=0)`, which fails for rank-0 values. The first
    is skipped by leaving the model without a recorded strategy (it is then
    taken from the enclosing `strategy.scope()`, inside which `fit` runs);
    the second by reducing rank-0 values with `axis=None`, the mean over the
    replicas. Everything else - sharding, gradient all-reduce - is
    TensorFlow's own.
    """
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer as tf_trainer

    model._distribute_strategy = None
    original = tf_trainer.reduce_per_replica
    if getattr(original, "fer_tf_multi_worker", False):
        return

    def reduce_per_replica(values, strategy, reduction):
        if not (tf_trainer._collective_all_reduce_multi_worker(strategy)
                and reduction in ("auto", "mean")):
            return original(values, strategy, reduction)

        def one(value):
            first = value.values[0] if tf_trainer._is_per_replica_instance(value) else value
            if first.shape.rank == 0:
                return strategy.reduce("MEAN", value, axis=None)
            return original(value, strategy, reduction)

        return tree.map_structure(one, values)

    reduce_per_replica.fer_tf_multi_worker = True
    tf_trainer.reduce_per_replica = reduce_per_replica


def split_cpu(num_devices):
    """Splits the physical CPU into `num_devices` logical devices (before any op
    runs) so MirroredStrategy can be exercised without GPUs."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * num_devices)


@contextlib.contextmanager
def precision_policy(mixed_precision):
    """Sets mixed_float16 for model construction when asked, restoring the
    policy after; otherwise the caller's policy stays (float32 by default, or
    mixed_bfloat16 under `fer_tf.training.precision.dtype_policy`)."""
    previous = keras.config.dtype_policy()
    if mixed_precision:
        keras.config.set_dtype_policy(MIXED_POLICY)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def wrap_optimizer(optimizer, mixed_precision):
    """Loss scaling keeps float16 gradients from underflowing."""
    if mixed_precision and not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def progress_verbosity(verbose="auto"):
    """Keras' progress bar on a terminal; one line per epoch in files and pipes
    (a redrawn bar written to a log is thousands of carriage returns)."""
    if verbose != "auto":
        return verbose
    return 1 if sys.stdout.isatty() else 2


def atomic_save_model(model, path):
    """Saves a `.keras` (or `.weights.h5`) file through a temporary file and a
    rename, so a kill during the save never destroys the previous file."""
    folder, name = os.path.split(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix="-" + name)
    os.close(fd)
    try:
        if name.endswith(".weights.h5"):
            model.save_weights(tmp, overwrite=True)
        else:
            model.save(tmp, overwrite=True)
        os.chmod(tmp, 0o666 & ~current_umask())  # as a plain open would, not mkstemp's 0600
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _better(value, best, mode):
    if best is None:
        return True
    return value > best if mode == "max" else value < best


class PersistClock:
    """Decides, once per epoch, whether this epoch's state goes to disk.

    Writing a checkpoint costs about 0.1 s whatever the model's size (h5
    bookkeeping), as much as a whole epoch of a small network on a small
    dataset, so the best checkpoint and the backup are written together at
    most every `interval` seconds of training, and always at the end. A
    crash then redoes at most `interval` seconds of epochs; 0 writes every
    epoch. Both callbacks ask the same clock, so the backup is never ahead
    of the best checkpoint it would resume beside.
    """

    def __init__(self, interval=0.0):
        self.interval = float(interval)
        self._last = time.monotonic()
        self._epoch, self._due = None, False

    def due(self, epoch):
        if epoch != self._epoch:
            now = time.monotonic()
            self._epoch = epoch
            self._due = now - self._last >= self.interval
            if self._due:
                self._last = now
        return self._due


class AtomicBestCheckpoint(keras.callbacks.Callback):
    """Keeps the best model so far by `monitor` (in `mode`), crash-safely.

    The model goes to a temporary file renamed over `best.keras`; then
    `best.json` records the value, the epoch and the checkpoint's SHA-256.
    Resume trusts `best.json` only when the hash matches the file, so a kill
    between the two renames can neither destroy the previous best nor leave a
    stale value that would let a worse model overwrite a better one.

    With a `PersistClock`, a new best between two due epochs is held in
    memory and written at the next due epoch or when training ends.
    """

    def __init__(self, path, monitor, mode, history_rows=(), clock=None):
        super().__init__()
        self.path, self.monitor, self.mode = path, monitor, mode
        self.json_path = os.path.join(os.path.dirname(path), BEST_JSON)
        self.best = read_best(path, monitor, mode, history_rows)
        self.clock = clock or PersistClock(0.0)
        self._pending = None

    def on_epoch_end(self, epoch, logs=None):
        value = epoch + 1 if self.monitor == LAST_EPOCH else (logs or {}).get(self.monitor)
        if value is None:
            raise ConfigError(f"The monitored metric {self.monitor!r} is not among this "
                              f"model's metrics {sorted(logs or {})}; set the recipe's "
                              "monitor to one of them.")
        value = float(value)
        due = self.clock.due(epoch)
        if not math.isnan(value) and _better(value, self.best, self.mode):
            self.best = value
            if due:
                self._pending = None
                self._write(value, epoch)
            else:
                self._pending = (value, epoch, self.model.get_weights())
        elif due:
            self.flush()

    def on_train_end(self, logs=None):
        self.flush()

    def flush(self):
        """Writes a best held in memory (the model's weights are put back).
        The file's optimizer state is the one at the write; the package
        reads a best checkpoint's weights only."""
        if self._pending is None:
            return
        value, epoch, weights = self._pending
        current = self.model.get_weights()
        self.model.set_weights(weights)
        try:
            self._write(value, epoch)
        finally:
            self.model.set_weights(current)
        self._pending = None

    def _write(self, value, epoch):
        atomic_save_model(self.model, self.path)
        atomic_write_json(self.json_path, {"monitor": self.monitor, "mode": self.mode,
                                           "value": value, "epoch": epoch + 1,
                                           "sha256": file_sha256(self.path)})


class ThrottledBackupAndRestore(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` that writes only on the `PersistClock`'s due epochs
    (the last finished epoch is what a resumed stage starts after)."""

    def __init__(self, backup_dir, clock=None, **kwargs):
        super().__init__(backup_dir, **kwargs)
        self.clock = clock or PersistClock(0.0)

    def on_epoch_end(self, epoch, logs=None):
        if self.clock.due(epoch):
            super().on_epoch_end(epoch, logs)


def read_best(path, monitor, mode, history_rows=()):
    """The monitored value of the checkpoint at `path`, or None without one.

    `best.json` is trusted when its hash matches the file; otherwise (a kill
    between the two renames) the checkpoint is newer than the record, and the
    best value in the history rows is the safe lower bound.
    """
    if not os.path.exists(path):
        return None
    json_path = os.path.join(os.path.dirname(path), BEST_JSON)
    try:
        with open(json_path) as f:
            record = json.load(f)
        if record.get("monitor") == monitor and record.get("sha256") == file_sha256(path):
            return float(record["value"])
    except (OSError, ValueError, KeyError):
        pass
    values = [row[monitor] for row in history_rows if monitor in row]
    if not values:
        return None
    return max(values) if mode == "max" else min(values)


class _LiveHistory(keras.callbacks.Callback):
    """Appends each epoch's logs to the run folder (atomically rewritten CSV),
    so a resumed run keeps the epochs it did before the interruption."""

    def __init__(self, run, offset=0):
        super().__init__()
        self.run, self.offset = run, offset
        self._started = False

    def on_epoch_begin(self, epoch, logs=None):
        # A resumed stage restarts after its last backup: rows recorded
        # after it (epochs the crash interrupted) are dropped, then redone.
        if not self._started:
            self._started = True
            rows = self.run.read_history_rows()
            kept = [r for r in rows if r["epoch"] <= epoch + self.offset]
            if len(kept) < len(rows):
                self.run.write_history_rows(kept)

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch + 1 + self.offset}
        row.update({k: float(v) for k, v in (logs or {}).items()})
        self.run.append_history(row)


def build_callbacks(run, monitor="val_accuracy", mode="max", patience=None,
                    backup=True, extra=(), checkpoint_interval=0.0):
    """NaN guard, history, atomic best checkpoint, BackupAndRestore, early stopping.

    History and the best checkpoint come before the backup in the list, so an
    epoch is recorded before the backup says it is done; a crash in between
    makes the resumed run redo that epoch and overwrite its history row. The
    best checkpoint and the backup are written on the same `PersistClock`
    (every `checkpoint_interval` seconds; 0: every epoch).
    """
    clock = PersistClock(checkpoint_interval)
    callbacks = [keras.callbacks.TerminateOnNaN(), _LiveHistory(run),
                 AtomicBestCheckpoint(run.best_checkpoint, monitor, mode,
                                      run.read_history_rows(), clock=clock)]
    if backup:
        callbacks.append(ThrottledBackupAndRestore(run.backup_dir, clock=clock,
                                                   delete_checkpoint=True))
    if patience:
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor=monitor, mode=mode, patience=patience, restore_best_weights=False))
    callbacks.extend(extra)
    return callbacks


def batch_norm_layers(model):
    """The trainable BatchNormalization layers of `model`, nested ones too
    (frozen ones run in inference mode and keep their statistics)."""
    return [layer for layer in model._flatten_layers(include_self=False)
            if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable]


def recalibrate_batch_norm(model, batches):
    """Precise BN (Wu & Johnson 2021): every trainable batch norm's moving
    mean and variance become the plain average of the batch statistics over
    `batches` (an iterable of model inputs), the weights unchanged.

    Runs the model in training mode with momentum 1 - 1/k at the k-th batch,
    so the k-th moving value is the mean of the first k batch values.
    Returns the number of batches used.
    """
    layers = batch_norm_layers(model)
    momenta = [layer.momentum for layer in layers]
    count = 0
    try:
        for count, x in enumerate(batches, 1):
            for layer in layers:
                layer.momentum = 1.0 - 1.0 / count
            model(x, training=True)
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
    return count


class PreciseBatchNorm(keras.callbacks.Callback):
    """`recalibrate_batch_norm` before every validation (Keras calls
    `on_test_begin` inside `fit` before it evaluates), so the epoch's
    validation metrics, its best checkpoint and the final weights all use
    the recalibrated statistics; with `last_epoch` (a stage without
    validation data, whose last weights are kept), also at the end of that
    epoch, ahead of the checkpoint callbacks (put it first in the list)."""

    def __init__(self, batches, last_epoch=None):
        super().__init__()
        self.batches = batches
        self.last_epoch = last_epoch

    def on_test_begin(self, logs=None):
        recalibrate_batch_norm(self.model, self.batches())

    def on_epoch_end(self, epoch, logs=None):
        if self.last_epoch is not None and epoch + 1 == self.last_epoch:
            recalibrate_batch_norm(self.model, self.batches())


def training_batches(train_data, batch_size, num_batches, seed=0):
    """callable() -> the inputs of `num_batches` training batches: the first
    ones of a tf.data dataset, or fixed random batches of an (x, y) array pair."""
    if isinstance(train_data, tuple):
        x = train_data[0]
        order = np.random.default_rng(seed).permutation(len(x))
        chunks = [order[i:i + batch_size] for i in range(0, len(x), batch_size)]
        chunks = [np.sort(c) for c in chunks[:num_batches]]
        return lambda: (x[c] for c in chunks)
    return lambda: (batch[0] for batch in train_data.take(num_batches))


def set_trainable(model, trainable):
    """Freezes every top-level layer whose name does not match `trainable`
    (names or name prefixes; "*" matches all). Returns the trainable names."""
    trainable = tuple(trainable)
    names = []
    for layer in model.layers:
        on = "*" in trainable or any(layer.name == p or layer.name.startswith(p)
                                     for p in trainable)
        if not layer.weights:
            continue
        layer.trainable = on
        if on:
            names.append(layer.name)
    if not names:
        raise ConfigError(f"No layer of model {model.name!r} matches trainable={trainable}; "
                          f"its layers are {[layer.name for layer in model.layers]}.")
    return names


def _steps_per_epoch(data, batch_size, steps_per_epoch):
    if steps_per_epoch:
        return int(steps_per_epoch)
    if isinstance(data, tuple):
        return max(1, math.ceil(len(data[0]) / batch_size))
    cardinality = int(data.cardinality()) if hasattr(data, "cardinality") else -1
    return max(1, cardinality) if cardinality > 0 else 1


def _fit_arguments(train_data, val_data, batch_size):
    if isinstance(train_data, tuple):
        x, y = train_data
        kwargs = {"x": x, "y": y, "batch_size": batch_size, "shuffle": True}
    else:
        # The tf.data pipeline shuffles itself (make_dataset(training=True)).
        kwargs = {"x": train_data, "shuffle": False}
    if val_data is not None:
        kwargs["validation_data"] = val_data
    return kwargs


class EpochProgress(keras.callbacks.Callback):
    """One line per epoch for long runs of many fits (folds, members,
    stages): `context`, the stage, the epoch, its losses and metrics, and the
    run's elapsed and remaining time from a shared `fer_tf.progress.WorkClock`
    counting training steps, e.g.

        jaffe fold 3/10 | el eyes (2/5) | stage 1/3 landmarks | epoch 12/30 |
        loss 0.0123 | elapsed 14m02s | remaining ~1h05m

    `train` tells it each stage (`on_stage_begin`) and each stage an earlier
    process finished (`on_stage_skipped`: its steps count as done, untimed).
    """

    def __init__(self, clock, context, steps_per_epoch):
        super().__init__()
        self.clock, self.context, self.steps = clock, context, int(steps_per_epoch)
        self.stage = "stage 1/1"
        self.epochs = None

    def on_stage_begin(self, index, stage, num_stages):
        self.stage = f"stage {index + 1}/{num_stages} {stage.name}"
        self.epochs = stage.epochs

    def on_stage_skipped(self, index, stage, num_stages):
        self.clock.done(stage.epochs * self.steps, timed=False)
        self.clock.line(f"{self.context} | stage {index + 1}/{num_stages} {stage.name} "
                        "| finished by an earlier process")

    def on_train_begin(self, logs=None):
        self.epochs = self.params.get("epochs", self.epochs)

    def on_epoch_end(self, epoch, logs=None):
        self.clock.done(self.steps)
        values = " ".join(f"{k} {float(v):.4g}" for k, v in sorted((logs or {}).items())
                          if k != "learning_rate" and np.ndim(v) == 0)
        self.clock.line(f"{self.context} | {self.stage} | epoch {epoch + 1}/{self.epochs}"
                        + (f" | {values}" if values else ""))


def _stage_run(run, index, stage, num_stages):
    """The folder a stage writes to: the run itself for a one-stage recipe."""
    if num_stages == 1:
        return run
    from fer_tf.evaluation.report import RunFolder

    return RunFolder(run.file("stages", f"{index + 1}-{stage.name}"), create=True,
                     resume=True, subrun=True)


def _monitor_for(stage_monitor, has_val):
    """The metric a plateau schedule watches: the training one without validation data."""
    if not has_val and stage_monitor.startswith("val_"):
        return stage_monitor[len("val_"):]
    return stage_monitor


def _selection(monitor, mode, has_val):
    """(monitor, mode) of the best checkpoint: the latest epoch without validation data."""
    return (monitor, mode) if has_val else (LAST_EPOCH, "max")


def train(build_model, train_data, val_data, run, recipe, strategy=None,
          mixed_precision=None, callbacks=(), verbose="auto", steps_per_epoch=None,
          run_eagerly=False, checkpoint_interval=None):
    """Builds, compiles and fits a model by `recipe` into `run` (a RunFolder).

    Args:
        build_model: callable() -> keras.Model, called inside the strategy
            scope and the precision policy. Its output names are the keys of
            dict losses/metrics/targets.
        train_data: a `tf.data.Dataset` of batches, or an (x, y) tuple of
            arrays (batched by `recipe.batch_size`, shuffled by Keras; the
            NumPy path that also runs under the JAX backend).
        val_data: the same kinds, or None: then every stage trains its full
            epoch budget (no early stopping) and keeps its last weights
            (`LAST_EPOCH`); a plateau schedule watches the training metric.
        run: `fer_tf.evaluation.report.RunFolder`.
        recipe: `fer_tf.training.recipes.Recipe`.
        strategy: a `tf.distribute.Strategy` (TensorFlow backend only).
        mixed_precision: bool or None (None: `recipe.mixed_precision`).
        callbacks: extra Keras callbacks (every stage).
        verbose: passed to `fit`; "auto" is one line per epoch unless stdout
            is a terminal.
        steps_per_epoch: for repeated (e.g. class-balanced) datasets.
        run_eagerly: bool. no traced step (smoke runs of deep models, whose
            trace costs more than their few eager steps).
        checkpoint_interval: seconds between writes of the best checkpoint
            and the backup (None: `CHECKPOINT_INTERVAL_S`; 0: every epoch,
            as multi-worker training always does, so that every worker
            saves at the same epochs).

    Returns:
        (model, history): the model with the final stage's best weights when
        `recipe.restore_best`, and {metric: [value per epoch]} over all stages,
        with a "stage" column numbering them.
    """
    mixed = recipe.mixed_precision if mixed_precision is None else bool(mixed_precision)
    stages = recipe.resolved_stages()
    writer = run if is_chief() else scratch_run()
    scope = strategy.scope if strategy is not None else contextlib.nullcontext
    with precision_policy(mixed), scope():
        model = build_model()
    interval = CHECKPOINT_INTERVAL_S if checkpoint_interval is None else checkpoint_interval
    if strategy is not None and is_multi_worker(strategy):
        _multi_worker_keras(model)
        interval = 0.0
    steps = _steps_per_epoch(train_data, recipe.batch_size, steps_per_epoch)
    verbose = progress_verbosity(verbose)
    offset, rows = 0, []
    for index, stage in enumerate(stages):
        folder = _stage_run(writer, index, stage, len(stages))
        monitor = _monitor_for(stage.monitor or recipe.monitor, val_data is not None)
        mode = stage.mode or recipe.mode
        done = folder.file(STAGE_DONE)
        if len(stages) > 1 and os.path.exists(done):
            _load_stage_weights(model, folder, recipe.restore_best)
            _tell(callbacks, "on_stage_skipped", index, stage, len(stages))
        else:
            _tell(callbacks, "on_stage_begin", index, stage, len(stages))
            _fit_stage(model, stage, recipe, folder, train_data, val_data, steps, monitor,
                       mode, mixed, scope, callbacks, verbose, steps_per_epoch, run_eagerly,
                       interval)
            if recipe.restore_best and os.path.exists(folder.best_checkpoint):
                _restore(model, folder.best_checkpoint)
            if len(stages) > 1:
                atomic_save_model(model, folder.checkpoints_dir + "/final.weights.h5")
                select, select_mode = _selection(monitor, mode, val_data is not None)
                atomic_write_json(done, {"stage": stage.name, "monitor": select,
                                         "best": read_best(folder.best_checkpoint, select,
                                                           select_mode,
                                                           folder.read_history_rows())})
        for row in folder.read_history_rows():
            rows.append(dict(row, epoch=row["epoch"] + offset, stage=index + 1))
        offset += stage.epochs
    if len(stages) > 1:
        writer.write_history_rows(rows)
        atomic_save_model(model, writer.best_checkpoint)
    if writer is not run:
        shutil.rmtree(writer.path, ignore_errors=True)
        return model, {k: [r.get(k, float("nan")) for r in rows]
                       for k in sorted({k for r in rows for k in r})}
    return model, run.read_history()


def _tell(callbacks, hook, *args):
    """Calls `hook` on the callbacks that have it (`EpochProgress`)."""
    for callback in callbacks:
        if hasattr(callback, hook):
            getattr(callback, hook)(*args)


def scratch_run():
    """Non-chief workers write to a private temporary folder: their saves
    take part in the collective ops but never touch the shared run folder."""
    from fer_tf.evaluation.report import RunFolder

    return RunFolder(tempfile.mkdtemp(prefix="fer_tf-worker-"), create=True, resume=True,
                     subrun=True)


def _fit_stage(model, stage, recipe, folder, train_data, val_data, steps, monitor, mode,
               mixed, scope, callbacks, verbose, steps_per_epoch, run_eagerly=False,
               checkpoint_interval=0.0):
    set_trainable(model, stage.trainable)
    opt_config = stage.optimizer or recipe.optimizer
    loss = stage.loss if stage.loss is not None else recipe.loss
    metrics = stage.metrics if stage.metrics is not None else recipe.metrics
    if isinstance(loss, dict) and isinstance(metrics, dict):
        metrics = {k: v for k, v in metrics.items() if k in loss}
    with precision_policy(mixed), scope():
        optimizer = recipes_lib.make_optimizer(opt_config, steps, stage.epochs)
        model.compile(optimizer=wrap_optimizer(optimizer, mixed),
                      loss=recipes_lib.make_loss(loss, recipe.label_smoothing),
                      loss_weights=stage.loss_weights or recipe.loss_weights,
                      metrics=recipes_lib.make_metrics(metrics), run_eagerly=run_eagerly)
        # Built here, the optimizer's slots exist before the first step: left
        # to Keras, the TensorFlow trainer builds them inside the first trace
        # and traces the step twice (CAMnet34's first step: 70 s -> 38 s).
        model.optimizer.build(model.trainable_variables)
    patience = stage.patience if stage.patience is not None else recipe.patience
    select, select_mode = _selection(monitor, mode, val_data is not None)
    if val_data is None:
        patience = None
    cbs = build_callbacks(folder, monitor=select, mode=select_mode, patience=patience,
                          extra=list(callbacks) + recipes_lib.schedule_callbacks(
                              opt_config, monitor, mode),
                          checkpoint_interval=checkpoint_interval)
    if recipe.precise_bn_batches:
        # First: without validation data the last epoch's weights are the
        # stage's checkpoint, so they are recalibrated before it is written.
        cbs.insert(0, PreciseBatchNorm(
            training_batches(train_data, recipe.batch_size, recipe.precise_bn_batches),
            last_epoch=None if val_data is not None else stage.epochs))
    kwargs = _fit_arguments(train_data, val_data, recipe.batch_size)
    with scope():
        model.fit(epochs=stage.epochs, steps_per_epoch=steps_per_epoch, callbacks=cbs,
                  verbose=verbose, **kwargs)


def _restore(model, path):
    best = load_model(path)
    model.set_weights(best.get_weights())


def _load_stage_weights(model, folder, restore_best):
    final = folder.checkpoints_dir + "/final.weights.h5"
    if os.path.exists(final):
        model.load_weights(final)
    elif restore_best and os.path.exists(folder.best_checkpoint):
        _restore(model, folder.best_checkpoint)


def run_subruns(run, kind, names, train_one):
    """Trains sub-runs `<run>/<kind>/<name>/` (kind "members" or "folds").

    Args:
        run: the parent RunFolder.
        kind: "members" or "folds".
        names: sub-run names, in order.
        train_one: callable(name, sub_run) -> JSON-able result dict.

    A sub-run whose `result.json` exists is finished and is not trained
    again (a resumed parent continues with the next one). Returns
    {name: result}.
    """
    from fer_tf.evaluation.report import RunFolder

    if kind not in ("members", "folds"):
        raise ConfigError(f"Sub-runs are 'members' or 'folds', not {kind!r}.")
    results = {}
    for name in names:
        sub = RunFolder(run.file(kind, str(name)), create=True, resume=True, subrun=True)
        done = sub.file("result.json")
        if os.path.exists(done):
            with open(done) as f:
                results[name] = json.load(f)
            continue
        result = train_one(name, sub)
        if is_chief():
            atomic_write_json(done, result)
        results[name] = result
    return results
