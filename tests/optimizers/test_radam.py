"""RAdam against a NumPy transcription of Liu et al. 2020 Algorithm 2."""

import math

import keras
import numpy as np
import pytest

from fer_tf.optimizers import RAdam
from fer_tf.training.recipes import OptimizerConfig, make_optimizer


def numpy_radam(theta, grads, lr, b1=0.9, b2=0.999, eps=1e-7, wd=0.0, threshold=4.0):
    """The paper's update step by step; returns thetas and which steps rectified."""
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    rho_inf = 2 / (1 - b2) - 1
    thetas, rectified = [], []
    for t, g in enumerate(grads, start=1):
        theta = theta - lr * wd * theta  # decoupled decay first, as Keras applies it
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat = m / (1 - b1 ** t)
        rho_t = rho_inf - 2 * t * b2 ** t / (1 - b2 ** t)
        if rho_t > threshold:
            r_t = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf
                            / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            theta = theta - lr * r_t * m_hat * math.sqrt(1 - b2 ** t) / (np.sqrt(v) + eps)
        else:
            theta = theta - lr * m_hat
        thetas.append(theta.copy())
        rectified.append(rho_t > threshold)
    return thetas, rectified


@pytest.mark.parametrize("b2,wd", [(0.999, 0.0), (0.9, 1e-2)])
def test_matches_the_paper_update_through_and_after_warmup(b2, wd):
    rng = np.random.default_rng(0)
    theta0 = rng.normal(size=(3, 4)).astype("float64")
    grads = [rng.normal(size=(3, 4)) for _ in range(8)]
    expected, rectified = numpy_radam(theta0, grads, lr=0.1, b2=b2, wd=wd)
    # rho_t = 1, 2, 3, 4.0 (<= 4: momentum SGD) then 5, 6, 7, 8 for b2 = 0.999;
    # 1.0 ... 3.7 then 4.6 ... 6.9 for b2 = 0.9: both branches are exercised.
    assert rectified == [False] * 4 + [True] * 4
    variable = keras.Variable(theta0.astype("float32"))
    optimizer = RAdam(0.1, beta_2=b2, weight_decay=wd or None)
    for g, want in zip(grads, expected):
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(g.astype("float32")),
                                    variable)])
        # float32 against float64: 1 - b2^t is ~5e-3 in the early steps.
        np.testing.assert_allclose(variable.numpy(), want, rtol=1e-4, atol=2e-5)


def test_registered_for_recipes_and_serialisable():
    optimizer = make_optimizer(OptimizerConfig("radam", 1e-4, weight_decay=1e-4))
    assert isinstance(optimizer, RAdam) and optimizer.weight_decay == 1e-4
    clone = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert isinstance(clone, RAdam) and clone.get_config() == optimizer.get_config()
