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


def _group_sizes(in_channels, out_channels, groups):
    """(in, out) channel counts of each group, as `group_mask` deals them."""
    return [(len(rows), len(cols)) for rows, cols in
            zip(np.array_split(np.arange(in_channels), groups),
                np.array_split(np.arange(out_channels), groups))]


def _packed_initializer(base, shapes):
    """Initialises a packed kernel group by group, so each block gets the
    fan-in of its own (k, k, in_g, out_g) map, as separate kernels would."""
    def initialize(shape, dtype=None):
        blocks = [ops.reshape(base(shape=s, dtype=dtype), (*s[:-2], s[-2] * s[-1]))
                  for s in shapes]
        return ops.concatenate(blocks, axis=-1)
    return initialize


def _grouped(x, packed, groups, apply):
    """A grouped map: each channel group through its own block of `packed`.

    `packed` holds every group's (..., in_g, out_g) kernel flattened side by
    side on its last axis: one variable per map instead of one per group,
    because the optimizer's per-variable update ops dominated the traced
    training step (CAMnet34: 966 variables, 752 of them group kernels).
    """
    packed = ops.cast(packed, x.dtype)
    lead = tuple(packed.shape[:-1])
    if len(groups) == 1:
        return apply(x, ops.reshape(packed, (*lead, *groups[0])))
    sizes = [i * o for i, o in groups]
    kernels = ops.split(packed, np.cumsum(sizes)[:-1].tolist(), axis=-1)
    parts = ops.split(x, np.cumsum([i for i, _ in groups])[:-1].tolist(), axis=-1)
    return ops.concatenate([apply(part, ops.reshape(w, (*lead, i, o)))
                            for part, w, (i, o) in zip(parts, kernels, groups)], axis=-1)


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
    attention-weighted sum of the splits (ResNeSt Eq. 1-3). Each grouped map
    keeps exactly the grouped weights, one variable holding every group's
    kernel side by side (`group_kernels` unpacks them), with channels dealt
    as `group_mask` does, so any group count works; `count_flops` gives the
    efficiency counter their cost.

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
        self._conv_groups = _group_sizes(channels, wide, groups)
        self._fc1_groups = _group_sizes(self.filters, self.inter_channels, self.cardinality)
        self._fc2_groups = _group_sizes(self.inter_channels, wide, self.cardinality)
        self.kernel = self._packed_weight("kernel", (k, k), self._conv_groups, "he_normal")
        self.fc1_kernel = self._packed_weight("fc1_kernel", (), self._fc1_groups, "he_normal")
        self.fc1_bias = self.add_weight(shape=(self.inter_channels,), name="fc1_bias",
                                        initializer="zeros")
        self.fc2_kernel = self._packed_weight("fc2_kernel", (), self._fc2_groups,
                                              "glorot_uniform")
        self.fc2_bias = self.add_weight(shape=(wide,), name="fc2_bias", initializer="zeros")
        self.bn0.build((*input_shape[:-1], wide))
        self.bn1.build((input_shape[0], self.inter_channels))

    def call(self, inputs, training=None):
        x = _grouped(inputs, self.kernel, self._conv_groups,
                     lambda part, w: ops.conv(part, w, strides=self.strides, padding="same"))
        x = ops.relu(self.bn0(x, training=training))
        splits = ops.split(x, self.radix, axis=-1) if self.radix > 1 else [x]
        gap = ops.mean(sum(splits[1:], splits[0]), axis=(1, 2))
        z = _grouped(gap, self.fc1_kernel, self._fc1_groups, ops.matmul)
        z = ops.relu(self.bn1(z + ops.cast(self.fc1_bias, z.dtype), training=training))
        logits = _grouped(z, self.fc2_kernel, self._fc2_groups, ops.matmul)
        logits = logits + ops.cast(self.fc2_bias, logits.dtype)
        if self.radix == 1:
            return x * ops.sigmoid(logits)[:, None, None, :]
        # rSoftMax: channel c of split r competes with channel c of the other splits.
        logits = ops.reshape(logits, (-1, self.radix, self.filters))
        attention = ops.softmax(logits, axis=1)
        out = splits[0] * attention[:, None, None, 0, :]
        for r in range(1, self.radix):
            out = out + splits[r] * attention[:, None, None, r, :]
        return out

    def _packed_weight(self, name, lead, groups, initializer):
        base = keras.initializers.get(initializer)
        shapes = [(*lead, i, o) for i, o in groups]
        return self.add_weight(shape=(*lead, sum(i * o for i, o in groups)), name=name,
                               initializer=_packed_initializer(base, shapes))

    def group_kernels(self):
        """Each map's per-group NumPy kernels, [(k, k, in_g, out_g)...] for the
        convolution, then [(in_g, out_g)...] for fc1 and fc2."""
        out = []
        for packed, groups in ((self.kernel, self._conv_groups),
                               (self.fc1_kernel, self._fc1_groups),
                               (self.fc2_kernel, self._fc2_groups)):
            value = ops.convert_to_numpy(packed)
            pieces = np.split(value, np.cumsum([i * o for i, o in groups])[:-1], axis=-1)
            out.append([p.reshape(*value.shape[:-1], i, o)
                        for p, (i, o) in zip(pieces, groups)])
        return out

    def dense_kernels(self):
        """The grouped maps as full block-diagonal NumPy kernels (conv, fc1,
        fc2), i.e. `group_mask` times a dense kernel: for tests and export."""
        out = []
        for kernels in self.group_kernels():
            full = np.zeros(kernels[0].shape[:-2] + (sum(w.shape[-2] for w in kernels),
                                                     sum(w.shape[-1] for w in kernels)),
                            "float32")
            row = col = 0
            for w in kernels:
                full[..., row:row + w.shape[-2], col:col + w.shape[-1]] = w
                row, col = row + w.shape[-2], col + w.shape[-1]
            out.append(full)
        return out

    def load_own_variables(self, store):
        # Files saved before the kernels were packed hold one (k, k, in_g,
        # out_g) kernel per group (conv groups, fc1 groups, fc1 bias, fc2
        # groups, fc2 bias): pack them.
        if np.ndim(store["0"]) != 4:
            return super().load_own_variables(store)
        legacy = len(self._conv_groups) + len(self._fc1_groups) + len(self._fc2_groups) + 2
        values = [np.asarray(store[str(i)]) for i in range(legacy)]
        conv, rest = values[:len(self._conv_groups)], values[len(self._conv_groups):]
        fc1, rest = rest[:len(self._fc1_groups)], rest[len(self._fc1_groups):]
        fc1_bias, rest = rest[0], rest[1:]
        fc2, fc2_bias = rest[:-1], rest[-1]
        for variable, kernels in ((self.kernel, conv), (self.fc1_kernel, fc1),
                                  (self.fc2_kernel, fc2)):
            variable.assign(np.concatenate(
                [w.reshape(*w.shape[:-2], -1) for w in kernels], axis=-1))
        self.fc1_bias.assign(fc1_bias)
        self.fc2_bias.assign(fc2_bias)

    def compute_output_shape(self, input_shape):
        size = [None if d is None else -(-int(d) // self.strides) for d in input_shape[1:3]]
        return (input_shape[0], *size, self.filters)

    def count_flops(self, input_shape, all_ops=False, **kwargs):
        """FLOPs per example as the efficiency counter counts them (its Eq. 7-8
        with the GROUPED widths; batch norm folded)."""
        height, width = (int(d) for d in input_shape[:2])
        out_h, out_w = -(-height // self.strides), -(-width // self.strides)
        wide = self.filters * self.radix
        conv = sum(2 * i * self.kernel_size ** 2 * o * out_h * out_w
                   for i, o in self._conv_groups)
        fc = sum(2 * i * o for i, o in self._fc1_groups + self._fc2_groups)
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
