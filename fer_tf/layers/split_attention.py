"""Split attention (ResNeSt), the CAMnet thesis' Convolutional Attention Unit.

Reference: Zhang et al., "ResNeSt: Split-Attention Networks" (2020), Sec. 3
and its public SplAtConv2d; the CAMnet thesis (Chapter 5.1.1, Fig. 5.4) uses
it in place of every 3x3 convolution of ResNet34's basic blocks with radix 2
and groups 3, 4, 6, 3.

Channel layout (ResNeSt's, extended to uneven groups). With R splits, K
cardinal groups and C output channels, cardinal group k owns the channels
`cardinal_slices(C, K)[k]` of every split (near-equal contiguous blocks,
`np.array_split`; C/K each when K divides C). Then, for every (r, k):
- the convolution's group r*K + k (of R*K, inputs dealt the same way) writes
  split r's cardinal-k channels, so the wide map is (R, C) split-major;
- fc1's group k reads the pooled cardinal-k channels, fc2's group k writes
  R * s_k logits laid out (R, s_k), and rSoftMax normalises each channel's
  R logits inside its own cardinal group.
When K divides C this is exactly ResNeSt's (cardinality, radix, C/K) layout
of rSoftMax; the thesis' groups 3 and 6, which do not divide 64, 256 or 512
(a grouped convolution in PyTorch or Keras refuses them), keep every split,
pooled channel and attention weight of group k on the same channels.
"""

import keras
import numpy as np
from keras import ops

from fer_tf.errors import ConfigError

#: Version of the layer's function for one config. 2: ResNeSt's rSoftMax per
#: cardinal group, bottleneck width from the input channels and aligned uneven
#: groups (issue 20). Files of an earlier version are refused on load.
LAYOUT_VERSION = 2


def channel_sizes(channels, groups):
    """Sizes of `groups` near-equal contiguous blocks of `channels`."""
    return [len(part) for part in np.array_split(np.arange(int(channels)), int(groups))]


