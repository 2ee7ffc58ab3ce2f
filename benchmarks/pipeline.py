"""Does the tf.data pipeline starve training? (issue: within 15%).

Times the baseline CNN's train step fed by the real pipeline (shuffle, map
with augmentation, batch, prefetch) against the same step on one pre-built
in-memory batch, and prints both and their ratio.

    python benchmarks/pipeline.py [--steps 30] [--batch-size 64]
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from fer_tf.data.pipeline import default_augmentation, make_dataset  # noqa: E402
from fer_tf.data.synthetic import make_synthetic  # noqa: E402
from fer_tf.models.baseline_cnn import baseline_cnn  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    records = make_synthetic(num_subjects=20, images_per_class=6, classes="seven", size=48)
    model = baseline_cnn()
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    ds = make_dataset(records, batch_size=args.batch_size, training=True, repeat=True,
                      augment=default_augmentation(seed=0), drop_remainder=True)
    x, y = next(iter(ds))
    memory = tf.data.Dataset.from_tensors((x, y)).repeat()

    def timed(dataset):
        model.fit(dataset, steps_per_epoch=3, epochs=1, verbose=0)  # compile/warm up
        start = time.perf_counter()
        model.fit(dataset, steps_per_epoch=args.steps, epochs=1, verbose=0)
        return (time.perf_counter() - start) / args.steps

    t_memory = timed(memory)
    t_pipeline = timed(ds)
    print(f"in_memory_step_s={t_memory:.4f}")
    print(f"pipeline_step_s={t_pipeline:.4f}")
    print(f"pipeline_overhead={t_pipeline / t_memory - 1:+.1%} (target: within +15%)")


if __name__ == "__main__":
    main()
