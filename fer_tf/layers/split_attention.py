"""Split attention (ResNeSt), the CAMnet thesis' Convolutional Attention Unit.

Reference: Zhang et al., "ResNeSt: Split-Attention Networks" (2020), Sec. 3;
the CAMnet thesis (Chapter 5.1.1, Fig. 5.4) uses it in place of every 3x3
convolution of ResNet34's basic blocks with radix 2 and groups 3, 4, 6, 3.
"""

import keras
import numpy as np
from keras import ops


def group_mask(in_channels, out_channels, groups):
    """Block-diagonal 0/1 matrix (in, out) of a `groups`-way grouped map.

    Channels are dealt into near-equal contiguous groups (`np.array_split`),
    so the group count need not divide the channel count: the thesis' groups
    3 and 6 do not divide ResNet34's 64, 256 and 512 channels, which a Keras
    `Conv2D(groups=...)` refuses.
    """
    mask = np.zeros((int(in_channels), int(out_channels)), "float32")
    for rows, cols in zip(np.array_split(np.arange(in_channels), groups),
                          np.array_split(np.arange(out_channels), groups)):
        mask[rows[:, None], cols[None, :]] = 1.0
    return mask


@keras.saving.register_keras_serializable(package="fer_tf")
class SplitAttention(keras.layers.Layer):
    """Split-attention convolution: radix splits weighted by an rSoftMax.

    The input goes through a grouped k x k convolution to `filters * radix`
    channels (groups = cardinality * radix), batch norm and ReLU; the `radix`
    splits of `filters` channels are summed, globally average-pooled, passed
    through a grouped 1x1 map to max(filters * radix / reduction, min_inter)
    channels, batch norm, ReLU and a grouped 1x1 map back to
    `filters * radix` logits. rSoftMax normalises the logits across the radix
    axis for each channel (a sigmoid when radix is 1) and the output is the
    attention-weighted sum of the splits (ResNeSt Eq. 1-3). Grouped maps are
    full kernels times a constant block-diagonal mask (`group_mask`), so any
    group count works; `count_flops` reports the grouped cost.

    Args:
        filters: int. output channels.
        kernel_size: int. size of the split convolution.
        strides: int. stride of the split convolution.
        radix: int. number of splits R (1 gives SE-style sigmoid gating).
        cardinality: int. cardinal groups K.
        reduction: int. ratio of the attention bottleneck.
        min_inter: int. lower bound of the bottleneck width (ResNeSt: 32).
        bn_momentum: float. momentum of the two batch norms' moving statistics.

    Example:
    ```python
    y = SplitAttention(64, radix=2, cardinality=3)(keras.random.normal((2, 12, 12, 64)))
    ```

    Reference: Zhang et al. 2020, ResNeSt, Sec. 3.1-3.2.
    """

    def __init__(self, filters, kernel_size=3, strides=1, radix=2, cardinality=1,
                 reduction=4, min_inter=32, bn_momentum=0.99, **kwargs):
        super().__init__(**kwargs)
        if int(radix) < 1 or int(cardinality) < 1:
            raise ValueError(f"radix and cardinality must be >= 1, got {radix}, {cardinality}")
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.strides = int(strides)
        self.radix = int(radix)
        self.cardinality = int(cardinality)
        self.reduction = int(reduction)
        self.min_inter = int(min_inter)
        self.bn_momentum = float(bn_momentum)
        self.inter_channels = max(self.filters * self.radix // self.reduction, self.min_inter)
        self.bn0 = keras.layers.BatchNormalization(momentum=self.bn_momentum, name="bn0")
        self.bn1 = keras.layers.BatchNormalization(momentum=self.bn_momentum, name="bn1")

    def build(self, input_shape):
        channels = int(input_shape[-1])
        wide = self.filters * self.radix
        groups = self.cardinality * self.radix
        k = self.kernel_size
        self.kernel = self.add_weight(shape=(k, k, channels, wide), name="kernel",
                                      initializer="he_normal")
        self.fc1_kernel = self.add_weight(shape=(self.filters, self.inter_channels),
                                          name="fc1_kernel", initializer="he_normal")
        self.fc1_bias = self.add_weight(shape=(self.inter_channels,), name="fc1_bias",
                                        initializer="zeros")
        self.fc2_kernel = self.add_weight(shape=(self.inter_channels, wide),
                                          name="fc2_kernel", initializer="glorot_uniform")
        self.fc2_bias = self.add_weight(shape=(wide,), name="fc2_bias", initializer="zeros")
        self._conv_mask = group_mask(channels, wide, groups)
        self._fc1_mask = group_mask(self.filters, self.inter_channels, self.cardinality)
        self._fc2_mask = group_mask(self.inter_channels, wide, self.cardinality)
        spatial = list(input_shape[:-1]) + [wide]
        self.bn0.build(tuple(spatial))
        self.bn1.build((input_shape[0], self.inter_channels))

    def call(self, inputs, training=None):
        kernel = self.kernel * ops.cast(self._conv_mask, self.kernel.dtype)
        x = ops.conv(inputs, ops.cast(kernel, inputs.dtype), strides=self.strides,
                     padding="same")
        x = ops.relu(self.bn0(x, training=training))
        splits = ops.split(x, self.radix, axis=-1) if self.radix > 1 else [x]
        gap = ops.mean(sum(splits[1:], splits[0]), axis=(1, 2))
        w1 = self.fc1_kernel * ops.cast(self._fc1_mask, self.fc1_kernel.dtype)
        z = ops.matmul(gap, ops.cast(w1, gap.dtype)) + ops.cast(self.fc1_bias, gap.dtype)
        z = ops.relu(self.bn1(z, training=training))
        w2 = self.fc2_kernel * ops.cast(self._fc2_mask, self.fc2_kernel.dtype)
        logits = ops.matmul(z, ops.cast(w2, z.dtype)) + ops.cast(self.fc2_bias, z.dtype)
        if self.radix == 1:
            return x * ops.sigmoid(logits)[:, None, None, :]
        # rSoftMax: channel c of split r competes with channel c of the other splits.
        logits = ops.reshape(logits, (-1, self.radix, self.filters))
        attention = ops.softmax(logits, axis=1)
        out = splits[0] * attention[:, None, None, 0, :]
        for r in range(1, self.radix):
            out = out + splits[r] * attention[:, None, None, r, :]
        return out

    def compute_output_shape(self, input_shape):
        size = [None if d is None else -(-int(d) // self.strides) for d in input_shape[1:3]]
        return (input_shape[0], *size, self.filters)

    def count_flops(self, input_shape, all_ops=False, **kwargs):
        """FLOPs per example as the efficiency counter counts them (its Eq. 7-8
        with the GROUPED widths; batch norm folded)."""
        height, width, channels = (int(d) for d in input_shape)
        out_h, out_w = -(-height // self.strides), -(-width // self.strides)
        wide = self.filters * self.radix
        groups = self.cardinality * self.radix
        conv = 2 * (channels // groups) * self.kernel_size ** 2 * wide * out_h * out_w
        fc = 2 * (self.filters * self.inter_channels + self.inter_channels * wide)
        fc //= self.cardinality
        flops = conv + fc
        if all_ops:
            elements = out_h * out_w * wide
            # BN (2) and ReLU (1) per split element, the split sum, the
            # weighting and its sum, biases, the pooling and the rSoftMax.
            flops += 3 * elements + elements + elements
            flops += self.inter_channels * 4 + wide * 4 + out_h * out_w * self.filters
        return int(flops)

    def get_config(self):
        config = super().get_config()
        config.update({"filters": self.filters, "kernel_size": self.kernel_size,
                       "strides": self.strides, "radix": self.radix,
                       "cardinality": self.cardinality, "reduction": self.reduction,
                       "min_inter": self.min_inter, "bn_momentum": self.bn_momentum})
        return config
