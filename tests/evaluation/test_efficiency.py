import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from fer_tf import cli
from fer_tf.errors import ConfigError
from fer_tf.evaluation import efficiency
from fer_tf.layers.pathnet import PathNetLayer
from fer_tf.models import registry
from fer_tf.models.landmark_ensemble import expression_network, landmark_subnetwork

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _model(input_shape, *layers):
    inputs = keras.Input(shape=input_shape)
    x = inputs
    for layer in layers:
        x = layer(x)
    return keras.Model(inputs, x)


def _counts(model):
    return efficiency.count_flops(model), efficiency.count_flops(model, all_ops=True)


def test_one_convolution_eq_7():
    model = _model((8, 8, 3), keras.layers.Conv2D(4, 3, padding="same"))
    # 2 * Ci * k^2 * Co * W * H, plus one bias addition per output in all-ops.
    assert _counts(model) == (2 * 3 * 9 * 4 * 8 * 8, 2 * 3 * 9 * 4 * 8 * 8 + 8 * 8 * 4)


def test_strided_convolution_counts_its_output_positions():
    model = _model((9, 9, 3), keras.layers.Conv2D(4, 3, strides=2, use_bias=False))
    assert _counts(model) == (2 * 3 * 9 * 4 * 4 * 4,) * 2


def test_transposed_convolution_counts_its_input_positions():
    model = _model((4, 4, 3), keras.layers.Conv2DTranspose(2, 2, strides=2, use_bias=False))
    assert efficiency.count_flops(model) == 2 * 3 * 4 * 2 * 4 * 4


def test_one_dense_eq_8():
    model = _model((10,), keras.layers.Dense(5, activation="relu"))
    assert _counts(model) == (2 * 10 * 5, 2 * 10 * 5 + 5 + 5)


@pytest.mark.parametrize("pool, padding, expected_all", [(2, "valid", 4 * 4 * 4 * 4),
                                                         (3, "same", 4 * 4 * 4 * 9)])
