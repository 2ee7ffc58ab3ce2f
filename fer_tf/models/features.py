"""The one way every model exposes its feature map.

Every convolutional model of the package names its last spatial feature map
(B, h, w, C), the one its head pools or flattens, ``FEATURE_MAP`` at build
time; Grad-CAM (`fer_tf.evaluation.gradcam`) and anything that wants the
features of a model take that layer, through nested models and a
`LandmarkPartEnsemble`'s members:

- `vgg_lite` (the default model): its last ReLU;
- the ResNet trunk (CAMnet34 and the thesis' zoo): the nested model of stem
  and stages;
- ``keras.applications`` classifiers (`fer_tf.models.backbones`, EfficientNet
  included): the backbone sub-model;
- the CAMnet thesis' baseline CNN: the last batch norm, before the flatten;
- the landmark sub-network: the last max-pooling of its "extractor", before
  the global average pooling.

A model saved by an earlier fer_tf, whose config predates the convention,
has no such layer (except `vgg_lite` and the ResNet trunk, which already
used the name): `feature_map_layer` says so in one line.
"""

import keras

from fer_tf.errors import ConfigError

#: The name of every model's last spatial feature map.
FEATURE_MAP = "features"


def _children(layer):
    if isinstance(layer, keras.Model) and getattr(layer, "members", None):
        return list(layer.members)
    return list(getattr(layer, "layers", None) or [])


def find_layers(model, name):
    """Every layer named `name` in `model`, nested models and ensemble members
    included, in execution order; inputs are never matched.

    Returns [(layer, path)], path the names of the models enclosing the layer,
    outermost (`model` itself) first.
    """
    found = []

    def walk(layer, path):
        for child in _children(layer):
            if child.name == name and not isinstance(child, keras.layers.InputLayer):
                found.append((child, path))
            walk(child, path + (child.name,))

    walk(model, (model.name,))
    return found


def find_layer(model, name):
    """The one layer named `name` in `model` (see `find_layers`): (layer, path).

    Raises ConfigError when there is none or more than one.
    """
    found = find_layers(model, name)
    if not found:
        raise ConfigError(f"Model {model.name!r} has no layer named {name!r}.")
    if len(found) > 1:
        paths = ", ".join("/".join(path[1:] + (layer.name,)) for layer, path in found)
        raise ConfigError(f"Model {model.name!r} has {len(found)} layers named {name!r} "
                          f"({paths}); pass one member or the layer itself.")
    return found[0]


def feature_map_layer(model):
    """The layer whose output is `model`'s feature map (`FEATURE_MAP`).

    Returns (layer, path): the layer and the names of the models enclosing
    it, outermost first. Raises ConfigError when `model` has none (a file
    saved by an earlier fer_tf, or a dense model) or several (an ensemble:
    take one member at a time).
    """
    found = find_layers(model, FEATURE_MAP)
    if not found:
        raise ConfigError(
            f"Model {model.name!r} has no feature-map layer named {FEATURE_MAP!r}: it is not "
            "a convolutional fer_tf model, or it was saved by an earlier fer_tf; retrain it "
            "(or rebuild it with this fer_tf and load its weights) to name its feature map.")
    if len(found) > 1:
        paths = ", ".join("/".join(path[1:] + (layer.name,)) for layer, path in found)
        raise ConfigError(f"Model {model.name!r} has {len(found)} feature maps ({paths}); "
                          "take one member at a time.")
    return found[0]
