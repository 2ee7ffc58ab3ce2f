"""The baseline CNN of the CAMnet thesis (Sec. 4.1).

48x48x1 input; conv 5x5x64 twice; batch norm; max-pool; conv 5x5x128 twice;
batch norm; max-pool; conv 3x3x256 twice; batch norm; flatten; dropout 0.2;
dense 7 softmax; Adam with categorical cross-entropy. The thesis reports 64.47%
validation accuracy on FER2013.

Reproduction notes: the thesis says every convolution uses ReLU and "the same
... padding", read here as "same" padding; it names the pool size (2x2) only
for the second pool, and both pools use it. It gives no learning rate or
batch-norm momentum: Adam at 3e-4 (Keras' 1e-3 diverged to chance on
held-out subjects of the embedded data) and momentum 0.9, so the moving
statistics settle within the few hundred steps a small dataset gives
(with Keras' 0.99 the model reached 96% training but chance held-out
accuracy after 130 steps). The softmax runs in float32 so mixed precision
never produces float16 probabilities.
"""

import keras

from fer_tf.models.camnet.presets import BASELINE_CNN_RECIPE
from fer_tf.models.features import FEATURE_MAP
from fer_tf.models.registry import register_model

#: Sec. 4.1 architecture (its training is `BASELINE_CNN_RECIPE`).
BASELINE_CNN = {"filters": (64, 128, 256), "kernels": (5, 5, 3), "dropout": 0.2,
                "bn_momentum": 0.9}


@register_model("baseline_cnn", paper="camnet", input_shape=(48, 48, 1), num_classes=7,
                recipe=BASELINE_CNN_RECIPE,
                description="CAMnet thesis Sec. 4.1 baseline: 3 conv pairs + BN, dense softmax")
def baseline_cnn(input_shape=(48, 48, 1), num_classes=7, dropout=BASELINE_CNN["dropout"],
                 bn_momentum=BASELINE_CNN["bn_momentum"]):
    """Builds the baseline CNN; the last batch norm, before the flatten, is
    the feature map (`fer_tf.models.features.FEATURE_MAP`, "features") that
    Grad-CAM explains, and `predictions` is the softmax."""
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    filters, kernels = BASELINE_CNN["filters"], BASELINE_CNN["kernels"]
    for stage, (f, k) in enumerate(zip(filters, kernels), start=1):
        for j in (1, 2):
            x = keras.layers.Conv2D(f, k, padding="same", activation="relu",
                                    name=f"block{stage}_conv{j}")(x)
        last = stage == len(filters)
        x = keras.layers.BatchNormalization(momentum=bn_momentum,
                                            name=FEATURE_MAP if last else f"block{stage}_bn")(x)
        if not last:
            x = keras.layers.MaxPooling2D(2, name=f"block{stage}_pool")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", dtype="float32",
                                 name="predictions")(x)
    return keras.Model(inputs, outputs, name="baseline_cnn")
