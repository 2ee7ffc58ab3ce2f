"""Channel and spatial attention modules of the CAMnet thesis' model zoo.

`SqueezeExcite` (Hu et al., "Squeeze-and-Excitation Networks", CVPR 2018)
for SE-ResNet34/50 and SE-ResNeXt101 (thesis Sec. 4.4, 4.6, 4.7),
`CBAM` (Woo et al., "CBAM: Convolutional Block Attention Module", ECCV 2018)
and `BAM` (Park et al., "BAM: Bottleneck Attention Module", BMVC 2018) for the
CBAM/BAM-ResNet50 members (Sec. 4.9). Each is one layer built from Keras core
layers, so the efficiency counter sees their convolutions and dense maps.
"""

import keras
from keras import ops


def _hidden(channels, reduction):
    return max(int(channels) // int(reduction), 1)


def _build_chain(layers, shape):
    """Builds sub-layers in build(), not on first call, so .keras files reload."""
    for layer in layers:
        layer.build(shape)
        shape = layer.compute_output_shape(shape)


@keras.saving.register_keras_serializable(package="fer_tf")
class SqueezeExcite(keras.layers.Layer):
    """Squeeze (global average pool) and excitation (two dense maps, sigmoid) gating.

    Args:
        reduction: int. bottleneck ratio r of the excitation (the paper's 16).

    Example:
    ```python
    y = SqueezeExcite(reduction=4)(keras.random.normal((2, 8, 8, 16)))
    ```

    Reference: Hu et al. 2018, Sec. 3, Eq. 2-4.
    """

    def __init__(self, reduction=16, **kwargs):
        super().__init__(**kwargs)
        self.reduction = int(reduction)

    def build(self, input_shape):
        channels = int(input_shape[-1])
        self.squeeze = keras.layers.Dense(_hidden(channels, self.reduction), activation="relu",
                                          name="squeeze", dtype=self.dtype_policy)
        self.excite = keras.layers.Dense(channels, activation="sigmoid", name="excite",
                                         dtype=self.dtype_policy)
        _build_chain([self.squeeze, self.excite], (input_shape[0], channels))

    def call(self, inputs):
        weights = self.excite(self.squeeze(ops.mean(inputs, axis=(1, 2))))
        return inputs * weights[:, None, None, :]

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config["reduction"] = self.reduction
        return config


@keras.saving.register_keras_serializable(package="fer_tf")
class CBAM(keras.layers.Layer):
    """Channel attention (shared MLP on average- and max-pooled features), then
    spatial attention (a k x k convolution of channel mean and max), each a
    sigmoid gate applied in sequence.

    Args:
        reduction: int. ratio of the shared MLP (the paper's 16).
        kernel_size: int. size of the spatial attention convolution (7).

    Example:
    ```python
    y = CBAM(reduction=4)(keras.random.normal((2, 8, 8, 16)))
    ```

    Reference: Woo et al. 2018, Sec. 3, Eq. 1-3.
    """

    def __init__(self, reduction=16, kernel_size=7, **kwargs):
        super().__init__(**kwargs)
        self.reduction = int(reduction)
        self.kernel_size = int(kernel_size)

    def build(self, input_shape):
        channels = int(input_shape[-1])
        self.mlp_hidden = keras.layers.Dense(_hidden(channels, self.reduction),
                                             activation="relu", name="mlp_hidden",
                                             dtype=self.dtype_policy)
        self.mlp_out = keras.layers.Dense(channels, name="mlp_out", dtype=self.dtype_policy)
        self.spatial = keras.layers.Conv2D(1, self.kernel_size, padding="same",
                                           activation="sigmoid", name="spatial",
                                           dtype=self.dtype_policy)
        _build_chain([self.mlp_hidden, self.mlp_out], (input_shape[0], channels))
        self.spatial.build((*input_shape[:-1], 2))

    def call(self, inputs):
        avg = self.mlp_out(self.mlp_hidden(ops.mean(inputs, axis=(1, 2))))
        top = self.mlp_out(self.mlp_hidden(ops.max(inputs, axis=(1, 2))))
        x = inputs * ops.sigmoid(avg + top)[:, None, None, :]
        pooled = ops.concatenate([ops.mean(x, axis=-1, keepdims=True),
                                  ops.max(x, axis=-1, keepdims=True)], axis=-1)
        return x * self.spatial(pooled)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"reduction": self.reduction, "kernel_size": self.kernel_size})
        return config


