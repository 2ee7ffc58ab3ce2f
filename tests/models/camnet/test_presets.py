"""The thesis' recipe (Sec. 6.1-6.2.1) and its Table 6.3 variants."""

import numpy as np
import pytest

from fer_tf.data.pipeline import make_augmentation
from fer_tf.errors import ConfigError
from fer_tf.models.camnet import model as camnet_model  # noqa: F401  registers the augmentation
from fer_tf.models.camnet.presets import (CAMNET_RECIPE, TABLE_6_3, TABLE_6_3_RECIPES,
                                          camnet_recipe)
from fer_tf.optimizers import RAdam
from fer_tf.training.recipes import make_optimizer


def test_camnet_recipe_is_the_thesis_setup():
    r = CAMNET_RECIPE
    assert (r.epochs, r.batch_size, r.normalization) == (50, 32, "unit")
    assert r.train_transform.resize == (224, 224) == r.eval_transform.resize
    assert r.train_transform.interpolation == "lanczos3"
    assert r.train_transform.augmentation == "camnet_table_6_1"
    assert r.eval_transform.augmentation is None
    assert r.model_kwargs == {"dropout": 0.5}
    optimizer = make_optimizer(r.optimizer)
    assert isinstance(optimizer, RAdam)
    assert float(optimizer.learning_rate.numpy()) == pytest.approx(1e-4)
    assert optimizer.weight_decay == pytest.approx(1e-4)


def test_table_6_3_variants():
    names = {k: v.optimizer.name for k, v in TABLE_6_3_RECIPES.items()}
    assert names == {"adadelta": "adadelta", "sgd": "sgd", "adam": "adamw", "radam": "radam"}
    for key, recipe in TABLE_6_3_RECIPES.items():
        assert recipe.optimizer.learning_rate == TABLE_6_3[key]["learning_rate"]
        # Sec. 6.2.1's weight decay 1e-4 reaches every optimizer, AdaDelta too.
        assert make_optimizer(recipe.optimizer).weight_decay == pytest.approx(1e-4), key
    assert TABLE_6_3_RECIPES["sgd"].optimizer.momentum == 0.9
    with pytest.raises(ConfigError, match="Table 6.3 optimizer"):
        camnet_recipe("lamb")


def test_table_6_1_augmentation_moves_pixels_and_keeps_shape():
    layer = make_augmentation(CAMNET_RECIPE.train_transform, seed=3)
    images = np.random.default_rng(0).uniform(0, 255, (4, 16, 16, 3)).astype("float32")
    out = np.asarray(layer(images, training=True))
    assert out.shape == images.shape and not np.allclose(out, images)
    assert out.min() >= 0 and out.max() <= 255


def test_adadelta_applies_its_weight_decay():
    # One AdaDelta step on a zero gradient: only the decoupled decay moves w.
    import keras

    optimizer = make_optimizer(TABLE_6_3_RECIPES["adadelta"].optimizer)
    w = keras.Variable(np.ones(3, "float32"))
    optimizer.apply_gradients([(keras.ops.zeros(3), w)])
    np.testing.assert_allclose(w.numpy(), 1 - 1.0 * 1e-4, rtol=1e-6)


def test_members_get_the_thesis_batch_epochs_and_no_dropout():
    from fer_tf.models.camnet.presets import member_recipe, model_dropout
    from fer_tf.models.registry import get_spec

    # Sec. 6.2.2: SE-ResNet34 and SE-ResNeXt101 at batch 48, SE-ResNeXt101 43 epochs.
    assert get_spec("se_resnet34").default_recipe().batch_size == 48
    se101 = member_recipe("se_resnext101")
    assert (se101.batch_size, se101.epochs) == (48, 43)
    for name in ("densenet121", "cbam_resnet50", "bam_resnet50", "resnet34"):
        recipe = get_spec(name).default_recipe()
        assert (recipe.batch_size, recipe.epochs) == (32, 50), name
        assert recipe.model_kwargs["dropout"] == 0.0 == model_dropout(name), name
    # Dropout 0.5 is CAMnet's alone (Sec. 6.2.1).
    assert get_spec("camnet34").default_recipe().model_kwargs["dropout"] == 0.5
