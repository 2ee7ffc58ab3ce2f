"""A registry of every model with its paper and default configuration.

A variant is a registered factory; `fer-tf models` lists them with their true
parameter counts. Model modules register themselves on import, and
`_MODEL_MODULES` names the modules the registry imports on first use.
"""

import dataclasses
import importlib
from typing import Callable

from fer_tf.errors import ConfigError

_REGISTRY = {}
_MODEL_MODULES = ("fer_tf.models.baseline_cnn", "fer_tf.models.default_model",
                  "fer_tf.models.pathnet.model",
                  "fer_tf.models.landmark_ensemble.model",
                  "fer_tf.models.efficientnet.model",
                  "fer_tf.models.camnet.model", "fer_tf.models.camnet.zoo")


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """What the registry knows about one model.

    Args:
        name: registry name.
        paper: which paper it reproduces ("camnet", "pathnet", ...).
        builder: callable(input_shape, num_classes, **kwargs) -> keras.Model.
        input_shape: default input shape (H, W, C) or (D,).
        num_classes: default number of classes.
        normalization: pixel scaling the model expects ("unit", "symmetric", "none").
        description: one line.
        trainable_by_cli: whether `fer-tf train` can fit it with the standard loop.
        recipe: its paper's training `Recipe` (None: `Recipe()` defaults).
    """

    name: str
    paper: str
    builder: Callable
    input_shape: tuple
    num_classes: int
    normalization: str = "unit"
    description: str = ""
    trainable_by_cli: bool = True
    recipe: object = None

    def default_recipe(self):
        """The model's recipe, with its normalisation."""
        from fer_tf.training.recipes import Recipe

        recipe = self.recipe or Recipe(name=f"{self.name}_default", paper=self.paper)
        return recipe.replace(normalization=self.normalization)


def register_model(name, paper, input_shape, num_classes, normalization="unit",
                   description="", trainable_by_cli=True, recipe=None):
    """Decorator registering a builder under `name` with its paper's recipe."""

    def wrap(builder):
        _REGISTRY[name] = ModelSpec(name, paper, builder, tuple(input_shape), num_classes,
                                    normalization, description, trainable_by_cli, recipe)
        return builder

    return wrap


def load_all():
    """Imports every model module, registering its builders and classes. On a
    machine without TensorFlow (JAX only), a module that needs it is skipped:
    its models cannot be built there anyway."""
    for module in _MODEL_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name != "tensorflow":
                raise


def list_models():
    load_all()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def get_spec(name):
    load_all()
    if name not in _REGISTRY:
        raise ConfigError(f"Unknown model {name!r}; registered models: "
                          f"{', '.join(sorted(_REGISTRY))}.")
    return _REGISTRY[name]


def build_model(name, input_shape=None, num_classes=None, **kwargs):
    """Builds a registered model with its defaults unless overridden."""
    spec = get_spec(name)
    return spec.builder(input_shape=tuple(input_shape or spec.input_shape),
                        num_classes=num_classes or spec.num_classes, **kwargs)


def describe(spec):
    """JSON-ready description of a model, with its true parameter count."""
    model = build_model(spec.name)
    return {"name": spec.name, "paper": spec.paper, "input_shape": list(spec.input_shape),
            "num_classes": spec.num_classes, "params": int(model.count_params()),
            "normalization": spec.normalization, "description": spec.description}