@keras.saving.register_keras_serializable(package="fer_tf")
class BAM(keras.layers.Layer):
    """Bottleneck attention: F * (1 + sigmoid(Mc(F) + Ms(F))), with a channel
    branch (pool, dense-BN-ReLU, dense) and a spatial branch (1x1 reduction,
    two dilated 3x3 convolutions, 1x1 to one map), broadcast and summed.

    Args:
        reduction: int. ratio of both branches (the paper's 16).
        dilation: int. dilation of the spatial branch's 3x3 convolutions (4).
        bn_momentum: float. momentum of the batch norms' moving statistics.

    Example:
    ```python
    y = BAM(reduction=4)(keras.random.normal((2, 8, 8, 16)))
    ```

    Reference: Park et al. 2018, Sec. 3, Eq. 1-4.
    """

    def __init__(self, reduction=16, dilation=4, bn_momentum=0.99, **kwargs):
        super().__init__(**kwargs)
        self.reduction = int(reduction)
        self.dilation = int(dilation)
        self.bn_momentum = float(bn_momentum)

    def build(self, input_shape):
        channels = int(input_shape[-1])
        hidden = _hidden(channels, self.reduction)
        self.channel_hidden = keras.layers.Dense(hidden, name="channel_hidden",
                                                 dtype=self.dtype_policy)
        self.channel_bn = keras.layers.BatchNormalization(momentum=self.bn_momentum,
                                                      name="channel_bn",
                                                      dtype=self.dtype_policy)
        self.channel_out = keras.layers.Dense(channels, name="channel_out",
                                              dtype=self.dtype_policy)
        self.reduce = keras.layers.Conv2D(hidden, 1, name="spatial_reduce",
                                          dtype=self.dtype_policy)
        self.dilated = [keras.layers.Conv2D(hidden, 3, padding="same",
                                            dilation_rate=self.dilation,
                                            name=f"spatial_dilated{i}",
                                            dtype=self.dtype_policy) for i in (1, 2)]
        self.spatial_bns = [keras.layers.BatchNormalization(momentum=self.bn_momentum,
                                                              name=f"spatial_bn{i}",
                                                              dtype=self.dtype_policy)
                            for i in (0, 1, 2)]
        self.spatial_out = keras.layers.Conv2D(1, 1, name="spatial_out",
                                               dtype=self.dtype_policy)
        _build_chain([self.channel_hidden, self.channel_bn, self.channel_out],
                     (input_shape[0], channels))
        spatial = [self.reduce, self.spatial_bns[0]]
        for conv, bn in zip(self.dilated, self.spatial_bns[1:]):
            spatial += [conv, bn]
        _build_chain(spatial + [self.spatial_out], tuple(input_shape))

    def call(self, inputs, training=None):
        c = self.channel_hidden(ops.mean(inputs, axis=(1, 2)))
        c = self.channel_out(ops.relu(self.channel_bn(c, training=training)))
        s = inputs
        for conv, bn in zip([self.reduce] + self.dilated, self.spatial_bns):
            s = ops.relu(bn(conv(s), training=training))
        s = self.spatial_out(s)
        attention = ops.sigmoid(c[:, None, None, :] + s)
        return inputs * (1.0 + attention)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"reduction": self.reduction, "dilation": self.dilation,
                       "bn_momentum": self.bn_momentum})
        return config
