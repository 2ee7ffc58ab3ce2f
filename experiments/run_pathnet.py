"""Reproduces the PathNet meta-transfer paper's three experiments (Sec. IV-C).

    python experiments/run_pathnet.py                      # embedded synthetic videos,
                                                           # paper settings, fold 1, seed 0
    python experiments/run_pathnet.py --folds all --seeds 3   # means and 95% intervals
    python experiments/run_pathnet.py --savee DIR --enterface DIR   # your copies
    python experiments/run_pathnet.py --smoke              # same code in seconds (CI)
    python experiments/run_pathnet.py --baselines          # + Table I: MobileNetV2 and VGG19
                                                           # fine-tuned for 10 epochs each

Writes to --out (default runs/pathnet-<data>): metrics.json (per experiment and
iteration, mean / 95% interval / n / values over seeds x folds of the
destination's training accuracy and loss - the paper's quantities - and of its
held-out frame and video accuracy), results.md (those tables beside the
paper's 93.75% SAVEE, 87.5% eNTERFACE, 75% SAVEE->eNTERFACE training accuracy
at iteration 3), cells/ (every seed x fold run with curves, paths, fitness),
timing.json (times, traces, memory) and plots/ (Figs. 3-8, best paths,
population fitness). With --baselines, results.md also holds Table I: final
training losses, each with its budget (baseline epochs, PathNet iteration and
generations) beside the paper's same quantity. The same command and seed write
the same metrics.json. Where the run differs from the paper: docs/papers/pathnet.md.
Wiring only: everything lives in fer_tf.papers.pathnet and fer_tf.models.pathnet.
"""

import argparse
import dataclasses
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _folds(text):
    """'all' or comma-separated 1-based folds -> 0-based tuple."""
    if text == "all":
        return tuple(range(6))
    try:
        folds = tuple(int(f) - 1 for f in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'all' or folds like 1,2,3, got {text!r}")
    if any(not 0 <= f < 6 for f in folds):
        raise argparse.ArgumentTypeError(f"folds are 1..6, got {text!r}")
    return folds


def parse_args(argv=None):
    from fer_tf.papers.pathnet.experiment import EXPERIMENTS

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--savee", help="SAVEE folder (AudioVisualClip/<speaker>/*.avi)")
    p.add_argument("--enterface", help="eNTERFACE'05 folder (subject N/<emotion>/...)")
    p.add_argument("--out", help="run folder (default runs/pathnet-<synthetic|real>)")
    p.add_argument("--smoke", action="store_true", help="tiny settings, seconds (CI)")
    p.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    p.add_argument("--seeds", type=int, default=1,
                   help="number of seeds, seed .. seed+N-1; each draws its own synthetic "
                        "videos and evolutions (default 1)")
    p.add_argument("--iterations", type=int, help="source->destination rounds (paper: 4)")
    p.add_argument("--generations", type=int, help="tournaments per task (paper: 1000)")
    p.add_argument("--epochs-per-path", type=int,
                   help="train a path for this many epochs of its training set per "
                        "evaluation instead of 50 minibatches of 16 (the other reading of "
                        "Sec. IV-C1's '50 epochs')")
    p.add_argument("--folds", default=(0,), type=_folds,
                   help="comma-separated 1-based folds of the 6-fold CV, or 'all' (default 1)")
    p.add_argument("--experiments", default=",".join(EXPERIMENTS),
                   help="comma-separated subset of " + ", ".join(EXPERIMENTS))
    p.add_argument("--crop-size", type=int, default=32, help="face crop side (D = side^2)")
    p.add_argument("--every", type=int, default=1, help="keep every k-th video frame")
    p.add_argument("--max-frames", type=int, help="at most this many frames per video")
    p.add_argument("--baselines", nargs="?", const="mobilenet_v2,vgg19",
                   help="Table I: fine-tune these keras.applications models "
                        "(default mobilenet_v2,vgg19; 'all' for every one)")
    p.add_argument("--baseline-weights", default=None,
                   help="imagenet (Keras cache, default), random, or a weights file")
    p.add_argument("--baseline-epochs", type=int,
                   help="fine-tune each Table I baseline for this many epochs (default: "
                        "TABLE_I_RECIPE's 10; --smoke: 1); results.md states it")
    p.add_argument("--precision", default="auto", choices=("auto", "float32"),
                   help="compute precision (default auto: the paper's float32, on a GPU and "
                        "on a CPU; bfloat16 and float16 are not offered: the path trainer "
                        "trains the raw float32 module weights in its own compiled loop, "
                        "which a Keras dtype policy does not reach); config.json and "
                        "metrics.json record the choice and its reason")
    p.add_argument("--cache-dir", help="face-crop cache for real data")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    p.add_argument("--resume", action="store_true", help="skip experiments already done")
    p.add_argument("--offline", action="store_true",
                   help="never download ImageNet weights (same as FER_TF_OFFLINE=1)")
    p.add_argument("--verbose", action="store_true", help="show TensorFlow's start-up logging")
    return p.parse_args(argv)


def main(argv=None):
    from fer_tf.quiet import quiet_tensorflow

    # Before parse_args, which imports the package (and TensorFlow).
    quiet_tensorflow(verbose="--verbose" in (sys.argv[1:] if argv is None else argv))
    args = parse_args(argv)
    if args.offline:
        os.environ["FER_TF_OFFLINE"] = "1"
    from fer_tf.errors import FerTfError
    from fer_tf.papers.pathnet.baselines import TABLE_I_BACKBONES as BACKBONES
    from fer_tf.papers.pathnet import experiment as exp

    baselines = ()
    if args.baselines:
        baselines = tuple(BACKBONES) if args.baselines == "all" else tuple(
            b.strip() for b in args.baselines.split(","))
    data = "synthetic" if args.savee is None else "real"
    out = args.out or os.path.join("runs", f"pathnet-{data}{'-smoke' if args.smoke else ''}")
    try:
        settings = exp.SETTINGS["smoke" if args.smoke else "cpu" if data == "synthetic"
                                else "paper"]
        config = settings.pathnet
        if args.generations:
            config = config.replace(generations=args.generations)
        if args.epochs_per_path is not None:
            config = config.replace(epochs_per_path=args.epochs_per_path)
        faces = dataclasses.replace(settings.faces, every=args.every,
                                    max_frames=args.max_frames,
                                    **({} if args.smoke else {"crop_size": args.crop_size}))
        settings = dataclasses.replace(
            settings, pathnet=config, faces=faces, precision=args.precision,
            iterations=args.iterations or settings.iterations,
            baseline_epochs=(settings.baseline_epochs if args.baseline_epochs is None
                             else args.baseline_epochs))
        exp.run(settings, out, savee_dir=args.savee, enterface_dir=args.enterface,
                folds=args.folds, seed=args.seed, seeds=args.seeds,
                experiments=tuple(args.experiments.split(",")), baselines=baselines,
                baseline_weights=args.baseline_weights, overwrite=args.overwrite,
                resume=args.resume, cache_dir=args.cache_dir, progress=not args.smoke)
    except FerTfError as e:
        print(f"run_pathnet: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