def test_one_max_pool_eq_9(pool, padding, expected_all):
    model = _model((8, 8, 4), keras.layers.MaxPooling2D(pool, strides=2, padding=padding))
    # (W / stride) * (H / stride) * Co.
    assert _counts(model) == (8 // 2 * 8 // 2 * 4, expected_all)


def test_batch_norm_is_folded_and_activations_neglected():
    conv = _model((6, 6, 2), keras.layers.Conv2D(3, 3, padding="same", use_bias=False))
    folded = _model((6, 6, 2), keras.layers.Conv2D(3, 3, padding="same", use_bias=False),
                    keras.layers.BatchNormalization(), keras.layers.ReLU(),
                    keras.layers.GlobalAveragePooling2D())
    elements = 6 * 6 * 3
    assert efficiency.count_flops(folded) == efficiency.count_flops(conv) == 2 * 2 * 9 * 3 * 36
    assert efficiency.count_flops(folded, all_ops=True) == \
        efficiency.count_flops(conv) + 2 * elements + elements + elements


def test_grouped_depthwise_and_separable_convolutions():
    grouped = _model((6, 6, 4), keras.layers.Conv2D(8, 3, groups=2, padding="same"))
    depthwise = _model((6, 6, 4), keras.layers.DepthwiseConv2D(3, depth_multiplier=2,
                                                               padding="same"))
    separable = _model((6, 6, 4), keras.layers.SeparableConv2D(8, 3, padding="same"))
    assert efficiency.count_flops(grouped) == 2 * (4 // 2) * 9 * 8 * 36
    assert efficiency.count_flops(depthwise) == 2 * 4 * 2 * 9 * 36
    assert efficiency.count_flops(separable) == 2 * 36 * (4 * 9 + 4 * 8)


def test_merges_and_graph_ops_only_in_all_ops():
    inputs = keras.Input(shape=(4, 4, 2))
    a = keras.layers.Conv2D(2, 1, use_bias=False)(inputs)
    x = keras.layers.Add()([inputs, a])
    x = keras.ops.multiply(x, 1.0 + keras.ops.sigmoid(x))  # attention-style x * (1 + M(x))
    model = keras.Model(inputs, x)
    conv = 2 * 2 * 2 * 16
    elements = 4 * 4 * 2
    assert efficiency.count_flops(model) == conv
    assert efficiency.count_flops(model, all_ops=True) == conv + 4 * elements


@keras.saving.register_keras_serializable(package="fer_tf_test")
class _Hooked(keras.layers.Layer):
    """A layer with the hook: a dense projection inside, scaled by `times`."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.inner = keras.layers.Dense(3)
        self.seen = []

    def call(self, inputs, times=1):
        return self.inner(inputs) * times

    def count_flops(self, input_shape, all_ops=False, times=1, **kwargs):
        self.seen.append((tuple(input_shape), all_ops, int(times)))
        return 1000 * int(times) + (1 if all_ops else 0)


class _Opaque(keras.layers.Layer):
    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], 2))

    def call(self, inputs):
        return keras.ops.matmul(inputs, self.w)


class _Wrapper(keras.layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.first, self.second = keras.layers.Dense(4), keras.layers.Dense(2)

    def call(self, inputs):
        return self.second(self.first(inputs))


class _Subclassed(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hooked = _Hooked(name="hooked")
        self.wrapper = _Wrapper(name="wrapper")
        self.opaque = _Opaque(name="opaque")

    def call(self, inputs, times=1):
        return self.opaque(self.wrapper(inputs)) + self.hooked(inputs, times=times)[..., :2]


def test_custom_layers_hook_opening_and_uncounted():
    model = _Subclassed()
    model(np.zeros((1, 5), "float32"))
    summary = efficiency.summarize(model, (5,), call_kwargs={"times": 3}, keras_file=False)
    # The hook gets the batch-less input shape and the call's other
    # arguments; its inner Dense is not counted again. The plain wrapper is
    # opened: two dense layers by Eq. 8. The opaque matmul layer is reported.
    assert summary["flops"] == 3000 + 2 * 5 * 4 + 2 * 4 * 2
    assert summary["flops_all_ops"] == 3001 + 2 * 5 * 4 + 4 + 2 * 4 * 2 + 2
    assert model.hooked.seen == [((5,), False, 3), ((5,), True, 3)]
    assert summary["uncounted_layers"] == ["opaque"]
    rows = {row["name"]: row for row in summary["layers"]}
    assert rows["hooked"]["kind"] == "hook" and rows["hooked"]["flops"] == 3000
    assert [n for n in rows if n.startswith("wrapper/")] == [
        f"wrapper/{model.wrapper.first.name}", f"wrapper/{model.wrapper.second.name}"]


def test_pathnet_layer_hook_counts_active_modules_only():
    layer = PathNetLayer(num_modules=6, units=5)
    x = np.zeros((1, 12), "float32")
    path = np.array([0, 3, 3, 5])  # 3 distinct active modules
    layer(x, path)
    assert layer.count_flops((12,), path=path) == 2 * 12 * 5 * 3
    # + bias and ReLU per module, 2 additions and the mean's division per unit.
    assert layer.count_flops((12,), all_ops=True, path=path) == \
        2 * 12 * 5 * 3 + 2 * 5 * 3 + 2 * 5 + 5
    with pytest.raises(ConfigError, match="path"):
        layer.count_flops((12,))
    pathnet = registry.build_model("pathnet")
    # The default summary path: N = 5 distinct modules in each of 3 layers.
    expected = 2 * 1024 * 20 * 5 + 2 * (2 * 20 * 20 * 5) + 2 * 20 * 6
    assert efficiency.count_flops(pathnet) == expected
    short = np.array([[0, 1, 1, 1, 1], [2, 2, 2, 2, 2], [0, 1, 2, 3, 4]])
    assert efficiency.count_flops(pathnet, call_kwargs={"path": short}) == \
        2 * 1024 * 20 * 2 + 2 * 20 * 20 * 1 + 2 * 20 * 20 * 5 + 2 * 20 * 6


def test_nested_and_shared_layers_count_per_call():
    shared = keras.layers.Dense(4)
    inner_in = keras.Input(shape=(4,))
    inner = keras.Model(inner_in, keras.layers.Dense(4)(inner_in), name="inner")
    inputs = keras.Input(shape=(4,))
    model = keras.Model(inputs, inner(shared(shared(inputs))))
    rows, children = efficiency.layer_flops(model)
    assert efficiency.count_flops(model) == 3 * 2 * 4 * 4
    assert [r["name"] for r in rows] == [shared.name, shared.name, "inner/" + inner.layers[1].name]
    assert efficiency.param_counts(model)["params"] == 2 * (4 * 4 + 4)


EXPECTED_MEMBER_FLOPS = (
    2 * 9 * 160 * 160 * (3 * 16 + 16 * 16)  # block 1 convolutions at 160 x 160
    + 2 * 9 * 80 * 80 * (16 * 32 + 32 * 32)
    + 2 * 9 * 40 * 40 * (32 * 64 + 64 * 64)
    + 2 * 9 * 20 * 20 * (64 * 128 + 128 * 128)
    + 80 * 80 * 16 + 40 * 40 * 32 + 20 * 20 * 64 + 10 * 10 * 128  # Eq. 9
    + 2 * (128 * 128 + 128 * 128 + 128 * 7))  # Eq. 8


def test_landmark_member_and_ensemble_figures():
    assert EXPECTED_MEMBER_FLOPS == 671_184_128  # 0.671 GFLOPs, not the paper's 0.555
    member = expression_network(landmark_subnetwork(7, part="jaw"))
    summary = efficiency.summarize(member, keras_file=False)
    assert summary["params"] == 329_367
    assert summary["flops"] == EXPECTED_MEMBER_FLOPS
    assert summary["flops_by_kind"]["conv"] / summary["flops"] > 0.9996
    assert summary["storage_bytes"] == {"float32": 4 * 329_367, "float16": 2 * 329_367}
    assert summary["uncounted_layers"] == []


def test_cross_check_with_tensorflow_profiler():
    """Eq. 7-8 against TensorFlow's own float-op count of the inference graph."""
    models = [landmark_subnetwork(7, part="all"),
              keras.applications.ResNet50(weights=None, input_shape=(64, 64, 3)),
              keras.applications.EfficientNetB0(weights=None, input_shape=(64, 64, 3))]
    for model in models:
        summary = efficiency.summarize(model, keras_file=False)
        ours = summary["flops_by_kind"]["conv"] + summary["flops_by_kind"]["dense"]
        theirs = efficiency.profiler_flops(model)
        assert abs(ours - theirs) <= 0.01 * theirs, (model.name, ours, theirs)
        assert ours > 0


def test_a_bfloat16_model_is_read_against_the_bfloat16_peak(monkeypatch):
    """Issue 23, item 4: a peak fraction names its dtype, and a mixed_bfloat16
    model's is against the bfloat16 matmul peak, not float32's."""
    asked = []
    monkeypatch.setattr(efficiency, "matmul_gflops",
                        lambda size=2048, repeats=10, dtype="float32": asked.append(dtype) or
                        {"float32": 100.0, "bfloat16": 400.0}[dtype])
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = _model((8, 8, 3), keras.layers.Conv2D(4, 3, padding="same"),
                       keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2))
    finally:
        keras.config.set_dtype_policy(previous)
    latency = efficiency.measure_latency(model, batch_sizes=(2,), repeats=1, matmul_size=64)
    assert set(asked) == {"bfloat16"} and latency["peak_dtype"] == "bfloat16"
    assert latency["matmul_gflops"] == 400.0
    b = latency["batches"]["2"]
    np.testing.assert_allclose(b["peak_fraction"], b["achieved_gflops"] / 400.0)


def test_storage_and_latency_fields():
    model = _model((8, 8, 3), keras.layers.Conv2D(4, 3, padding="same"),
                   keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2))
    storage = efficiency.storage_bytes(model)
    params = model.count_params()
    assert storage["float32"] == 4 * params and storage["float16"] == 2 * params
    assert storage["keras_file"] > storage["float32"]
    latency = efficiency.measure_latency(model, batch_sizes=(1, 4), repeats=2, matmul_size=128)
    assert latency["matmul_gflops"] > 0 and latency["peak_dtype"] == "float32"
    flops = efficiency.count_flops(model)
    for batch, figures in latency["batches"].items():
        assert figures["seconds_per_image"] > 0
        np.testing.assert_allclose(
            figures["achieved_gflops"], flops / figures["seconds_per_image"] / 1e9, rtol=1e-6)
        np.testing.assert_allclose(figures["peak_fraction"],
                                   figures["achieved_gflops"] / latency["matmul_gflops"])
    table = efficiency.markdown_table([efficiency.summarize(model, name="tiny", latency=True,
                                                            batch_sizes=(1,), repeats=1,
                                                            matmul_size=64)])
    lines = table.splitlines()
    assert lines[0].startswith("| Model | Input |") and "peak fraction" in lines[0]
    assert lines[2].startswith(f"| tiny | 8x8x3 | - | {params:,} |")


