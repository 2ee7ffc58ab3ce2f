import re
import warnings

import keras
import keras.src.utils.file_utils as keras_file_utils
import numpy as np
import pytest

from fer_tf.errors import ConfigError, DatasetError, MissingModelFileError
from fer_tf.models import applications
from fer_tf.models.applications import (
    BACKBONES,
    ImageNetInputPreprocessing,
    build_finetune_model,
    finetune,
    resolve_imagenet_weights,
)

# The cheapest backbones: MobileNet v1 at width 0.25 and MobileNetV2 at 0.35.
SMALL = {"mobilenet": 0.25, "mobilenet_v2": 0.35}


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    """An empty Keras cache, read by resolve_imagenet_weights at call time."""
    home = tmp_path / "keras_home"
    home.mkdir()
    monkeypatch.setenv("KERAS_HOME", str(home))
    return home


def _pixels(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=shape).astype("float32")


class _RequestedFile(Exception):
    pass


def test_table_lists_the_paper_backbones():
    assert list(BACKBONES) == [
        "inception_v3",
        "mobilenet",
        "mobilenet_v2",
        "resnet50",
        "resnet101",
        "resnet152",
        "resnet50_v2",
        "resnet101_v2",
        "resnet152_v2",
        "vgg19",
    ]
    rows = [row for backbone in BACKBONES.values() for row in backbone.paper_rows]
    assert not set(rows) & set(applications.UNAVAILABLE_PAPER_ROWS)
    assert len(rows) + len(applications.UNAVAILABLE_PAPER_ROWS) == 18  # Table I minus our system


@pytest.mark.parametrize("name", list(BACKBONES))
def test_weights_file_is_the_one_keras_would_fetch(name, monkeypatch):
    backbone = BACKBONES[name]
    requests = []

    def record_request(fname=None, origin=None, cache_subdir="datasets", **kwargs):
        requests.append((fname, origin, cache_subdir))
        raise _RequestedFile

    monkeypatch.setattr(keras_file_utils, "get_file", record_request)
    extra = {"alpha": SMALL[name]} if name in SMALL else {}
    shape = (backbone.min_size, backbone.min_size, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MobileNets warn that 224 px weights are used
        with pytest.raises(_RequestedFile):
            backbone.constructor(
                include_top=False, weights="imagenet", input_shape=shape, pooling="avg", **extra
            )
    assert requests == [
        (
            backbone.notop_weights_file(input_shape=shape, **extra),
            backbone.weights_url(input_shape=shape, **extra),
            "models",
        )
    ]


def test_mobilenet_file_names_follow_width_and_size():
    v1, v2 = BACKBONES["mobilenet"], BACKBONES["mobilenet_v2"]
    assert v1.notop_weights_file(0.25, (32, 32, 3)) == "mobilenet_2_5_224_tf_no_top.h5"
    assert v1.notop_weights_file(1.0, (128, 128, 3)) == "mobilenet_1_0_128_tf_no_top.h5"
    assert v2.notop_weights_file(0.35, (96, 96, 3)) == (
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96_no_top.h5"
    )
    # Non-square inputs fall back to the 224 px file, as in Keras.
    assert v2.notop_weights_file(1.0, (96, 128, 3)) == (
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"
    )
    with pytest.raises(ConfigError, match="alpha"):
        v2.notop_weights_file(0.2)


@pytest.mark.parametrize("name", list(BACKBONES))
def test_preprocessing_layer_matches_keras_preprocess_input(name):
    backbone = BACKBONES[name]
    layer = ImageNetInputPreprocessing(backbone.preprocess_mode)
    rgb = _pixels((2, 5, 5, 3))
    expected = backbone.preprocess(rgb.copy())
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(rgb)), expected, atol=1e-4)
    gray = _pixels((2, 5, 5, 1), seed=1)
    expected_gray = backbone.preprocess(np.repeat(gray, 3, axis=-1))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(ImageNetInputPreprocessing(backbone.preprocess_mode)(gray)),
        expected_gray,
        atol=1e-4,
    )


def test_preprocessing_layer_config_and_bad_input():
    layer = ImageNetInputPreprocessing("caffe", name="prep")
    clone = ImageNetInputPreprocessing.from_config(layer.get_config())
    assert clone.mode == "caffe" and clone.name == "prep"
    with pytest.raises(ConfigError, match="mode"):
        ImageNetInputPreprocessing("torch")
    with pytest.raises(ConfigError, match="channels"):
        ImageNetInputPreprocessing("tf")(np.zeros((1, 4, 4, 2), "float32"))


def test_unknown_backbone_lists_the_names():
    with pytest.raises(ConfigError) as info:
        build_finetune_model("inception_v4", 6, weights="random")
    message = str(info.value)
    assert "'inception_v4'" in message
    for name in BACKBONES:
        assert name in message


@pytest.mark.parametrize(
    "name, input_shape",
    [("mobilenet", (32, 32, 3)), ("mobilenet_v2", (32, 32, 1)), ("vgg19", (32, 32, 3))],
)
def test_model_builds_and_predicts(name, input_shape):
    extra = {"alpha": SMALL[name]} if name in SMALL else {}
    model = build_finetune_model(name, 6, input_shape=input_shape, weights="random", **extra)
    assert model.name == f"finetune_{name}"
    probabilities = model.predict(_pixels((3, *input_shape)), verbose=0)
    assert probabilities.shape == (3, 6)
    assert probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert model.get_layer("backbone").trainable


def test_frozen_backbone_trains_only_the_classifier():
    model = build_finetune_model(
        "mobilenet", 6, input_shape=(32, 32, 3), weights="random", alpha=0.25, train_backbone=False
    )
    assert [w.path for w in model.trainable_weights] == [
        "predictions/kernel",
        "predictions/bias",
    ]


