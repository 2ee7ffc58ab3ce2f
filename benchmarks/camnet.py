"""CAMnet thesis performance figures (issue 12, "Performance").

1. Training throughput (images/s) of CAMnet34 and ResNet34 at each input
   size, and the fraction of this machine's matmul GFLOP/s in the models'
   compute dtype ("peak_dtype": float32 unless a mixed policy is set;
   measured in the same run) that it reaches, with a training step taken as 3 x the
   forward FLOPs of the efficiency counter (landmark paper Eq. 7-9) - so the
   cost of split attention and masking is visible beside the plain trunk.
2. Ensemble + TTA inference (images/s) for N = 1, 5, 10 views with the
   members batched (one call per member for all N x B views), against N
   separate one-view passes: `batched_over_naive` < 1 means N views cost
   less than N times one view.

    python benchmarks/camnet.py [--sizes 48,224] [--batch-size 8] [--steps 3]
        [--views 1,5,10] [--members resnet34,camnet34]   (--sizes "": ensemble only)
"""

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from fer_tf.evaluation import efficiency  # noqa: E402
from fer_tf.evaluation.ensemble import Member, ensemble_predict  # noqa: E402
from fer_tf.models import registry  # noqa: E402
from fer_tf.models.camnet.model import table_6_1_augmentation  # noqa: E402
from fer_tf.optimizers import RAdam  # noqa: E402


def training_throughput(name, size, batch_size, steps, peak):
    model = registry.build_model(name, input_shape=(size, size, 3))
    model.compile(optimizer=RAdam(1e-4, weight_decay=1e-4),
                  loss="sparse_categorical_crossentropy")
    model.optimizer.build(model.trainable_variables)  # as fit.train does: one trace
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (batch_size, size, size, 3)).astype("float32")
    y = rng.integers(0, 7, batch_size)
    model.train_on_batch(x, y)  # traces the step
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    seconds = (time.perf_counter() - start) / steps
    flops = efficiency.count_flops(model)
    achieved = 3 * flops * batch_size / seconds / 1e9
    return {"model": name, "size": size, "batch_size": batch_size,
            "params": int(model.count_params()), "forward_gflops": flops / 1e9,
            "images_per_s": batch_size / seconds, "train_gflop_per_s": achieved,
            "peak_fraction": achieved / peak[1], "peak_dtype": peak[0]}


def ensemble_throughput(names, size, batch_size, views):
    members = [Member(registry.build_model(n, input_shape=(size, size, 3)),
                      registry.get_spec(n).normalization, n) for n in names]
    augment = table_6_1_augmentation(seed=0)
    images = np.random.default_rng(1).uniform(0, 255, (batch_size, size, size, 3))
    rows = []
    for n in views:
        # Warm-up: each N x B batch shape is traced once before it is timed.
        ensemble_predict(members, images, augment, n, batch_size=batch_size)
        start = time.perf_counter()
        ensemble_predict(members, images, augment, n, batch_size=batch_size)
        batched = time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(n):
            ensemble_predict(members, images, augment if n > 1 else None, 1,
                             batch_size=batch_size)
        naive = time.perf_counter() - start
        rows.append({"views": n, "members": names, "size": size,
                     "images_per_s": batch_size / batched,
                     "batched_over_naive": batched / naive})
    return rows


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="48,224")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--views", default="1,5,10")
    parser.add_argument("--members", default="resnet34,camnet34")
    parser.add_argument("--ensemble-size", type=int, default=48)
    args = parser.parse_args()
    # The peak in the dtype the models compute in: a bfloat16 run read against
    # the float32 peak would look several times better than it is.
    import keras

    dtype = keras.config.dtype_policy().compute_dtype
    peak = (dtype, efficiency.matmul_gflops(dtype=dtype))
    print(json.dumps({"matmul_gflops": peak[1], "peak_dtype": dtype}))
    for size in (int(s) for s in args.sizes.split(",") if s):
        for name in ("resnet34", "camnet34"):
            print(json.dumps(training_throughput(name, size, args.batch_size, args.steps,
                                                 peak)), flush=True)
    for row in ensemble_throughput(args.members.split(","), args.ensemble_size,
                                   args.batch_size, [int(v) for v in args.views.split(",")]):
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