def test_model_without_fixed_input_needs_an_input_shape():
    model = _model((None, None, 3), keras.layers.Conv2D(2, 3))
    with pytest.raises(ConfigError, match="no fixed input shape"):
        efficiency.count_flops(model)
    assert efficiency.count_flops(model, (5, 5, 3)) == 2 * 3 * 9 * 2 * 3 * 3


def _cli(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_summary_landmark_ensemble_json(capsys):
    code, out, _ = _cli(capsys, "summary", "landmark_ensemble", "--num-classes", "7", "--json")
    assert code == 0
    summary = json.loads(out)
    assert summary["params"] == 1_646_835
    assert [c["flops"] for c in summary["components"]] == [EXPECTED_MEMBER_FLOPS] * 5
    assert [c["params"] for c in summary["components"]] == [329_367] * 5
    assert summary["flops"] == 5 * EXPECTED_MEMBER_FLOPS
    assert {"model", "params", "trainable_params", "flops", "storage_bytes", "layers"} <= \
        set(summary)


def test_cli_summary_of_every_registered_model(capsys):
    code, out, _ = _cli(capsys, "summary", "--all", "--json", "--input-size", "32", "32")
    assert code == 0
    summaries = {s["model"]: s for s in json.loads(out)}
    assert set(summaries) == {spec.name for spec in registry.list_models()}
    for s in summaries.values():
        assert s["params"] > 0 and s["flops"] > 0 and s["layers"]
        assert s["storage_bytes"]["keras_file"] > 0
    # The markdown table of the same summaries (one CLI pass over the zoo is enough).
    from fer_tf.evaluation import efficiency

    table = efficiency.markdown_table(list(summaries.values()))
    assert table.count("\n") == 2 + len(summaries)
    code, out, _ = _cli(capsys, "summary", "vgg_lite", "--markdown", "--input-size", "32", "32")
    assert code == 0 and out.count("\n") == 3 and "vgg_lite" in out


@pytest.mark.parametrize("argv, message", [
    (["summary"], "one MODEL name or --all"),
    (["summary", "resnet9000"], "Unknown model 'resnet9000'"),
    (["summary", "pathnet", "--input-size", "8", "8"], "image models only"),
])
def test_cli_summary_bad_input(capsys, argv, message):
    code, _, err = _cli(capsys, *argv)
    assert code == 2 and message in err and "Traceback" not in err


def _small_cnn():
    return _model((8, 8, 3), keras.layers.Conv2D(4, 3, padding="same"),
                  keras.layers.BatchNormalization(), keras.layers.MaxPooling2D(2),
                  keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2))


def test_counter_under_jax_backend():
    script = textwrap.dedent("""
        import json, keras
        from tests.evaluation.test_efficiency import _small_cnn
        from fer_tf.evaluation import efficiency
        assert keras.backend.backend() == "jax"
        s = efficiency.summarize(_small_cnn(), latency=True, batch_sizes=(1,), repeats=1,
                                 matmul_size=64)
        print(json.dumps({"flops": s["flops"], "all": s["flops_all_ops"], "params": s["params"],
                          "file": s["storage_bytes"]["keras_file"],
                          "latency": s["latency"]["batches"]["1"]["seconds_per_image"]}))
    """)
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    model = _small_cnn()
    assert result["flops"] == efficiency.count_flops(model) == \
        2 * 3 * 9 * 4 * 64 + 4 * 4 * 4 + 2 * 4 * 2
    assert result["all"] == efficiency.count_flops(model, all_ops=True)
    assert result["params"] == model.count_params()
    assert result["file"] > 0 and result["latency"] > 0
