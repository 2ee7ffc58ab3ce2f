"""Training recipes: the whole of a paper's training settings as one value.

A `Recipe` is what travels with a registered model (one preset per paper, kept
in that paper's folder): loss (label smoothing, per-output weights), optimizer
and learning-rate schedule, epochs, batch size, monitored metric, early
stopping, train/eval transforms, normalisation, class balancing, and the
stages of a staged schedule (the landmark paper's Sec. III-D2). `fer-tf train
MODEL` resolves the model's recipe, applies CLI overrides with
`Recipe.replace`, and records `Recipe.to_dict()` in the run's `config.json`,
so that a run can be rebuilt - and resumed - from its folder alone.

Example:
    >>> recipe = Recipe(name="demo", epochs=3, optimizer=OptimizerConfig("adamw", 1e-3,
    ...                 weight_decay=1e-4, schedule="cosine"), label_smoothing=0.1)
    >>> recipe.replace(epochs=5).epochs
    5
"""

import dataclasses
import json
import typing
from typing import Any, Optional

import keras
from keras import ops

from fer_tf.errors import ConfigError

SCHEDULES = ("constant", "cosine", "plateau")
INTERPOLATIONS = ("bilinear", "area", "lanczos3", "lanczos5", "bicubic", "nearest")


def _frozen_dict(value):
    return dict(value or {})


def _accepts(kind, value):
    """Whether `value` (from JSON or Python) fits the field type `kind`."""
    if kind is Any or kind is None:
        return True
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind in (tuple, list):
        return isinstance(value, (tuple, list))
    return isinstance(value, kind) if isinstance(kind, type) else True


def check_field_types(cls, changes, where, prefix=""):
    """One ConfigError line for a change whose value does not fit its field's
    declared type (`fer-tf train --set optimizer.weight_decay=abc`), checked
    before anything is built or written."""
    hints = typing.get_type_hints(cls)
    for name, value in changes.items():
        if name not in hints:
            continue  # unknown fields: dataclasses.replace names them
        kind = hints[name]
        union = typing.get_args(kind) if typing.get_origin(kind) is typing.Union else (kind,)
        if value is None and type(None) in union:
            continue  # Optional[...] = None
        options = [k for k in union if k is not type(None)]
        if not any(_accepts(typing.get_origin(k) or k, value) for k in options):
            names = " or ".join(getattr(k, "__name__", str(k)) for k in options)
            raise ConfigError(f"{where}: {prefix}{name}: expected {names}, got {value!r}.")


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
    """An optimizer and its learning-rate schedule.

    Args:
        name: str. a key of `OPTIMIZERS` ("adam", "adamw", "sgd", "rmsprop",
            "adadelta"; more through `register_optimizer`, e.g. RAdam).
        learning_rate: float. the initial (peak) step size.
        weight_decay: float. decoupled weight decay (Loshchilov & Hutter: every
            step also does variable -= lr * weight_decay * variable), Keras 3's
            one form, for every optimizer here; PyTorch's `weight_decay` of
            SGD, Adam, AdaDelta and RAdam is instead L2 added to the gradient.
        momentum: float. SGD/RMSprop momentum.
        beta_1, beta_2, epsilon: floats. Adam-family moments.
        nesterov: bool. SGD with Nesterov momentum.
        clipnorm: float or None. gradient clipping by norm.
        schedule: str. "constant", "cosine" (annealed to `alpha` x lr over the
            whole stage; the EfficientNet paper's Eq. 13) or "plateau"
            (ReduceLROnPlateau on the recipe's monitor).
        schedule_kwargs: dict. "alpha" and "warmup_epochs" for cosine;
            "factor", "patience", "min_lr" for plateau.
    """

    name: str = "adam"
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.0
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-7
    nesterov: bool = False
    clipnorm: Optional[float] = None
    schedule: str = "constant"
    schedule_kwargs: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"Unknown learning-rate schedule {self.schedule!r}; expected "
                              f"one of {', '.join(SCHEDULES)}.")
        if not float(self.learning_rate) > 0:
            raise ConfigError(f"learning_rate must be positive, got {self.learning_rate}.")
        object.__setattr__(self, "schedule_kwargs", _frozen_dict(self.schedule_kwargs))


