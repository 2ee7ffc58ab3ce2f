"""Compiled training and evaluation of PathNet paths (Sec. IV-C1).

Nguyen et al. 2018, Sec. IV-C1: "to evaluate one path, our network is trained
with stochastic gradient descent with learning rate 0.02 on 50 mini-batches of
size 16"; the fitness is the training accuracy over those minibatches.
Fernando et al., PathNet (arXiv:1701.08734, 2017), Sec. 2.

Design (why it is fast): only the path's modules and the task readout change
while a path is trained, so one compiled call
  1. gathers the path's N modules of every layer into a packed (D, N*U) kernel
     (`PathNet.select`),
  2. runs all T SGD steps on those local copies inside one loop
     (tf.while_loop / jax.lax.scan) - the per-step cost is that of the bare
     active-path network, with no sparse updates of the (M, D, U) weights,
  3. writes the trained rows back once. Frozen modules receive a zero update
     at every step and their rows are written back from the original values,
     so they are bit-for-bit unchanged (Sec. III-B2).
Both tournament paths run in the same compiled call, one after the other, so
the second path sees the first path's updates (shared modules) exactly as in
sequential training. The paths are a tensor argument: no retrace per path.

Backends: TensorFlow (default) compiles with tf.function (+ XLA when
`jit_compile`) and differentiates with tf.GradientTape; JAX compiles with
jax.jit and runs the same keras.ops program on the variables' values inside a
keras.StatelessScope (the mechanism of `stateless_call`), with
jax.value_and_grad and jax.lax.scan. The model math is the layers' keras.ops.
"""

import keras
import numpy as np
from keras import ops

from fer_tf.errors import ConfigError, DatasetError
from fer_tf.layers.pathnet import first_occurrence_slot

SUPPORTED_BACKENDS = ("tensorflow", "jax")


def _require_supported_backend():
    backend = keras.backend.backend()
    if backend not in SUPPORTED_BACKENDS:
        raise ConfigError(
            f"PathNet training supports the {SUPPORTED_BACKENDS} Keras backends, "
            f"but KERAS_BACKEND is {backend!r}"
        )
    return backend


