"""ColorJitter: the Sec. III-C Eq. 6 colour jitter, eagerly and inside tf.data."""

import numpy as np
import pytest

from fer_tf.layers.color_jitter import ColorJitter
from tests.helpers.layer_test import run_layer_test


def _images(n, channels=3, low=80.0, high=170.0, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(low, high, (n, 8, 8, channels)).astype("float32")


def _run(layer, x):
    return np.asarray(layer(x, training=True))


def test_layer_contract():
    run_layer_test(ColorJitter, {"brightness": 0.2, "contrast": 0.2, "saturation": 0.2,
                                 "probability": 0.5, "value_range": [0.0, 255.0], "seed": 3},
                   input_data=_images(2), expected_output_shape=(2, 8, 8, 3),
                   expected_num_trainable_weights=0, expected_num_non_trainable_weights=0)


def test_brightness_is_one_multiplicative_factor_per_image_within_its_range():
    x = _images(16)
    y = _run(ColorJitter(0.2, 0.0, 0.0, probability=1.0, seed=1), x)
    ratio = (y / x).reshape(16, -1)
    np.testing.assert_allclose(ratio, np.broadcast_to(ratio[:, :1], ratio.shape), rtol=1e-5)
    assert ratio.min() >= 0.8 - 1e-6 and ratio.max() <= 1.2 + 1e-6
    assert ratio[:, 0].std() > 0.02


def test_contrast_scales_deviations_from_the_gray_mean():
    x = _images(8)
    y = _run(ColorJitter(0.0, 0.2, 0.0, probability=1.0, seed=2), x)
    gray = x @ np.array([0.2989, 0.587, 0.114], "float32")
    mean = gray.reshape(8, -1).mean(1)[:, None, None, None]
    factor = ((y - mean) / (x - mean)).reshape(8, -1)
    np.testing.assert_allclose(
        factor, np.broadcast_to(np.median(factor, 1, keepdims=True), factor.shape),
        rtol=1e-3, atol=1e-3)
    assert np.all((factor >= 0.8 - 1e-3) & (factor <= 1.2 + 1e-3))


def test_saturation_leaves_a_gray_face_repeated_to_rgb_unchanged():
    gray = np.repeat(_images(4, channels=1), 3, axis=-1)
    y = _run(ColorJitter(0.0, 0.0, 0.2, probability=1.0, seed=3), gray)
    # the weights 0.2989 + 0.587 + 0.114 sum to 0.9999 (torchvision's too)
    np.testing.assert_allclose(y, gray, rtol=2e-4)
    colour = _images(4)
    assert np.abs(_run(ColorJitter(0.0, 0.0, 0.2, probability=1.0, seed=3), colour)
                  - colour).max() > 0.5


def test_probability_and_clipping_and_inference():
    x = _images(400, low=0.0, high=255.0)
    y = _run(ColorJitter(0.2, 0.2, 0.2, probability=0.5, seed=4), x)
    changed = np.abs(y - x).reshape(400, -1).max(1) > 1e-3
    assert 0.4 < changed.mean() < 0.6
    assert y.min() >= 0.0 and y.max() <= 255.0
    np.testing.assert_array_equal(np.asarray(ColorJitter(probability=1.0)(x, training=False)), x)


def test_inside_tf_data_per_image_and_per_batch():
    import tensorflow as tf

    x = _images(32, low=0.0, high=255.0)
    layer = ColorJitter(0.2, 0.2, 0.2, probability=0.5, seed=5)
    for ds in (tf.data.Dataset.from_tensor_slices(x).map(lambda im: layer(im, training=True))
               .batch(32),
               tf.data.Dataset.from_tensor_slices(x).batch(8).map(
                   lambda b: layer(b, training=True))):
        y = np.concatenate([b.numpy() for b in ds])
        assert y.shape == x.shape and y.dtype == np.float32
        changed = np.abs(y - x).reshape(32, -1).max(1) > 1e-3
        assert 0 < changed.sum() < 32


@pytest.mark.parametrize("kwargs", [{"brightness": -0.1}, {"probability": 1.5}])
def test_bad_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        ColorJitter(**kwargs)
