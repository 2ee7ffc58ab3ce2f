"""A random crop drawn per image, centred at inference, inside a model.

The EfficientNet-B0 FER paper's Sec. III-C Eq. 3: RandomCrop(Resize(x, 256),
224), a new position for every image. The tf.data pipeline crops each image
itself (`fer_tf.data.pipeline`); this layer is the same step for data fed as
NumPy arrays (the JAX path), where the crop has to run inside the model.
Keras' `RandomCrop` draws one position per batch and, at inference, passes
larger images through uncropped, so it cannot stand in.

The crop is two one-hot selections (rows, then columns), exact for any
backend and differentiable; at inference the centre window is sliced
((H - h) // 2, (W - w) // 2), an image of the target size passing unchanged.
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="fer_tf")
class PerImageRandomCrop(keras.layers.Layer):
    """Crops each image to (height, width): at random when training, centred otherwise.

    Args:
        height: int. output rows.
        width: int. output columns.
        seed: int or None. seed of the layer's `SeedGenerator`.

    Example:
        >>> crop = PerImageRandomCrop(224, 224, seed=0)
        >>> crop(np.zeros((2, 256, 256, 3), "float32"), training=True).shape
        (2, 224, 224, 3)

    Reference:
        EfficientNet-B0 FER paper Sec. III-C, Eq. 3.
    """

    def __init__(self, height, width, seed=None, **kwargs):
        super().__init__(**kwargs)
        if int(height) < 1 or int(width) < 1:
            raise ValueError(f"PerImageRandomCrop: size must be positive, got {height}x{width}.")
        self.height = int(height)
        self.width = int(width)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _check(self, shape):
        if shape[1] < self.height or shape[2] < self.width:
            raise ValueError(f"PerImageRandomCrop: cannot crop {self.height}x{self.width} from "
                             f"{shape[1]}x{shape[2]} images.")

    def call(self, inputs, training=None):
        images = ops.cast(inputs, self.compute_dtype)
        shape = ops.shape(images)
        if isinstance(shape[1], int) and isinstance(shape[2], int):
            self._check(shape)
        if not training:
            top = (shape[1] - self.height) // 2
            left = (shape[2] - self.width) // 2
            return ops.slice(images, (0, top, left, 0),
                             (shape[0], self.height, self.width, shape[3]))
        batch = shape[0]
        top = keras.random.randint((batch,), 0, shape[1] - self.height + 1,
                                   seed=self.seed_generator)
        left = keras.random.randint((batch,), 0, shape[2] - self.width + 1,
                                    seed=self.seed_generator)
        rows = ops.one_hot(top[:, None] + ops.arange(self.height)[None, :], shape[1],
                           dtype=self.compute_dtype)
        cols = ops.one_hot(left[:, None] + ops.arange(self.width)[None, :], shape[2],
                           dtype=self.compute_dtype)
        picked = ops.einsum("bih,bhwc->biwc", rows, images)
        return ops.einsum("bjw,biwc->bijc", cols, picked)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.height, self.width, input_shape[3])

    def get_config(self):
        config = super().get_config()
        config.update({"height": self.height, "width": self.width, "seed": self.seed})
        return config