def check_features(x, name):
    """x as a C-contiguous float32 (N, D) array, or DatasetError."""
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[0] == 0:
        raise DatasetError(
            f"{name}: expected a non-empty (num_examples, num_features) array, "
            f"got shape {x.shape}"
        )
    if x.dtype.kind not in "fiu":
        raise DatasetError(f"{name}: expected numeric features, got dtype {x.dtype}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    if not np.all(np.isfinite(x)):
        raise DatasetError(f"{name}: features contain NaN or infinite values")
    return x


def check_labels(y, num_examples, num_classes, name):
    """y as an int32 (N,) array of labels in [0, num_classes), or DatasetError."""
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != num_examples:
        raise DatasetError(
            f"{name}: expected {num_examples} integer labels (one per example), "
            f"got shape {y.shape}"
        )
    if y.dtype.kind not in "iu":
        if y.dtype.kind != "f" or not np.all(np.mod(y, 1) == 0):
            raise DatasetError(f"{name}: labels must be integers, got dtype {y.dtype}")
    y = y.astype(np.int64)
    bad = np.unique(y[(y < 0) | (y >= num_classes)])
    if bad.size:
        raise DatasetError(
            f"{name}: label(s) {bad.tolist()} are outside 0..{num_classes - 1}; "
            f"this task's readout has {num_classes} classes (unknown/extra classes "
            "cannot be scored)"
        )
    return y.astype(np.int32)


def _sgd(params, grads, keeps, num_layers, learning_rate):
    """Plain SGD on the packed params; frozen modules' updates are zeroed."""
    updated = []
    for index, (param, grad) in enumerate(zip(params, grads)):
        if index < 2 * num_layers:
            # keeps[l] is (N*U,): it broadcasts over a (D, N*U) kernel and an
            # (N*U,) bias alike.
            grad = grad * keeps[index % num_layers]
        updated.append(param - learning_rate * grad)
    return updated


def _accuracy(logits, labels):
    predicted = ops.cast(ops.argmax(logits, axis=-1), "int32")
    return ops.mean(ops.cast(ops.equal(predicted, labels), "float32"))


def _cross_entropy(labels, logits):
    return ops.mean(
        ops.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    )


class PathTrainer:
    """Trains tournament paths of a PathNet on one task in one compiled call.

    Sec. IV-C1: each path is trained with plain SGD on T minibatches; the
    per-minibatch training accuracy (before that minibatch's update) and loss
    are returned, the fitness being the mean accuracy. `train` takes P paths
    (P, L, N) and minibatch indices (P, T, B) and trains the paths one after
    the other on the shared parameters. Changing paths or indices never
    retraces (`trace_count` counts traces).

    Args:
        net: PathNet. A built network holding a readout for `task`.
        task: int. Readout index of the task.
        x: float array (num_examples, D). Training features.
        y: int array (num_examples,). Training labels.
        learning_rate: float. SGD learning rate (paper: 0.02).
        jit_compile: bool. XLA-compile the TensorFlow loop (JAX always is).

    Example:
    >>> trainer = PathTrainer(net, task, x, y, learning_rate=0.02)
    >>> accuracy, loss = trainer.train(paths, rng.integers(0, len(x), (2, 50, 16)))
    """

    def __init__(self, net, task, x, y, learning_rate, jit_compile=True):
        self.backend = _require_supported_backend()
        if not net.built:
            raise ConfigError("build the PathNet (net.build((None, D))) before training")
        self.net = net
        self.task = net.check_task(task)
        x = check_features(x, "training features")
        if x.shape[1] != net.input_dim:
            raise DatasetError(
                f"training features have {x.shape[1]} dimensions but the PathNet "
                f"was built for {net.input_dim}"
            )
        y = check_labels(y, x.shape[0], net.task_classes[self.task], "training labels")
        self.num_examples = x.shape[0]
        self.learning_rate = float(learning_rate)
        self.jit_compile = bool(jit_compile)
        self.trace_count = 0
        self._x = ops.convert_to_tensor(x)
        self._y = ops.convert_to_tensor(y)
        readout = net.readouts[self.task]
        self._variables = []
        for layer in net.pathnet_layers:
            self._variables += [layer.kernel, layer.bias, layer.frozen]
        self._variables += [readout.kernel, readout.bias]
        if self.backend == "tensorflow":
            import tensorflow as tf

            self._compiled = tf.function(
                self._tf_program, jit_compile=self.jit_compile, autograph=False
            )
        else:
            import jax

            self._compiled = jax.jit(self._jax_program)

    def train(self, paths, batch_indices):
        """Train each path on its minibatches -> (accuracy (P, T), loss (P, T))."""
        paths = np.asarray(paths)
        if paths.ndim != 3:
            raise ConfigError(f"paths must be (P, L, N), got shape {paths.shape}")
        paths = np.stack([self.net.check_path(path) for path in paths])
        batch_indices = np.asarray(batch_indices)
        if batch_indices.ndim != 3 or batch_indices.shape[0] != paths.shape[0]:
            raise ConfigError(
                f"batch_indices must be (P={paths.shape[0]}, T, B), got shape "
                f"{batch_indices.shape}"
            )
        if batch_indices.min() < 0 or batch_indices.max() >= self.num_examples:
            raise ConfigError(
                f"batch_indices must index the {self.num_examples} training examples"
            )
        paths = paths.astype(np.int32)
        batch_indices = batch_indices.astype(np.int32)
        if self.backend == "tensorflow":
            accuracy, loss = self._compiled(paths, batch_indices, self._x, self._y)
        else:
            values = [variable.value for variable in self._variables]
            values, accuracy, loss = self._compiled(
                values, paths, batch_indices, self._x, self._y
            )
            for variable, value in zip(self._variables, values):
                variable.assign(value)
        return ops.convert_to_numpy(accuracy), ops.convert_to_numpy(loss)

    # Backend-neutral program (keras.ops); backend hooks below.
    def _train_path(self, path, indices, x, y, value_and_grad, scan, write_rows):
        net = self.net
        num_layers = net.num_layers
        module_paths = ops.unstack(path, axis=0)
        weights = net.slot_weights(path)
        keeps = [
            ops.repeat(1.0 - ops.take(layer.frozen, module_path, axis=0), net.units)
            for layer, module_path in zip(net.pathnet_layers, module_paths)
        ]
        params = net.select(path, self.task)

        def step(params, rows):
            batch_x = ops.take(x, rows, axis=0)
            batch_y = ops.take(y, rows, axis=0)

            def loss_fn(params):
                logits = net.forward_selected(batch_x, params, weights)
                return _cross_entropy(batch_y, logits), logits

            (loss, logits), grads = value_and_grad(loss_fn, params)
            params = _sgd(params, grads, keeps, num_layers, self.learning_rate)
            return params, (_accuracy(logits, batch_y), loss)

        params, (accuracy, loss) = scan(step, params, indices)

        for index, (layer, module_path) in enumerate(zip(net.pathnet_layers, module_paths)):
            kernel_rows, bias_rows = layer.unpack(params[index], params[num_layers + index])
            # A duplicate slot was never trained (weight 0): write the first
            # slot's rows to every slot naming that module, so that duplicate
            # indices all carry the same value. Frozen modules get their
            # original rows back, untouched bit for bit.
            first = first_occurrence_slot(module_path)
            kernel_rows = ops.take(kernel_rows, first, axis=0)
            bias_rows = ops.take(bias_rows, first, axis=0)
            frozen = ops.take(layer.frozen, module_path, axis=0) > 0.5
            kernel_rows = ops.where(
                ops.reshape(frozen, (-1, 1, 1)),
                ops.take(layer.kernel, module_path, axis=0),
                kernel_rows,
            )
            bias_rows = ops.where(
                ops.reshape(frozen, (-1, 1)),
                ops.take(layer.bias, module_path, axis=0),
                bias_rows,
            )
            write_rows(layer.kernel, module_path, kernel_rows)
            write_rows(layer.bias, module_path, bias_rows)
        readout = net.readouts[self.task]
        readout.kernel.assign(params[-2])
        readout.bias.assign(params[-1])
        return accuracy, loss

    # TensorFlow: tf.function (+XLA), GradientTape, tf.while_loop, in-place
    # scatter of the trained rows.
    def _tf_program(self, paths, batch_indices, x, y):
        import tensorflow as tf

        self.trace_count += 1  # Python side effect: runs only while tracing.

        def value_and_grad(loss_fn, params):
            with tf.GradientTape() as tape:
                tape.watch(params)
                loss, logits = loss_fn(params)
            return (loss, logits), tape.gradient(loss, params)

        def scan(step, params, indices):
            steps = indices.shape[0]

            def body(t, params, accuracy, loss):
                params, (step_accuracy, step_loss) = step(params, indices[t])
                return t + 1, params, accuracy.write(t, step_accuracy), loss.write(t, step_loss)

            arrays = [
                tf.TensorArray(tf.float32, size=steps, element_shape=()) for _ in range(2)
            ]
            _, params, accuracy, loss = tf.while_loop(
                lambda t, *_: t < steps,
                body,
                (tf.constant(0), params, *arrays),
                maximum_iterations=steps,
            )
            return params, (accuracy.stack(), loss.stack())

        def write_rows(variable, module_path, rows):
            variable.value.scatter_update(tf.IndexedSlices(rows, module_path))

        # The paths are trained one after the other inside a graph loop (not
        # unrolled): half the graph to trace and compile for a tournament.
        num_paths, steps = batch_indices.shape[0], batch_indices.shape[1]

        def body(index, accuracy, loss):
            path_accuracy, path_loss = self._train_path(
                paths[index], batch_indices[index], x, y, value_and_grad, scan, write_rows
            )
            return index + 1, accuracy.write(index, path_accuracy), loss.write(index, path_loss)

        arrays = [
            tf.TensorArray(tf.float32, size=num_paths, element_shape=(steps,))
            for _ in range(2)
        ]
        _, accuracy, loss = tf.while_loop(
            lambda index, *_: index < num_paths,
            body,
            (tf.constant(0), *arrays),
            maximum_iterations=num_paths,
            # Path i + 1 must read the modules path i wrote: strictly in order.
            parallel_iterations=1,
        )
        return accuracy.stack(), loss.stack()

    # JAX: jax.jit over the variables' values in a StatelessScope,
    # jax.value_and_grad, jax.lax.scan.
    def _jax_program(self, values, paths, batch_indices, x, y):
        import jax

        self.trace_count += 1  # Python side effect: runs only while tracing.

        def value_and_grad(loss_fn, params):
            return jax.value_and_grad(loss_fn, has_aux=True)(params)

        def scan(step, params, indices):
            return jax.lax.scan(step, params, indices)

        def write_rows(variable, module_path, rows):
            variable.assign(
                ops.scatter_update(variable, ops.expand_dims(module_path, -1), rows)
            )

        accuracy, loss = [], []
        with keras.StatelessScope(state_mapping=list(zip(self._variables, values))) as scope:
            for index in range(paths.shape[0]):
                path_accuracy, path_loss = self._train_path(
                    paths[index], batch_indices[index], x, y, value_and_grad, scan, write_rows
                )
                accuracy.append(path_accuracy)
                loss.append(path_loss)
            values = [scope.get_current_value(variable) for variable in self._variables]
        return values, ops.stack(accuracy), ops.stack(loss)


def evaluate_path(net, path, x, y, task=None, batch_size=1024):
    """Accuracy and mean cross-entropy loss of `path` on (x, y) for `task`.

    `task` defaults to the most recently added readout. Labels outside the
    task's classes raise DatasetError; a bad path raises ConfigError.
    """
    _require_supported_backend()
    task = len(net.readouts) - 1 if task is None else task
    task = net.check_task(task)
    path = net.check_path(path)
    x = check_features(x, "evaluation features")
    if x.shape[1] != net.input_dim:
        raise DatasetError(
            f"evaluation features have {x.shape[1]} dimensions but the PathNet "
            f"was built for {net.input_dim}"
        )
    y = check_labels(y, x.shape[0], net.task_classes[task], "evaluation labels")
    # Eager batches: an evaluation is a handful of large matmuls, so tracing
    # a function per task/network would cost more than it saves.
    correct, loss = 0, 0.0
    for start in range(0, x.shape[0], int(batch_size)):
        batch_y = y[start : start + batch_size]
        logits = net(x[start : start + batch_size], path, task=task)
        correct += int(np.sum(np.argmax(ops.convert_to_numpy(logits), axis=-1) == batch_y))
        batch_loss = ops.sparse_categorical_crossentropy(batch_y, logits, from_logits=True)
        loss += float(np.sum(ops.convert_to_numpy(batch_loss), dtype=np.float64))
    return correct / x.shape[0], loss / x.shape[0]
