import keras
import numpy as np
import pytest
import tensorflow as tf

from fer_tf.errors import ConfigError, FerTfError
from fer_tf.models.pathnet import PAPER, PathNet, build_pathnet
from fer_tf.models.pathnet.presets import SMOKE

D = 16
CONFIG = SMOKE.replace(num_modules=5, units=4, max_active=3)


def _net(task_classes=(3,), seed=5):
    return build_pathnet(CONFIG, D, task_classes=task_classes, seed=seed)


def _x(n=4):
    return np.random.default_rng(1).normal(size=(n, D)).astype("float32")


def test_defaults_are_the_papers():
    net = PathNet()
    assert (net.num_layers, net.num_modules, net.units, net.max_active) == (3, 20, 20, 5)
    assert net.aggregation == "mean"
    assert (PAPER.population_size, PAPER.generations, PAPER.steps_per_path) == (20, 1000, 50)
    assert (PAPER.batch_size, PAPER.learning_rate, PAPER.iterations) == (16, 0.02, 4)
    assert PAPER.mutation_rate == pytest.approx(1 / 15)


def test_call_matches_layer_by_layer_composition():
    net = _net()
    x = _x()
    path = np.array([[0, 1, 2], [3, 3, 4], [1, 0, 0]])
    logits = keras.ops.convert_to_numpy(net(x, path, task=0))
    assert logits.shape == (4, 3)
    hidden = x
    for layer, row in zip(net.pathnet_layers, path):
        hidden = layer(hidden, row)
    expected = keras.ops.convert_to_numpy(net.readouts[0](hidden))
    np.testing.assert_allclose(logits, expected, atol=1e-6)
    # A shorter row means the same as a row padded with duplicates.
    short = [[0, 1, 2], [3, 4], [1, 0]]
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(net(x, short, task=0)), logits, atol=1e-6
    )


def test_task_specific_readouts():
    net = _net(task_classes=(3,))
    task = net.add_task(6)  # after build: a fresh, built readout
    assert task == 1 and net.task_classes == [3, 6]
    path = np.zeros((3, 3), "int32")
    assert keras.ops.convert_to_numpy(net(_x(), path, task=1)).shape == (4, 6)
    assert len(net.trainable_variables) == 3 * 2 + 2 * 2
    with pytest.raises(ConfigError, match="task 2 has no readout"):
        net(_x(), path, task=2)


@pytest.mark.parametrize(
    "path, message",
    [
        ([[0, 1, 5], [0, 1, 2], [0, 1, 2]], "names module"),
        ([[0, 1, -1], [0, 1, 2], [0, 1, 2]], "names module"),
        ([[0, 1, 2, 3], [0, 1, 2], [0, 1, 2]], "1 to 3 modules"),
        ([[0, 1, 2], [0, 1, 2]], "each of the 3"),
        ([[0.5, 1, 2], [0, 1, 2], [0, 1, 2]], "non-integer"),
        (np.zeros((3, 3, 1), "int32"), "shape"),
    ],
)
def test_bad_paths_raise_config_error(path, message):
    net = _net()
    with pytest.raises(ConfigError, match=message):
        net(_x(), path, task=0)
    assert issubclass(ConfigError, FerTfError)


def test_symbolic_path_shape_is_checked():
    net = _net()
    fn = tf.function(lambda x, p: net(x, p, task=0))
    with pytest.raises(ConfigError, match="path tensor must have shape"):
        fn(tf.constant(_x()), tf.zeros((3, 4), tf.int32))


def test_freeze_path_and_reinitialize_unfrozen():
    net = _net()
    net.freeze_path([[0, 0], [2, 4], [1]])
    mask = net.frozen_mask()
    assert mask.shape == (3, 5)
    assert [np.flatnonzero(row).tolist() for row in mask] == [[0], [2, 4], [1]]
    before = [keras.ops.convert_to_numpy(l.kernel).copy() for l in net.pathnet_layers]
    net.reinitialize_unfrozen(seed=3)
    for layer, old, frozen in zip(net.pathnet_layers, before, mask):
        new = keras.ops.convert_to_numpy(layer.kernel)
        for module in range(5):
            assert np.array_equal(old[module], new[module]) == frozen[module]


def test_keras_file_round_trip(tmp_path):
    net = _net(task_classes=(3,))
    net.add_task(2)
    net.freeze_path([[1, 2], [0], [4, 3]])
    x = _x()
    path = np.array([[1, 2, 3], [0, 1, 1], [4, 3, 2]])
    expected = [keras.ops.convert_to_numpy(net(x, path, task=t)) for t in (0, 1)]
    file = tmp_path / "pathnet.keras"
    net.save(file)
    loaded = keras.saving.load_model(file)
    assert isinstance(loaded, PathNet)
    assert loaded.task_classes == [3, 2]
    np.testing.assert_array_equal(loaded.frozen_mask(), net.frozen_mask())
    for task in (0, 1):
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(loaded(x, path, task=task)), expected[task], atol=1e-6
        )


def test_same_seed_same_initial_weights():
    a, b = _net(seed=9), _net(seed=9)
    for va, vb in zip(a.weights, b.weights):
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(va), keras.ops.convert_to_numpy(vb)
        )
    c = _net(seed=10)
    assert not np.array_equal(
        keras.ops.convert_to_numpy(a.pathnet_layers[0].kernel),
        keras.ops.convert_to_numpy(c.pathnet_layers[0].kernel),
    )


def test_registered_builder():
    from fer_tf.models.pathnet.model import pathnet

    net = pathnet(input_shape=(D,), num_classes=4, config=CONFIG, seed=1)
    assert isinstance(net, PathNet) and net.task_classes == [4]
    layer_0 = 5 * D * 4 + 5 * 4  # M (D, U) kernels + M (U,) biases
    layers_1_2 = 2 * (5 * 4 * 4 + 5 * 4)
    frozen_masks = 3 * 5
    readout = 4 * 4 + 4
    assert net.count_params() == layer_0 + layers_1_2 + frozen_masks + readout
    with pytest.raises(ConfigError, match="flattened"):
        pathnet(input_shape=(4, 4, 1))
