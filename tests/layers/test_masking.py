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
