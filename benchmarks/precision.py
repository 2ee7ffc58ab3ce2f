"""Which compute precision is fastest here, per model family (issue 23).

    python benchmarks/precision.py                       # every family, about 5 minutes
    python benchmarks/precision.py --models vgg_lite,efficientnet_b0 --steps 5

In one process: the machine's matmul GFLOP/s in float32, bfloat16 and float16
(2048 x 2048, the fastest of 10), whether the CPU has bfloat16 matrix units
(AMX-BF16 or AVX512-BF16 in /proc/cpuinfo), and for each registered model
family at its usual input, training and inference images/s under the Keras
policies float32, mixed_bfloat16 and mixed_float16 (a few steps after a
warm-up, the fastest step; on a CPU float16 takes one step of an eighth of
the batch, because it is emulated and very slow). Each row also gives the speed as a ratio to
float32 measured in the same run, which is what `--precision auto` relies on:
machines of this kind differ by up to 2.4x in absolute speed, and some lack
bfloat16 units (there bfloat16 loses to float32).
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

#: family -> (registered model, input shape, batch): each family's usual input.
FAMILIES = {
    "vgg_lite": ("vgg_lite", (48, 48, 1), 128),
    "baseline_cnn": ("baseline_cnn", (48, 48, 1), 64),
    "efficientnet_b0": ("efficientnet_b0", (96, 96, 3), 32),
    "resnet34": ("resnet34", (48, 48, 3), 32),
    "camnet34": ("camnet34", (48, 48, 3), 16),
    "landmark_subnet": ("landmark_subnet", (96, 96, 3), 32),
}
POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}


def measure(name, shape, batch, policy, steps):
    """(training images/s, inference images/s) of one model under one policy:
    training through `fer_tf.training.precision.training_step_seconds`, the
    very measurement `--precision auto` makes."""
    import time

    import keras
    import numpy as np

    from fer_tf.models.registry import build_model, get_spec
    from fer_tf.training.precision import dtype_policy, training_step_seconds

    spec = get_spec(name)

    def build():
        return build_model(name, input_shape=shape, num_classes=spec.num_classes)

    train = training_step_seconds(build, batch, steps)(policy)
    with dtype_policy(policy):
        model = build()
    x = np.random.default_rng(0).uniform(0, 1, (batch, *shape)).astype("float32")
    model.predict_on_batch(x)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        model.predict_on_batch(x)
        times.append(time.perf_counter() - start)
    keras.backend.clear_session()
    return batch / train, batch / min(times)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", help=f"comma-separated families (default: {','.join(FAMILIES)})")
    p.add_argument("--steps", type=int, default=3, help="timed steps after the warm-up")
    p.add_argument("--json", help="also write the figures to this file")
    args = p.parse_args(argv)
    import logging

    import fer_tf  # noqa: F401  (quiet start, every class registered)

    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # one trace per policy is the point
    from fer_tf.evaluation.efficiency import matmul_gflops
    from fer_tf.training.precision import cpu_bf16_units

    from fer_tf.training.precision import gpu_available

    gpu = gpu_available()
    names = args.models.split(",") if args.models else list(FAMILIES)
    units = cpu_bf16_units()
    peaks = {d: matmul_gflops(2048, 10, d) for d in POLICIES}
    print(f"bfloat16 matrix units: {', '.join(units) if units else 'none found'}")
    print("matmul peak GFLOP/s: " + ", ".join(f"{d} {v:.0f}" for d, v in peaks.items())
          + f" (bfloat16 / float32 = {peaks['bfloat16'] / peaks['float32']:.2f})")
    print("| model | input, batch | dtype | train img/s | vs float32 | infer img/s | vs float32 |")
    print("|---|---|---|---|---|---|---|")
    rows = []
    for family in names:
        name, shape, batch = FAMILIES[family]
        base = None
        for dtype, policy in POLICIES.items():
            # float16 is emulated on CPUs (a vgg_lite step of 128 took 140 s): one step
            # of an eighth of the batch is enough to show it.
            slow = dtype == "float16" and not gpu
            train, infer = measure(name, shape, max(batch // 8, 1) if slow else batch, policy,
                                   1 if slow else args.steps)
            base = base or (train, infer)
            rows.append({"model": family, "input": list(shape), "batch": batch, "dtype": dtype,
                         "train_images_per_s": train, "infer_images_per_s": infer,
                         "train_vs_float32": train / base[0],
                         "infer_vs_float32": infer / base[1]})
            print(f"| {family} | {'x'.join(map(str, shape))}, {batch} | {dtype} | "
                  f"{train:.1f} | {train / base[0]:.2f} | {infer:.1f} | {infer / base[1]:.2f} |",
                  flush=True)
    if args.json:
        from fer_tf.io import atomic_write_json

        atomic_write_json(args.json, {"bf16_units": units, "matmul_gflops": peaks,
                                      "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