def test_model_round_trips_through_keras_file(tmp_path):
    model = build_finetune_model(
        "mobilenet", 4, input_shape=(32, 32, 1), weights="random", alpha=0.25
    )
    images = _pixels((2, 32, 32, 1))
    path = tmp_path / "finetune.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored.get_layer("preprocess"), ImageNetInputPreprocessing)
    np.testing.assert_allclose(
        restored.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-6
    )


def test_bad_shapes_and_options_raise_config_errors():
    with pytest.raises(ConfigError, match="at least 75x75"):
        build_finetune_model("inception_v3", 6, input_shape=(32, 32, 3), weights="random")
    with pytest.raises(ConfigError, match="channels|1 or 3"):
        build_finetune_model("vgg19", 6, input_shape=(32, 32, 4), weights="random")
    with pytest.raises(ConfigError, match="alpha"):
        build_finetune_model("resnet50", 6, input_shape=(32, 32, 3), weights="random", alpha=0.5)
    with pytest.raises(ConfigError, match="num_classes"):
        build_finetune_model("vgg19", 1, input_shape=(32, 32, 3), weights="random")


def test_missing_imagenet_weights_names_the_cache_path(keras_home):
    expected = (
        keras_home / "models" / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5"
    )
    with pytest.raises(MissingModelFileError) as info:
        build_finetune_model("mobilenet_v2", 6, input_shape=(32, 32, 3), alpha=0.35)
    message = str(info.value)
    assert str(expected) in message
    assert "--weights PATH" in message and "random" in message
    assert "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/" in message

    with pytest.raises(MissingModelFileError) as info:
        resolve_imagenet_weights("resnet50", "imagenet")
    resnet_file = keras_home / "models" / "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
    assert str(resnet_file) in str(info.value)


def test_explicit_weights_choices(keras_home, tmp_path):
    assert resolve_imagenet_weights("vgg19", "random") is None
    assert resolve_imagenet_weights("vgg19", "None") is None
    absent = tmp_path / "absent.weights.h5"
    with pytest.raises(MissingModelFileError, match=re.escape(str(absent))):
        resolve_imagenet_weights("vgg19", absent)
    not_weights = tmp_path / "notes.txt"
    not_weights.write_text("not weights")
    with pytest.raises(ConfigError, match="notes.txt"):
        resolve_imagenet_weights("vgg19", str(not_weights))


def test_weights_in_the_keras_cache_are_found_and_loaded(keras_home):
    shape = (32, 32, 3)
    source = keras.applications.MobileNetV2(
        include_top=False, weights=None, input_shape=shape, pooling="avg", alpha=0.35
    )
    # Move the batch-norm statistics away from their initial values, so that a
    # backbone which did not load the file cannot match it by chance.
    for layer in source.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.moving_mean.assign(np.full(layer.moving_mean.shape, 0.1, "float32"))
    cache = keras_home / "models"
    cache.mkdir()
    target = cache / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras warns that .h5 is a legacy format
        source.save(target)  # the legacy HDF5 layout of Keras' published files

    assert resolve_imagenet_weights("mobilenet_v2", alpha=0.35, input_shape=shape) == str(target)
    model = build_finetune_model("mobilenet_v2", 6, input_shape=shape, alpha=0.35)
    backbone = model.get_layer("backbone")
    for loaded, saved in zip(backbone.weights, source.weights, strict=True):
        np.testing.assert_array_equal(loaded.numpy(), saved.numpy())
    pixels = _pixels((2, *shape))
    prepared = keras.applications.mobilenet_v2.preprocess_input(pixels.copy())
    np.testing.assert_allclose(
        backbone.predict(prepared, verbose=0), source.predict(prepared, verbose=0), atol=1e-5
    )

    with pytest.raises(ConfigError, match="does not fit backbone 'mobilenet_v2'"):
        build_finetune_model("mobilenet_v2", 6, input_shape=shape, alpha=0.5, weights=target)


def test_finetune_one_epoch_returns_finite_training_loss(keras_home):
    rng = np.random.default_rng(0)
    x_train = rng.integers(0, 256, size=(12, 32, 32, 3)).astype("uint8")
    y_train = np.arange(12) % 6
    x_val = rng.integers(0, 256, size=(6, 32, 32, 3)).astype("uint8")
    y_val = np.arange(6)
    result = finetune(
        "mobilenet",
        x_train,
        y_train,
        x_val,
        y_val,
        epochs=1,
        batch_size=4,
        weights="random",
        alpha=0.25,
        seed=1,
        verbose=0,
    )
    assert np.isfinite(result["final_train_loss"]) and result["final_train_loss"] > 0
    assert result["history"]["loss"] == [result["final_train_loss"]]
    assert 0.0 <= result["val_accuracy"] <= 1.0
    assert result["model"].output_shape == (None, 6)


def test_finetune_rejects_bad_data():
    images = np.zeros((4, 32, 32, 3), "uint8")
    with pytest.raises(DatasetError, match="Labels must lie in"):
        finetune("vgg19", images, np.array([0, 1, 2, 7]), num_classes=6, weights="random")
    with pytest.raises(DatasetError, match="1-D array of 4"):
        finetune("vgg19", images, np.array([0, 1]), weights="random")
    with pytest.raises(DatasetError, match="integer"):
        finetune("vgg19", images, np.zeros(4, "float32"), weights="random")
    with pytest.raises(ConfigError, match="both x_val and y_val"):
        finetune("vgg19", images, np.arange(4), x_val=images, weights="random")
    with pytest.raises(ConfigError, match="optimizer"):
        finetune("vgg19", images, np.arange(4), optimizer="rmsprop", weights="random", epochs=1)
