"""Pixels: the package's one scaling per normalisation and its one grey -> RGB.

NumPy only (no Keras, no TensorFlow), so the readers and the synthetic data
use them as freely as the pipeline and the models do.
"""

import numpy as np

from fer_tf.errors import ConfigError

#: name -> (divisor, offset): pixels [0, 255] / divisor + offset. "unit" is
#: [0, 1] (e.g. the CAMnet thesis' rescale 1/255), "symmetric" [-1, 1] (the
#: landmark paper), "none" for models that rescale inside (keras.applications).
NORMALIZATION_SCALES = {"unit": (255.0, 0.0), "symmetric": (127.5, -1.0),
                        "none": (1.0, 0.0)}
NORMALIZATIONS = tuple(NORMALIZATION_SCALES)


def normalization_scale(mode):
    """(divisor, offset) of a pixel normalisation, or a one-line ConfigError."""
    if mode not in NORMALIZATION_SCALES:
        raise ConfigError(f"Unknown normalization {mode!r}; expected one of {NORMALIZATIONS}.")
    return NORMALIZATION_SCALES[mode]


def scale_pixels(images, mode):
    """Pixels in [0, 255] -> the normalisation `mode`: the package's one pixel
    scaling. NumPy input becomes float32; a tensor must already be floating."""
    divisor, offset = normalization_scale(mode)
    if isinstance(images, (np.ndarray, list, tuple)):
        images = np.asarray(images, np.float32)
    # Tensors keep their (floating) dtype: Python scalars do not promote it.
    return images if mode == "none" else images / divisor + offset


def as_rgb(images):
    """Images with one channel (..., H, W, 1) repeated to three; three-channel
    images unchanged: the package's one grey -> RGB for batches and images."""
    images = np.asarray(images)
    return np.repeat(images, 3, axis=-1) if images.shape[-1] == 1 else images
