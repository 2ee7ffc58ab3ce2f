"""Every registered convolutional model names its last spatial feature map the
same way (`fer_tf.models.features`), and the lookup says in one line when a
model has none."""

import keras
import pytest

from fer_tf.errors import ConfigError
from fer_tf.models import registry
from fer_tf.models.features import FEATURE_MAP, feature_map_layer, find_layer, find_layers

#: Registered models without a spatial feature map.
DENSE = ("pathnet",)
CONV_MODELS = [spec.name for spec in registry.list_models() if spec.name not in DENSE]


def _tiny_shape(spec):
    # The smallest input every conv model takes (keras.applications: 32).
    return (32, 32, spec.input_shape[-1])


def _last_spatial_size(model):
    """The spatial size of the last 4-D output the model computes, nested
    models included (what its head pools or flattens)."""
    last = None

    def walk(layer):
        nonlocal last
        for child in getattr(layer, "layers", None) or []:
            if not isinstance(child, keras.layers.InputLayer) and len(child.output.shape) == 4:
                last = tuple(child.output.shape[1:3])
            walk(child)

    walk(model)
    return last


@pytest.mark.parametrize("name", CONV_MODELS)
def test_every_conv_model_names_its_last_feature_map(name):
    spec = registry.get_spec(name)
    model = registry.build_model(name, input_shape=_tiny_shape(spec), num_classes=3)
    networks = list(getattr(model, "members", None) or [model])
    if len(networks) > 1:  # an ensemble: one map per member, explained one at a time
        assert len(find_layers(model, FEATURE_MAP)) == len(networks)
        with pytest.raises(ConfigError, match="one member at a time"):
            feature_map_layer(model)
    for network in networks:
        layer, path = feature_map_layer(network)
        assert layer.name == FEATURE_MAP and path[0] == network.name
        shape = tuple(layer.output.shape)
        assert len(shape) == 4 and min(shape[1:3]) >= 1, shape
        assert shape[1:3] == _last_spatial_size(network), (name, shape)


def test_a_model_without_the_name_says_so_in_one_line():
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(2, 3, name="conv")(inputs)
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x), name="old")
    with pytest.raises(ConfigError, match="saved by an earlier fer_tf") as error:
        feature_map_layer(model)
    assert "\n" not in str(error.value)
    assert find_layer(model, "conv")[0].name == "conv"
    with pytest.raises(ConfigError, match="no layer named 'nothing'"):
        find_layer(model, "nothing")


def test_an_input_named_features_is_not_a_feature_map():
    inputs = keras.Input((4,), name=FEATURE_MAP)
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs), name="head")
    assert find_layers(model, FEATURE_MAP) == []
