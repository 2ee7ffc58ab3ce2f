"""Compile-and-fit core shared by every paper's experiments.

Distribution: the default strategy on one device, `MirroredStrategy` over
several visible devices, `MultiWorkerMirroredStrategy` when `TF_CONFIG` names
a cluster. Mixed precision: `mixed_float16` compute with the classifier's
softmax kept in float32 (each model builds its last layer with
dtype="float32") and the optimizer wrapped in dynamic loss scaling.
A run resumes where it stopped through `BackupAndRestore`.
"""

import contextlib
import json
import os
import random

import keras
import numpy as np
import tensorflow as tf


MIXED_POLICY = "mixed_float16"


def set_seed(seed):
    """Seeds Python, NumPy, TensorFlow and Keras."""
    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)


def get_strategy(kind="auto"):
    """Returns a `tf.distribute.Strategy`.

    Args:
        kind: "auto" (multi-worker if TF_CONFIG has a cluster, mirrored over
            all visible GPUs - or all logical CPUs if more than one was
            configured - else the default strategy), "default", "mirrored"
            or "multi_worker".
    """
    if kind == "auto":
        tf_config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
        if tf_config.get("cluster"):
            kind = "multi_worker"
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
    if kind == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"Unknown strategy {kind!r}; expected auto, default, mirrored "
                     "or multi_worker.")


def split_cpu(num_devices):
    """Splits the physical CPU into `num_devices` logical devices (before any op
    runs) so MirroredStrategy can be exercised without GPUs."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * num_devices)


@contextlib.contextmanager
def precision_policy(mixed_precision):
    """Sets the global dtype policy for model construction, restoring it after."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(MIXED_POLICY if mixed_precision else "float32")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def wrap_optimizer(optimizer, mixed_precision):
    """Loss scaling keeps float16 gradients from underflowing."""
    if mixed_precision and not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


class _LiveHistory(keras.callbacks.Callback):
    """Appends each epoch's logs to the run folder (atomically rewritten CSV),
    so a resumed run keeps the epochs it did before the interruption."""

    def __init__(self, run):
        super().__init__()
        self.run = run

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch + 1}
        row.update({k: float(v) for k, v in (logs or {}).items()})
        self.run.append_history(row)


def build_callbacks(run, monitor="val_accuracy", mode="max", patience=None,
                    backup=True, extra=()):
    """History, best-checkpoint, BackupAndRestore, early stopping, TerminateOnNaN.

    History and the best checkpoint come before the backup in the list, so an
    epoch is recorded before the backup says it is done; a crash in between
    makes the resumed run redo that epoch and overwrite its history row.
    """
    checkpoint = keras.callbacks.ModelCheckpoint(
        run.best_checkpoint, monitor=monitor, mode=mode, save_best_only=True)
    previous = [row[monitor] for row in run.read_history_rows() if monitor in row]
    if previous:
        # A resumed run must not overwrite a better checkpoint from before the crash.
        checkpoint.best = max(previous) if mode == "max" else min(previous)
    callbacks = [keras.callbacks.TerminateOnNaN(), _LiveHistory(run), checkpoint]
    if backup:
        callbacks.append(keras.callbacks.BackupAndRestore(run.backup_dir,
                                                          delete_checkpoint=True))
    if patience:
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor=monitor, mode=mode, patience=patience, restore_best_weights=False))
    callbacks.extend(extra)
    return callbacks


def train(build_model, make_optimizer, train_ds, val_ds, run, epochs,
          loss="sparse_categorical_crossentropy", metrics=("accuracy",),
          strategy=None, mixed_precision=False, monitor="val_accuracy",
          patience=None, steps_per_epoch=None, callbacks=(), verbose="auto"):
    """Builds, compiles and fits a model into `run` (a `RunFolder`).

    Args:
        build_model: callable() -> keras.Model, called inside the strategy
            scope and the precision policy.
        make_optimizer: callable() -> keras optimizer.
        train_ds, val_ds: `tf.data.Dataset`s (val_ds may be None; then the
            monitor falls back to the training metric).
        run: `fer_tf.evaluation.report.RunFolder`.
        epochs: int.
        strategy: a `tf.distribute.Strategy`; default `get_strategy("default")`.
        mixed_precision: bool. `mixed_float16` compute + loss scaling.
        monitor: metric for best-checkpoint/early stopping.
        patience: early-stopping patience (None: off).

    Returns:
        (model, history dict of lists covering all epochs, resumed ones included).
    """
    strategy = strategy or get_strategy("default")
    if val_ds is None and monitor.startswith("val_"):
        monitor = monitor[len("val_"):]
    with precision_policy(mixed_precision), strategy.scope():
        model = build_model()
        model.compile(optimizer=wrap_optimizer(make_optimizer(), mixed_precision),
                      loss=loss, metrics=list(metrics))
    cbs = build_callbacks(run, monitor=monitor, patience=patience, extra=callbacks)
    # The tf.data pipeline shuffles itself (make_dataset(training=True)).
    model.fit(train_ds, validation_data=val_ds, epochs=epochs, shuffle=False,
              steps_per_epoch=steps_per_epoch, callbacks=cbs, verbose=verbose)
    return model, run.read_history()
