"""SE, CBAM and BAM through the shared layer test, plus each paper's gate range."""

import numpy as np
import pytest

from fer_tf.layers.attention import BAM, CBAM, SqueezeExcite
from tests.helpers.layer_test import run_layer_test


@pytest.mark.parametrize("cls,kwargs,weights", [
    (SqueezeExcite, {"reduction": 4}, 4),
    (CBAM, {"reduction": 4, "kernel_size": 3}, 6),
    (BAM, {"reduction": 4, "dilation": 2, "bn_momentum": 1.0}, 20),
])
def test_layer_basics(cls, kwargs, weights):
    built = run_layer_test(cls, kwargs, input_shape=(2, 6, 6, 8),
                           expected_output_shape=(2, 6, 6, 8),
                           expected_num_trainable_weights=weights)
    x, y = built["input_data"], built["outputs"]
    ratio = y / np.where(np.abs(x) > 1e-6, x, np.nan)
    ratio = ratio[np.isfinite(ratio)]
    # SE and CBAM gate by factors in (0, 1); BAM's residual gate is in (1, 2).
    low, high = (1.0, 2.0) if cls is BAM else (0.0, 1.0)
    assert (ratio > low - 1e-5).all() and (ratio < high + 1e-5).all()
