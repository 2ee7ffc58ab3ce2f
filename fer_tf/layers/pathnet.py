"""PathNet modules selected by a path tensor.

Nguyen et al., "Meta Transfer Learning for Facial Emotion Recognition"
(ICPR 2018), Sec. III-B1 and Fig. 1; Fernando et al., "PathNet: Evolution
Channels Gradient Descent in Super Neural Networks" (arXiv:1701.08734, 2017).

A PathNet layer holds M modules (a dense layer of U units + ReLU each). A path
chooses at most N of them; the layer's output is the mean (this paper) or the
sum (Fernando et al.'s hidden layers) of the active modules' outputs. The path
is a TENSOR argument, so a compiled function that calls the layer is traced
once and runs for every path.

Duplicate module indices: a genotype is a fixed-size table of N indices per
layer and mutation can make two slots name the same module. The paper allows
"a maximum of 5 distinct modules", so a repeated index counts ONCE: the first
slot naming a module is active, later slots naming it get weight 0 (they add
nothing to the output and receive a zero gradient). A path with duplicates is
therefore a path with fewer than N distinct active modules, and "mean" divides
by the number of distinct active modules.
"""

import random

import keras
import numpy as np
from keras import ops

from fer_tf.data.seeds import derive_seed
from fer_tf.errors import ConfigError

AGGREGATIONS = ("mean", "sum")


def first_occurrence_mask(path):
    """1.0 for the first slot naming each module of `path` (..., N), else 0.0."""
    path = ops.cast(path, "int32")
    num_slots = path.shape[-1]
    same = ops.cast(
        ops.equal(ops.expand_dims(path, -1), ops.expand_dims(path, -2)), "float32"
    )
    # Strictly lower triangle: slot i is a duplicate if an EARLIER slot j < i
    # names the same module.
    earlier = ops.tril(ops.ones((num_slots, num_slots), dtype="float32"), k=-1)
    return 1.0 - ops.max(same * earlier, axis=-1)


def first_occurrence_slot(path):
    """For every slot of `path` (N,), the first slot naming the same module."""
    path = ops.cast(path, "int32")
    same = ops.equal(ops.expand_dims(path, -1), ops.expand_dims(path, -2))
    # argmax returns the first maximum, i.e. the first slot with that module.
    return ops.cast(ops.argmax(ops.cast(same, "int32"), axis=-1), "int32")


def active_module_weights(path, aggregation="mean"):
    """Weight of every slot of `path` (N,) in the layer output (Sec. III-B1).

    "mean": 1 / (number of distinct active modules) on each first occurrence;
    "sum": 1 on each first occurrence. Duplicate slots get 0.
    """
    if aggregation not in AGGREGATIONS:
        raise ConfigError(
            f"aggregation must be one of {AGGREGATIONS}, got {aggregation!r}"
        )
    mask = first_occurrence_mask(path)
    if aggregation == "mean":
        return mask / ops.sum(mask, axis=-1, keepdims=True)
    return mask


def _reseeded(initializer, seed):
    """A copy of a Keras initializer drawing from `seed` (if it takes one)."""
    config = initializer.get_config()
    if "seed" not in config:
        return initializer
    config = dict(config)
    config["seed"] = int(seed)
    return initializer.__class__.from_config(config)


def _module_seeds(seed, num_modules, salt):
    """Distinct integer seeds, one per module, reproducible from `seed`."""
    if seed is None:
        # Unseeded Keras initializers draw their seed from Python's `random`
        # too, so keras.utils.set_random_seed makes this reproducible.
        return [random.randint(1, 2**31 - 2) for _ in range(num_modules)]
    return [derive_seed(seed, salt, module) for module in range(num_modules)]


