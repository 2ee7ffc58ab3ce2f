import keras
import numpy as np
import pytest
import tensorflow as tf

from fer_tf.errors import ConfigError, DatasetError
from fer_tf.models.pathnet import PathTrainer, build_pathnet, evaluate_path
from fer_tf.models.pathnet.presets import SMOKE

D, C, LR = 16, 3, 0.1
CONFIG = SMOKE.replace(num_modules=5, units=4, max_active=3)


def _data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, D)).astype("float32")
    y = rng.integers(0, C, n)
    return x, y


def _net(seed=4):
    return build_pathnet(CONFIG, D, task_classes=[C], seed=seed)


def _weights(net):
    return [keras.ops.convert_to_numpy(v).copy() for v in net.weights]


def _reference_sgd(net, paths, batches, x, y):
    """Plain per-step SGD through PathNet.call; frozen modules' grads zeroed."""
    frozen = {id(l.kernel): l.frozen_modules() for l in net.pathnet_layers}
    frozen.update({id(l.bias): l.frozen_modules() for l in net.pathnet_layers})
    accuracy, losses = [], []
    for path, rows in zip(paths, batches):
        for step_rows in rows:
            xb, yb = tf.constant(x[step_rows]), tf.constant(y[step_rows].astype("int32"))
            with tf.GradientTape() as tape:
                logits = net(xb, path, task=0)
                loss = tf.reduce_mean(
                    tf.nn.sparse_softmax_cross_entropy_with_logits(yb, logits)
                )
            variables = net.trainable_variables
            for variable, grad in zip(variables, tape.gradient(loss, variables)):
                if grad is None:
                    continue
                grad = tf.convert_to_tensor(grad).numpy()
                if id(variable) in frozen:
                    keep = ~frozen[id(variable)]
                    grad = grad * keep.reshape((-1,) + (1,) * (grad.ndim - 1))
                variable.assign(keras.ops.convert_to_numpy(variable) - LR * grad)
            predicted = np.argmax(logits.numpy(), axis=-1)
            accuracy.append(np.mean(predicted == y[step_rows]))
            losses.append(float(loss))
    shape = (len(paths), -1)
    return np.reshape(accuracy, shape), np.reshape(losses, shape)


PATHS = np.array([[[0, 1, 1], [2, 3, 4], [4, 0, 2]], [[1, 2, 3], [3, 3, 0], [0, 1, 4]]])


@pytest.mark.parametrize("jit_compile", [False, True])
def test_compiled_training_matches_reference_sgd(jit_compile):
    x, y = _data()
    net, reference = _net(), _net()
    reference.set_weights(net.get_weights())
    net.freeze_path([[1], [3], [0]])
    reference.freeze_path([[1], [3], [0]])
    batches = np.random.default_rng(1).integers(0, len(x), size=(2, 3, 8))
    trainer = PathTrainer(LR, jit_compile=jit_compile).bind(net, 0, x, y)
    accuracy, loss = trainer.train(PATHS, batches)
    ref_accuracy, ref_loss = _reference_sgd(reference, PATHS, batches, x, y)
    np.testing.assert_allclose(accuracy, ref_accuracy, atol=1e-6)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-4, atol=1e-5)
    for got, want in zip(_weights(net), _weights(reference)):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_only_path_modules_change_and_frozen_modules_are_bit_identical():
    x, y = _data()
    net = _net()
    net.freeze_path([[0], [3], [4]])
    before = _weights(net)
    trainer = PathTrainer(LR, jit_compile=False).bind(net, 0, x, y)
    trainer.train(PATHS, np.random.default_rng(2).integers(0, len(x), size=(2, 4, 8)))
    after = _weights(net)
    on_path = [set(PATHS[:, layer].reshape(-1).tolist()) for layer in range(3)]
    frozen = [{0}, {3}, {4}]
    for layer in range(3):
        for name_offset in (0, 1):  # kernel, bias of layer `layer`
            index = 3 * layer + name_offset
            for module in range(5):
                changed = not np.array_equal(before[index][module], after[index][module])
                assert changed == (module in on_path[layer] - frozen[layer])
    np.testing.assert_array_equal(before[2], after[2])  # frozen masks unchanged


