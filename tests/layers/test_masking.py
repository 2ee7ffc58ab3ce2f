"""MaskingBlock (Residual Masking Network Sec. 3.2): the shared layer test at
each depth, channel-softmax output, and Eq. 5.1's (1 + M) * F."""

import numpy as np
import pytest
from keras import ops

from fer_tf.layers.masking import MaskingBlock, ResidualUnit, apply_mask
from tests.helpers.layer_test import run_layer_test


@pytest.mark.parametrize("depth,size", [(1, 5), (3, 6)])
def test_layer_basics_and_channel_softmax(depth, size):
    # Odd and even maps: pooling rounds up and the decoder crops to the skip.
    # Momentum 1 keeps moving statistics fixed through the helper's training call.
    built = run_layer_test(MaskingBlock, {"depth": depth, "bn_momentum": 1.0},
                           input_shape=(2, size, size, 4),
                           expected_output_shape=(2, size, size, 4), jax=depth != 1)
    mask = built["outputs"]
    assert (mask > 0).all() and (mask < 1).all()
    np.testing.assert_allclose(mask.sum(axis=-1), 1.0, rtol=1e-5)


def test_residual_unit_projects_when_widths_differ():
    run_layer_test(ResidualUnit, {"filters": 6, "bn_momentum": 1.0}, input_shape=(2, 4, 4, 3),
                   expected_output_shape=(2, 4, 4, 6), expected_num_trainable_weights=9,
                   jax=False)


def test_mask_zero_gives_the_features():
    features = np.random.default_rng(0).normal(size=(2, 3, 3, 4)).astype("float32")
    np.testing.assert_array_equal(ops.convert_to_numpy(apply_mask(features, 0 * features)),
                                  features)
    doubled = ops.convert_to_numpy(apply_mask(features, np.ones_like(features)))
    np.testing.assert_allclose(doubled, 2 * features)


def test_depth_four_halves_three_times_and_sums_to_one():
    # The thesis' first-stage block; 5 -> 3 -> 2 -> 1 and back by cropping.
    x = np.random.default_rng(1).normal(size=(1, 5, 5, 2)).astype("float32")
    block = MaskingBlock(depth=4)
    mask = ops.convert_to_numpy(block(x))
    assert mask.shape == x.shape
    assert [u.filters for u in block.encoders] == [2, 4, 8, 16]
    np.testing.assert_allclose(mask.sum(axis=-1), 1.0, rtol=1e-5)


def test_depth_outside_one_to_four_is_refused():
    with pytest.raises(ValueError, match="depth must be 1-4"):
        MaskingBlock(depth=5)


# --- A NumPy transcription of the masking block (RMN Sec. 3.2), inference ---

def _conv3(x, w):
    x = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    h, wd = x.shape[1] - 2, x.shape[2] - 2
    return sum(x[:, i:i + h, j:j + wd, :] @ w[i, j] for i in range(3) for j in range(3))


def _bn(x, layer):
    gamma, beta, mean, var = (v.numpy() for v in
                              (layer.gamma, layer.beta, layer.moving_mean,
                               layer.moving_variance))
    return gamma * (x - mean) / np.sqrt(var + layer.epsilon) + beta


def _unit(x, u):
    y = np.maximum(_bn(_conv3(x, u.conv1.kernel.numpy()), u.bn1), 0)
    y = _bn(_conv3(y, u.conv2.kernel.numpy()), u.bn2)
    shortcut = x if u.project is None else _bn(x @ u.project.kernel.numpy()[0, 0], u.project_bn)
    return np.maximum(y + shortcut, 0)


def _maxpool2(x):
    """2 x 2 stride 2, 'same': odd sides padded at the end (ceil)."""
    h, w = -(-x.shape[1] // 2), -(-x.shape[2] // 2)
    x = np.pad(x, ((0, 0), (0, 2 * h - x.shape[1]), (0, 2 * w - x.shape[2]), (0, 0)),
               constant_values=-np.inf)
    return x.reshape(x.shape[0], h, 2, w, 2, x.shape[-1]).max(axis=(2, 4))


def _up2(x, layer):
    """2 x 2 stride-2 transposed convolution: out[2i + a, 2j + b] = x[i, j] K[a, b]."""
    kernel, bias = layer.kernel.numpy(), layer.bias.numpy()  # (2, 2, out, in)
    out = np.zeros((x.shape[0], 2 * x.shape[1], 2 * x.shape[2], kernel.shape[2]))
    for a in range(2):
        for b in range(2):
            out[:, a::2, b::2, :] = x @ kernel[a, b].T
    return out + bias


def masking_block_numpy(x, block):
    skips, y = [], x
    for level, unit in enumerate(block.encoders):
        y = _unit(_maxpool2(y) if level else y, unit)
        skips.append(y)
    for level in reversed(range(block.depth - 1)):
        skip = skips[level]
        up = _up2(y, block.upsamplers[level])[:, :skip.shape[1], :skip.shape[2], :]
        y = _unit(np.concatenate([up, skip], axis=-1), block.decoders[level])
    logits = _unit(y, block.last)
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("depth,size", [(2, 5), (3, 7)])
def test_matches_a_numpy_transcription_with_random_weights(depth, size):
    rng = np.random.default_rng(depth)
    x = rng.normal(size=(2, size, size, 3)).astype("float32")
    block = MaskingBlock(depth=depth)
    block.build(x.shape)
    for weight in block.weights:  # random kernels, biases and BN statistics
        shape = tuple(weight.shape)
        value = rng.normal(0, 0.4, shape)
        if "variance" in weight.path:
            value = rng.uniform(0.5, 1.5, shape)
        weight.assign(value.astype("float32"))
    got = ops.convert_to_numpy(block(x, training=False))
    np.testing.assert_allclose(got, masking_block_numpy(x.astype("float64"), block),
                               rtol=1e-4, atol=1e-5)
