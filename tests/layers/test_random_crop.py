"""PerImageRandomCrop: Sec. III-C Eq. 3's random crop for data fed as arrays."""

import numpy as np
import pytest

from fer_tf.layers.random_crop import PerImageRandomCrop
from tests.helpers.layer_test import run_layer_test


def _ramp(n, size):
    # pixel value encodes its (row, column): every window is identifiable
    rows, cols = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    image = (rows * size + cols).astype("float32")[..., None]
    return np.repeat(np.repeat(image[None], n, 0), 2, -1)


def test_layer_contract():
    run_layer_test(PerImageRandomCrop, {"height": 4, "width": 5, "seed": 1},
                   input_data=_ramp(2, 8), expected_output_shape=(2, 4, 5, 2),
                   expected_num_trainable_weights=0, expected_num_non_trainable_weights=0)


def test_each_image_gets_its_own_window_and_inference_is_centred():
    x = _ramp(64, 10)
    crop = PerImageRandomCrop(6, 6, seed=2)
    y = np.asarray(crop(x, training=True))
    corners = y[:, 0, 0, 0].astype(int)
    tops, lefts = corners // 10, corners % 10
    for k in range(64):
        np.testing.assert_array_equal(y[k], x[k, tops[k]:tops[k] + 6, lefts[k]:lefts[k] + 6])
    assert tops.min() == 0 and tops.max() == 4 and len(np.unique(corners)) > 10
    centre = np.asarray(crop(x, training=False))
    np.testing.assert_array_equal(centre, x[:, 2:8, 2:8])
    same = _ramp(2, 6)
    np.testing.assert_array_equal(np.asarray(crop(same, training=False)), same)


def test_too_small_images_raise():
    with pytest.raises(ValueError, match="cannot crop"):
        PerImageRandomCrop(8, 8)(np.zeros((1, 4, 4, 1), "float32"), training=True)