@keras.saving.register_keras_serializable(package="fer_tf")
class PathNetLayer(keras.layers.Layer):
    """One PathNet layer: M dense+ReLU modules, the active ones chosen by a path.

    Nguyen et al. 2018, Sec. III-B1 / Fig. 1 and Fernando et al. 2017. All
    modules' kernels live in one (M, D, U) weight and biases in one (M, U)
    weight; `call(inputs, path)` gathers the N modules named by the int path
    tensor, so changing the path never retraces or rebuilds anything. A
    repeated module index counts once (see the module docstring). Each module
    is initialised on its own (D, U) kernel, so e.g. Glorot uses the fans of a
    single module. A non-trainable (M,) `frozen` weight marks modules frozen by
    transfer learning (Sec. III-B2): trainers zero their updates; a frozen
    module stays usable by any path.

    Args:
        num_modules: int. M, modules in the layer (paper: 20).
        units: int. U, units per module (paper: 20).
        aggregation: str. "mean" of the active modules' outputs (this paper)
            or "sum" (Fernando et al.'s hidden layers).
        activation: str or callable. Transfer function of every module
            (paper: ReLU).
        kernel_initializer: str or initializer. Applied to each module's
            (D, U) kernel.
        bias_initializer: str or initializer. Applied to each module's bias.
        seed: int or None. Seed for the per-module initial values; None draws
            seeds from Python's `random` (seeded by keras.utils.set_random_seed).

    Example:
    >>> layer = PathNetLayer(num_modules=20, units=20)
    >>> y = layer(np.zeros((2, 1024), "float32"), np.array([0, 3, 7, 9, 12]))
    >>> y.shape
    (2, 20)

    Reference:
        Nguyen et al., Meta Transfer Learning for Facial Emotion Recognition,
        ICPR 2018. Fernando et al., PathNet, arXiv:1701.08734, 2017.
    """

    def __init__(
        self,
        num_modules=20,
        units=20,
        aggregation="mean",
        activation="relu",
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(num_modules) < 1 or int(units) < 1:
            raise ConfigError(
                f"num_modules and units must be >= 1, got {num_modules}, {units}"
            )
        if aggregation not in AGGREGATIONS:
            raise ConfigError(
                f"aggregation must be one of {AGGREGATIONS}, got {aggregation!r}"
            )
        self.num_modules = int(num_modules)
        self.units = int(units)
        self.aggregation = aggregation
        self.activation = keras.activations.get(activation)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        if seed is not None and int(seed) < 0:
            raise ConfigError(f"seed must be a non-negative integer, got {seed}")
        self.seed = None if seed is None else int(seed)

    def _per_module_initializer(self, initializer, module_shape, salt):
        seeds = _module_seeds(self.seed, self.num_modules, salt)

        def initialize(shape, dtype=None):
            return ops.stack(
                [_reseeded(initializer, s)(module_shape, dtype=dtype) for s in seeds]
            )

        return initialize

    def build(self, input_shape):
        input_dim = int(input_shape[-1])
        self.input_dim = input_dim
        self.kernel = self.add_weight(
            name="kernel",
            shape=(self.num_modules, input_dim, self.units),
            initializer=self._per_module_initializer(
                self.kernel_initializer, (input_dim, self.units), salt=0
            ),
        )
        self.bias = self.add_weight(
            name="bias",
            shape=(self.num_modules, self.units),
            initializer=self._per_module_initializer(
                self.bias_initializer, (self.units,), salt=1
            ),
        )
        self.frozen = self.add_weight(
            name="frozen",
            shape=(self.num_modules,),
            initializer="zeros",
            trainable=False,
        )

    # The three methods below are the layer's whole computation; trainers call
    # them on local copies of the selected modules (keras.ops only).
    def pack(self, kernel_rows, bias_rows):
        """(N, D, U) kernels, (N, U) biases -> one (D, N*U) dense kernel, bias."""
        num_slots = kernel_rows.shape[0]
        kernel = ops.reshape(
            ops.transpose(kernel_rows, (1, 0, 2)),
            (kernel_rows.shape[1], num_slots * self.units),
        )
        return kernel, ops.reshape(bias_rows, (num_slots * self.units,))

    def unpack(self, kernel, bias):
        """Inverse of `pack`: -> (N, D, U) kernels and (N, U) biases."""
        num_slots = kernel.shape[1] // self.units
        rows = ops.transpose(
            ops.reshape(kernel, (kernel.shape[0], num_slots, self.units)), (1, 0, 2)
        )
        return rows, ops.reshape(bias, (num_slots, self.units))

    def forward_selected(self, inputs, kernel, bias, weights):
        """Output of the selected modules given packed params and slot weights."""
        num_slots = weights.shape[-1]
        hidden = self.activation(ops.add(ops.matmul(inputs, kernel), bias))
        hidden = ops.reshape(hidden, (-1, num_slots, self.units))
        weights = ops.cast(weights, hidden.dtype)  # float32 from the path under mixed precision
        return ops.sum(hidden * ops.reshape(weights, (1, num_slots, 1)), axis=1)

    def call(self, inputs, path):
        path = ops.cast(path, "int32")
        kernel, bias = self.pack(
            ops.take(self.kernel, path, axis=0), ops.take(self.bias, path, axis=0)
        )
        weights = active_module_weights(path, self.aggregation)
        return self.forward_selected(inputs, kernel, bias, weights)

    def compute_output_shape(self, inputs_shape, path_shape=None):
        # Named after call()'s argument, so Keras can call the layer on a keras.Input.
        return tuple(inputs_shape[:-1]) + (self.units,)

    def count_flops(self, input_shape, all_ops=False, path=None, **call_arguments):
        """FLOPs per example of one call (the hook of
        fer_tf.evaluation.efficiency): only the path's distinct modules
        compute, 2 * D * U each (Eq. 8 of the landmark paper's counter);
        `all_ops` adds their bias and ReLU and the aggregation."""
        if path is None:
            raise ConfigError("PathNetLayer.count_flops needs the path of the call")
        active = int(np.unique(ops.convert_to_numpy(path)).size)
        per_row = 2 * int(input_shape[-1]) * self.units * active
        if all_ops:
            per_row += 2 * self.units * active + (active - 1) * self.units
            per_row += self.units if self.aggregation == "mean" else 0
        return per_row * int(np.prod(input_shape[:-1], dtype=np.int64))

    def frozen_modules(self):
        """(M,) bool numpy array: True where a module is frozen."""
        return ops.convert_to_numpy(self.frozen) > 0.5

    def freeze_modules(self, modules):
        """Freeze the given module indices (in addition to those already frozen)."""
        modules = np.asarray(modules, dtype=np.int64).reshape(-1)
        if modules.size and (modules.min() < 0 or modules.max() >= self.num_modules):
            raise ConfigError(
                f"module indices must be in [0, {self.num_modules}), got "
                f"{sorted(set(modules.tolist()))}"
            )
        mask = self.frozen_modules()
        mask[modules] = True
        self.frozen.assign(mask.astype("float32"))

    def reinitialize_unfrozen(self, seed=None):
        """Draw fresh initial values for every module that is not frozen.

        Frozen modules keep their exact values (Sec. III-B2: "all other
        parameters ... are reinitialized"). `seed` as in the constructor.
        """
        keep = self.frozen_modules()
        shape = (self.input_dim, self.units)
        salt_seed = seed if seed is not None else random.randint(1, 2**31 - 2)
        for variable, initializer, module_shape, salt in (
            (self.kernel, self.kernel_initializer, shape, 0),
            (self.bias, self.bias_initializer, (self.units,), 1),
        ):
            seeds = _module_seeds(salt_seed, self.num_modules, salt)
            old = ops.convert_to_numpy(variable)
            new = old.copy()
            for module in np.flatnonzero(~keep):
                fresh = _reseeded(initializer, seeds[module])(
                    module_shape, dtype=variable.dtype
                )
                new[module] = ops.convert_to_numpy(fresh)
            variable.assign(new)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_modules": self.num_modules,
                "units": self.units,
                "aggregation": self.aggregation,
                "activation": keras.activations.serialize(self.activation),
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "bias_initializer": keras.initializers.serialize(
                    self.bias_initializer
                ),
                "seed": self.seed,
            }
        )
        return config
