"""SplitAttention (ResNeSt Sec. 3): against a NumPy transcription of ResNeSt's
SplAtConv2d with random weights (cardinality 2, radix 2), the radix-1 sigmoid
form, the channel alignment of the thesis' uneven groups on CAMnet34's real
stage sizes, the bottleneck width, the grouped FLOP count and the refusal of
files saved before the layout fix."""

import json
import zipfile

import keras
import numpy as np
import pytest
from keras import ops

from fer_tf.errors import ConfigError
from fer_tf.evaluation.efficiency import count_flops
from fer_tf.layers.split_attention import (LAYOUT_VERSION, SplitAttention, block_diagonal,
                                           cardinal_slices, channel_sizes)
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


# --- A NumPy transcription of ResNeSt's SplAtConv2d (NHWC, inference mode) ---

def _np_conv(x, w, stride):
    """Cross-correlation with zero padding k // 2 (PyTorch padding=1 for 3x3)."""
    k = w.shape[0]
    pad = k // 2
    x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    out_h = (x.shape[1] - k) // stride + 1
    out_w = (x.shape[2] - k) // stride + 1
    out = np.zeros((x.shape[0], out_h, out_w, w.shape[-1]))
    for i in range(k):
        for j in range(k):
            patch = x[:, i:i + stride * out_h:stride, j:j + stride * out_w:stride, :]
            out += patch @ w[i, j]
    return out


def _np_grouped(x, kernels, apply):
    """torch's groups=len(kernels): equal input blocks, outputs side by side."""
    parts = np.split(x, len(kernels), axis=-1)
    return np.concatenate([apply(p, w) for p, w in zip(parts, kernels)], axis=-1)


def _np_bn(x, bn):
    gamma, beta, mean, var = bn
    return gamma * (x - mean) / np.sqrt(var + 1e-3) + beta


def resnest_splat(x, p, radix, cardinality, stride):
    """SplAtConv2d.forward: conv (groups K*R) -> bn0 -> relu -> split, sum ->
    gap -> fc1 (groups K) -> bn1 -> relu -> fc2 (groups K) -> rSoftMax:
    view(B, K, R, -1).transpose(1, 2), softmax over R -> weighted sum."""
    x = _np_grouped(x, p["conv"], lambda part, w: _np_conv(part, w, stride))
    x = np.maximum(_np_bn(x, p["bn0"]), 0)
    channels = x.shape[-1] // radix
    splits = np.split(x, radix, axis=-1)
    gap = sum(splits).mean(axis=(1, 2))
    z = _np_grouped(gap, p["fc1"], lambda part, w: part @ w) + p["fc1_bias"]
    z = np.maximum(_np_bn(z, p["bn1"]), 0)
    atten = _np_grouped(z, p["fc2"], lambda part, w: part @ w) + p["fc2_bias"]
    batch = x.shape[0]
    atten = atten.reshape(batch, cardinality, radix, -1).transpose(0, 2, 1, 3)
    atten = np.exp(atten - atten.max(axis=1, keepdims=True))
    atten = (atten / atten.sum(axis=1, keepdims=True)).reshape(batch, -1)
    attens = np.split(atten, radix, axis=-1)
    assert attens[0].shape[-1] == channels
    return sum(a[:, None, None, :] * s for a, s in zip(attens, splits))