@dataclasses.dataclass(frozen=True)
class TransformConfig:
    """Geometry and augmentation applied to each image by the input pipeline.

    The order is fixed: resize to `resize` with `interpolation` -> crop to
    `crop` (random when training, centred when evaluating) -> augmentation
    (pixel units, before normalisation) -> normalisation.

    Args:
        resize: (height, width) or None (the model's input size).
        crop: (height, width) or None. E.g. resize (256, 256) + crop (224, 224)
            for the EfficientNet paper's Sec. III-C.
        interpolation: str. one of `INTERPOLATIONS` ("lanczos3" for the
            CAMnet thesis' 48 -> 224 upscaling, Sec. 6.1.1).
        augmentation: str or None. a name in `fer_tf.data.pipeline.AUGMENTATIONS`.
        augmentation_kwargs: dict passed to that factory.
    """

    resize: Optional[tuple] = None
    crop: Optional[tuple] = None
    interpolation: str = "bilinear"
    augmentation: Optional[str] = None
    augmentation_kwargs: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if self.interpolation not in INTERPOLATIONS:
            raise ConfigError(f"Unknown interpolation {self.interpolation!r}; expected one "
                              f"of {', '.join(INTERPOLATIONS)}.")
        for field in ("resize", "crop"):
            value = getattr(self, field)
            if value is not None:
                object.__setattr__(self, field, tuple(int(v) for v in value))
        object.__setattr__(self, "augmentation_kwargs", _frozen_dict(self.augmentation_kwargs))