def test_changing_paths_and_batches_never_retraces():
    x, y = _data()
    net = _net()
    trainer = PathTrainer(LR, jit_compile=False).bind(net, 0, x, y)
    rng = np.random.default_rng(3)
    for _ in range(4):
        paths = rng.integers(0, 5, size=(2, 3, 3))
        trainer.train(paths, rng.integers(0, len(x), size=(2, 3, 8)))
    assert trainer.trace_count == 1


def test_trainer_rejects_bad_inputs():
    x, y = _data()
    net = _net()
    with pytest.raises(DatasetError, match=r"label\(s\) \[3\]"):
        PathTrainer(LR).bind(net, 0, x, np.full(len(x), 3))
    with pytest.raises(DatasetError, match="dimensions"):
        PathTrainer(LR).bind(net, 0, x[:, :8], y)
    trainer = PathTrainer(LR, jit_compile=False).bind(net, 0, x, y)
    bad = PATHS.copy()
    bad[0, 1, 2] = 9
    with pytest.raises(ConfigError, match="names module"):
        trainer.train(bad, np.zeros((2, 3, 8), "int32"))
    with pytest.raises(ConfigError, match="batch_indices must index"):
        trainer.train(PATHS, np.full((2, 3, 8), len(x)))


def test_evaluate_path_matches_forward_pass_and_checks_labels():
    x, y = _data(50)
    net = _net()
    path = PATHS[0]
    accuracy, loss = evaluate_path(net, path, x, y, task=0, batch_size=16)
    logits = keras.ops.convert_to_numpy(net(x, path, task=0))
    assert accuracy == pytest.approx(np.mean(np.argmax(logits, -1) == y))
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    assert loss == pytest.approx(-np.mean(log_probs[np.arange(len(y)), y]), rel=1e-5)
    unknown = y.copy()
    unknown[0] = C  # an extra class the readout does not have
    with pytest.raises(DatasetError, match="outside 0..2"):
        evaluate_path(net, path, x, unknown, task=0)
    with pytest.raises(ConfigError, match="names module"):
        evaluate_path(net, [[7], [0], [0]], x, y, task=0)


def test_one_trainer_serves_every_network_and_task_without_retracing():
    x, y = _data()
    x2, y2 = _data(56, seed=5)
    batches = np.random.default_rng(4).integers(0, 40, size=(2, 3, 8))
    first, second, reference = _net(seed=1), _net(seed=2), _net(seed=2)
    trainer = PathTrainer(LR, jit_compile=False).bind(first, 0, x, y)
    trainer.train(PATHS, batches)
    first_after = _weights(first)
    # Another network, task and training set: no retrace, and the result is
    # that of a trainer made for it alone; the first network is left alone.
    second.add_task(C)
    reference.add_task(C)
    accuracy, loss = trainer.bind(second, 1, x2, y2).train(PATHS, batches)
    want_accuracy, want_loss = PathTrainer(LR, jit_compile=False).bind(
        reference, 1, x2, y2).train(PATHS, batches)
    np.testing.assert_array_equal(accuracy, want_accuracy)
    np.testing.assert_array_equal(loss, want_loss)
    for got, want in zip(_weights(second), _weights(reference)):
        np.testing.assert_array_equal(got, want)
    for got, want in zip(_weights(first), first_after):
        np.testing.assert_array_equal(got, want)
    assert trainer.trace_count == 1
    # A readout of another size is another program: one more trace, at most.
    other = build_pathnet(CONFIG, D, task_classes=[C + 1], seed=3)
    trainer.bind(other, 0, x, y).train(PATHS, batches)
    trainer.bind(_net(seed=6), 0, x, y).train(PATHS, batches)
    assert trainer.trace_count == 2


def test_epochs_per_path_sets_the_minibatches_per_evaluation():
    assert CONFIG.steps_for(1000) == CONFIG.steps_per_path
    config = CONFIG.replace(epochs_per_path=2, batch_size=16)
    assert config.steps_for(100) == 2 * 7
    with pytest.raises(ConfigError, match="epochs_per_path"):
        CONFIG.replace(epochs_per_path=0)
