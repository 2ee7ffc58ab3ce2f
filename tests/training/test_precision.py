"""fer_tf.training.precision: "auto" is the paper's mixed_float16 on a GPU and float32
on a CPU; an explicit choice is kept (float16 on a CPU with a warning). The device is
injected, nothing is timed."""

import keras
import pytest

from fer_tf.errors import ConfigError
from fer_tf.training import precision
from fer_tf.training.precision import choose_precision, dtype_policy


@pytest.mark.parametrize("gpu, policy, loss_scaling", [(True, "mixed_float16", True),
                                                       (False, "float32", False)])
def test_auto_follows_the_device(gpu, policy, loss_scaling):
    choice = choose_precision("auto", gpu=gpu)
    assert (choice.policy, choice.loss_scaling, choice.gpu) == (policy, loss_scaling, gpu)
    assert choice.reason.startswith("auto: ") and not choice.warning
    assert choice.describe().startswith(f"precision {policy} (auto: ")


def test_auto_asks_the_device_detection(monkeypatch):
    monkeypatch.setattr(precision, "gpu_available", lambda: True)
    assert choose_precision().policy == "mixed_float16"
    monkeypatch.setattr(precision, "gpu_available", lambda: False)
    assert choose_precision(None).policy == "float32"
    assert choose_precision("auto", gpu_precision="bfloat16").policy == "float32"
    monkeypatch.setattr(precision, "gpu_available", lambda: True)
    assert choose_precision("auto", gpu_precision="bfloat16").policy == "mixed_bfloat16"


def test_explicit_choices_are_kept_and_float16_on_a_cpu_warns():
    for gpu in (True, False):
        assert choose_precision("float32", gpu=gpu).policy == "float32"
        bf16 = choose_precision("BFloat16", gpu=gpu)
        assert (bf16.policy, bf16.loss_scaling, bf16.warning) == ("mixed_bfloat16", False, "")
    on_gpu = choose_precision("float16", gpu=True)
    assert on_gpu.policy == "mixed_float16" and not on_gpu.warning
    on_cpu = choose_precision("float16", gpu=False)
    assert on_cpu.policy == "mixed_float16" and on_cpu.loss_scaling
    assert on_cpu.warning.startswith("warning: ") and "\n" not in on_cpu.warning
    assert "CPU" in on_cpu.warning and "float32" in on_cpu.warning
    assert on_cpu.to_dict() == {"requested": "float16", "precision": "float16",
                                "reason": on_cpu.reason, "gpu": False,
                                "warning": on_cpu.warning, "policy": "mixed_float16"}


def test_unknown_precisions_are_refused():
    with pytest.raises(ConfigError, match="precision must be one of auto, float32"):
        choose_precision("half", gpu=False)
    with pytest.raises(ConfigError, match="gpu_precision"):
        choose_precision("auto", gpu=True, gpu_precision="int8")


def test_gpu_available_is_a_bool():
    assert isinstance(precision.gpu_available(), bool)


def test_dtype_policy_sets_and_restores_the_global_policy():
    before = keras.config.dtype_policy().name
    with dtype_policy("mixed_bfloat16"):
        layer = keras.layers.Dense(2)
        assert keras.config.dtype_policy().name == "mixed_bfloat16"
    assert (layer.compute_dtype, layer.variable_dtype) == ("bfloat16", "float32")
    assert keras.config.dtype_policy().name == before
    with pytest.raises(RuntimeError), dtype_policy("mixed_float16"):
        raise RuntimeError("restored even so")
    assert keras.config.dtype_policy().name == before


def _fake_measure(seconds, calls):
    """A measure(policy) that returns fixed seconds and counts its calls: no timing."""
    def measure(policy):
        calls.append(policy)
        return seconds[policy]
    return measure


@pytest.mark.parametrize("seconds, picked", [
    ({"float32": 1.0, "mixed_bfloat16": 0.5}, "bfloat16"),    # AMX: bfloat16 2x as fast
    ({"float32": 1.0, "mixed_bfloat16": 2.0}, "float32"),     # depthwise convolutions
    ({"float32": 1.0, "mixed_bfloat16": 0.95}, "float32")])   # a tie keeps float32
def test_auto_on_a_cpu_measures_this_model_and_caches_the_answer(monkeypatch, tmp_path,
                                                                 seconds, picked):
    monkeypatch.setenv("FER_TF_CACHE", str(tmp_path))
    calls = []
    choice = choose_precision("auto", gpu=False, measure=_fake_measure(seconds, calls),
                              key="m 48x48 b32", bf16_units=["amx_bf16"])
    assert choice.precision == picked and "measured" in choice.reason
    assert sorted(calls) == ["float32", "mixed_bfloat16"]
    again = choose_precision("auto", gpu=False, measure=_fake_measure(seconds, calls),
                             key="m 48x48 b32", bf16_units=["amx_bf16"])
    assert again.precision == picked and "cached" in again.reason and len(calls) == 2
    # Another model or input is measured anew.
    choose_precision("auto", gpu=False, measure=_fake_measure(seconds, calls),
                     key="m 96x96 b32", bf16_units=["amx_bf16"])
    assert len(calls) == 4


def test_auto_never_measures_without_bfloat16_units_or_picks_float16(tmp_path, monkeypatch):
    monkeypatch.setenv("FER_TF_CACHE", str(tmp_path))
    calls = []
    fast16 = _fake_measure({"float32": 1.0, "mixed_bfloat16": 0.1, "mixed_float16": 0.01},
                           calls)
    choice = choose_precision("auto", gpu=False, measure=fast16, key="k", bf16_units=[])
    assert choice.precision == "float32" and "no bfloat16 units" in choice.reason
    assert calls == []
    assert choose_precision("auto", gpu=False, measure=fast16, key="k",
                            bf16_units=["avx512_bf16"]).precision == "bfloat16"