@dataclasses.dataclass(frozen=True)
class Stage:
    """One stage of a staged schedule (landmark paper Sec. III-D2).

    Args:
        name: str. names the stage's sub-folder `stages/<k>-<name>/`.
        epochs: int. the stage's epoch budget.
        trainable: tuple of str. names (or name prefixes) of the model's
            top-level layers that train in this stage; "*" trains everything.
            Every other layer is frozen (its batch norm in inference mode).
        optimizer, loss, loss_weights, metrics, monitor, mode, patience:
            override the recipe's for this stage (None keeps the recipe's).
            `loss` as a dict may name only some outputs: the others get no
            gradient in this stage.
    """

    name: str
    epochs: int
    trainable: tuple = ("*",)
    optimizer: Optional[OptimizerConfig] = None
    loss: Any = None
    loss_weights: Optional[dict] = None
    metrics: Any = None
    monitor: Optional[str] = None
    mode: Optional[str] = None
    patience: Optional[int] = None

    def __post_init__(self):
        object.__setattr__(self, "trainable", tuple(self.trainable))
        if int(self.epochs) < 1:
            raise ConfigError(f"Stage {self.name!r}: epochs must be positive, got {self.epochs}.")


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Everything that decides how a model is trained.

    Args:
        name: str. e.g. "camnet_baseline_cnn" or "efficientnet_b0_table_i".
        paper: str. which paper's preset it is.
        epochs: int. epoch budget (of the single stage when `stages` is empty).
        batch_size: int.
        optimizer: OptimizerConfig.
        loss: str or dict {output name: loss name}. "sparse_categorical_crossentropy"
            for integer labels; "mae"/"mse" for landmark regression.
        label_smoothing: float. for the cross-entropy losses (kept sparse:
            labels are one-hot encoded inside the loss).
        loss_weights: dict {output name: weight} or None.
        metrics: tuple, or dict {output name: tuple}.
        monitor: str. the metric the best checkpoint and early stopping watch.
        mode: "max" or "min" for `monitor`.
        patience: int or None. early-stopping patience in epochs.
        restore_best: bool. end each stage with its best weights.
        stages: tuple of Stage. empty: one stage training every layer.
        train_transform, eval_transform: TransformConfig.
        normalization: "unit", "symmetric" or "none" (applied after augmentation).
        class_balanced: bool. class-balanced training batches.
        landmark_part: str or None. an `fer_tf.data.ibug68` part whose points
            are the landmark targets ("all" for the 68).
        mixed_precision: bool. mixed_float16 compute.
        precise_bn_batches: int. 0: off. Otherwise, before every validation
            (and, in a stage without validation data, at its last epoch, before
            its checkpoint), each trainable batch norm's moving mean and
            variance are recomputed as plain averages over this many training
            batches ("precise BN", Wu & Johnson 2021, Sec. 3): at short budgets
            the default momentum 0.99 leaves them far from the data's after a
            few hundred steps (on JAFFE, 6 batches an epoch).
        members: int. independently seeded members trained as sub-runs
            `members/<k>/` and combined by summed softmax (1 = a single model).
        model_kwargs: dict. keyword arguments of the registered model's
            builder (e.g. the landmark sub-network's `part`).
    """

    name: str = "default"
    paper: str = ""
    epochs: int = 10
    batch_size: int = 32
    optimizer: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)
    loss: Any = "sparse_categorical_crossentropy"
    label_smoothing: float = 0.0
    loss_weights: Optional[dict] = None
    metrics: Any = ("accuracy",)
    monitor: str = "val_accuracy"
    mode: str = "max"
    patience: Optional[int] = None
    restore_best: bool = True
    stages: tuple = ()
    train_transform: TransformConfig = dataclasses.field(default_factory=TransformConfig)
    eval_transform: TransformConfig = dataclasses.field(default_factory=TransformConfig)
    normalization: str = "unit"
    class_balanced: bool = False
    landmark_part: Optional[str] = None
    mixed_precision: bool = False
    precise_bn_batches: int = 0
    members: int = 1
    model_kwargs: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "model_kwargs", _frozen_dict(self.model_kwargs))
        if self.mode not in ("max", "min"):
            raise ConfigError(f"Recipe {self.name!r}: mode must be 'max' or 'min', got "
                              f"{self.mode!r}.")
        if int(self.epochs) < 1 or int(self.batch_size) < 1 or int(self.members) < 1:
            raise ConfigError(f"Recipe {self.name!r}: epochs, batch_size and members must "
                              "be positive.")
        if not 0.0 <= float(self.label_smoothing) < 1.0:
            raise ConfigError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}.")
        object.__setattr__(self, "stages", tuple(self.stages))
        if isinstance(self.metrics, list):
            object.__setattr__(self, "metrics", tuple(self.metrics))

    def replace(self, **changes):
        """A copy with some fields changed; `optimizer__learning_rate=` style
        keys change one field of a nested config."""
        nested = {}
        for key in [k for k in changes if "__" in k]:
            outer, inner = key.split("__", 1)
            nested.setdefault(outer, {})[inner] = changes.pop(key)
        for outer, fields in nested.items():
            if not hasattr(self, outer):
                raise ConfigError(f"Recipe {self.name!r} has no field {outer!r}.")
            current = getattr(self, outer)
            if isinstance(current, dict):  # model_kwargs, schedule_kwargs, ...
                changes[outer] = dict(current, **fields)
            elif dataclasses.is_dataclass(current):
                check_field_types(type(current), fields, f"Recipe {self.name!r}", f"{outer}.")
                try:
                    changes[outer] = dataclasses.replace(current, **fields)
                except TypeError as e:
                    raise ConfigError(f"Recipe {self.name!r}: {outer}: {e}.") from None
            else:
                raise ConfigError(f"Recipe {self.name!r}: {outer} is not a group of fields.")
        check_field_types(type(self), {k: v for k, v in changes.items() if k not in nested},
                          f"Recipe {self.name!r}")
        try:
            return dataclasses.replace(self, **changes)
        except TypeError as e:
            raise ConfigError(f"Recipe {self.name!r}: {e}.") from None

    def with_epochs(self, epochs):
        """The epoch budget set to `epochs`; in a staged recipe, each stage's."""
        if not self.stages:
            return self.replace(epochs=int(epochs))
        return self.replace(epochs=int(epochs) * len(self.stages), stages=tuple(
            dataclasses.replace(s, epochs=int(epochs)) for s in self.stages))

    def resolved_stages(self):
        """The stages to run: `stages`, or one stage of `epochs` training everything."""
        return self.stages or (Stage("train", self.epochs),)

    @property
    def total_epochs(self):
        return sum(s.epochs for s in self.resolved_stages())

    def to_dict(self):
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, data):
        data = dict(data)
        data["optimizer"] = OptimizerConfig(**data.get("optimizer", {}))
        for key in ("train_transform", "eval_transform"):
            data[key] = TransformConfig(**data.get(key, {}))
        stages = []
        for s in data.get("stages", ()):
            s = dict(s)
            if s.get("optimizer") is not None:
                s["optimizer"] = OptimizerConfig(**s["optimizer"])
            stages.append(Stage(**s))
        data["stages"] = tuple(stages)
        if isinstance(data.get("metrics"), list):
            data["metrics"] = tuple(data["metrics"])
        return cls(**data)

    def differences(self, other, allow_more_epochs=True):
        """Field paths where `other` differs from this recipe. With
        `allow_more_epochs`, a larger epoch budget is not a difference (a
        resumed run may be given more epochs)."""
        mine, theirs = _flatten(self.to_dict()), _flatten(other.to_dict())
        out = []
        for key in sorted(set(mine) | set(theirs)):
            a, b = mine.get(key), theirs.get(key)
            if a == b:
                continue
            if (allow_more_epochs and key.split(".")[-1] == "epochs"
                    and isinstance(a, int) and isinstance(b, int) and b >= a):
                continue
            out.append(key)
        return out


