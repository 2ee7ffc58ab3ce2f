"""EfficientNet-B0 with a Linear(1280 -> 7) head: the EfficientNet-B0 FER paper's model.

Eq. 1 and 9 (Sec. III-B, III-D): ImageNet-pretrained EfficientNet-B0
(`keras.applications.EfficientNetB0` through `fer_tf.models.backbones`),
global average pooling to the 1280 features h, and one linear layer to the
7 classes (its softmax in float32, so mixed precision never yields float16
probabilities). The whole network is fine-tuned. Inputs are pixels in
[0, 255]: the backbone rescales and normalises inside (see
`fer_tf.models.efficientnet.augmentation` for how Eq. 7 maps onto it).

Weights: `weights="imagenet"` (what the recipe asks for) looks in the Keras
cache (~/.keras/models/efficientnetb0_notop.h5, or $KERAS_HOME/models) and
otherwise fetches it unless offline; with neither, one line names the file,
the folder and the URL. `"random"` (or "none") trains from scratch; a path
loads that file. The builder's own default is "random" so that listing and
counting models never needs the file.

Reproduction note: torchvision's EfficientNet-B0 classifier is Dropout(0.2)
+ Linear; the paper replaces the classifier by Eq. 9's linear layer alone,
so the head has no dropout (`dropout=` changes it).

Training from random weights (`zero_init=True`, what the synthetic CPU budget
uses): the last batch norm of every residual MBConv branch starts with
gamma = 0 (Goyal et al. 2017, "zero-gamma"; timm's `zero_init_last`), so each
residual block starts as the identity and the untrained network is as shallow
as its 7 stage-opening blocks; and the Eq. 9 head starts at zero, so the first
predictions are uniform. With Keras' default initialisation, EfficientNet-B0
trained from scratch on the embedded faces under the Sec. III-C augmentation
stayed at chance training accuracy for 20 epochs (loss at ln 7, the uniform
prediction); with zero-init it fitted from epoch 7. Neither changes the
architecture or what the layers compute, only where training starts.
"""

import numpy as np

from fer_tf.data.augment import register_augmentation
from fer_tf.errors import ConfigError
from fer_tf.models.backbones import build_classifier, is_random_weights
from fer_tf.models.efficientnet.augmentation import efficientnet_augmentation
from fer_tf.models.efficientnet.presets import TABLE_I, TABLE_I_RECIPE
from fer_tf.models.features import FEATURE_MAP
from fer_tf.models.registry import register_model


register_augmentation("efficientnet", efficientnet_augmentation)

_SIZE = TABLE_I["image_size"]


@register_model("efficientnet_b0", paper="efficientnet", input_shape=(_SIZE, _SIZE, 3),
                num_classes=7, normalization="none", recipe=TABLE_I_RECIPE,
                description="EfficientNet-B0 FER paper: ImageNet EfficientNet-B0 + "
                            "Linear(1280 -> 7), Table I recipe")
def efficientnet_b0(input_shape=(_SIZE, _SIZE, 3), num_classes=7, weights="random",
                    dropout=0.0, offline=None, zero_init=False):
    """Builds the Eq. 9 classifier: [0, 255] pixels -> EfficientNet-B0 ->
    pool -> Linear(1280 -> num_classes) softmax; layers named as in
    `fer_tf.models.backbones.build_classifier` ("features", the backbone
    whose output is the feature map, and "predictions").

    `zero_init`: start the residual branches and the head at zero (see the
    module docstring); only with random weights, whose residual branches it
    would otherwise not erase."""
    if zero_init and not is_random_weights(weights):
        raise ConfigError(f"zero_init starts EfficientNet-B0 from zeroed residual branches "
                          f"and is for weights='random'; weights={weights!r} would lose "
                          "their pretrained residual branches.")
    model = build_classifier("efficientnet_b0", num_classes, input_shape, weights=weights,
                             dropout=dropout, offline=offline, zero_head=bool(zero_init))
    if zero_init:
        zero_init_residual_branches(model.get_layer(FEATURE_MAP))
    return model


def zero_init_residual_branches(backbone):
    """Sets gamma = 0 in the last batch norm of every residual MBConv block
    of a Keras EfficientNet (`blockNx_project_bn` where `blockNx_add` exists),
    so that each such block starts as the identity; returns their names."""
    names = {layer.name for layer in backbone.layers}
    zeroed = []
    for layer in backbone.layers:
        block = layer.name.removesuffix("_project_bn")
        if block != layer.name and f"{block}_add" in names:
            layer.gamma.assign(np.zeros(layer.gamma.shape, layer.gamma.dtype))
            zeroed.append(layer.name)
    if not zeroed:
        raise ConfigError(f"{backbone.name} has no residual MBConv block "
                          "(blockNx_project_bn + blockNx_add) to zero-initialise.")
    return zeroed
