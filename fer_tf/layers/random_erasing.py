"""Random erasing (Zhong et al. 2020) with an area scale and an aspect-ratio range.

The EfficientNet-B0 FER paper's Sec. III-C step 7 (Eq. 8): with probability
p = 0.25 a rectangle covering a fraction a ~ U(0.02, 0.1) of the image, of
aspect ratio r with log r ~ U(log 0.3, log 3.3), at a uniform position, is
filled with a constant. Keras' `RandomErasing` draws its probability from
[0, factor] and reads `scale` per side, so it cannot state this recipe.

The rectangle is h = round(sqrt(a r) H) by w = round(sqrt(a / r) W); a draw
that does not fit (h >= H or w >= W) leaves the image unchanged, where
torchvision draws again up to ten times. With the paper's scale <= 0.1 and
ratio <= 3.3 the longest side is at most sqrt(0.33) = 0.58 of the image, so
every draw fits and the two agree.

Reproduction note: the paper erases after normalisation with torchvision's
default value 0, i.e. the ImageNet mean. Keras' EfficientNet normalises
inside the model, so this layer erases in pixel units with `fill_value` =
255 x (0.485, 0.456, 0.406), which the model's normalisation maps to 0.
"""

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="fer_tf")
class RandomErasing(keras.layers.Layer):
    """Erases one random rectangle per image with probability `probability`.

    Args:
        probability: float. chance an image gets a rectangle.
        scale: (low, high). range of the erased fraction of the image area.
        ratio: (low, high). range of the rectangle's aspect ratio (height / width),
            drawn log-uniformly.
        fill_value: float or per-channel sequence. the value written into it.
        seed: int or None. seed of the layer's `SeedGenerator`.

    Example:
        >>> erase = RandomErasing(0.25, (0.02, 0.1), fill_value=(124.0, 116.0, 104.0))
        >>> erase(np.zeros((2, 16, 16, 3), "float32"), training=True).shape
        (2, 16, 16, 3)

    Reference:
        Zhong et al., "Random Erasing Data Augmentation", AAAI 2020;
        EfficientNet-B0 FER paper Sec. III-C, Eq. 8.
    """

    def __init__(self, probability=0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3), fill_value=0.0,
                 seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= float(probability) <= 1.0:
            raise ValueError(f"RandomErasing: probability must be in [0, 1], got {probability}.")
        scale, ratio = tuple(float(v) for v in scale), tuple(float(v) for v in ratio)
        if len(scale) != 2 or not 0.0 < scale[0] <= scale[1] <= 1.0:
            raise ValueError(f"RandomErasing: scale must be (low, high) in (0, 1], got {scale}.")
        if len(ratio) != 2 or not 0.0 < ratio[0] <= ratio[1]:
            raise ValueError(f"RandomErasing: ratio must be (low, high) > 0, got {ratio}.")
        self.probability = float(probability)
        self.scale = scale
        self.ratio = ratio
        # A tuple: Keras would track a list attribute as a (non-picklable) TrackedList.
        self.fill_value = (tuple(float(v) for v in fill_value)
                           if isinstance(fill_value, (list, tuple)) else float(fill_value))
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        if isinstance(self.fill_value, tuple) and len(self.fill_value) != input_shape[-1]:
            raise ValueError(f"RandomErasing: {len(self.fill_value)} fill values for "
                             f"{input_shape[-1]}-channel images.")
        super().build(input_shape)

    def call(self, inputs, training=None):
        if not training:
            return inputs
        images = ops.cast(inputs, self.compute_dtype)
        unbatched = len(images.shape) == 3
        if unbatched:
            images = ops.expand_dims(images, 0)
        shape = ops.shape(images)
        batch = shape[0]
        height = ops.cast(shape[1], "float32")
        width = ops.cast(shape[2], "float32")

        def uniform(low=0.0, high=1.0):
            return keras.random.uniform((batch,), minval=low, maxval=high,
                                        seed=self.seed_generator)

        area = uniform(*self.scale)
        aspect = ops.exp(uniform(math.log(self.ratio[0]), math.log(self.ratio[1])))
        h = ops.round(ops.sqrt(area * aspect) * height)
        w = ops.round(ops.sqrt(area / aspect) * width)
        fits = (h < height) & (w < width)
        # Top-left corner uniform over the H - h + 1 (W - w + 1) positions.
        top = ops.floor(uniform() * (height - h + 1.0))
        left = ops.floor(uniform() * (width - w + 1.0))
        erase = (uniform() < self.probability) & fits

        rows = ops.reshape(ops.arange(shape[1], dtype="float32"), (1, -1, 1, 1))
        cols = ops.reshape(ops.arange(shape[2], dtype="float32"), (1, 1, -1, 1))

        def per_image(v):
            return ops.reshape(v, (-1, 1, 1, 1))

        inside = ((rows >= per_image(top)) & (rows < per_image(top + h))
                  & (cols >= per_image(left)) & (cols < per_image(left + w))
                  & per_image(erase))
        fill = ops.cast(ops.convert_to_tensor(self.fill_value), self.compute_dtype)
        out = ops.where(inside, ops.zeros_like(images) + fill, images)
        return ops.squeeze(out, 0) if unbatched else out

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        fill = list(self.fill_value) if isinstance(self.fill_value, tuple) else self.fill_value
        config.update({"probability": self.probability, "scale": list(self.scale),
                       "ratio": list(self.ratio), "fill_value": fill, "seed": self.seed})
        return config
