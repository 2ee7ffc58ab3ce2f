"""Serving precision (issue 23, item 3): the classifier computes in bfloat16
where "auto" finds it faster, its probabilities stay float32 and within
`BFLOAT16_TOLERANCE` of float32's on faces; `precision="float32"` is the
float32 path exactly; "auto" is decided by injected units and a fake
measurement here, nothing is timed."""

import numpy as np
import pytest

from fer_tf.errors import ConfigError
from fer_tf.serving import predict
from fer_tf.serving.predict import (BFLOAT16_TOLERANCE, choose_serving_precision,
                                    keras_classifier, load_classifier)


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Measured choices go to a test's own cache, never the user's."""
    monkeypatch.setenv("FER_TF_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def faces():
    """14 synthetic 48x48 grey faces, two per FER2013 class."""
    from fer_tf.data.synthetic.images import make_synthetic

    records = make_synthetic(num_subjects=2, images_per_class=1, classes="fer2013", seed=0)
    return list(records.images)


@pytest.fixture(scope="module")
def default_model():
    """The shipped model's folded members and info, loaded once."""
    classifier = load_classifier(precision="float32")
    return classifier.models, classifier.info


def _policies(model):
    return {layer.name: layer.dtype_policy.name for layer in model.layers}


def _never(policy):
    raise AssertionError(f"measured {policy}; nothing should be timed")


def test_bfloat16_probabilities_are_float32_and_close_to_float32(default_model, faces):
    models, info = default_model
    f32 = keras_classifier(models, info, "float32", measure=_never)
    bf16 = keras_classifier(models, info, "bfloat16", measure=_never)
    assert bf16.precision.precision == "bfloat16" and bf16.precision.policy == "mixed_bfloat16"
    policies = _policies(bf16.models[0])
    assert policies["predictions"] == "float32", "the softmax stays float32"
    assert policies["block1_conv1"] == "mixed_bfloat16"
    p32, p16 = f32.predict_faces(faces), bf16.predict_faces(faces)
    assert p16.dtype == np.float32 and p16.shape == (len(faces), 7)
    np.testing.assert_allclose(p16.sum(axis=1), 1.0, atol=1e-5)
    assert np.abs(p16 - p32).max() <= BFLOAT16_TOLERANCE
    assert np.abs(p16 - p32).max() > 0, "bfloat16 must actually run"
    # The weights are the float32 ones, copied, not shared or rounded.
    for a, b in zip(bf16.models[0].get_weights(), f32.models[0].get_weights()):
        assert a.dtype == np.float32 and np.array_equal(a, b)


def test_float32_is_the_float32_path_exactly(default_model, faces):
    models, info = default_model
    f32 = keras_classifier(models, info, "float32", measure=_never, bf16_units=["amx_bf16"],
                           gpu=False)
    assert f32.precision.precision == "float32" and f32.precision.reason == "requested"
    assert f32.models[0] is models[0]
    assert set(_policies(f32.models[0]).values()) == {"float32"}
    x = predict.preprocess_faces(np.stack(faces), info)
    direct = np.asarray(models[0](x, training=False), np.float32)
    # The same float32 graph (a compiled call against an eager one: rounding only).
    np.testing.assert_allclose(f32.predict_faces(faces), direct, rtol=0, atol=1e-6)


@pytest.mark.parametrize("seconds, picked", [({"float32": 1.0, "mixed_bfloat16": 0.5},
                                               "bfloat16"),
                                              ({"float32": 1.0, "mixed_bfloat16": 0.95},
                                               "float32")])
def test_auto_follows_the_measurement_on_a_cpu_with_bfloat16_units(seconds, picked):
    calls = []

    def measure(policy):
        calls.append(policy)
        return seconds[policy]

    choice = choose_serving_precision("auto", measure, "tiny", bf16_units=["amx_bf16"],
                                      gpu=False)
    assert choice.precision == picked and choice.requested == "auto"
    assert "measured" in choice.reason and "batch of" in choice.reason
    assert sorted(calls) == ["float32", "mixed_bfloat16"]
    again = choose_serving_precision("auto", _never, "tiny", bf16_units=["amx_bf16"],
                                     gpu=False)
    assert again.precision == picked and "cached" in again.reason


def test_auto_is_float32_without_units_or_on_a_gpu_and_explicit_choices_are_kept():
    no_units = choose_serving_precision("auto", _never, "tiny", bf16_units=[], gpu=False)
    assert no_units.precision == "float32" and "no bfloat16 units" in no_units.reason
    gpu = choose_serving_precision("auto", _never, "tiny", bf16_units=["amx_bf16"], gpu=True)
    assert gpu.precision == "float32" and "GPU" in gpu.reason
    for requested in ("float32", "BFloat16"):
        choice = choose_serving_precision(requested, _never, bf16_units=[], gpu=False)
        assert choice.precision == requested.lower()
    with pytest.raises(ConfigError, match="expected one of auto, float32, bfloat16"):
        choose_serving_precision("float16", _never)


def test_auto_classifier_builds_the_measured_choice(default_model, faces):
    models, info = default_model
    fast = keras_classifier(models, info, "auto", bf16_units=["avx512_bf16"], gpu=False,
                            measure=lambda p: {"float32": 2.0, "mixed_bfloat16": 1.0}[p])
    assert fast.precision.precision == "bfloat16"
    assert _policies(fast.models[0])["block1_conv1"] == "mixed_bfloat16"
    slow = keras_classifier(models, info, "auto", bf16_units=[], gpu=False, measure=_never)
    assert slow.precision.precision == "float32" and slow.models[0] is models[0]


def test_saved_model_export_in_bfloat16_reloads_within_tolerance(default_model, faces,
                                                                 tmp_path):
    from fer_tf.serving.export import export_model

    summary = export_model(None, "savedmodel", tmp_path / "sm", precision="bfloat16")
    assert summary["precision"] == "bfloat16" and summary["within_tolerance"]
    assert summary["max_abs_diff_float32"] <= 0.05
    exported = load_classifier(tmp_path / "sm")
    assert exported.precision is None
    models, info = default_model
    reference = keras_classifier(models, info, "float32", measure=_never)
    got = exported.predict_faces(faces)
    assert got.dtype == np.float32
    assert np.abs(got - reference.predict_faces(faces)).max() <= BFLOAT16_TOLERANCE
    with pytest.raises(ConfigError, match="computes in the precision it was exported in"):
        load_classifier(tmp_path / "sm", precision="float32")
    with pytest.raises(ConfigError, match="bfloat16 is a savedmodel option"):
        export_model(None, "tflite", tmp_path / "m.tflite", precision="bfloat16")
