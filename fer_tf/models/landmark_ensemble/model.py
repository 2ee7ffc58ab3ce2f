"""Feature extractor, heads, sub-networks and the ensemble of Wadhawan &
Gandhi, "Landmark-Aware and Part-Based Ensemble Transfer Learning Network for
Static Facial Expression Recognition from Images" (IEEE TAI 2022).

A sub-network is the CNN feature extractor with a landmark localisation head
("landmarks", 2k coordinates in [0, 1]) and an expression classification head
("labels", C softmax probabilities); its parts are the nested models
"extractor", "landmark_head" and "expression_head", so the three training
stages of Sec. III-D2 freeze and swap them by name. The extractor's last
max-pooling, before its global average pooling, is the sub-network's feature
map (`fer_tf.models.features.FEATURE_MAP`, what Grad-CAM explains); the
heads' input is the pooled vector "feature_vector". An ensemble member is the
extractor with the expression head (329,367 parameters for 7 classes, 329,496
for 8: the paper's 0.33M); `LandmarkPartEnsemble` sums the members' softmax
outputs (Eq. 4).

Reproduction notes: the hidden dense layers of both heads have no activation,
as in the authors' notebook (the paper names none); a Baseline member has no
landmark head because Baseline is trained directly (Sec. III-D1).
"""

import keras
from keras import ops

from fer_tf.data import ibug68
from fer_tf.errors import ConfigError
from fer_tf.models.landmark_ensemble.presets import (EXTRACTOR, HEADS, INPUT_SHAPE, NETWORKS,
                                                   three_stage_recipe)
from fer_tf.models.features import FEATURE_MAP
from fer_tf.models.registry import register_model

FEATURES = EXTRACTOR["filters"][-1]


def feature_extractor(input_shape=INPUT_SHAPE, name="extractor"):
    """Sec. III-C1 CNN feature extractor: image (H, W, 3) -> 128-D feature;
    the last block's pooled map is the feature map (`FEATURE_MAP`)."""
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = inputs
    blocks = len(EXTRACTOR["filters"])
    for block, filters in enumerate(EXTRACTOR["filters"], start=1):
        for j in range(1, EXTRACTOR["convs_per_block"] + 1):
            x = keras.layers.Conv2D(filters, EXTRACTOR["kernel_size"], padding="same",
                                    kernel_initializer=EXTRACTOR["kernel_initializer"],
                                    name=f"block{block}_conv{j}")(x)
            x = keras.layers.BatchNormalization(name=f"block{block}_bn{j}")(x)
            x = keras.layers.ReLU(name=f"block{block}_relu{j}")(x)
        pool = FEATURE_MAP if block == blocks else f"block{block}_pool"
        x = keras.layers.MaxPooling2D(EXTRACTOR["pool_size"], strides=EXTRACTOR["pool_stride"],
                                      padding="same", name=pool)(x)
    features = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inputs, features, name=name)


def _dense_stack(x, hidden_layers):
    for j in range(1, hidden_layers + 1):
        x = keras.layers.Dense(HEADS["units"], activation=HEADS["hidden_activation"],
                               kernel_initializer=HEADS["kernel_initializer"],
                               name=f"dense{j}")(x)
    return x


def landmark_head(num_points, name="landmark_head"):
    """Sec. III-C1 landmark localisation head: 128-D -> Dense 128 -> 2k
    coordinates (x0, y0, x1, y1, ...) divided by the crop size."""
    inputs = keras.Input(shape=(FEATURES,), name="feature_vector")
    x = _dense_stack(inputs, HEADS["landmark_hidden_layers"])
    outputs = keras.layers.Dense(2 * int(num_points), dtype="float32",
                                 kernel_initializer=HEADS["kernel_initializer"],
                                 name="coordinates")(x)
    return keras.Model(inputs, outputs, name=name)


def expression_head(num_classes, name="expression_head"):
    """Sec. III-C1 expression head: 128-D -> Dense 128 -> Dense 128 -> C
    softmax (Eq. 3), in float32 so mixed precision never yields float16
    probabilities."""
    inputs = keras.Input(shape=(FEATURES,), name="feature_vector")
    x = _dense_stack(inputs, HEADS["expression_hidden_layers"])
    outputs = keras.layers.Dense(int(num_classes), activation="softmax", dtype="float32",
                                 kernel_initializer=HEADS["kernel_initializer"],
                                 name="probabilities")(x)
    return keras.Model(inputs, outputs, name=name)


def num_part_points(part):
    """Landmarks k regressed by a sub-network pre-trained on `part` ("all",
    a name of fer_tf.data.ibug68.PARTS); the head has 2k outputs (Eq. 1's z)."""
    return int(ibug68.part_indices(part).size)


def landmark_subnetwork(num_classes=7, part="all", input_shape=INPUT_SHAPE, name=None):
    """One sub-network (Fig. 6): image -> {"landmarks": (2k,), "labels": (C,)}.

    `part` selects the landmark subset ("all" for FTL, a part name for EL);
    None builds a Baseline sub-network with the "labels" output only.
    """
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    features = feature_extractor(input_shape)(inputs)
    outputs = {}
    if part is not None:
        outputs["landmarks"] = landmark_head(num_part_points(part))(features)
    outputs["labels"] = expression_head(num_classes)(features)
    return keras.Model(inputs, outputs, name=name or f"subnet_{part or 'baseline'}")


def _view(subnet, head, name):
    inputs = keras.Input(shape=subnet.input.shape[1:], name="image")
    outputs = subnet.get_layer(head)(subnet.get_layer("extractor")(inputs))
    return keras.Model(inputs, outputs, name=name)


