"""Batch-norm folding gives the same outputs with the batch norms gone."""

import keras
import numpy as np

from fer_tf.serving.fold import fold_batch_norms, foldable_pairs
from fer_tf.models.registry import build_model


def _randomise_statistics(model, rng):
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 2, n), rng.normal(0, 0.5, n),
                               rng.normal(0, 0.5, n), rng.uniform(0.2, 3, n)])


def test_folded_vgg_lite_matches_and_has_no_batch_norm():
    rng = np.random.default_rng(0)
    model = build_model("vgg_lite", input_shape=(24, 24, 1))
    _randomise_statistics(model, rng)
    assert len(foldable_pairs(model)) == 8
    folded = fold_batch_norms(model)
    assert not any(isinstance(l, keras.layers.BatchNormalization) for l in folded.layers)
    x = rng.uniform(0, 1, (3, 24, 24, 1)).astype("float32")
    np.testing.assert_allclose(folded.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=2e-5)
    assert folded.count_params() < model.count_params()


def test_dense_and_depthwise_fold_and_others_are_kept():
    rng = np.random.default_rng(1)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same")(inputs)
    x = keras.layers.BatchNormalization()(x)
    y = keras.layers.Conv2D(4, 1, activation="relu")(x)   # activation before BN: kept
    y = keras.layers.BatchNormalization()(y)
    z = keras.layers.GlobalAveragePooling2D()(y)
    z = keras.layers.Dense(5)(z)
    z = keras.layers.BatchNormalization()(z)
    model = keras.Model(inputs, keras.layers.Softmax()(z))
    _randomise_statistics(model, rng)
    assert len(foldable_pairs(model)) == 2
    folded = fold_batch_norms(model)
    x = rng.uniform(0, 1, (2, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(folded.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=2e-5)
    assert sum(isinstance(l, keras.layers.BatchNormalization) for l in folded.layers) == 1
