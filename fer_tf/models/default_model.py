"""The package's default expression model: a compact VGG-style CNN for 48x48
grayscale faces, trained on real faces (FER2013) by `DEFAULT_MODEL_RECIPE`.

It is not from one of the four papers. It is what `fer-tf predict` and
`fer_tf.serving.predict.load_classifier()` use when no model is named, chosen to
train on 2 CPU cores within about two hours:

- four stages of two 3x3 convolutions (16, 32, 96, 192 filters), each
  followed by batch norm and ReLU, with 2x2 max-pooling between stages
  (48 -> 24 -> 12 -> 6), then global average pooling, dropout and a dense
  softmax (float32, so mixed precision never yields float16 probabilities);
- about 0.63 M parameters (2.5 MB of float32 weights) and 47 M multiply-adds
  per face. Widths are narrow where the image is large and wide where it is
  small: on this machine the cost of a stage follows H x W x filters^2.

The recipe: AdamW (1e-3, weight decay 1e-4) with a cosine schedule and one
warm-up epoch, label smoothing 0.1, batches of 128, one random affine per face
(flip, rotation +-10 degrees, shift 10%, zoom 10%; the landmark-aware
augmentation, which needs no landmarks), pixels scaled to [0, 1]. The best
epoch on PublicTest is kept; PrivateTest is reported (the split FER2013's
readers call "test").
"""

import keras

from fer_tf.models.features import FEATURE_MAP
from fer_tf.models.registry import register_model
from fer_tf.training.recipes import OptimizerConfig, Recipe, TransformConfig

#: Architecture of the default model.
DEFAULT_MODEL = {"filters": (16, 32, 96, 192), "convs_per_stage": 2, "dropout": 0.4,
                 "bn_momentum": 0.99}

#: Its training, as one recipe; `fer-tf train vgg_lite --dataset fer2013
#: --data-dir DIR --out RUN` uses it (see the model card).
DEFAULT_MODEL_RECIPE = Recipe(
    name="vgg_lite_fer2013", paper="default", epochs=40, batch_size=128,
    optimizer=OptimizerConfig("adamw", 1e-3, weight_decay=1e-4, schedule="cosine",
                              schedule_kwargs={"alpha": 0.0, "warmup_epochs": 1}),
    label_smoothing=0.1, monitor="val_accuracy", mode="max",
    train_transform=TransformConfig(
        augmentation="landmark",
        augmentation_kwargs={"rotation": 10.0, "translation": 0.1, "zoom": 0.1,
                             "shear": 0.0, "horizontal_flip": True}),
    normalization="unit")


@register_model("vgg_lite", paper="default", input_shape=(48, 48, 1), num_classes=7,
                recipe=DEFAULT_MODEL_RECIPE,
                description="default model: 8-conv VGG-style CNN for 48x48 grayscale faces")
def vgg_lite(input_shape=(48, 48, 1), num_classes=7, filters=DEFAULT_MODEL["filters"],
             convs_per_stage=DEFAULT_MODEL["convs_per_stage"],
             dropout=DEFAULT_MODEL["dropout"], bn_momentum=DEFAULT_MODEL["bn_momentum"]):
    """Builds the default model; its last ReLU is the feature map
    (`fer_tf.models.features.FEATURE_MAP`, "features") and `predictions`
    is the softmax."""
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    for stage, width in enumerate(filters, start=1):
        for j in range(1, convs_per_stage + 1):
            x = keras.layers.Conv2D(width, 3, padding="same", use_bias=False,
                                    name=f"block{stage}_conv{j}")(x)
            x = keras.layers.BatchNormalization(momentum=bn_momentum,
                                                name=f"block{stage}_bn{j}")(x)
            name = FEATURE_MAP if (stage == len(filters) and j == convs_per_stage) else None
            x = keras.layers.ReLU(name=name or f"block{stage}_relu{j}")(x)
        if stage < len(filters):
            x = keras.layers.MaxPooling2D(2, name=f"block{stage}_pool")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", dtype="float32",
                                 name="predictions")(x)
    return keras.Model(inputs, outputs, name="vgg_lite")