def _flatten(d, prefix=""):
    out = {}
    if isinstance(d, dict):
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}{k}."))
    elif isinstance(d, list) and d and isinstance(d[0], dict):
        for i, v in enumerate(d):
            out.update(_flatten(v, f"{prefix}{i}."))
    else:
        out[prefix[:-1]] = d
    return out


# --- optimizers ------------------------------------------------------------

def _adam(c, lr):
    return keras.optimizers.Adam(lr, beta_1=c.beta_1, beta_2=c.beta_2, epsilon=c.epsilon,
                                 weight_decay=c.weight_decay or None, clipnorm=c.clipnorm)


def _adamw(c, lr):
    return keras.optimizers.AdamW(lr, weight_decay=c.weight_decay, beta_1=c.beta_1,
                                  beta_2=c.beta_2, epsilon=c.epsilon, clipnorm=c.clipnorm)


def _sgd(c, lr):
    return keras.optimizers.SGD(lr, momentum=c.momentum, nesterov=c.nesterov,
                                weight_decay=c.weight_decay or None, clipnorm=c.clipnorm)


def _rmsprop(c, lr):
    return keras.optimizers.RMSprop(lr, momentum=c.momentum, epsilon=c.epsilon,
                                    weight_decay=c.weight_decay or None, clipnorm=c.clipnorm)


def _adadelta(c, lr):
    return keras.optimizers.Adadelta(lr, epsilon=c.epsilon, weight_decay=c.weight_decay or None,
                                     clipnorm=c.clipnorm)


#: name -> factory(OptimizerConfig, learning rate or schedule) -> optimizer.
OPTIMIZERS = {"adam": _adam, "adamw": _adamw, "sgd": _sgd, "rmsprop": _rmsprop,
              "adadelta": _adadelta}


def register_optimizer(name, factory):
    """Adds an optimizer (e.g. RAdam) that recipes can name."""
    OPTIMIZERS[name] = factory


