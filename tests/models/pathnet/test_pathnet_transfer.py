import json

import keras
import numpy as np
import pytest

from fer_tf.errors import ConfigError, DatasetError
from fer_tf.models.pathnet import (
    TaskData,
    build_pathnet,
    evolve,
    run_transfer_experiment,
)
from fer_tf.models.pathnet.presets import SMOKE

D = 16
TINY = SMOKE.replace(
    num_modules=5,
    units=4,
    max_active=2,
    population_size=4,
    generations=6,
    steps_per_path=3,
    batch_size=4,
    eval_every=3,
    iterations=2,
)


def _task(seed, classes=3, n_train=48, n_test=24, name="task"):
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=2.0, size=(classes, D))
    y = rng.integers(0, classes, n_train + n_test)
    x = (centers[y] + rng.normal(size=(len(y), D))).astype("float32")
    return TaskData(x[:n_train], y[:n_train], x[n_train:], y[n_train:], name=name)


def _evolve(seed):
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    net = build_pathnet(TINY, D, seed=seed)
    return evolve(_task(0), net, TINY, rng)


def test_evolve_is_reproducible_and_records_histories():
    first, second = _evolve(7), _evolve(7)
    np.testing.assert_array_equal(first.best_path, second.best_path)
    assert first.fitness_history == second.fitness_history
    assert first.test_accuracy == second.test_accuracy
    assert first.test_loss == second.test_loss
    assert first.best_path.shape == (TINY.num_layers, TINY.max_active)
    for key in ("winner", "loser", "mean"):
        assert len(first.fitness_history[key]) == TINY.generations
    assert all(
        w >= l for w, l in zip(first.fitness_history["winner"], first.fitness_history["loser"])
    )
    assert first.train_curve["generation"] == list(range(1, TINY.generations + 1))
    assert first.test_curve["generation"] == [3, 6]
    assert 0.0 <= first.test_accuracy <= 1.0
    json.dumps(first.to_dict())


def test_frozen_path_is_bit_identical_after_destination_evolution():
    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(3)
    net = build_pathnet(TINY, D, seed=3)
    source = evolve(_task(1, name="source"), net, TINY, rng)
    net.freeze_path(source.best_path)
    mask = net.frozen_mask()
    numpy = keras.ops.convert_to_numpy
    frozen_before = [
        (numpy(layer.kernel)[m].copy(), numpy(layer.bias)[m].copy())
        for layer, m in zip(net.pathnet_layers, mask)
    ]
    unfrozen_before = [
        numpy(layer.kernel)[~m].copy() for layer, m in zip(net.pathnet_layers, mask)
    ]
    net.reinitialize_unfrozen(seed=5)
    destination = evolve(_task(2, classes=4, name="destination"), net, TINY, rng)
    assert net.readouts[destination.task_index].units == 4
    for layer, m, (kernel, bias), unfrozen in zip(
        net.pathnet_layers, mask, frozen_before, unfrozen_before
    ):
        assert np.array_equal(keras.ops.convert_to_numpy(layer.kernel)[m], kernel)
        assert np.array_equal(keras.ops.convert_to_numpy(layer.bias)[m], bias)
        assert not np.array_equal(keras.ops.convert_to_numpy(layer.kernel)[~m], unfrozen)
    np.testing.assert_array_equal(net.frozen_mask(), mask)


def test_transfer_experiment_structure_and_reproducibility():
    source, destination = _task(4, name="savee"), _task(5, name="enterface")
    results = [
        run_transfer_experiment(source, destination, TINY, seed=11, scratch=(i == 0))
        for i in range(2)
    ]
    first, second = results
    K = TINY.iterations
    for role in ("source", "transfer"):
        for metric in ("train_accuracy", "train_loss", "test_accuracy", "test_loss"):
            key = f"{role}_{metric}"
            assert len(first[key]) == K
            assert first[key] == second[key]
    assert len(first["scratch_test_accuracy"]) == K and second["scratch_test_accuracy"] == []
    # The training accuracy reported is the best path's fitness (Sec. IV-C2).
    for it in range(K):
        fitness = first["fitness_histories"]["transfer"][it]["winner"]
        assert first["transfer_train_accuracy"][it] in fitness
        assert 0.0 < first["transfer_train_loss"][it] < 10.0
    assert first["transfer_test_video_accuracy"] == [None] * K  # no test_groups given
    assert first["best_paths"]["transfer"] == second["best_paths"]["transfer"]
    assert len(first["curves"]["transfer"]) == K
    assert len(first["curves"]["scratch"][0]["train_accuracy"]) == TINY.generations
    assert len(first["fitness_histories"]["source"][1]["winner"]) == TINY.generations
    # Iteration 2 freezes its best source path IN ADDITION to iteration 1's.
    frozen, source_paths = first["frozen_modules"], first["best_paths"]["source"]
    for layer in range(TINY.num_layers):
        assert set(frozen[0][layer]) <= set(frozen[1][layer])
        assert set(frozen[0][layer]) == set(source_paths[0][layer])
        assert set(frozen[1][layer]) == set(source_paths[0][layer]) | set(source_paths[1][layer])
    json.dumps(first)


def test_transfer_experiment_rejects_bad_tasks():
    source = _task(6)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, D)).astype("float32")
    y = np.arange(20) % 3
    y_test = y.copy()
    y_test[0] = 5  # a class the destination readout does not have
    with pytest.raises(DatasetError, match=r"label\(s\) \[5\].*3 classes"):
        run_transfer_experiment(source, (x, y, x, y_test), TINY)
    with pytest.raises(ConfigError, match="dimensions"):
        run_transfer_experiment(source, (x[:, :8], y, x[:, :8], y), TINY)
    with pytest.raises(ConfigError, match="x_test and y_test"):
        run_transfer_experiment(source, (x, y), TINY)
    with pytest.raises(ConfigError, match="max_active"):
        TINY.replace(max_active=9)
