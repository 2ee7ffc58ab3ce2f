import pathlib
import re
import shutil
import warnings

import keras
import keras.src.utils.file_utils as keras_file_utils
import numpy as np
import pytest

from fer_tf.errors import ConfigError, MissingModelFileError
from fer_tf.models.backbones import (
    BACKBONES,
    HEAD_LAYERS,
    ImageNetInputPreprocessing,
    build_backbone,
    build_classifier,
    resolve_imagenet_weights,
)
from fer_tf.models.features import FEATURE_MAP
from tests.helpers.layer_test import run_layer_test

# The cheapest backbones: MobileNet v1 at width 0.25 and MobileNetV2 at 0.35.
SMALL = {"mobilenet": 0.25, "mobilenet_v2": 0.35}
V2_FILE = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5"


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    """An empty Keras cache, read by the weights lookup at call time."""
    home = tmp_path / "keras_home"
    home.mkdir()
    monkeypatch.setenv("KERAS_HOME", str(home))
    return home


def _pixels(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=shape).astype("float32")


def _save_legacy_h5(model, path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras warns that .h5 is a legacy format
        model.save(path)  # the legacy HDF5 layout of Keras' published files


class _RequestedFile(Exception):
    pass


def test_the_papers_backbones_are_there():
    assert {"efficientnet_b0", "densenet121", "vgg16", "vgg19", "resnet50", "inception_v3",
            "mobilenet", "mobilenet_v2", "resnet101", "resnet152", "resnet50_v2",
            "resnet101_v2", "resnet152_v2"} <= set(BACKBONES)
    assert {b.preprocess_mode for b in BACKBONES.values()} == set(ImageNetInputPreprocessing.MODES)


# One backbone per file-name rule and server folder (the ResNets and VGGs share theirs).
@pytest.mark.parametrize("name", ["efficientnet_b0", "densenet121", "inception_v3", "mobilenet",
                                  "mobilenet_v2", "resnet50", "resnet50_v2", "vgg16"])
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
            backbone.constructor(include_top=False, weights="imagenet", input_shape=shape, **extra)
    assert requests == [(backbone.notop_weights_file(input_shape=shape, **extra),
                         backbone.notop_weights_url(input_shape=shape, **extra), "models")]


def test_mobilenet_file_names_follow_width_and_size():
    v1, v2 = BACKBONES["mobilenet"], BACKBONES["mobilenet_v2"]
    assert v1.notop_weights_file(0.25, (32, 32, 3)) == "mobilenet_2_5_224_tf_no_top.h5"
    assert v1.notop_weights_file(1.0, (128, 128, 3)) == "mobilenet_1_0_128_tf_no_top.h5"
    assert v2.notop_weights_file(0.35, (96, 96, 3)) == (
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96_no_top.h5")
    # Non-square inputs fall back to the 224 px file, as in Keras.
    assert v2.notop_weights_file(1.0, (96, 128, 3)) == (
        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5")
    with pytest.raises(ConfigError, match="alpha"):
        v2.notop_weights_file(0.2)


@pytest.mark.parametrize("name", list(BACKBONES))
def test_preprocessing_layer_matches_keras_preprocess_input(name):
    backbone = BACKBONES[name]
    rgb = _pixels((2, 5, 5, 3))
    gray = _pixels((2, 5, 5, 1), seed=1)
    for images, rgb_images in ((rgb, rgb), (gray, np.repeat(gray, 3, axis=-1))):
        layer = ImageNetInputPreprocessing(backbone.preprocess_mode)
        expected = backbone.preprocess(rgb_images.copy())
        np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(images)), expected,
                                   rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("mode", ImageNetInputPreprocessing.MODES)
def test_preprocessing_layer_basics(mode):
    run_layer_test(ImageNetInputPreprocessing, {"mode": mode}, _pixels((2, 5, 5, 1)),
                   expected_output_shape=(2, 5, 5, 3), expected_num_trainable_weights=0,
                   # One JAX subprocess covers the arithmetic modes; "tf" is a scale.
                   jax=mode in ("caffe", "torch"), atol=1e-4)


def test_preprocessing_layer_in_tf_data_and_bad_input():
    import tensorflow as tf

    layer = ImageNetInputPreprocessing("torch")
    images = _pixels((4, 5, 5, 1))
    mapped = np.concatenate(list(tf.data.Dataset.from_tensor_slices(images).batch(2).map(layer)))
    np.testing.assert_allclose(mapped, keras.ops.convert_to_numpy(layer(images)), atol=1e-6)
    with pytest.raises(ConfigError, match="mode"):
        ImageNetInputPreprocessing("inception")
    with pytest.raises(ConfigError, match="channels"):
        ImageNetInputPreprocessing("tf")(np.zeros((1, 4, 4, 2), "float32"))


def test_unknown_backbone_lists_the_names():
    with pytest.raises(ConfigError) as info:
        build_classifier("inception_v4", 6, weights="random")
    message = str(info.value)
    assert "'inception_v4'" in message
    for name in BACKBONES:
        assert name in message


@pytest.mark.parametrize("name, input_shape", [("mobilenet", (32, 32, 3)),
                                               ("mobilenet_v2", (32, 48, 1))])
def test_classifier_keeps_features_and_head_apart(name, input_shape):
    model = build_classifier(name, 6, input_shape=input_shape, weights="random",
                             alpha=SMALL[name])
    assert model.name == f"{name}_classifier"
    assert [layer.name for layer in model.layers] == [
        "pixels", "preprocess", FEATURE_MAP, *HEAD_LAYERS]
    features = model.get_layer(FEATURE_MAP)
    assert len(features.output.shape) == 4  # the last feature map, for Grad-CAM
    probabilities = model.predict(_pixels((3, *input_shape)), verbose=0)
    assert probabilities.shape == (3, 6) and probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert features.trainable


def test_frozen_backbone_trains_only_the_classifier():
    model = build_classifier("mobilenet", 6, input_shape=(32, 32, 3), weights="random",
                             alpha=0.25, train_backbone=False)
    assert [w.path for w in model.trainable_weights] == ["predictions/kernel",
                                                          "predictions/bias"]


def test_mixed_precision_keeps_a_float32_softmax():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = build_classifier("mobilenet", 3, input_shape=(32, 32, 1), weights="random",
                                 alpha=0.25)
    finally:
        keras.config.set_dtype_policy(previous)
    assert model.get_layer(FEATURE_MAP).output.dtype == "float16"
    assert model.output.dtype == "float32"


def test_classifier_round_trips_through_keras_file(tmp_path):
    model = build_classifier("mobilenet", 4, input_shape=(32, 32, 1), weights="random",
                             alpha=0.25, dropout=0.2)
    images = _pixels((2, 32, 32, 1))
    path = tmp_path / "classifier.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored.get_layer("preprocess"), ImageNetInputPreprocessing)
    np.testing.assert_allclose(restored.predict(images, verbose=0),
                               model.predict(images, verbose=0), atol=1e-6)


def test_bad_shapes_and_options_raise_config_errors():
    with pytest.raises(ConfigError, match="at least 75x75"):
        build_classifier("inception_v3", 6, input_shape=(32, 32, 3), weights="random")
    with pytest.raises(ConfigError, match="1 or 3"):
        build_classifier("vgg19", 6, input_shape=(32, 32, 4), weights="random")
    with pytest.raises(ConfigError, match="alpha"):
        build_classifier("resnet50", 6, input_shape=(32, 32, 3), weights="random", alpha=0.5)
    with pytest.raises(ConfigError, match="num_classes"):
        build_classifier("vgg19", 1, input_shape=(32, 32, 3), weights="random")
    with pytest.raises(ConfigError, match="dropout"):
        build_classifier("vgg19", 6, input_shape=(32, 32, 3), weights="random", dropout=1.0)


def test_missing_imagenet_weights_offline_names_file_folder_and_url(keras_home):
    with pytest.raises(MissingModelFileError) as info:
        build_classifier("mobilenet_v2", 6, input_shape=(32, 32, 3), alpha=0.35)
    message = str(info.value)
    assert "\n" not in message
    assert f"put {V2_FILE} in {keras_home / 'models'}" in message
    assert ("https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/"
            + V2_FILE) in message
    assert "--weights random" in message
    with pytest.raises(MissingModelFileError, match=re.escape(
            "https://storage.googleapis.com/keras-applications/efficientnetb0_notop.h5")):
        resolve_imagenet_weights("efficientnet_b0", "imagenet")


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


def test_imagenet_weights_found_in_the_cache_or_fetched_are_loaded(keras_home, tmp_path,
                                                                    monkeypatch):
    shape = (32, 32, 3)
    source = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=shape,
                                            alpha=0.35)
    # Batch-norm statistics away from their initial values, so that a backbone
    # which did not load the file cannot match it by chance.
    for layer in source.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.moving_mean.assign(np.full(layer.moving_mean.shape, 0.1, "float32"))
    published = tmp_path / "server" / V2_FILE
    published.parent.mkdir()
    _save_legacy_h5(source, published)

    fetched = []

    def fake_get_file(fname, origin, cache_dir, cache_subdir, **kwargs):
        fetched.append(origin)
        target = pathlib.Path(cache_dir) / cache_subdir / fname
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(published, target)
        return str(target)

    monkeypatch.setattr(keras.utils, "get_file", fake_get_file)
    model = build_classifier("mobilenet_v2", 6, input_shape=shape, alpha=0.35, offline=False)
    assert fetched == [BACKBONES["mobilenet_v2"].notop_weights_url(0.35, shape)]
    cached = keras_home / "models" / V2_FILE
    assert resolve_imagenet_weights("mobilenet_v2", alpha=0.35, input_shape=shape) == str(cached)
    backbone = model.get_layer(FEATURE_MAP)
    for loaded, saved in zip(backbone.weights, source.weights, strict=True):
        np.testing.assert_array_equal(loaded.numpy(), saved.numpy())
    pixels = _pixels((2, *shape))
    prepared = keras.applications.mobilenet_v2.preprocess_input(pixels.copy())
    np.testing.assert_allclose(backbone.predict(prepared, verbose=0),
                               source.predict(prepared, verbose=0), atol=1e-5)
    # Offline, the cached file is used and nothing is fetched.
    build_backbone("mobilenet_v2", shape, alpha=0.35)
    assert len(fetched) == 1

    with pytest.raises(ConfigError, match="does not fit backbone 'mobilenet_v2'"):
        build_classifier("mobilenet_v2", 6, input_shape=shape, alpha=0.5, weights=cached)


def test_efficientnet_with_imagenet_weights_equals_keras_own(keras_home, monkeypatch):
    shape = (32, 32, 3)
    published = keras.applications.EfficientNetB0(include_top=False, weights=None,
                                                  input_shape=shape)
    normalization = next(layer for layer in published.layers
                         if isinstance(layer, keras.layers.Normalization))
    # What Keras' published file holds: the ImageNet mean, and its standard
    # deviation where the variance belongs (tensorflow/tensorflow#49930).
    normalization.adapt_mean.assign(np.array([0.485, 0.456, 0.406], "float32"))
    normalization.adapt_variance.assign(np.array([0.229, 0.224, 0.225], "float32"))
    normalization.finalize_state()
    cache = keras_home / "models"
    cache.mkdir()
    _save_legacy_h5(published, cache / "efficientnetb0_notop.h5")
    monkeypatch.setattr(keras_file_utils, "get_file",
                        lambda *args, **kwargs: str(cache / "efficientnetb0_notop.h5"))
    keras_own = keras.applications.EfficientNetB0(include_top=False, weights="imagenet",
                                                  input_shape=shape)

    ours = build_backbone("efficientnet_b0", shape)
    pixels = _pixels((2, *shape))
    # The stem's activations: a random network's last feature map is too close
    # to zero to tell the two apart.
    stems = [keras.Model(model.input, model.get_layer("stem_activation").output)
             for model in (ours, keras_own)]
    ours_stem, keras_stem = (stem.predict(pixels, verbose=0) for stem in stems)
    assert np.abs(keras_stem).max() > 0.1
    np.testing.assert_allclose(ours_stem, keras_stem, rtol=1e-4, atol=1e-4)
