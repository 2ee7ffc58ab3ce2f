"""Reproduces the EfficientNet-B0 FER2013 paper (Table I recipe, Tables II-III, Fig. 1-2).

    python experiments/run_efficientnet.py --data-dir DIR            # the paper: FER2013,
                                        # 224 x 224, ImageNet weights, 60 epochs, batch 128
    python experiments/run_efficientnet.py --data-dir DIR --input-size 96 \\
        --max-train-images 4000 --epochs 2 --weights random          # a CPU budget
    python experiments/run_efficientnet.py --dataset synthetic       # embedded faces:
                                        # 48 x 48, 60 epochs, batch 16, random weights,
                                        # precise BN, no early stopping, zero-init,
                                        # ~10 min on 2 cores
    python experiments/run_efficientnet.py --smoke                   # seconds (CI)
    python experiments/run_efficientnet.py ... --out DIR --resume    # continue an
                                        # interrupted run (the same flags; only
                                        # --epochs may grow)

Writes --out (default runs/efficientnet-<dataset>): config.json (recipe,
splits: train Training / select PublicTest, precision), history.csv,
checkpoints/best.keras, metrics.json, results.md (ours on PublicTest +
PrivateTest beside Tables II-III, which count both test sets; PrivateTest
alone as our own figure) and plots/ (learning curves, confusion matrix).
--precision auto (default) is the paper's mixed_float16 on a GPU and float32
on a CPU, where float16 is about 25x slower. Under KERAS_BACKEND=jax, or
without TensorFlow, the data are fed as NumPy arrays (--data-path numpy).
Deviations from the paper: docs/papers/efficientnet.md. Wiring only:
everything lives in fer_tf.papers.efficientnet (the experiment and its report)
and fer_tf.models.efficientnet (the model, Table I, the augmentation).
"""

import argparse
import dataclasses
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from fer_tf.experiment_args import add_fer2013_arguments, resolve_fer2013_run  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_fer2013_arguments(p, "efficientnet", {"input_size": 224, "epochs": 60,
                                              "batch_size": 128},
                          "imagenet (the paper; default on FER2013), random (default on "
                          "synthetic data) or a weights file")
    p.add_argument("--no-mixed-precision", action="store_true",
                   help="the same as --precision float32")
    p.add_argument("--zero-init", action=argparse.BooleanOptionalAction, default=None,
                   help="with random weights, start the residual branches and the head "
                        "at zero (default: on for the synthetic budget, off on FER2013)")
    p.add_argument("--patience", type=int,
                   help="early stopping on PublicTest accuracy after this many epochs "
                        "without a gain (Table I: 10; 0: off, the whole budget)")
    p.add_argument("--precise-bn-batches", type=int,
                   help="recompute the batch-norm statistics over this many training "
                        "batches before every validation (0: off; default: the budget's)")
    p.add_argument("--resume", action="store_true",
                   help="continue the interrupted run in --out (backed up every 30 s)")
    p.add_argument("--data-path", default="auto", choices=("auto", "tfdata", "numpy"),
                   help="tf.data pipeline or NumPy arrays (auto: numpy without TensorFlow)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from fer_tf.errors import FerTfError
    from fer_tf.evaluation.metrics import wilson_text
    from fer_tf.papers.efficientnet.experiment import SETTINGS, run
    from fer_tf.models.efficientnet.presets import TABLE_II
    from fer_tf.training.precision import choose_precision

    if args.no_mixed_precision and args.precision not in (None, "float32"):
        print("error: --no-mixed-precision contradicts --precision "
              f"{args.precision}", file=sys.stderr)
        return 2
    precision_flag = "float32" if args.no_mixed_precision else args.precision
    try:
        dataset, settings, weights, out = resolve_fer2013_run(
            args, SETTINGS, "efficientnet", precision=precision_flag,
            zero_init=args.zero_init, precise_bn_batches=args.precise_bn_batches)
        if args.patience is not None:
            settings = dataclasses.replace(settings, patience=args.patience or None)
        precision = choose_precision(settings.precision)
    except FerTfError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if precision.warning:
        print(precision.warning, file=sys.stderr, flush=True)
    print(f"EfficientNet-B0 on {dataset}: {settings.input_size} x {settings.input_size}, "
          f"{settings.epochs} epochs, batch {settings.batch_size}, weights {weights}, "
          f"{precision.describe()}"
          + (f", at most {settings.max_train_images} training images"
             if settings.max_train_images else "")
          + (", resuming" if args.resume else ""), flush=True)
    try:
        metrics = run(settings, out, dataset=dataset, data_dir=args.data_dir, weights=weights,
                      seed=args.seed, data_path=args.data_path, overwrite=args.overwrite,
                      precision=precision, resume=args.resume)
    except FerTfError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"\nRun folder: {os.path.abspath(out)} (results.md, metrics.json, plots/)")
    for m, note in ((metrics["paper_test_set"],
                     f"paper {TABLE_II['accuracy']:.2%} on PublicTest + PrivateTest, "
                     f"n = 7178"),
                    (metrics, "ours alone, not in the paper")):
        print(f"Accuracy on {m['test_split']}: {m['accuracy']:.2%} (n = {m['num_samples']}, "
              f"95% Wilson {wilson_text(m['accuracy'], m['num_samples'])}%; {note}), "
              f"macro F1 {m['macro_f1']:.2%}")
    print(f"{metrics['epochs_run']} epochs in {metrics['train_seconds']} s, "
          f"{metrics['precision']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