def expression_network(subnet, name=None):
    """The sub-network's image -> expression probabilities model (shared
    weights): the ensemble member of Sec. III-C2 and Eq. 4."""
    return _view(subnet, "expression_head", name or f"{subnet.name}_labels")


def landmark_network(subnet, name=None):
    """The sub-network's image -> landmarks model (shared weights): stage 1 of
    Sec. III-D2, and the localisation check of Sec. V-B."""
    if "landmarks" not in subnet.output:
        raise ConfigError(f"sub-network {subnet.name!r} has no landmark head (Baseline)")
    return _view(subnet, "landmark_head", name or f"{subnet.name}_landmarks")


@keras.saving.register_keras_serializable(package="fer_tf")
class LandmarkPartEnsemble(keras.Model):
    """An ensemble of expression networks combined by summed softmax (Eq. 4).

    Every member maps the same image to C softmax probabilities (Eq. 3).
    `call` returns {"probabilities": (B, C), "members": (B, M, C)}: the
    members' expression-wise sum divided by M, so it stays a distribution
    whose argmax is Eq. 4's prediction, and each member's probabilities.

    Args:
        members: list of keras.Model. Image -> (C,) softmax models, e.g.
            `expression_network(landmark_subnetwork(...))`.

    Example:
    >>> ensemble = el_ensemble(num_classes=7, input_shape=(32, 32, 3))
    >>> out = ensemble(np.zeros((2, 32, 32, 3), "float32"))
    >>> out["probabilities"].shape, out["members"].shape
    ((2, 7), (2, 5, 7))

    Reference:
        Wadhawan & Gandhi, Landmark-Aware and Part-Based Ensemble Transfer
        Learning Network for Static Facial Expression Recognition from
        Images, IEEE TAI 2022, Sec. III-C2 and Eq. 4.
    """

    def __init__(self, members, **kwargs):
        super().__init__(**kwargs)
        if not members:
            raise ConfigError("LandmarkPartEnsemble needs at least one member network")
        self.members = list(members)

    def build(self, input_shape):
        for member in self.members:
            if not member.built:
                member.build(input_shape)
        self.built = True

    def call(self, images, training=None):
        probabilities = ops.stack([m(images, training=training) for m in self.members], axis=1)
        return {"probabilities": ops.mean(probabilities, axis=1), "members": probabilities}

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable,
                "members": [keras.saving.serialize_keras_object(m) for m in self.members]}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        members = [keras.saving.deserialize_keras_object(m) for m in config.pop("members")]
        return cls(members, **config)


def network_subnetworks(network, num_classes=7, input_shape=INPUT_SHAPE):
    """The five two-output sub-networks of "baseline", "ftl" or "el"
    (Sec. III-C2), named member_0..4 or after their part."""
    if network not in NETWORKS:
        raise ConfigError(f"Unknown network {network!r}; expected one of {tuple(NETWORKS)}")
    parts = NETWORKS[network]
    names = parts if network == "el" else [f"member_{i}" for i in range(len(parts))]
    return [landmark_subnetwork(num_classes, part, input_shape, name=f"{network}_{n}")
            for part, n in zip(parts, names)]


def ensemble_of(subnets, name="landmark_ensemble"):
    """A built LandmarkPartEnsemble over the expression networks of `subnets`."""
    ensemble = LandmarkPartEnsemble([expression_network(s, name=s.name) for s in subnets],
                                    name=name)
    ensemble.build((None,) + tuple(subnets[0].input.shape[1:]))
    return ensemble


def baseline_ensemble(num_classes=7, input_shape=INPUT_SHAPE):
    """Baseline: five randomly initialised classifiers (Sec. III-C2)."""
    return ensemble_of(network_subnetworks("baseline", num_classes, input_shape),
                       name="baseline_ensemble")


def ftl_ensemble(num_classes=7, input_shape=INPUT_SHAPE):
    """FTL: five networks pre-trained on all 68 points (Sec. III-C2)."""
    return ensemble_of(network_subnetworks("ftl", num_classes, input_shape),
                       name="ftl_ensemble")


def el_ensemble(num_classes=7, input_shape=INPUT_SHAPE):
    """EL: the five part networks, eyebrows, eyes, nose, mouth, jaw (Sec. III-C2)."""
    return ensemble_of(network_subnetworks("el", num_classes, input_shape),
                       name="el_ensemble")


@register_model("landmark_ensemble", paper="landmark", input_shape=INPUT_SHAPE,
                num_classes=7, normalization="symmetric", trainable_by_cli=False,
                description="Wadhawan & Gandhi 2022 Sec. III-C: five 0.33M-parameter "
                "part sub-networks, summed softmax (Eq. 4)")
def landmark_ensemble(input_shape=INPUT_SHAPE, num_classes=7, network="el"):
    """The registered ensemble: `network` "el" (default), "ftl" or "baseline"."""
    return ensemble_of(network_subnetworks(network, num_classes, input_shape),
                       name=f"{network}_ensemble")


@register_model("landmark_subnet", paper="landmark", input_shape=INPUT_SHAPE,
                num_classes=7, normalization="symmetric", recipe=three_stage_recipe(),
                description="Wadhawan & Gandhi 2022 Fig. 6: extractor + landmark head "
                "+ expression head, outputs landmarks and labels")
def landmark_subnet(input_shape=INPUT_SHAPE, num_classes=7, part="all"):
    """The registered sub-network; `part` picks the landmark subset."""
    return landmark_subnetwork(num_classes, part, input_shape)