def cardinal_slices(channels, cardinality):
    """Cardinal group k's channels within one split: a list of ranges."""
    bounds = np.cumsum([0, *channel_sizes(channels, cardinality)])
    return [range(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


def block_diagonal(groups):
    """Block-diagonal 0/1 matrix (sum in, sum out) of a grouped map whose
    groups, in order, have the (in_g, out_g) sizes `groups`."""
    mask = np.zeros((sum(i for i, _ in groups), sum(o for _, o in groups)), "float32")
    row = col = 0
    for i, o in groups:
        mask[row:row + i, col:col + o] = 1.0
        row, col = row + i, col + o
    return mask


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
    through a grouped 1x1 map (cardinality groups) to
    max(in_channels * radix // reduction, min_inter) channels, batch norm,
    ReLU and a grouped 1x1 map back to `filters * radix` logits. rSoftMax
    normalises each channel's `radix` logits inside its cardinal group (a
    sigmoid when radix is 1) and the output is the attention-weighted sum of
    the splits (ResNeSt Eq. 1-3 and its SplAtConv2d). The module docstring
    gives the channel layout, which is ResNeSt's when cardinality divides the
    channels and keeps cardinal groups aligned when it does not. Each grouped
    map keeps exactly the grouped weights, one variable holding every group's
    kernel side by side (`group_kernels` unpacks them); `count_flops` gives
    the efficiency counter their cost.

    Args:
        filters: int. output channels.
        kernel_size: int. size of the split convolution.
        strides: int. stride of the split convolution.
        radix: int. number of splits R (1 gives SE-style sigmoid gating).
        cardinality: int. cardinal groups K.
        reduction: int. ratio of the attention bottleneck (ResNeSt: 4).
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
        if int(cardinality) > int(filters):
            raise ValueError(f"cardinality {cardinality} exceeds the {filters} filters")
        self.filters = int(filters)
        self.kernel_size = int(kernel_size)
        self.strides = int(strides)
        self.radix = int(radix)
        self.cardinality = int(cardinality)
        self.reduction = int(reduction)
        self.min_inter = int(min_inter)
        self.bn_momentum = float(bn_momentum)
        self.cardinal_sizes = channel_sizes(self.filters, self.cardinality)
        # The batch norms follow this layer's dtype policy (a `dtype` given to it,
        # not only the global one), so mixed_bfloat16 computes in bfloat16 throughout.
        self.bn0 = keras.layers.BatchNormalization(momentum=self.bn_momentum, name="bn0",
                                                   dtype=self.dtype_policy)
        self.bn1 = keras.layers.BatchNormalization(momentum=self.bn_momentum, name="bn1",
                                                   dtype=self.dtype_policy)

    def build(self, input_shape):
        channels = int(input_shape[-1])
        radix, sizes, k = self.radix, self.cardinal_sizes, self.kernel_size
        if channels < radix * self.cardinality:
            raise ValueError(f"{self.name}: {channels} input channels cannot feed "
                             f"radix x cardinality = {radix * self.cardinality} groups")
        wide = self.filters * radix
        # ResNeSt: inter_channels = max(in_channels * radix // reduction, 32).
        self.inter_channels = max(channels * radix // self.reduction, self.min_inter)
        inputs = channel_sizes(channels, radix * self.cardinality)
        inter = channel_sizes(self.inter_channels, self.cardinality)
        # Group r * K + k writes split r's cardinal-k channels (split-major).
        self._conv_groups = [(inputs[r * self.cardinality + c], size)
                             for r in range(radix) for c, size in enumerate(sizes)]
        self._fc1_groups = list(zip(sizes, inter))
        self._fc2_groups = [(i, radix * size) for i, size in zip(inter, sizes)]
        self._attention_order = self.attention_order()
        self.kernel = self._packed_weight("kernel", (k, k), self._conv_groups, "he_normal")
        self.fc1_kernel = self._packed_weight("fc1_kernel", (), self._fc1_groups, "he_normal")
        self.fc1_bias = self.add_weight(shape=(self.inter_channels,), name="fc1_bias",
                                        initializer="zeros")
        self.fc2_kernel = self._packed_weight("fc2_kernel", (), self._fc2_groups,
                                              "glorot_uniform")
        self.fc2_bias = self.add_weight(shape=(wide,), name="fc2_bias", initializer="zeros")
        self.bn0.build((*input_shape[:-1], wide))
        self.bn1.build((input_shape[0], self.inter_channels))

    def attention_order(self):
        """For split r and channel c (flattened r * filters + c), the index of
        its logit among fc2's outputs: group k's block, row r, column j."""
        order, start = [], np.cumsum([0, *self.cardinal_sizes])
        for r in range(self.radix):
            for k, size in enumerate(self.cardinal_sizes):
                first = self.radix * int(start[k]) + r * size
                order.extend(range(first, first + size))
        return np.asarray(order, "int32")

    def call(self, inputs, training=None):
        x = _grouped(inputs, self.kernel, self._conv_groups,
                     lambda part, w: ops.conv(part, w, strides=self.strides, padding="same"))
        x = ops.relu(self.bn0(x, training=training))
        splits = ops.split(x, self.radix, axis=-1) if self.radix > 1 else [x]
        gap = ops.mean(sum(splits[1:], splits[0]), axis=(1, 2))
        z = _grouped(gap, self.fc1_kernel, self._fc1_groups, ops.matmul)
        z = ops.relu(self.bn1(z + ops.cast(self.fc1_bias, z.dtype), training=training))
        # The logits, their bias and the rSoftMax in float32 whatever the
        # compute dtype (mixed_bfloat16: 8 mantissa bits would round them).
        logits = ops.cast(_grouped(z, self.fc2_kernel, self._fc2_groups, ops.matmul), "float32")
        logits = logits + ops.cast(self.fc2_bias, "float32")
        if self.radix == 1:  # one logit per channel, already in channel order
            return x * ops.cast(ops.sigmoid(logits), x.dtype)[:, None, None, :]
        # rSoftMax: a channel's R logits, gathered from its own cardinal group.
        if self.cardinality > 1:
            logits = ops.take(logits, self._attention_order, axis=-1)
        attention = ops.cast(ops.softmax(ops.reshape(logits, (-1, self.radix, self.filters)),
                                         axis=1), x.dtype)
        out = splits[0] * attention[:, None, None, 0, :]
        for r in range(1, self.radix):
            out = out + splits[r] * attention[:, None, None, r, :]
        return out

    def _packed_weight(self, name, lead, groups, initializer):
        base = keras.initializers.get(initializer)
        shapes = [(*lead, i, o) for i, o in groups]
        return self.add_weight(shape=(*lead, sum(i * o for i, o in groups)), name=name,
                               initializer=_packed_initializer(base, shapes))

    def _maps(self):
        return ((self.kernel, self._conv_groups), (self.fc1_kernel, self._fc1_groups),
                (self.fc2_kernel, self._fc2_groups))

    def group_kernels(self):
        """Each map's per-group NumPy kernels, [(k, k, in_g, out_g)...] for the
        convolution (group r * K + k), then [(in_g, out_g)...] for fc1 and fc2."""
        out = []
        for packed, groups in self._maps():
            value = ops.convert_to_numpy(packed)
            pieces = np.split(value, np.cumsum([i * o for i, o in groups])[:-1], axis=-1)
            out.append([p.reshape(*value.shape[:-1], i, o)
                        for p, (i, o) in zip(pieces, groups)])
        return out

    def set_group_kernels(self, conv, fc1, fc2):
        """Assigns per-group kernels in `group_kernels`' order and shapes."""
        for (packed, groups), kernels in zip(self._maps(), (conv, fc1, fc2)):
            shapes = [tuple(np.shape(w)[-2:]) for w in kernels]
            if shapes != [tuple(g) for g in groups]:
                raise ValueError(f"{self.name}: expected group kernels {groups}, got {shapes}")
            packed.assign(np.concatenate(
                [np.reshape(w, (*np.shape(w)[:-2], -1)) for w in kernels], axis=-1))

    def dense_kernels(self):
        """The grouped maps as full block-diagonal NumPy kernels (conv, fc1,
        fc2): `block_diagonal` times a dense kernel, for tests and export."""
        out = []
        for (_, groups), kernels in zip(self._maps(), self.group_kernels()):
            mask = block_diagonal(groups)
            full = np.zeros(kernels[0].shape[:-2] + mask.shape, "float32")
            row = col = 0
            for w in kernels:
                full[..., row:row + w.shape[-2], col:col + w.shape[-1]] = w
                row, col = row + w.shape[-2], col + w.shape[-1]
            out.append(full)
        return out

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
                       "min_inter": self.min_inter, "bn_momentum": self.bn_momentum,
                       "version": LAYOUT_VERSION})
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        version = config.pop("version", 1)
        if version != LAYOUT_VERSION:
            raise ConfigError(
                f"SplitAttention {config.get('name', '')!r} was saved by an earlier fer_tf "
                f"(split-attention version {version}, this one reads {LAYOUT_VERSION}) "
                "whose rSoftMax mixed cardinal groups, so its weights belong to a different "
                "network: retrain the model.")
        return cls(**config)
