"""The PathNet super-network: L PathNet layers plus one readout per task.

Nguyen et al. 2018, Sec. III-B1 and Fig. 1; Fernando et al., PathNet
(arXiv:1701.08734, 2017).
"""

import keras
import numpy as np
from keras import ops

from fer_tf.errors import ConfigError
from fer_tf.data.seeds import derive_seed
from fer_tf.layers.pathnet import PathNetLayer, active_module_weights
from fer_tf.models.pathnet.genotype import active_modules, validate_path
from fer_tf.models.pathnet.presets import PAPER
from fer_tf.models.registry import register_model


def _is_concrete(value):
    """True when `value` holds numbers now (not a symbolic/traced tensor)."""
    if isinstance(value, (np.ndarray, list, tuple)):
        return True
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.is_tensor(value) and not tf.is_symbolic_tensor(value)
    if backend == "jax":
        import jax

        return isinstance(value, jax.Array) and not isinstance(value, jax.core.Tracer)
    return False


@keras.saving.register_keras_serializable(package="fer_tf")
class PathNet(keras.Model):
    """PathNet of L layers of M modules with a task-specific readout per task.

    Sec. III-B1 / Fig. 1: every layer holds M modules of U units + ReLU; the
    outputs of a layer's active modules are averaged (or summed) before being
    fed to the next layer's active modules; the final (readout) layer is not
    shared between tasks. `call(inputs, path, task)` takes the path as an
    (L, N) int tensor, so one compiled function serves every path; a concrete
    path may also be an (L, k <= N) array or a ragged nested list (rows padded
    with duplicates, which count once). Bad paths raise ConfigError.
    Freezing (Sec. III-B2) is a per-layer, per-module mask (`freeze_path`),
    and `reinitialize_unfrozen` redraws every module that is not frozen.

    Args:
        num_layers: int. L (paper: 3).
        num_modules: int. M, modules per layer (paper: 20).
        units: int. U, units per module (paper: 20).
        max_active: int. N, module slots per layer in a path (paper: 5).
        aggregation: str. "mean" (paper) or "sum" (Fernando et al.).
        task_classes: list of int. Number of classes of each task's readout.
        seed: int or None. Seed of the initial values (None: Python `random`,
            seeded by keras.utils.set_random_seed).

    Example:
    >>> net = PathNet(task_classes=[6])
    >>> net.build((None, 1024))
    >>> logits = net(np.zeros((2, 1024), "float32"), np.zeros((3, 5), "int32"), task=0)

    Reference:
        Nguyen et al., Meta Transfer Learning for Facial Emotion Recognition,
        ICPR 2018. Fernando et al., PathNet, arXiv:1701.08734, 2017.
    """

    def __init__(
        self,
        num_layers=PAPER.num_layers,
        num_modules=PAPER.num_modules,
        units=PAPER.units,
        max_active=PAPER.max_active,
        aggregation=PAPER.aggregation,
        task_classes=(),
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(max_active) > int(num_modules) or int(max_active) < 1:
            raise ConfigError(
                f"max_active must be in [1, num_modules={num_modules}], got {max_active}"
            )
        self.num_layers = int(num_layers)
        self.num_modules = int(num_modules)
        self.units = int(units)
        self.max_active = int(max_active)
        self.aggregation = aggregation
        if seed is not None and int(seed) < 0:
            raise ConfigError(f"seed must be a non-negative integer, got {seed}")
        self.seed = None if seed is None else int(seed)
        self.pathnet_layers = [
            PathNetLayer(
                num_modules=self.num_modules,
                units=self.units,
                aggregation=aggregation,
                seed=None if seed is None else derive_seed(seed, 1, layer),
                name=f"pathnet_layer_{layer}",
            )
            for layer in range(self.num_layers)
        ]
        self.task_classes = []
        self.readouts = []
        for num_classes in task_classes:
            self.add_task(num_classes)

    def add_task(self, num_classes):
        """Append a fresh readout for a task of `num_classes`; return its index."""
        num_classes = int(num_classes)
        if num_classes < 1:
            raise ConfigError(f"a task needs at least 1 class, got {num_classes}")
        task = len(self.readouts)
        if self.seed is None:
            initializer = "glorot_uniform"
        else:
            initializer = keras.initializers.GlorotUniform(
                seed=derive_seed(self.seed, 2, task)
            )
        readout = keras.layers.Dense(
            num_classes, kernel_initializer=initializer, name=f"readout_{task}"
        )
        if self.built:
            readout.build((None, self.units))
            # Keras locks a built layer's state; a new task legitimately adds a
            # readout later (as Keras' own quantize() does, unlock briefly).
            self._tracker.unlock()
            try:
                self.readouts.append(readout)
            finally:
                self._tracker.lock()
        else:
            self.readouts.append(readout)
        self.task_classes.append(num_classes)
        return task

    def build(self, input_shape):
        dim = input_shape[-1]
        for layer in self.pathnet_layers:
            if not layer.built:
                layer.build((None, dim))
            dim = self.units
        for readout in self.readouts:
            if not readout.built:
                readout.build((None, self.units))
        self.built = True

    @property
    def input_dim(self):
        return self.pathnet_layers[0].input_dim

    def check_path(self, path):
        """Validate a concrete path -> (L, N) int32 numpy array (ConfigError)."""
        return validate_path(path, self.num_layers, self.num_modules, self.max_active)

    def check_task(self, task):
        task = int(task)
        if not 0 <= task < len(self.readouts):
            raise ConfigError(
                f"task {task} has no readout: this PathNet has "
                f"{len(self.readouts)} task readout(s); use add_task(num_classes)"
            )
        return task

    def __call__(self, inputs, path, task=0, **kwargs):
        # Keras only accepts tensors as positional call arguments; a (possibly
        # ragged) nested list path is validated and padded to (L, N) first.
        if isinstance(path, (list, tuple)):
            path = self.check_path(path)
        return super().__call__(inputs, path, task=task, **kwargs)

    def call(self, inputs, path, task=0):
        task = self.check_task(task)
        if _is_concrete(path):
            path = self.check_path(path)
        elif len(path.shape) != 2 or path.shape[0] != self.num_layers or (
            path.shape[1] is not None and path.shape[1] > self.max_active
        ):
            raise ConfigError(
                f"a path tensor must have shape ({self.num_layers}, <= "
                f"{self.max_active}), got {tuple(path.shape)}"
            )
        path = ops.cast(path, "int32")
        hidden = inputs
        for layer, module_path in zip(self.pathnet_layers, ops.unstack(path, axis=0)):
            hidden = layer(hidden, module_path)
        return self.readouts[task](hidden)

    def default_call_kwargs(self):
        """What the efficiency counter calls the model with besides its input
        (`fer_tf.evaluation.efficiency`): a path of the first N modules of
        every layer."""
        return {"path": np.tile(np.arange(self.max_active, dtype="int32"),
                                (self.num_layers, 1))}

    # Selected-parameter computation used by the compiled trainer on packed
    # copies of the active modules (`PathNetLayer.pack`; keras.ops only, no
    # variables, so one compiled trainer serves every network).
    def slot_weights(self, path):
        """Per-layer slot weights (L list of (N,)) of `path` (L, N)."""
        return [
            active_module_weights(module_path, self.aggregation)
            for module_path in ops.unstack(path, axis=0)
        ]

    def forward_selected(self, inputs, params, weights):
        """Logits from packed params (see `select`) and slot weights."""
        num_layers = self.num_layers
        hidden = inputs
        for layer_index, layer in enumerate(self.pathnet_layers):
            hidden = layer.forward_selected(
                hidden,
                params[layer_index],
                params[num_layers + layer_index],
                weights[layer_index],
            )
        return ops.add(ops.matmul(hidden, params[-2]), params[-1])

    # Freezing and re-initialisation (Sec. III-B2, IV-C1).
    def freeze_path(self, path):
        """Freeze every module on `path` (in addition to those already frozen)."""
        path = self.check_path(path)
        for layer, modules in zip(self.pathnet_layers, active_modules(path)):
            layer.freeze_modules(modules)

    def frozen_mask(self):
        """(L, M) bool numpy array: True where a module is frozen."""
        return np.stack([layer.frozen_modules() for layer in self.pathnet_layers])

    def reinitialize_unfrozen(self, seed=None):
        """Redraw every non-frozen module of every layer (frozen ones untouched)."""
        for index, layer in enumerate(self.pathnet_layers):
            layer.reinitialize_unfrozen(
                None if seed is None else derive_seed(seed, 3, index)
            )

    def get_config(self):
        config = {
            "name": self.name,
            "trainable": self.trainable,
            "num_layers": self.num_layers,
            "num_modules": self.num_modules,
            "units": self.units,
            "max_active": self.max_active,
            "aggregation": self.aggregation,
            "task_classes": list(self.task_classes),
            "seed": self.seed,
        }
        return config


def build_pathnet(config, input_dim, task_classes=(), seed=None):
    """A built PathNet with the architecture of a PathNetConfig."""
    net = PathNet(
        num_layers=config.num_layers,
        num_modules=config.num_modules,
        units=config.units,
        max_active=config.max_active,
        aggregation=config.aggregation,
        task_classes=task_classes,
        seed=seed,
    )
    net.build((None, int(input_dim)))
    return net


@register_model(
    "pathnet",
    paper="pathnet",
    input_shape=(32 * 32,),
    num_classes=6,
    description="Nguyen et al. 2018 Sec. III-B1: PathNet L=3 x M=20 modules of 20 "
    "ReLU units, paths of <= 5 modules, one readout per task (evolved, not fit)",
    trainable_by_cli=False,
)
def pathnet(input_shape=(32 * 32,), num_classes=6, config=PAPER, seed=None):
    """A built PathNet (PAPER architecture) with one readout of `num_classes`,
    for flattened face crops of `input_shape` (default 32 x 32 grey = 1024)."""
    if len(input_shape) != 1:
        raise ConfigError(
            f"PathNet takes flattened features (D,), got input_shape {tuple(input_shape)}"
        )
    return build_pathnet(config, input_shape[0], task_classes=[num_classes], seed=seed)