def _random_params(rng, in_channels, channels, radix, cardinality, inter):
    groups, wide = radix * cardinality, channels * radix
    bn = lambda n: (rng.uniform(0.5, 1.5, n), rng.normal(0, 0.3, n), rng.normal(0, 0.3, n),
                    rng.uniform(0.5, 1.5, n))
    return {
        "conv": [rng.normal(0, 0.3, (3, 3, in_channels // groups, channels // cardinality))
                 for _ in range(groups)],
        "fc1": [rng.normal(0, 0.5, (channels // cardinality, inter // cardinality))
                for _ in range(cardinality)],
        "fc2": [rng.normal(0, 1.0, (inter // cardinality, wide // cardinality))
                for _ in range(cardinality)],
        "fc1_bias": rng.normal(0, 0.3, inter), "fc2_bias": rng.normal(0, 1.0, wide),
        "bn0": bn(wide), "bn1": bn(inter),
    }


@pytest.mark.parametrize("stride,size", [(1, 6), (2, 7)])
def test_matches_resnest_splatconv2d_with_cardinality_two(stride, size):
    rng = np.random.default_rng(stride)
    in_channels, channels, radix, cardinality = 16, 8, 2, 2
    x = rng.normal(size=(2, size, size, in_channels)).astype("float32")
    layer = SplitAttention(channels, 3, stride, radix=radix, cardinality=cardinality,
                           min_inter=4)
    layer.build(x.shape)
    # ResNeSt's width: max(in_channels * radix // 4, min_inter) = 8, not filters-based 4.
    assert layer.inter_channels == 8
    p = _random_params(rng, in_channels, channels, radix, cardinality, layer.inter_channels)
    layer.set_group_kernels(p["conv"], p["fc1"], p["fc2"])
    layer.fc1_bias.assign(p["fc1_bias"])
    layer.fc2_bias.assign(p["fc2_bias"])
    for bn, values in ((layer.bn0, p["bn0"]), (layer.bn1, p["bn1"])):
        bn.set_weights([v.astype("float32") for v in values])
    got = ops.convert_to_numpy(layer(x, training=False))
    want = resnest_splat(x.astype("float64"), p, radix, cardinality, stride)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


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


def _cardinal_of_conv_outputs(layer):
    """Cardinal group each conv output channel is written by, from the block
    structure (group index g = r * K + k)."""
    owner = []
    for g, (_, out) in enumerate(layer._conv_groups):
        owner += [g % layer.cardinality] * out
    return np.asarray(owner)


@pytest.mark.parametrize("in_channels,filters,cardinality",
                         [(64, 64, 3), (64, 128, 4), (128, 256, 6), (256, 512, 3)])
def test_uneven_groups_line_up_on_camnet34_stages(in_channels, filters, cardinality):
    # CAMnet34's stages (thesis Sec. 5.1.1: radix 2, groups 3, 4, 6, 3); the
    # first unit of each stage maps the previous width to the new one.
    radix = 2
    layer = SplitAttention(filters, radix=radix, cardinality=cardinality)
    layer.build((None, 4, 4, in_channels))
    slices = cardinal_slices(filters, cardinality)
    owner = np.empty(filters, int)
    for k, channels in enumerate(slices):
        owner[list(channels)] = k
    # Convolution: split r's channel c is written by a group of c's cardinal group.
    np.testing.assert_array_equal(_cardinal_of_conv_outputs(layer), np.tile(owner, radix))
    # Pooling -> fc1: pooled channel c feeds only fc1's group owner[c].
    fc1_in = np.repeat(np.arange(cardinality), [i for i, _ in layer._fc1_groups])
    np.testing.assert_array_equal(fc1_in, owner)
    # Attention: the logit of (r, c) comes from fc2's group owner[c].
    fc2_out = np.repeat(np.arange(cardinality), [o for _, o in layer._fc2_groups])
    order = layer.attention_order().reshape(radix, filters)
    for r in range(radix):
        np.testing.assert_array_equal(fc2_out[order[r]], owner)
    # And every fc2 output is used exactly once.
    assert sorted(order.ravel().tolist()) == list(range(radix * filters))
    assert layer.inter_channels == max(in_channels * radix // 4, 32)


def test_attention_of_one_cardinal_group_moves_only_its_channels():
    # Functional check of the alignment (uneven: 10 channels in 3 groups): a
    # logit change in fc2's group k changes the output only on group k's channels.
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 5, 5, 12)).astype("float32")
    layer = SplitAttention(10, radix=2, cardinality=3, min_inter=6)
    layer.build(x.shape)
    base = ops.convert_to_numpy(layer(x, training=False))
    bias = layer.fc2_bias.numpy()
    starts = np.cumsum([0] + [o for _, o in layer._fc2_groups])
    for k, channels in enumerate(cardinal_slices(10, 3)):
        moved = bias.copy()
        moved[starts[k]:starts[k + 1]] += rng.normal(0, 2.0, starts[k + 1] - starts[k])
        layer.fc2_bias.assign(moved)
        changed = np.abs(ops.convert_to_numpy(layer(x, training=False)) - base).max(
            axis=(0, 1, 2)) > 1e-6
        np.testing.assert_array_equal(np.flatnonzero(changed), list(channels))
    layer.fc2_bias.assign(bias)


def test_rsoftmax_with_equal_logits_averages_the_splits():
    # Zero logits: the softmax across the radix axis gives 1/R to each split.
    x = np.random.default_rng(3).normal(size=(2, 5, 5, 6)).astype("float32")
    layer = SplitAttention(4, radix=3, cardinality=2, min_inter=4)
    layer(x)
    layer.fc2_kernel.assign(np.zeros(layer.fc2_kernel.shape, "float32"))
    out = ops.convert_to_numpy(layer(x, training=False))
    kernel = layer.dense_kernels()[0]
    assert np.array_equal(kernel != 0,
                          np.broadcast_to(block_diagonal(layer._conv_groups) > 0, kernel.shape))
    u = ops.convert_to_numpy(layer.bn0(ops.conv(x, kernel, padding="same"), training=False))
    u = np.maximum(u, 0)
    np.testing.assert_allclose(out, (u[..., :4] + u[..., 4:8] + u[..., 8:]) / 3,
                               rtol=1e-4, atol=1e-5)


def test_channel_sizes_and_block_diagonal():
    assert channel_sizes(64, 3) == [22, 21, 21]
    mask = block_diagonal([(3, 2), (2, 2)])
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


def _strip_version(path, out):
    """A copy of a .keras file as an fer_tf before LAYOUT_VERSION wrote it."""
    def strip(node):
        if isinstance(node, dict):
            if node.get("class_name") == "SplitAttention":
                node["config"].pop("version", None)
            for value in node.values():
                strip(value)
        elif isinstance(node, list):
            for value in node:
                strip(value)
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "config.json":
                config = json.loads(data)
                strip(config)
                data = json.dumps(config).encode()
            dst.writestr(item, data)


def test_files_saved_before_the_layout_fix_are_refused_in_one_line(tmp_path):
    inputs = keras.Input((6, 6, 8))
    model = keras.Model(inputs, SplitAttention(8, radix=2, cardinality=2, min_inter=4,
                                               name="cau")(inputs))
    model.save(tmp_path / "new.keras")
    assert keras.saving.load_model(tmp_path / "new.keras").layers[-1].get_config()[
        "version"] == LAYOUT_VERSION
    _strip_version(tmp_path / "new.keras", tmp_path / "old.keras")
    with pytest.raises(ConfigError, match="saved by an earlier fer_tf") as caught:
        keras.saving.load_model(tmp_path / "old.keras")
    assert "\n" not in str(caught.value)
    from fer_tf.serving.predict import load_keras_file
    with pytest.raises(ConfigError, match="old.keras.*earlier fer_tf"):
        load_keras_file(tmp_path / "old.keras")


def test_mixed_bfloat16_keeps_the_logits_and_rsoftmax_in_float32():
    # A common offset of 100 on every logit leaves the rSoftMax unchanged in
    # float32; in bfloat16 (steps of 0.5 at 100) it would round the logits' differences away.
    x = np.random.default_rng(7).normal(size=(2, 6, 6, 16)).astype("float32")
    reference = SplitAttention(12, radix=2, cardinality=3, min_inter=8)
    reference.build(x.shape)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        layer = SplitAttention(12, radix=2, cardinality=3, min_inter=8)
        layer.build(x.shape)
    finally:
        keras.config.set_dtype_policy(previous)
    layer.set_weights(reference.get_weights())
    base = ops.convert_to_numpy(ops.cast(layer(x, training=False), "float32"))
    assert keras.backend.standardize_dtype(layer(x).dtype) == "bfloat16"
    np.testing.assert_allclose(base, ops.convert_to_numpy(reference(x, training=False)),
                               rtol=0.05, atol=0.05)
    layer.fc2_bias.assign(np.full(layer.fc2_bias.shape, 100.0, "float32"))
    shifted = ops.convert_to_numpy(ops.cast(layer(x, training=False), "float32"))
    np.testing.assert_allclose(shifted, base, rtol=1e-2, atol=1e-2)
