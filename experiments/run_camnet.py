"""Reproduces the CAMnet thesis (Ch. 6): Tables 6.3-6.6, the ensemble with TTA.

    python experiments/run_camnet.py --data-dir DIR        # the thesis: FER2013,
                    # 224 x 224, 50 epochs, batch 32 (each model's own where the
                    # thesis gives one), every model of Tables 6.3-6.6
    python experiments/run_camnet.py --data-dir DIR --input-size 48 --epochs 2 \\
        --max-train-images 4000 --models camnet34,resnet34 --optimizers radam
    python experiments/run_camnet.py --dataset synthetic   # embedded faces: 32 x 32,
                    # 8 epochs, 4 models, CAMnet34 with RAdam and Adam, < 20 min on 2 cores
    python experiments/run_camnet.py --smoke               # seconds-long CI run

Writes --out (default runs/camnet-<dataset>): config.json, members/<model>-
<optimizer>/ (one run each: checkpoint, history, result.json, plots),
metrics.json, results.md (ours beside the thesis' tables) and plots/
(confusion matrices, validation curves, Grad-CAM of CAMnet34). Data travel
as NumPy arrays, so the same command trains under KERAS_BACKEND=jax on a
machine without TensorFlow. Wiring only: everything lives in
fer_tf.papers.camnet (the experiment and its report) and fer_tf.models.camnet.
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from fer_tf.experiment_args import (add_fer2013_arguments, command_line,  # noqa: E402
                                    resolve_fer2013_run)


def _names(text):
    return tuple(t.strip() for t in text.split(",") if t.strip()) if text else None


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_fer2013_arguments(p, "camnet", {"input_size": 224, "epochs": 50, "batch_size": 32},
                          "keras.applications members: imagenet (the thesis; default on "
                          "FER2013), random (default on synthetic data) or a weights file")
    p.add_argument("--models", help="comma-separated zoo models trained with RAdam "
                                    "(default: the budget's; 'all': every table's)")
    p.add_argument("--optimizers", help="Table 6.3 optimizers for CAMnet34: adadelta,sgd,"
                                        "adam,radam (default: the budget's)")
    p.add_argument("--views", type=int, help="test-time augmentation views (default 10)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted --out")
    p.add_argument("--no-augmentation", action="store_true",
                   help="train without Table 6.1's augmentation (a budget cut the report "
                        "states; TTA still uses it)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from fer_tf.errors import FerTfError
    from fer_tf.papers.camnet.experiment import ALL_MODELS, SETTINGS, planned_runs, run

    dataset, settings, weights, out = resolve_fer2013_run(
        args, SETTINGS, "camnet", n_views=args.views, optimizers=_names(args.optimizers),
        augment=False if args.no_augmentation else None,
        models=ALL_MODELS if args.models == "all" else _names(args.models))
    print(f"CAMnet thesis on {dataset}: {settings.input_size} x {settings.input_size}, "
          f"{settings.epochs or 'thesis'} epochs, batch {settings.batch_size or 'thesis'}, "
          f"{settings.n_views} TTA "
          f"views; keras.applications weights {weights}"
          + ("" if settings.augment else "; no Table 6.1 training augmentation"), flush=True)
    try:
        print("runs: " + ", ".join(f"{m} with {o}" for m, o in planned_runs(settings)),
              flush=True)
        metrics = run(settings, out, dataset=dataset, data_dir=args.data_dir, weights=weights,
                      seed=args.seed, overwrite=args.overwrite, resume=args.resume,
                      command=command_line("run_camnet.py", argv))
    except FerTfError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"\nRun folder: {os.path.abspath(out)} (results.md, metrics.json, plots/)")
    for key, row in metrics["runs"].items():
        print(f"{key:28s} test accuracy {row['test_accuracy']:.2%} (TTA "
              f"{row['test_accuracy_tta']:.2%}), train {row['train_accuracy'] or 0:.2%}, "
              f"{row['epochs_run']} epochs in {row['train_seconds']} s")
    ensemble = metrics.get("ensemble")
    if ensemble:
        print(f"ensemble of {len(ensemble['members'])}: {ensemble['accuracy']:.2%} without "
              f"TTA (thesis 74.93%), {ensemble['accuracy_tta']:.2%} with TTA "
              f"(thesis 76.12%) on {metrics['num_test']} test images ({metrics['test_split']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
