"""RandomErasing: the Sec. III-C Eq. 8 random erasing, eagerly and inside tf.data."""

import numpy as np
import pytest

from fer_tf.layers.random_erasing import RandomErasing
from tests.helpers.layer_test import run_layer_test

FILL = (123.675, 116.28, 103.53)


def _images(n, size=32):
    return np.full((n, size, size, 3), 7.0, "float32")


def _erased(y):
    return np.all(np.isclose(y, np.asarray(FILL, "float32"), atol=1e-3), axis=-1)


def test_layer_contract():
    run_layer_test(RandomErasing, {"probability": 0.25, "scale": [0.02, 0.1],
                                   "ratio": [0.3, 3.3], "fill_value": list(FILL), "seed": 1},
                   input_data=_images(2, 8), expected_output_shape=(2, 8, 8, 3),
                   expected_num_trainable_weights=0, expected_num_non_trainable_weights=0)


def test_one_rectangle_of_the_paper_area_filled_with_the_mean_colour():
    y = np.asarray(RandomErasing(1.0, (0.02, 0.1), fill_value=FILL, seed=2)(
        _images(64, 48), training=True))
    for mask in _erased(y):
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        # one solid rectangle
        assert mask.sum() == len(rows) * len(cols)
        assert np.all(np.diff(rows) == 1) and np.all(np.diff(cols) == 1)
        area = mask.mean()
        # pixel rounding widens the 0.02-0.1 range a little at 48 x 48
        assert 0.012 <= area <= 0.12, area
        assert 0.2 <= len(rows) / len(cols) <= 5.0
    untouched = ~_erased(y)
    assert np.all(y[untouched] == 7.0)


def test_probability_quarter_and_inference_identity():
    x = _images(800, 16)
    y = np.asarray(RandomErasing(0.25, (0.02, 0.1), fill_value=FILL, seed=3)(x, training=True))
    rate = _erased(y).reshape(800, -1).any(1).mean()
    assert 0.2 < rate < 0.3, rate
    np.testing.assert_array_equal(np.asarray(RandomErasing(1.0)(x, training=False)), x)


def test_inside_tf_data_unbatched():
    import tensorflow as tf

    layer = RandomErasing(1.0, (0.02, 0.1), fill_value=FILL, seed=4)
    ds = tf.data.Dataset.from_tensor_slices(_images(8)).map(
        lambda im: layer(im, training=True)).batch(8)
    y = next(iter(ds)).numpy()
    assert y.shape == (8, 32, 32, 3)
    assert _erased(y).reshape(8, -1).any(1).all()


@pytest.mark.parametrize("kwargs", [{"probability": -0.1}, {"scale": (0.5, 0.1)},
                                    {"ratio": (0.0, 1.0)}])
def test_bad_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        RandomErasing(**kwargs)


def test_fill_value_must_match_channels():
    with pytest.raises(ValueError, match="fill values"):
        RandomErasing(1.0, fill_value=FILL)(np.zeros((1, 8, 8, 1), "float32"), training=True)
