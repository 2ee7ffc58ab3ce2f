import keras
import numpy as np
import pytest
import tensorflow as tf

from fer_tf.errors import ConfigError
from fer_tf.layers.pathnet import (
    PathNetLayer,
    active_module_weights,
    first_occurrence_slot,
)
from tests.helpers.layer_test import SingleLayerModel, run_layer_test

D, M, U = 16, 5, 4


def _layer(aggregation="mean", seed=7):
    layer = PathNetLayer(num_modules=M, units=U, aggregation=aggregation, seed=seed)
    layer.build((None, D))
    return layer


def _reference(layer, x, modules, aggregation):
    """NumPy PathNet layer: ReLU(x W_m + b_m) over distinct modules, mean/sum."""
    kernel = keras.ops.convert_to_numpy(layer.kernel)
    bias = keras.ops.convert_to_numpy(layer.bias)
    outs = [np.maximum(x @ kernel[m] + bias[m], 0.0) for m in sorted(set(modules))]
    return np.mean(outs, axis=0) if aggregation == "mean" else np.sum(outs, axis=0)


def _x(n=3):
    return np.random.default_rng(0).normal(size=(n, D)).astype("float32")


@pytest.mark.parametrize("aggregation", ["mean", "sum"])
def test_output_matches_reference_with_path_tensor(aggregation):
    layer = _layer(aggregation)
    x = _x()
    path = tf.constant([4, 0, 2], dtype=tf.int32)
    out = keras.ops.convert_to_numpy(layer(x, path))
    assert out.shape == (3, U)
    np.testing.assert_allclose(out, _reference(layer, x, [4, 0, 2], aggregation), atol=1e-5)


def test_mean_is_sum_divided_by_active_count():
    mean_layer, sum_layer = _layer("mean"), _layer("sum")
    sum_layer.set_weights(mean_layer.get_weights())
    x = _x()
    path = np.array([1, 3, 4])
    mean = keras.ops.convert_to_numpy(mean_layer(x, path))
    total = keras.ops.convert_to_numpy(sum_layer(x, path))
    np.testing.assert_allclose(mean * 3, total, rtol=1e-5, atol=1e-6)


def test_duplicate_indices_count_once():
    layer = _layer("mean")
    x = _x()
    with_duplicates = keras.ops.convert_to_numpy(layer(x, np.array([2, 2, 1])))
    distinct = keras.ops.convert_to_numpy(layer(x, np.array([2, 1])))
    np.testing.assert_allclose(with_duplicates, distinct, atol=1e-6)
    np.testing.assert_allclose(
        with_duplicates, _reference(layer, x, [2, 1], "mean"), atol=1e-5
    )
    weights = keras.ops.convert_to_numpy(active_module_weights(np.array([3, 1, 3, 3])))
    np.testing.assert_allclose(weights, [0.5, 0.5, 0.0, 0.0])
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(first_occurrence_slot(np.array([3, 1, 3, 1]))),
        [0, 1, 0, 1],
    )


def test_duplicate_slots_get_no_gradient():
    layer = _layer("mean")
    x = tf.constant(_x())
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x, tf.constant([2, 2, 1])) ** 2)
    grad = tf.convert_to_tensor(tape.gradient(loss, layer.kernel)).numpy()
    touched = [m for m in range(M) if np.any(grad[m] != 0)]
    assert touched == [1, 2]


def test_changing_the_path_never_retraces():
    layer = _layer()
    x = tf.constant(_x())
    fn = tf.function(lambda inputs, path: layer(inputs, path))
    outputs = [fn(x, tf.constant(p, tf.int32)).numpy() for p in ([0, 1, 2], [2, 3, 4], [4, 4, 0])]
    assert fn.experimental_get_tracing_count() == 1
    assert not np.allclose(outputs[0], outputs[1])


def test_modules_are_initialised_independently():
    layer = PathNetLayer(num_modules=M, units=U, seed=3)
    layer.build((None, D))
    kernel = keras.ops.convert_to_numpy(layer.kernel)
    assert not np.allclose(kernel[0], kernel[1])
    limit = np.sqrt(6.0 / (D + U))  # Glorot of ONE module's (D, U) kernel
    assert np.abs(kernel).max() <= limit
    assert np.abs(kernel).max() > 0.8 * limit
    again = PathNetLayer(num_modules=M, units=U, seed=3)
    again.build((None, D))
    np.testing.assert_array_equal(kernel, keras.ops.convert_to_numpy(again.kernel))


def test_freeze_and_reinitialize_unfrozen_keeps_frozen_bits():
    layer = _layer()
    layer.freeze_modules([1, 3])
    np.testing.assert_array_equal(layer.frozen_modules(), [False, True, False, True, False])
    before = keras.ops.convert_to_numpy(layer.kernel).copy()
    layer.reinitialize_unfrozen(seed=11)
    after = keras.ops.convert_to_numpy(layer.kernel)
    for module in range(M):
        same = np.array_equal(before[module], after[module])
        assert same == (module in (1, 3))
    with pytest.raises(ConfigError, match="module indices"):
        layer.freeze_modules([M])


@pytest.mark.parametrize("aggregation", ["mean", "sum"])
def test_layer_contract(aggregation):
    result = run_layer_test(
        PathNetLayer,
        init_kwargs=dict(num_modules=M, units=U, aggregation=aggregation, seed=7),
        input_data=_x(),
        call_kwargs={"path": np.array([4, 0, 2], "int32")},
        expected_output_shape=(3, U),
        expected_num_trainable_weights=2,
        expected_num_non_trainable_weights=1,
        jax=aggregation == "mean",  # one JAX run covers the shared code
    )
    np.testing.assert_allclose(
        result["outputs"], _reference(result["layer"], _x(), [4, 0, 2], aggregation),
        atol=1e-5,
    )


def test_bad_aggregation_raises():
    with pytest.raises(ConfigError, match="aggregation"):
        PathNetLayer(aggregation="max")


def test_frozen_bits_survive_a_keras_file(tmp_path):
    model = SingleLayerModel(
        PathNetLayer(num_modules=M, units=U, aggregation="sum"),
        call_kwargs={"path": np.array([0, 3], "int32")},
    )
    x = _x()
    expected = keras.ops.convert_to_numpy(model(x))
    model.inner.freeze_modules([3])
    path = tmp_path / "pathnet_layer.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.inner, PathNetLayer) and loaded.inner.aggregation == "sum"
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x)), expected, atol=1e-6)
    np.testing.assert_array_equal(loaded.inner.frozen_modules(), model.inner.frozen_modules())
