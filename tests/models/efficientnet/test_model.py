"""efficientnet_b0: registration, Eq. 9 head, weights choices, mixed precision, augmentation."""

import keras
import numpy as np
import pytest

from fer_tf.errors import ConfigError, MissingModelFileError
from fer_tf.models import registry
from fer_tf.models.efficientnet.presets import IMAGENET_MEAN, TABLE_I_RECIPE
from fer_tf.training import fit
from fer_tf.training.runner import resolve_recipe


@pytest.fixture(scope="module")
def small_model():
    return registry.build_model("efficientnet_b0", input_shape=(32, 32, 3))


def test_registered_with_the_papers_defaults():
    spec = registry.get_spec("efficientnet_b0")
    assert spec.paper == "efficientnet" and spec.input_shape == (224, 224, 3)
    assert spec.num_classes == 7 and spec.normalization == "none"
    recipe = spec.default_recipe()
    assert recipe == TABLE_I_RECIPE and recipe.model_kwargs == {"weights": "imagenet"}


def test_head_is_one_linear_layer_from_1280_features(small_model):
    # Eq. 9: Linear(1280 -> 7) after the pooled backbone features; no dropout.
    head = small_model.get_layer("predictions")
    assert tuple(head.kernel.shape) == (1280, 7) and head.dtype_policy.name == "float32"
    assert small_model.get_layer("dropout").rate == 0.0
    assert small_model.get_layer("preprocess").mode == "none"
    assert small_model.output_shape == (None, 7)
    probs = np.asarray(small_model(np.full((2, 32, 32, 3), 255.0, "float32")))
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)


def test_weights_random_none_and_missing_imagenet_file(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(MissingModelFileError) as error:
        registry.build_model("efficientnet_b0", input_shape=(32, 32, 3), weights="imagenet")
    message = str(error.value)
    assert "efficientnetb0_notop.h5" in message and str(tmp_path) in message
    assert "\n" not in message
    spec = registry.get_spec("efficientnet_b0")
    # what `fer-tf train ... --set 'model_kwargs={"weights": "random"}'` resolves to
    recipe = resolve_recipe(spec, {"model_kwargs": {"weights": "random"}})
    assert recipe.model_kwargs == {"weights": "random"}
    model = registry.build_model("efficientnet_b0", input_shape=(32, 32, 1), weights="none",
                                 **{k: v for k, v in recipe.model_kwargs.items()
                                    if k != "weights"})
    assert model.input_shape == (None, 32, 32, 1)


def test_zero_init_starts_uniform_with_identity_residual_blocks_and_then_learns(small_model):
    from fer_tf.models.efficientnet.model import efficientnet_b0

    model = efficientnet_b0((32, 32, 3), 7, zero_init=True)
    backbone = model.get_layer("features")
    zeroed = [layer for layer in backbone.layers if layer.name.endswith("_project_bn")
              and np.all(np.asarray(layer.gamma) == 0)]
    # B0's 16 MBConv blocks: the 7 that open a stage have no residual.
    assert len(zeroed) == 9 and all(backbone.get_layer(layer.name[:-11] + "_add")
                                    for layer in zeroed)
    assert np.all(np.asarray(backbone.get_layer("block1a_project_bn").gamma) == 1)
    images = np.random.default_rng(0).uniform(0, 255, (8, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(np.asarray(model(images)), 1 / 7, rtol=1e-6)
    model.compile(keras.optimizers.AdamW(1e-2), "sparse_categorical_crossentropy",
                  run_eagerly=True)  # two steps: cheaper eager than traced
    # Step 1 moves the zero head; step 2 reaches the backbone through it.
    model.fit(images, np.arange(8) % 7, batch_size=4, epochs=1, verbose=0)
    assert np.any(np.asarray(model.get_layer("predictions").kernel) != 0)
    assert all(np.any(np.asarray(layer.gamma) != 0) for layer in zeroed)
    default = small_model.get_layer("features").get_layer(zeroed[0].name)
    assert np.all(np.asarray(default.gamma) == 1), "Keras' init without zero_init"


def test_zero_init_refuses_pretrained_weights_before_looking_for_them(tmp_path, monkeypatch):
    from fer_tf.models.efficientnet.model import efficientnet_b0

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(ConfigError, match="zero_init .* weights='imagenet'"):
        efficientnet_b0((32, 32, 3), 7, weights="imagenet", zero_init=True)
    with pytest.raises(ConfigError, match="weights=None"):  # None: the ImageNet default
        efficientnet_b0((32, 32, 3), 7, weights=None, zero_init=True)


def test_mixed_precision_computes_in_float16_and_outputs_float32():
    with fit.precision_policy(True):
        model = registry.build_model("efficientnet_b0", input_shape=(32, 32, 3))
    conv = model.get_layer("features").get_layer("stem_conv")
    assert conv.compute_dtype == "float16"
    out = model(np.zeros((2, 32, 32, 3), "float32"))
    assert keras.backend.standardize_dtype(out.dtype) == "float32"
    optimizer = fit.wrap_optimizer(keras.optimizers.AdamW(), True)
    assert type(optimizer).__name__ == "LossScaleOptimizer"


def test_named_augmentation_is_the_sec_iii_c_stack_and_runs_in_the_pipeline():
    from fer_tf.data.pipeline import make_augmentation, make_dataset
    from fer_tf.data.synthetic import make_synthetic
    from fer_tf.models.efficientnet import model  # noqa: F401  (registers "efficientnet")
    from fer_tf.models.efficientnet.presets import table_i_recipe

    recipe = table_i_recipe(32)
    assert recipe.train_transform.resize == (37, 37) and recipe.train_transform.crop == (32, 32)
    assert recipe.eval_transform.resize == (32, 32) and recipe.eval_transform.crop is None
    stack = make_augmentation(recipe.train_transform, seed=0)
    names = [type(layer).__name__ for layer in stack.layers]
    assert names == ["RandomFlip", "RandomRotation", "ColorJitter", "RandomErasing"]
    rotation, jitter, erasing = stack.layers[1], stack.layers[2], stack.layers[3]
    assert stack.layers[0].mode == "horizontal"
    np.testing.assert_allclose(rotation.factor, (-15 / 360, 15 / 360))  # +-15 degrees
    assert (rotation.fill_mode, rotation.interpolation) == ("constant", "nearest")
    assert (jitter.brightness, jitter.contrast, jitter.saturation, jitter.probability) == (
        0.2, 0.2, 0.2, 0.5)
    assert erasing.probability == 0.25 and erasing.scale == (0.02, 0.1)
    np.testing.assert_allclose(erasing.fill_value, np.multiply(IMAGENET_MEAN, 255.0))

    records = make_synthetic(num_subjects=2, images_per_class=1, classes="seven", size=24)
    pipe = dict(channels=3, normalization=recipe.normalization, batch_size=14)
    train = next(iter(make_dataset(records, training=True, seed=1,
                                   transform=recipe.train_transform, **pipe)))[0].numpy()
    evaluation = next(iter(make_dataset(records, transform=recipe.eval_transform,
                                        **pipe)))[0].numpy()
    assert train.shape == evaluation.shape == (14, 32, 32, 3)
    assert train.min() >= 0.0 and train.max() <= 255.0 and evaluation.max() > 1.0
    assert not np.allclose(train, evaluation)
