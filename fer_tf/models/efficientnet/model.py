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
"""

from fer_tf.models.backbones import build_classifier
from fer_tf.models.efficientnet.augmentation import efficientnet_augmentation
from fer_tf.models.efficientnet.presets import TABLE_I, TABLE_I_RECIPE
from fer_tf.models.registry import register_model

try:
    from fer_tf.data.pipeline import register_augmentation
except ImportError:  # JAX-only install: no tf.data pipeline to register with
    register_augmentation = None

if register_augmentation is not None:
    register_augmentation("efficientnet", efficientnet_augmentation)

_SIZE = TABLE_I["image_size"]


@register_model("efficientnet_b0", paper="efficientnet", input_shape=(_SIZE, _SIZE, 3),
                num_classes=7, normalization="none", recipe=TABLE_I_RECIPE,
                description="EfficientNet-B0 FER paper: ImageNet EfficientNet-B0 + "
                            "Linear(1280 -> 7), Table I recipe")
def efficientnet_b0(input_shape=(_SIZE, _SIZE, 3), num_classes=7, weights="random",
                    dropout=0.0, offline=None):
    """Builds the Eq. 9 classifier: [0, 255] pixels -> EfficientNet-B0 ->
    pool -> Linear(1280 -> num_classes) softmax; layers named as in
    `fer_tf.models.backbones.build_classifier` ("backbone", "predictions")."""
    return build_classifier("efficientnet_b0", num_classes, input_shape, weights=weights,
                            dropout=dropout, offline=offline)