def learning_rate_schedule(config, steps_per_epoch, epochs):
    """The step size as Keras wants it: a float, or a schedule over steps.

    Cosine annealing (EfficientNet paper Eq. 13): lr_t = alpha*lr + (1 -
    alpha)*lr*(1 + cos(pi*t/T))/2 over the stage's T = epochs*steps_per_epoch
    steps, with an optional linear warm-up.
    """
    lr = float(config.learning_rate)
    if config.schedule != "cosine":
        return lr
    kw = config.schedule_kwargs
    total = max(1, int(epochs) * int(steps_per_epoch))
    warmup = int(kw.get("warmup_epochs", 0)) * int(steps_per_epoch)
    if warmup:
        return keras.optimizers.schedules.CosineDecay(
            0.0, decay_steps=max(1, total - warmup), alpha=float(kw.get("alpha", 0.0)),
            warmup_target=lr, warmup_steps=warmup)
    return keras.optimizers.schedules.CosineDecay(lr, decay_steps=total,
                                                  alpha=float(kw.get("alpha", 0.0)))


def make_optimizer(config, steps_per_epoch=1, epochs=1):
    """A fresh Keras optimizer for `config` (an OptimizerConfig)."""
    if config.name not in OPTIMIZERS:
        raise ConfigError(f"Unknown optimizer {config.name!r}; expected one of "
                          f"{', '.join(sorted(OPTIMIZERS))}.")
    return OPTIMIZERS[config.name](config, learning_rate_schedule(config, steps_per_epoch,
                                                                  epochs))


def schedule_callbacks(config, monitor, mode):
    """Callbacks a schedule needs (ReduceLROnPlateau for "plateau")."""
    if config.schedule != "plateau":
        return []
    kw = config.schedule_kwargs
    return [keras.callbacks.ReduceLROnPlateau(
        monitor=monitor, mode=mode, factor=float(kw.get("factor", 0.1)),
        patience=int(kw.get("patience", 5)), min_lr=float(kw.get("min_lr", 0.0)))]


# --- losses ----------------------------------------------------------------

@keras.saving.register_keras_serializable(package="fer_tf")
class SparseCategoricalCrossentropy(keras.losses.Loss):
    """Cross-entropy on integer labels with label smoothing.

    Keras' sparse cross-entropy has no smoothing; this one-hot encodes the
    labels inside the loss, so that the pipeline keeps integer labels and
    q = (1 - eps) * onehot + eps / C (Szegedy et al. 2016; EfficientNet
    paper Eq. 11) reaches the loss.

    Args:
        label_smoothing: float in [0, 1).
        from_logits: bool.
    """

    def __init__(self, label_smoothing=0.0, from_logits=False,
                 name="sparse_categorical_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = float(label_smoothing)
        self.from_logits = bool(from_logits)

    def call(self, y_true, y_pred):
        num_classes = ops.shape(y_pred)[-1]
        labels = ops.reshape(ops.cast(y_true, "int32"), ops.shape(y_pred)[:-1])
        one_hot = ops.one_hot(labels, num_classes, dtype=y_pred.dtype)
        return keras.losses.categorical_crossentropy(
            one_hot, y_pred, from_logits=self.from_logits,
            label_smoothing=self.label_smoothing)

    def get_config(self):
        config = super().get_config()
        config.update({"label_smoothing": self.label_smoothing,
                       "from_logits": self.from_logits})
        return config


def make_loss(loss, label_smoothing=0.0):
    """A Keras loss (or dict of them) from a recipe's `loss` field."""
    if isinstance(loss, dict):
        return {k: make_loss(v, label_smoothing) for k, v in loss.items()}
    if loss == "sparse_categorical_crossentropy":
        return SparseCategoricalCrossentropy(label_smoothing)
    if loss == "categorical_crossentropy":
        return keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing)
    try:
        return keras.losses.get(loss)
    except ValueError:
        raise ConfigError(f"Unknown loss {loss!r}.") from None


def make_metrics(metrics):
    if isinstance(metrics, dict):
        return {k: list(v) for k, v in metrics.items()}
    return list(metrics)
