"""Table I as a recipe: every element reaches training (label smoothing, cosine
schedule, early stopping with the best weights restored). FER2013's splits as
the experiment loads them and its budgets: tests/papers/efficientnet/test_experiment.py."""

import math

import keras
import numpy as np
import pytest

from fer_tf.evaluation.report import RunFolder
from fer_tf.models.efficientnet.presets import TABLE_I, TABLE_I_RECIPE
from fer_tf.training import fit
from fer_tf.training.recipes import SparseCategoricalCrossentropy, learning_rate_schedule


def test_table_i_values():
    r = TABLE_I_RECIPE
    assert (r.batch_size, r.epochs, r.patience, r.label_smoothing) == (128, 60, 10, 0.1)
    assert (r.optimizer.name, r.optimizer.learning_rate, r.optimizer.weight_decay,
            r.optimizer.schedule) == ("adamw", 1e-3, 1e-4, "cosine")
    assert (r.monitor, r.mode, r.restore_best, r.mixed_precision) == (
        "val_accuracy", "max", True, True)
    assert r.train_transform.resize == (256, 256) and r.train_transform.crop == (224, 224)
    assert r.train_transform.augmentation == "efficientnet"
    assert r.eval_transform.resize == (224, 224) and r.normalization == "none"


def _identity_data():
    x = np.tile(np.eye(7, dtype="float32"), (4, 1))
    return x, np.tile(np.arange(7), 4)


def _linear_model(scale):
    inputs = keras.Input((7,))
    layer = keras.layers.Dense(7, activation="softmax", use_bias=False, name="predictions")
    model = keras.Model(inputs, layer(inputs))
    layer.kernel.assign(scale * np.eye(7, dtype="float32"))
    return model


def test_label_smoothing_reaches_the_loss(tmp_path):
    # Eq. 10-11: targets 1 - a + a/7 and a/7 with a = 0.1, through fit.train.
    x, y = _identity_data()
    recipe = TABLE_I_RECIPE.replace(epochs=1, batch_size=28, mixed_precision=False,
                                    optimizer__learning_rate=1e-9)
    model, history = fit.train(lambda: _linear_model(2.0), (x, y), (x, y),
                               RunFolder(str(tmp_path / "run"), create=True), recipe,
                               verbose=0)
    assert isinstance(model.loss, SparseCategoricalCrossentropy)
    p = np.asarray(model(x))
    target = np.full((28, 7), 0.1 / 7) + np.eye(7)[y] * 0.9
    expected = float(np.mean(-(target * np.log(p)).sum(-1)))
    unsmoothed = float(np.mean(-np.log(p[np.arange(28), y])))
    assert history["val_loss"][0] == pytest.approx(expected, rel=1e-4)
    assert abs(expected - unsmoothed) > 0.05


def test_cosine_learning_rate_at_epochs_0_half_and_end_is_eq_13(tmp_path):
    steps, epochs = 5, TABLE_I["max_epochs"]
    schedule = learning_rate_schedule(TABLE_I_RECIPE.optimizer, steps, epochs)
    eta0, eta_min = TABLE_I["learning_rate"], TABLE_I["eta_min"]
    for t in (0, epochs / 2, epochs, 17):
        eq13 = eta_min + (eta0 - eta_min) * (1 + math.cos(math.pi * t / epochs)) / 2
        assert float(schedule(int(t * steps))) == pytest.approx(eq13, abs=1e-9)
    assert float(schedule(0)) == pytest.approx(1e-3)
    assert float(schedule(epochs // 2 * steps)) == pytest.approx(5e-4)
    assert float(schedule(epochs * steps)) == pytest.approx(0.0, abs=1e-12)
    # fit.train anneals over its own budget: after T epochs the step size is eta_min.
    x, y = _identity_data()
    recipe = TABLE_I_RECIPE.replace(epochs=4, batch_size=14, mixed_precision=False)
    model, _ = fit.train(lambda: _linear_model(1.0), (x, y), (x, y),
                         RunFolder(str(tmp_path / "run"), create=True), recipe, verbose=0)
    assert int(model.optimizer.iterations) == 8
    assert float(model.optimizer.learning_rate) == pytest.approx(0.0, abs=1e-12)


class _SpoilAfterFirstEpoch(keras.callbacks.Callback):
    """Perfect weights in epoch 1, wrong ones after: validation accuracy peaks first."""

    def on_epoch_begin(self, epoch, logs=None):
        scale = 10.0 if epoch == 0 else -10.0
        self.model.get_layer("predictions").kernel.assign(scale * np.eye(7, dtype="float32"))


def test_early_stopping_on_val_accuracy_restores_the_best_weights(tmp_path):
    x, y = _identity_data()
    recipe = TABLE_I_RECIPE.replace(epochs=30, batch_size=28, patience=2,
                                    mixed_precision=False, optimizer__learning_rate=1e-9)
    run = RunFolder(str(tmp_path / "run"), create=True)
    model, history = fit.train(lambda: _linear_model(0.0), (x, y), (x, y), run, recipe,
                               callbacks=[_SpoilAfterFirstEpoch()], verbose=0)
    assert history["val_accuracy"][0] == 1.0 and max(history["val_accuracy"][1:]) < 1.0
    assert len(history["epoch"]) == 1 + 2  # stopped after `patience` epochs without gain
    kernel = np.asarray(model.get_layer("predictions").kernel)
    np.testing.assert_allclose(kernel, 10.0 * np.eye(7), atol=1e-3)
    assert np.mean(np.asarray(model(x)).argmax(-1) == y) == 1.0
