"""Colour jitter (brightness, contrast, saturation) applied with a probability.

The EfficientNet-B0 FER paper's Sec. III-C step 5 (Eq. 6): ColorJitter with
brightness = contrast = saturation = 0.2, applied with probability 0.5. Keras'
`RandomColorJitter` shifts brightness additively and has no probability, so
this layer follows the multiplicative definitions the paper's torchvision
transform uses: a factor f ~ U[max(0, 1 - s), 1 + s] per adjustment and image,

    brightness  x' = f x
    contrast    x' = f x + (1 - f) mean(gray(x))
    saturation  x' = f x + (1 - f) gray(x)

each clipped to the value range, in a random order per image, with
gray = 0.2989 R + 0.587 G + 0.114 B. A grayscale face repeated to RGB keeps
its saturation (gray(x) = x), so on FER2013 only brightness and contrast act.
"""

import itertools

import keras
from keras import ops

_GRAY_WEIGHTS = (0.2989, 0.587, 0.114)
_ORDERS = tuple(itertools.permutations(range(3)))


@keras.saving.register_keras_serializable(package="fer_tf")
class ColorJitter(keras.layers.Layer):
    """Random brightness, contrast and saturation, each image with probability `probability`.

    Args:
        brightness: float. strength s of the brightness factor U[1 - s, 1 + s].
        contrast: float. likewise for contrast.
        saturation: float. likewise for saturation.
        probability: float. chance that an image is jittered at all.
        value_range: (low, high). the pixel range, clipped to after each step.
        seed: int or None. seed of the layer's `SeedGenerator`.

    Example:
        >>> jitter = ColorJitter(0.2, 0.2, 0.2, probability=0.5, seed=1)
        >>> jitter(np.full((2, 8, 8, 3), 100.0, "float32"), training=True).shape
        (2, 8, 8, 3)

    Reference:
        EfficientNet-B0 FER paper Sec. III-C, Eq. 6; torchvision ColorJitter.
    """

    def __init__(self, brightness=0.2, contrast=0.2, saturation=0.2, probability=1.0,
                 value_range=(0.0, 255.0), seed=None, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("brightness", brightness), ("contrast", contrast),
                            ("saturation", saturation)):
            if float(value) < 0:
                raise ValueError(f"ColorJitter: {name} must be >= 0, got {value}.")
        if not 0.0 <= float(probability) <= 1.0:
            raise ValueError(f"ColorJitter: probability must be in [0, 1], got {probability}.")
        self.brightness = float(brightness)
        self.contrast = float(contrast)
        self.saturation = float(saturation)
        self.probability = float(probability)
        self.value_range = tuple(float(v) for v in value_range)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _factor(self, strength, shape):
        return keras.random.uniform(shape, minval=max(0.0, 1.0 - strength),
                                    maxval=1.0 + strength, seed=self.seed_generator)

    def _gray(self, images):
        if images.shape[-1] == 1:
            return images
        weights = ops.convert_to_tensor(_GRAY_WEIGHTS, dtype=images.dtype)
        return ops.sum(images * weights, axis=-1, keepdims=True)

    def _adjust(self, which, images, factor):
        low, high = self.value_range
        if which == 0:
            out = images * factor
        elif which == 1:
            mean = ops.mean(self._gray(images), axis=(1, 2, 3), keepdims=True)
            out = factor * images + (1.0 - factor) * mean
        else:
            out = factor * images + (1.0 - factor) * self._gray(images)
        return ops.clip(out, low, high)

    def call(self, inputs, training=None):
        if not training:
            return inputs
        images = ops.cast(inputs, self.compute_dtype)
        unbatched = len(images.shape) == 3
        if unbatched:
            images = ops.expand_dims(images, 0)
        batch = ops.shape(images)[0]
        shape = (batch, 1, 1, 1)
        factors = [self._factor(s, shape) for s in
                   (self.brightness, self.contrast, self.saturation)]
        # torchvision draws the order of the three adjustments per call; here per image.
        order = keras.random.randint((batch,), 0, len(_ORDERS), seed=self.seed_generator)
        which = ops.take(ops.convert_to_tensor(_ORDERS, dtype="int32"), order, axis=0)
        jittered = images
        for slot in range(3):
            step_kind = ops.reshape(which[:, slot], shape)
            candidates = [self._adjust(k, jittered, factors[k]) for k in range(3)]
            jittered = ops.where(ops.equal(step_kind, 0), candidates[0],
                                 ops.where(ops.equal(step_kind, 1), candidates[1],
                                           candidates[2]))
        apply = keras.random.uniform(shape, seed=self.seed_generator) < self.probability
        out = ops.where(apply, jittered, images)
        return ops.squeeze(out, 0) if unbatched else out

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"brightness": self.brightness, "contrast": self.contrast,
                       "saturation": self.saturation, "probability": self.probability,
                       "value_range": list(self.value_range), "seed": self.seed})
        return config
