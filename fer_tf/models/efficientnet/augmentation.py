"""The Sec. III-C training augmentation of the EfficientNet-B0 FER paper as Keras layers.

Eq. 2-8 in the paper's order. Steps 1-2 (gray -> RGB, resize 256 + random
crop 224) are the input pipeline's geometry (`presets.transforms`, the
pipeline's channels -> resize -> crop); this stack is what follows, in pixel
units [0, 255]:

    RandomFlip (p = 0.5) -> RandomRotation (+-15 deg) -> ColorJitter
    (0.2 / 0.2 / 0.2, p = 0.5) -> RandomErasing (p = 0.25, area 0.02-0.1)

Normalisation (Eq. 7) is not here: Keras' EfficientNetB0 starts with
Rescaling(1/255) and a Normalization layer holding the ImageNet mean and
variance, so it computes (x / 255 - mu) / sigma itself from [0, 255] pixels
(with `weights="random"` that layer is not adapted and only rescales to
[0, 1]). Erasing is applied before it with the mean colour, which the
normalisation maps to the paper's 0 (`fer_tf.layers.random_erasing`).
Rotation fills with black and samples the nearest pixel, torchvision's
RandomRotation defaults.

Registered with the pipeline as "efficientnet", so a recipe's
TransformConfig(augmentation="efficientnet") asks for it.
"""

import keras

from fer_tf.data.seeds import derive_seed
from fer_tf.layers.color_jitter import ColorJitter
from fer_tf.layers.random_erasing import RandomErasing
from fer_tf.models.efficientnet.presets import AUGMENTATION, IMAGENET_MEAN


def efficientnet_augmentation(seed=None, flip_probability=AUGMENTATION["flip_probability"],
                              rotation_degrees=AUGMENTATION["rotation_degrees"],
                              jitter_probability=AUGMENTATION["jitter_probability"],
                              brightness=AUGMENTATION["brightness"],
                              contrast=AUGMENTATION["contrast"],
                              saturation=AUGMENTATION["saturation"],
                              erasing_probability=AUGMENTATION["erasing_probability"],
                              erasing_scale=AUGMENTATION["erasing_scale"],
                              erasing_ratio=AUGMENTATION["erasing_ratio"], channels=3):
    """Sec. III-C steps 3-7 as one `keras.Sequential`, each random layer with
    its own seed derived from `seed` (None: unseeded, for the JAX path)."""
    if flip_probability not in (0.0, 0.5):
        raise ValueError("keras.layers.RandomFlip flips with probability 0.5; "
                         f"flip_probability must be 0 or 0.5, got {flip_probability}.")
    layers = []
    if flip_probability:
        layers.append(keras.layers.RandomFlip("horizontal", seed=derive_seed(seed, "flip")))
    if rotation_degrees:
        layers.append(keras.layers.RandomRotation(
            rotation_degrees / 360.0, fill_mode="constant", fill_value=0.0,
            interpolation="nearest", seed=derive_seed(seed, "rotation")))
    if jitter_probability:
        layers.append(ColorJitter(brightness, contrast, saturation,
                                  probability=jitter_probability, seed=derive_seed(seed, "jitter")))
    if erasing_probability:
        mean = [255.0 * m for m in IMAGENET_MEAN]
        fill = mean if channels == 3 else [sum(mean) / 3.0]
        layers.append(RandomErasing(erasing_probability, erasing_scale, erasing_ratio,
                                    fill_value=fill, seed=derive_seed(seed, "erasing")))
    return keras.Sequential(layers, name="efficientnet_augmentation")
