"""CAMnet34's split attention: the per-group form against faster candidates
(issue 23, item 5).

    python benchmarks/split_attention.py         # about 25 minutes on 2 loaded cores (6 traces)
    python benchmarks/split_attention.py --forms current,dense --policies float32 --repeats 3

In one process, for CAMnet34 at 48 x 48, batch 32 (`build_model("camnet34")`):
images/s of a training step (RAdam, `train_on_batch`) and of inference
(`predict_on_batch`) under the Keras policies float32 and mixed_bfloat16, for
each form of `SplitAttention.call`:

- `current`: the layer as it is (one convolution and one matmul per group,
  the packed kernels split; logits and rSoftMax in float32).
- `fc_dense`: candidate (c), the attention MLP's grouped 1x1 maps as one
  block-diagonal matmul each (kernel gathered from the packed variable inside
  `call`, fc2's columns already in rSoftMax order); the convolution per group.
- `dense`: candidates (a) + (c), also the convolution as one convolution with
  a block-diagonal dense kernel gathered from the packed variable (zeros
  outside the groups: more FLOPs, one big GEMM).

The candidates live in this file only; they keep the layer's variables and
its function (checked here against `current` before timing). The forms are
timed alternately, `--repeats` rounds, and the medians are printed with the
ratio to `current` of the same policy. FLOP/s use the efficiency counter's
grouped FLOPs (a training step = 3 x forward), as a fraction of the matmul
peak of the matching dtype measured in this run (`matmul_gflops`).
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

from fer_tf.evaluation.efficiency import count_flops, matmul_gflops  # noqa: E402
from fer_tf.layers import split_attention as sa  # noqa: E402
from fer_tf.models.registry import build_model  # noqa: E402
from fer_tf.optimizers import RAdam  # noqa: E402

POLICIES = {"float32": "float32", "mixed_bfloat16": "bfloat16"}


def _offsets(sizes):
    return np.cumsum([0, *sizes])[:-1]


def _block_index(groups):
    """Flat indices into a packed kernel plus one zero slot at its end that
    lay its groups out block-diagonally, (sum in, sum out)."""
    total = sum(i * o for i, o in groups)
    index = np.full((sum(i for i, _ in groups), sum(o for _, o in groups)), total, "int32")
    rows, cols, start = _offsets([i for i, _ in groups]), _offsets([o for _, o in groups]), 0
    for g, (i, o) in enumerate(groups):
        index[rows[g]:rows[g] + i, cols[g]:cols[g] + o] = start + np.arange(i * o).reshape(i, o)
        start += i * o
    return index


def _dense(packed, index, dtype):
    """The packed (..., P) kernel as the (..., rows, cols) kernel of `index`."""
    packed = ops.cast(packed, dtype)
    lead = tuple(packed.shape[:-1])
    padded = ops.pad(packed, [(0, 0)] * len(lead) + [(0, 1)])
    if not lead:  # gathered on axis 1: TensorFlow's gradient is then dense
        return ops.reshape(ops.take(padded[None], index.reshape(-1), axis=1)[0], index.shape)
    return ops.reshape(ops.take(padded, index.reshape(-1), axis=-1), (*lead, *index.shape))


def _candidate(dense_conv):
    def call(layer, inputs, training=None):
        conv = lambda x, w: ops.conv(x, w, strides=layer.strides, padding="same")  # noqa: E731
        if dense_conv:
            x = conv(inputs, _dense(layer.kernel, _block_index(layer._conv_groups),
                                    inputs.dtype))
        else:
            x = sa._grouped(inputs, layer.kernel, layer._conv_groups, conv)
        x = ops.relu(layer.bn0(x, training=training))
        gap = ops.mean(x, axis=(1, 2))
        if layer.radix > 1:  # the splits' sum, pooled
            gap = ops.sum(ops.reshape(gap, (-1, layer.radix, layer.filters)), axis=1)
        z = ops.matmul(gap, _dense(layer.fc1_kernel, _block_index(layer._fc1_groups), gap.dtype))
        z = ops.relu(layer.bn1(z + ops.cast(layer.fc1_bias, z.dtype), training=training))
        order = layer.attention_order()
        fc2 = _block_index(layer._fc2_groups)[:, order]  # columns in rSoftMax order
        logits = ops.cast(ops.matmul(z, _dense(layer.fc2_kernel, fc2, z.dtype)), "float32")
        bias = ops.cast(layer.fc2_bias, "float32")
        logits = logits + ops.take(bias[None], order, axis=1)[0]
        if layer.radix == 1:
            return x * ops.cast(ops.sigmoid(logits), x.dtype)[:, None, None, :]
        attention = ops.cast(ops.softmax(ops.reshape(logits, (-1, layer.radix, layer.filters)),
                                         axis=1), x.dtype)
        splits = ops.split(x, layer.radix, axis=-1)
        out = splits[0] * attention[:, None, None, 0, :]
        for r in range(1, layer.radix):
            out = out + splits[r] * attention[:, None, None, r, :]
        return out
    return call


FORMS = {"current": None, "fc_dense": _candidate(False), "dense": _candidate(True)}
_ACTIVE = ["current"]
_ORIGINAL_CALL = sa.SplitAttention.call


def _dispatch(self, inputs, training=None):
    form = FORMS[_ACTIVE[0]]
    return _ORIGINAL_CALL(self, inputs, training) if form is None else form(self, inputs, training)


def prepare(form, policy, batch, size, seed=0):
    """(train step, inference, model) of CAMnet34 with `form`, traced."""
    _ACTIVE[0] = form
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        keras.utils.set_random_seed(seed)  # the same weights for every form
        model = build_model("camnet34", input_shape=(size, size, 3), num_classes=7)
        model.compile(optimizer=RAdam(1e-4, weight_decay=1e-4),
                      loss="sparse_categorical_crossentropy")
        model.optimizer.build(model.trainable_variables)
        rng = np.random.default_rng(0)
        x = rng.uniform(0, 1, (batch, size, size, 3)).astype("float32")
        y = rng.integers(0, 7, batch)
        predicted = model.predict_on_batch(x)  # traces inference before any update
        model.train_on_batch(x, y)  # traces the step
    finally:
        keras.config.set_dtype_policy(previous)
        _ACTIVE[0] = "current"
    return (lambda: model.train_on_batch(x, y)), (lambda: model.predict_on_batch(x)), \
        model, predicted


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--forms", default="current,fc_dense,dense")
    parser.add_argument("--policies", default="float32,mixed_bfloat16")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--size", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    forms, policies = args.forms.split(","), args.policies.split(",")
    sa.SplitAttention.call = _dispatch
    peaks = {dtype: matmul_gflops(dtype=dtype) for dtype in
             sorted({POLICIES[p] for p in policies})}
    print(f"backend {keras.backend.backend()}, batch {args.batch_size}, "
          f"{args.size} x {args.size}; matmul peak GFLOP/s: "
          + ", ".join(f"{d} {g:.1f}" for d, g in peaks.items()), flush=True)
    runs, flops = {}, None
    for policy in policies:
        reference = None
        for form in forms:
            start = time.perf_counter()
            train, infer, model, predicted = prepare(form, policy, args.batch_size, args.size)
            flops = flops or count_flops(model)
            predicted = np.asarray(predicted, "float32")
            if reference is None:
                reference = predicted
            gap = float(np.max(np.abs(predicted - reference)))
            runs[policy, form] = (train, infer)
            print(f"traced {policy} {form} in {time.perf_counter() - start:.0f} s; "
                  f"max |softmax - current's| {gap:.2e}", flush=True)
    times = {key: ([], []) for key in runs}
    for _ in range(args.repeats):
        for key, (train, infer) in runs.items():  # alternately, same process
            for j, function in enumerate((train, infer)):
                start = time.perf_counter()
                function()
                times[key][j].append(time.perf_counter() - start)
    print(f"\nCAMnet34 forward: {flops / 1e9:.3f} GFLOPs (grouped, efficiency counter); "
          f"medians of {args.repeats}")
    print("| policy | form | train images/s | x current | train peak fraction "
          "| inference images/s | x current | inference peak fraction |")
    print("|---|---|---|---|---|---|---|---|")
    for policy in policies:
        peak = peaks[POLICIES[policy]]
        base = [statistics.median(t) for t in times[policy, forms[0]]]
        for form in forms:
            train_s, infer_s = (statistics.median(t) for t in times[policy, form])
            rate = [args.batch_size / train_s, args.batch_size / infer_s]
            fraction = [3 * flops * rate[0] / 1e9 / peak, flops * rate[1] / 1e9 / peak]
            print(f"| {policy} | {form} | {rate[0]:.1f} | {base[0] / train_s:.2f} | "
                  f"{fraction[0]:.3f} | {rate[1]:.1f} | {base[1] / infer_s:.2f} | "
                  f"{fraction[1]:.3f} |")


if __name__ == "__main__":
    main()
