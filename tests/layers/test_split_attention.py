"""SplitAttention (ResNeSt Sec. 3): the shared layer test, the radix-1 sigmoid
form, the rSoftMax and the grouped FLOP count."""

import keras
import numpy as np
from keras import ops

from fer_tf.evaluation.efficiency import count_flops
from fer_tf.layers.split_attention import SplitAttention, group_mask
from tests.helpers.layer_test import run_layer_test


def test_layer_basics_uneven_groups():
    # Groups 3 x radix 2 = 6 do not divide 16 channels: the thesis' case. Momentum 1
    # keeps the moving statistics fixed through the helper's training-mode call.
    run_layer_test(SplitAttention,
                   {"filters": 12, "strides": 2, "radix": 2, "cardinality": 3,
                    "min_inter": 4, "bn_momentum": 1.0},
                   input_shape=(2, 7, 7, 16), expected_output_shape=(2, 4, 4, 12),
                   # One packed kernel per grouped map (conv, fc1, fc2), two biases, BN.
                   expected_num_trainable_weights=3 + 2 + 4,
                   expected_num_non_trainable_weights=4)


def test_radix_one_is_the_sigmoid_form():
    x = np.random.default_rng(1).normal(size=(2, 6, 6, 8)).astype("float32")
    layer = SplitAttention(8, radix=1, cardinality=1, min_inter=4)
    layer(x)
    bn0 = layer.bn0
    for bn in (layer.bn0, layer.bn1):  # positive variances
        bn.moving_variance.assign(np.abs(bn.moving_variance.numpy()) + 0.5)
    layer.fc2_kernel.assign(np.random.default_rng(2).normal(size=(4 * 8,)))
    kernel, fc1, fc2 = layer.dense_kernels()
    u = ops.convert_to_numpy(ops.conv(x, kernel, padding="same"))
    u = np.maximum(ops.convert_to_numpy(bn0(u, training=False)), 0)
    z = u.mean(axis=(1, 2)) @ fc1 + layer.fc1_bias.numpy()
    z = np.maximum(ops.convert_to_numpy(layer.bn1(z, training=False)), 0)
    gate = 1 / (1 + np.exp(-(z @ fc2 + layer.fc2_bias.numpy())))
    expected = u * gate[:, None, None, :]
    got = ops.convert_to_numpy(layer(x, training=False))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_rsoftmax_with_equal_logits_averages_the_splits():
    # Zero logits: the softmax across the radix axis gives 1/R to each split.
    x = np.random.default_rng(3).normal(size=(2, 5, 5, 6)).astype("float32")
    layer = SplitAttention(4, radix=3, cardinality=2, min_inter=4)
    layer(x)
    layer.fc2_kernel.assign(np.zeros(layer.fc2_kernel.shape, "float32"))
    out = ops.convert_to_numpy(layer(x, training=False))
    kernel = layer.dense_kernels()[0]
    assert np.array_equal(kernel != 0, np.broadcast_to(group_mask(6, 12, 6) > 0, kernel.shape))
    u = ops.convert_to_numpy(layer.bn0(ops.conv(x, kernel, padding="same"), training=False))
    u = np.maximum(u, 0)
    np.testing.assert_allclose(out, (u[..., :4] + u[..., 4:8] + u[..., 8:]) / 3,
                               rtol=1e-4, atol=1e-5)


def test_group_mask_is_block_diagonal():
    mask = group_mask(5, 4, 2)
    assert mask.sum() == 3 * 2 + 2 * 2
    assert mask[0, 0] == 1 and mask[0, 3] == 0 and mask[4, 3] == 1


def test_count_flops_uses_grouped_widths():
    inputs = keras.Input((8, 8, 12))
    model = keras.Model(inputs, SplitAttention(12, radix=2, cardinality=2, min_inter=8)(inputs))
    flops = count_flops(model)
    conv = 2 * (12 // 4) * 9 * 24 * 8 * 8
    fc = 2 * (12 * 8 + 8 * 24) // 2
    assert flops == conv + fc
    layer = model.layers[-1]
    assert sum(int(np.prod(w.shape)) for w in layer.trainable_weights) == (
        9 * 12 * 24 // 4 + (12 * 8 + 8 * 24) // 2 + 8 + 24 + 2 * 24 + 2 * 8)


def test_packed_kernels_start_with_each_groups_fan_in():
    # He normal over one group's 3 x 3 x 8 inputs, not over the packed shape.
    layer = SplitAttention(32, radix=1, cardinality=4, min_inter=8)
    layer.build((None, 6, 6, 32))
    conv = np.concatenate([w.ravel() for w in layer.group_kernels()[0]])
    assert layer.kernel.shape == (3, 3, 4 * 8 * 8)
    np.testing.assert_allclose(conv.std(), np.sqrt(2 / (9 * 8)), rtol=0.1)


def test_files_with_one_kernel_per_group_still_load():
    # The layout saved before the packing: conv groups, fc1 groups, fc1 bias,
    # fc2 groups, fc2 bias (uneven: 16 channels in 6 groups).
    x = np.random.default_rng(4).normal(size=(2, 5, 5, 16)).astype("float32")
    source = SplitAttention(12, radix=2, cardinality=3, min_inter=4)
    source(x)
    conv, fc1, fc2 = source.group_kernels()
    store = {str(i): v for i, v in enumerate([*conv, *fc1, source.fc1_bias.numpy(), *fc2,
                                              source.fc2_bias.numpy() + 0.5])}
    target = SplitAttention(12, radix=2, cardinality=3, min_inter=4)
    target.build(x.shape)
    target.load_own_variables(store)
    for got, want in zip(target.group_kernels(), source.group_kernels()):
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)
    np.testing.assert_array_equal(target.fc2_bias.numpy(), source.fc2_bias.numpy() + 0.5)
    np.testing.assert_array_equal(target.fc1_bias.numpy(), source.fc1_bias.numpy())
