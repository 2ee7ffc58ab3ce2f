"""Compiled training and evaluation of PathNet paths (Sec. IV-C1).

Nguyen et al. 2018, Sec. IV-C1: "to evaluate one path, our network is trained
with stochastic gradient descent with learning rate 0.02 on 50 mini-batches of
size 16"; the fitness is the training accuracy over those minibatches.
Fernando et al., PathNet (arXiv:1701.08734, 2017), Sec. 2.

Design (why it is fast): only the path's modules and the task readout change
while a path is trained, so one compiled call
  1. gathers the path's N modules of every layer into a packed (D, N*U) kernel
     (`PathNetLayer.pack`),
  2. runs all T SGD steps on those local copies inside one loop
     (tf.while_loop / jax.lax.scan) - the per-step cost is that of the bare
     active-path network, with no sparse updates of the (M, D, U) weights,
  3. writes the trained rows back once. Frozen modules receive a zero update
     at every step and their rows are written back from the original values,
     so they are bit-for-bit unchanged (Sec. III-B2).
Both tournament paths run in the same compiled call, one after the other, so
the second path sees the first path's updates (shared modules) exactly as in
sequential training. Paths, minibatch indices, the module weights, frozen
masks and the readout are all arguments of the compiled function, so one
trainer (one trace, one compile) serves every path, task and network of a run.

Backends: TensorFlow (default) compiles with tf.function (+ XLA when
`jit_compile`) and differentiates with tf.GradientTape; JAX compiles with
jax.jit over the variables' values (state in, state out) with
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


#: Training sets are zero-padded to a multiple of this many rows, so tasks of
#: similar size share one compiled program (minibatch indices never reach the
#: padding).
ROW_BUCKET = 512


def _bucket(num_examples):
    return -(-int(num_examples) // ROW_BUCKET) * ROW_BUCKET


class PathTrainer:
    """Trains tournament paths of a PathNet in one compiled call, for any task.

    Sec. IV-C1: each path is trained with plain SGD on T minibatches; the
    per-minibatch training accuracy (before that minibatch's update) and loss
    are returned, the fitness being the mean accuracy. `train` takes P paths
    (P, L, N) and minibatch indices (P, T, B) and trains the paths one after
    the other on the shared parameters.

    One trainer serves a whole run: `bind(net, task, x, y)` points it at a
    network, a readout and a training set. The network's module weights,
    frozen masks and readout are variables passed to the compiled function,
    and the paths and minibatch indices are tensors, so a new path, task,
    network or experiment never retraces; only a new architecture, readout
    size or training-set capacity can (`trace_count` counts traces; `reserve`
    sizes the capacity up front so that a run compiles once).

    Args:
        learning_rate: float. SGD learning rate (paper: 0.02).
        jit_compile: bool. XLA-compile the TensorFlow loop (JAX always is).

    Example:
    >>> trainer = PathTrainer(learning_rate=0.02).bind(net, task, x, y)
    >>> accuracy, loss = trainer.train(paths, rng.integers(0, len(x), (2, 50, 16)))
    """

    def __init__(self, learning_rate, jit_compile=True):
        self.backend = _require_supported_backend()
        self.learning_rate = float(learning_rate)
        if not self.learning_rate > 0:
            raise ConfigError(f"learning_rate must be > 0, got {learning_rate!r}")
        self.jit_compile = bool(jit_compile)
        self.trace_count = 0
        self.net = None
        self.task = None
        self.num_examples = 0
        self._rows = 0
        if self.backend == "tensorflow":
            import tensorflow as tf

            # reduce_retracing: a second training-set capacity generalises the
            # trace instead of adding one per capacity.
            self._compiled = tf.function(
                self._tf_program,
                jit_compile=self.jit_compile,
                autograph=False,
                reduce_retracing=True,
            )
        else:
            import jax

            self._compiled = jax.jit(self._jax_program, static_argnums=(0,))

    def reserve(self, num_examples):
        """Make room for training sets of up to `num_examples` rows."""
        self._rows = max(self._rows, _bucket(num_examples))
        return self

    def bind(self, net, task, x, y):
        """Train `net`'s readout `task` on (x, y) from now on; returns self."""
        if not net.built:
            raise ConfigError("build the PathNet (net.build((None, D))) before training")
        task = net.check_task(task)
        x = check_features(x, "training features")
        if x.shape[1] != net.input_dim:
            raise DatasetError(
                f"training features have {x.shape[1]} dimensions but the PathNet "
                f"was built for {net.input_dim}"
            )
        y = check_labels(y, x.shape[0], net.task_classes[task], "training labels")
        self.reserve(x.shape[0])
        padding = self._rows - x.shape[0]
        # Drop the previous task's tensors first, so that two training sets
        # are never held at once (the allocator keeps its high-water mark).
        self._x = self._y = None
        self.net, self.task, self.num_examples = net, task, x.shape[0]
        self._x = ops.convert_to_tensor(np.pad(x, ((0, padding), (0, 0))))
        self._y = ops.convert_to_tensor(np.pad(y, (0, padding)))
        readout = net.readouts[task]
        layers = net.pathnet_layers
        self._variables = (
            [layer.kernel for layer in layers]
            + [layer.bias for layer in layers]
            + [layer.frozen for layer in layers]
            + [readout.kernel, readout.bias]
        )
        # What the traced program reads from Python objects rather than
        # tensors: a change of any of these must (and does) retrace.
        activation = keras.activations.serialize(layers[0].activation)
        self._architecture = (len(layers), net.units, net.aggregation, str(activation))
        return self

    def train(self, paths, batch_indices):
        """Train each path on its minibatches -> (accuracy (P, T), loss (P, T))."""
        if self.net is None:
            raise ConfigError("PathTrainer.train before bind(net, task, x, y)")
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
            state = [variable.value for variable in self._variables]
            accuracy, loss = self._compiled(
                self._architecture, state, paths, batch_indices, self._x, self._y
            )
        else:
            values = [variable.value for variable in self._variables]
            values, accuracy, loss = self._compiled(
                self._architecture, values, paths, batch_indices, self._x, self._y
            )
            for variable, value in zip(self._variables, values):
                variable.assign(value)
        return ops.convert_to_numpy(accuracy), ops.convert_to_numpy(loss)

    # Backend-neutral program (keras.ops) on the state list
    # [kernels (L), biases (L), frozen masks (L), readout kernel, readout bias];
    # `write_rows` / `replace` return the updated state entry (in place on TF,
    # a new array on JAX). Only the bound network's pure methods (pack,
    # unpack, slot_weights, forward_selected) are used, never its variables.
    def _train_path(self, state, path, indices, x, y, value_and_grad, scan, write_rows, replace):
        layers = self.net.pathnet_layers
        num_layers = len(layers)
        kernels = state[:num_layers]
        biases = state[num_layers : 2 * num_layers]
        frozens = state[2 * num_layers : 3 * num_layers]
        module_paths = ops.unstack(path, axis=0)
        weights = self.net.slot_weights(path)
        frozen_slots = [
            ops.take(frozen, module_path, axis=0)
            for frozen, module_path in zip(frozens, module_paths)
        ]
        keeps = [ops.repeat(1.0 - slots, self.net.units) for slots in frozen_slots]
        packed = [
            layer.pack(ops.take(kernel, module_path, axis=0), ops.take(bias, module_path, axis=0))
            for layer, kernel, bias, module_path in zip(layers, kernels, biases, module_paths)
        ]
        params = [kernel for kernel, _ in packed] + [bias for _, bias in packed]
        params += [ops.convert_to_tensor(state[-2]), ops.convert_to_tensor(state[-1])]

        def step(params, rows):
            batch_x = ops.take(x, rows, axis=0)
            batch_y = ops.take(y, rows, axis=0)

            def loss_fn(params):
                logits = self.net.forward_selected(batch_x, params, weights)
                return _cross_entropy(batch_y, logits), logits

            (loss, logits), grads = value_and_grad(loss_fn, params)
            params = _sgd(params, grads, keeps, num_layers, self.learning_rate)
            return params, (_accuracy(logits, batch_y), loss)

        params, (accuracy, loss) = scan(step, params, indices)

        state = list(state)
        for index, (layer, module_path) in enumerate(zip(layers, module_paths)):
            kernel_rows, bias_rows = layer.unpack(params[index], params[num_layers + index])
            # A duplicate slot was never trained (weight 0): write the first
            # slot's rows to every slot naming that module, so that duplicate
            # indices all carry the same value. Frozen modules get their
            # original rows back, untouched bit for bit.
            first = first_occurrence_slot(module_path)
            kernel_rows = ops.take(kernel_rows, first, axis=0)
            bias_rows = ops.take(bias_rows, first, axis=0)
            frozen = frozen_slots[index] > 0.5
            kernel_rows = ops.where(
                ops.reshape(frozen, (-1, 1, 1)),
                ops.take(state[index], module_path, axis=0),
                kernel_rows,
            )
            bias_rows = ops.where(
                ops.reshape(frozen, (-1, 1)),
                ops.take(state[num_layers + index], module_path, axis=0),
                bias_rows,
            )
            state[index] = write_rows(state[index], module_path, kernel_rows)
            state[num_layers + index] = write_rows(
                state[num_layers + index], module_path, bias_rows
            )
        state[-2] = replace(state[-2], params[-2])
        state[-1] = replace(state[-1], params[-1])
        return state, accuracy, loss

    # TensorFlow: tf.function (+XLA), GradientTape, tf.while_loop, in-place
    # scatter of the trained rows into the tf.Variables passed in `state`.
    def _tf_program(self, architecture, state, paths, batch_indices, x, y):
        import tensorflow as tf

        self.trace_count += 1  # Python side effect: runs only while tracing.

        def value_and_grad(loss_fn, params):
            with tf.GradientTape() as tape:
                tape.watch(params)
                loss, logits = loss_fn(params)
            return (loss, logits), tape.gradient(loss, params)

        def scan(step, params, indices):
            steps = tf.shape(indices)[0]

            def body(t, params, accuracy, loss):
                params, (step_accuracy, step_loss) = step(params, indices[t])
                return t + 1, params, accuracy.write(t, step_accuracy), loss.write(t, step_loss)

            arrays = [
                tf.TensorArray(tf.float32, size=steps, element_shape=()) for _ in range(2)
            ]
            _, params, accuracy, loss = tf.while_loop(
                lambda t, *_: t < steps, body, (tf.constant(0), params, *arrays)
            )
            return params, (accuracy.stack(), loss.stack())

        def write_rows(variable, module_path, rows):
            variable.scatter_update(tf.IndexedSlices(rows, module_path))
            return variable

        def replace(variable, value):
            variable.assign(value)
            return variable

        # The paths are trained one after the other inside a graph loop (not
        # unrolled): half the graph to trace and compile for a tournament.
        num_paths = tf.shape(batch_indices)[0]

        def body(index, accuracy, loss):
            _, path_accuracy, path_loss = self._train_path(
                state, paths[index], batch_indices[index], x, y,
                value_and_grad, scan, write_rows, replace,
            )
            return index + 1, accuracy.write(index, path_accuracy), loss.write(index, path_loss)

        arrays = [
            tf.TensorArray(tf.float32, size=num_paths, element_shape=(None,))
            for _ in range(2)
        ]
        _, accuracy, loss = tf.while_loop(
            lambda index, *_: index < num_paths,
            body,
            (tf.constant(0), *arrays),
            # Path i + 1 must read the modules path i wrote: strictly in order.
            parallel_iterations=1,
        )
        return accuracy.stack(), loss.stack()

    # JAX: jax.jit over the variables' values (pure state in, state out),
    # jax.value_and_grad, jax.lax.scan.
    def _jax_program(self, architecture, state, paths, batch_indices, x, y):
        import jax

        self.trace_count += 1  # Python side effect: runs only while tracing.

        def value_and_grad(loss_fn, params):
            return jax.value_and_grad(loss_fn, has_aux=True)(params)

        def scan(step, params, indices):
            return jax.lax.scan(step, params, indices)

        def write_rows(value, module_path, rows):
            return value.at[module_path].set(rows)

        def replace(value, new_value):
            return new_value

        accuracy, loss = [], []
        for index in range(paths.shape[0]):
            state, path_accuracy, path_loss = self._train_path(
                state, paths[index], batch_indices[index], x, y,
                value_and_grad, scan, write_rows, replace,
            )
            accuracy.append(path_accuracy)
            loss.append(path_loss)
        return state, ops.stack(accuracy), ops.stack(loss)


def path_logits(net, path, x, task=None, batch_size=1024):
    """Logits (N, C) numpy of `path` on features x for readout `task`.

    `task` defaults to the most recently added readout; a bad path raises
    ConfigError.
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
    # Eager batches: an evaluation is a handful of large matmuls, so a
    # compiled function would buy nothing.
    batches = [
        ops.convert_to_numpy(net(x[start : start + batch_size], path, task=task))
        for start in range(0, x.shape[0], int(batch_size))
    ]
    return np.concatenate(batches).astype(np.float64)


def _log_softmax(logits):
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def evaluate_path(net, path, x, y, task=None, batch_size=1024):
    """Accuracy and mean cross-entropy loss of `path` on (x, y) for `task`.

    `task` defaults to the most recently added readout. Labels outside the
    task's classes raise DatasetError; a bad path raises ConfigError.
    """
    task = len(net.readouts) - 1 if task is None else net.check_task(task)
    y = check_labels(y, np.shape(x)[0], net.task_classes[task], "evaluation labels")
    return logit_scores(path_logits(net, path, x, task=task, batch_size=batch_size), y)


def logit_scores(logits, labels):
    """(accuracy, mean cross-entropy) of logits (N, C) against integer labels."""
    log_probs = _log_softmax(np.asarray(logits, dtype=np.float64))
    accuracy = float(np.mean(np.argmax(log_probs, axis=-1) == labels))
    return accuracy, float(-np.mean(log_probs[np.arange(len(labels)), labels]))


def majority_vote_accuracy(logits, labels, groups):
    """Video-level accuracy: each video (group) is labelled by the majority
    vote of its frames' predictions; a tie goes to the tied class with the
    highest mean softmax probability over the video's frames."""
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels)
    groups = np.asarray(groups)
    if not len(labels) == len(groups) == len(logits):
        raise DatasetError(
            f"majority vote: {len(logits)} predictions, {len(labels)} labels and "
            f"{len(groups)} video ids must have one entry per frame"
        )
    probabilities = np.exp(_log_softmax(logits))
    predicted = np.argmax(logits, axis=-1)
    num_classes = logits.shape[1]
    correct = []
    for group in np.unique(groups):
        members = groups == group
        video_labels = np.unique(labels[members])
        if video_labels.size != 1:
            raise DatasetError(
                f"video {group!r} has frames labelled {video_labels.tolist()}: a video "
                "carries one emotion label"
            )
        votes = np.bincount(predicted[members], minlength=num_classes)
        tied = votes == votes.max()
        mean_probability = np.where(tied, probabilities[members].mean(axis=0), -1.0)
        correct.append(int(np.argmax(mean_probability)) == int(video_labels[0]))
    return float(np.mean(correct))
