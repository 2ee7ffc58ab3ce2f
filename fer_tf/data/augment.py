"""TensorFlow-free pieces of the input pipeline: the
flip/rotate/shift/zoom stack and the pixel scalings.

They are Keras layers and NumPy, so a model can carry them and train under
the JAX backend on a machine without TensorFlow; `fer_tf.data.pipeline`
(tf.data) uses the very same objects.
"""


import keras

from fer_tf.data.pixels import (NORMALIZATION_SCALES, NORMALIZATIONS,  # noqa: F401
                               as_rgb, normalization_scale, scale_pixels)
from fer_tf.data.seeds import derive_seed
from fer_tf.errors import ConfigError


def normalization_layer(mode, name="normalization"):
    """The normalisation as a Keras `Rescaling` layer (inside a model)."""
    divisor, offset = normalization_scale(mode)
    return keras.layers.Rescaling(1.0 / divisor, offset, name=name)


def default_augmentation(rotation_degrees=10.0, shift=0.1, zoom=0.1, flip=True, seed=None):
    """Flip, rotation, translation and zoom as one Keras `Sequential` of core
    layers, each with its own seed derived from `seed`."""
    layers = []
    if flip:
        layers.append(keras.layers.RandomFlip("horizontal", seed=derive_seed(seed, "flip")))
    if rotation_degrees:
        layers.append(keras.layers.RandomRotation(rotation_degrees / 360.0,
                                                  fill_mode="nearest",
                                                  seed=derive_seed(seed, "rotation")))
    if shift:
        layers.append(keras.layers.RandomTranslation(shift, shift, fill_mode="nearest",
                                                     seed=derive_seed(seed, "translation")))
    if zoom:
        layers.append(keras.layers.RandomZoom(zoom, fill_mode="nearest",
                                              seed=derive_seed(seed, "zoom")))
    return keras.Sequential(layers, name="augmentation")


#: Named augmentations a recipe's TransformConfig can ask for:
#: name -> factory(seed=..., **augmentation_kwargs) -> Keras layer. The
#: layers and papers add theirs with `register_augmentation` when `import
#: fer_tf` loads them ("landmark": fer_tf.layers.landmark_augment); this
#: module needs no TensorFlow, so they register under JAX alone too.
AUGMENTATIONS = {"default": default_augmentation}


def register_augmentation(name, factory):
    """Adds a named augmentation (a paper's stack) for recipes to use."""
    AUGMENTATIONS[name] = factory


def make_augmentation(transform, seed=0):
    """The augmentation layer a TransformConfig names, or None."""
    if transform is None or not transform.augmentation:
        return None
    if transform.augmentation not in AUGMENTATIONS:
        raise ConfigError(f"Unknown augmentation {transform.augmentation!r}; expected one of "
                          f"{', '.join(sorted(AUGMENTATIONS))}.")
    return AUGMENTATIONS[transform.augmentation](seed=seed, **transform.augmentation_kwargs)
