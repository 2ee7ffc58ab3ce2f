"""The masking block of Residual Masking Network, used after every CAMnet stage.

Reference: Pham, Vu & Tran, "Facial Expression Recognition using Residual
Masking Network" (ICPR 2020), Sec. 3.2; the CAMnet thesis Chapter 5.1.2
(Fig. 5.5-5.6, Eq. 5.1): depths 4, 3, 2, 1 after the 64, 128, 256 and 512
channel stages, applied as H = (1 + M(x)) * F(x) (`apply_mask`).
"""

import keras
from keras import ops


def apply_mask(features, mask):
    """Attention residual learning, thesis Eq. 5.1: (1 + M) * F (F when M = 0)."""
    return features * (1.0 + mask)


@keras.saving.register_keras_serializable(package="fer_tf")
class ResidualUnit(keras.layers.Layer):
    """Two 3x3 conv-BN layers with an identity (or 1x1 conv-BN) shortcut, then ReLU.

    The residual block the masking block's U-Net is made of.

    Args:
        filters: int. output channels.
        bn_momentum: float. momentum of the batch norms' moving statistics.

    Example:
    ```python
    y = ResidualUnit(32)(keras.random.normal((2, 8, 8, 16)))
    ```

    Reference: He et al., "Deep Residual Learning" (CVPR 2016), Fig. 2.
    """

    def __init__(self, filters, bn_momentum=0.99, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.bn_momentum = float(bn_momentum)
        self.conv1 = keras.layers.Conv2D(self.filters, 3, padding="same", use_bias=False,
                                         name="conv1", dtype=self.dtype_policy)
        self.bn1 = keras.layers.BatchNormalization(momentum=self.bn_momentum, name="bn1",
                                                   dtype=self.dtype_policy)
        self.conv2 = keras.layers.Conv2D(self.filters, 3, padding="same", use_bias=False,
                                         name="conv2", dtype=self.dtype_policy)
        self.bn2 = keras.layers.BatchNormalization(momentum=self.bn_momentum, name="bn2",
                                                   dtype=self.dtype_policy)
        self.project = None

    def build(self, input_shape):
        # Sub-layers are built here, not on first call, so a .keras file reloads.
        output_shape = self.compute_output_shape(input_shape)
        self.conv1.build(input_shape)
        for layer in (self.bn1, self.conv2, self.bn2):
            layer.build(output_shape)
        if int(input_shape[-1]) != self.filters:
            self.project = keras.layers.Conv2D(self.filters, 1, use_bias=False, name="proj",
                                               dtype=self.dtype_policy)
            self.project_bn = keras.layers.BatchNormalization(momentum=self.bn_momentum,
                                                              name="proj_bn",
                                                              dtype=self.dtype_policy)
            self.project.build(input_shape)
            self.project_bn.build(output_shape)

    def call(self, inputs, training=None):
        x = ops.relu(self.bn1(self.conv1(inputs), training=training))
        x = self.bn2(self.conv2(x), training=training)
        shortcut = inputs
        if self.project is not None:
            shortcut = self.project_bn(self.project(inputs), training=training)
        return ops.relu(x + shortcut)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.filters)

    def get_config(self):
        config = super().get_config()
        config.update({"filters": self.filters, "bn_momentum": self.bn_momentum})
        return config


@keras.saving.register_keras_serializable(package="fer_tf")
class MaskingBlock(keras.layers.Layer):
    """U-Net of residual units whose output is a softmax over channels.

    Encoder: a residual unit at the input's C channels, then depth - 1 times a
    2x2 max-pool ("same", so odd maps shrink to their ceiling) and a unit at
    twice the channels. Decoder: per level, a 2x2 stride-2 transposed
    convolution back to the level's channels, cropped to the skip's size,
    concatenated with the skip and a residual unit. A last unit returns to C
    channels and a softmax over the CHANNEL axis gives M(x) in (0, 1) with
    sum 1 at every pixel. Depth 1 is two units and no pooling.

    Args:
        depth: int. 1-4, the number of U-Net levels.
        bn_momentum: float. momentum of every unit's batch norms.

    Example:
    ```python
    mask = MaskingBlock(depth=2)(keras.random.normal((2, 12, 12, 16)))
    ```

    Reference: Pham et al. 2020, Residual Masking Network, Sec. 3.2.
    """

    def __init__(self, depth=1, bn_momentum=0.99, **kwargs):
        super().__init__(**kwargs)
        if int(depth) not in (1, 2, 3, 4):
            raise ValueError(f"MaskingBlock depth must be 1-4, got {depth}")
        self.depth = int(depth)
        self.bn_momentum = float(bn_momentum)

    def build(self, input_shape):
        channels = int(input_shape[-1])
        widths = [channels * 2 ** level for level in range(self.depth)]
        self.encoders = [ResidualUnit(w, self.bn_momentum, name=f"down{level}",
                                      dtype=self.dtype_policy)
                         for level, w in enumerate(widths)]
        self.pool = keras.layers.MaxPooling2D(2, padding="same", name="pool",
                                              dtype=self.dtype_policy)
        self.upsamplers = [keras.layers.Conv2DTranspose(widths[level], 2, strides=2,
                                                        name=f"up{level}",
                                                        dtype=self.dtype_policy)
                           for level in range(self.depth - 1)]
        self.decoders = [ResidualUnit(widths[level], self.bn_momentum,
                                      name=f"merge{level}", dtype=self.dtype_policy)
                         for level in range(self.depth - 1)]
        self.last = ResidualUnit(channels, self.bn_momentum, name="out",
                                 dtype=self.dtype_policy)
        batch, height, width = input_shape[:3]
        sizes = [(height, width)]
        for _ in range(1, self.depth):
            sizes.append(tuple(None if d is None else -(-int(d) // 2) for d in sizes[-1]))
        self.encoders[0].build(tuple(input_shape))
        for level in range(1, self.depth):
            self.encoders[level].build((batch, *sizes[level], widths[level - 1]))
        for level in range(self.depth - 1):
            self.upsamplers[level].build((batch, *sizes[level + 1], widths[level + 1]))
            self.decoders[level].build((batch, *sizes[level], 2 * widths[level]))
        self.last.build((batch, height, width, widths[0]))

    def call(self, inputs, training=None):
        skips = []
        x = inputs
        for level, encoder in enumerate(self.encoders):
            if level:
                x = self.pool(x)
            x = encoder(x, training=training)
            skips.append(x)
        for level in reversed(range(self.depth - 1)):
            skip = skips[level]
            x = self.upsamplers[level](x)
            x = x[:, :ops.shape(skip)[1], :ops.shape(skip)[2], :]
            x = self.decoders[level](ops.concatenate([x, skip], axis=-1), training=training)
        return ops.softmax(self.last(x, training=training), axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"depth": self.depth, "bn_momentum": self.bn_momentum})
        return config
