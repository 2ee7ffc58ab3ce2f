"""Reproduces the PathNet meta-transfer paper's three experiments (Sec. IV-C).

    python experiments/run_pathnet.py                      # embedded synthetic videos,
                                                           # paper settings, < 15 min on 2 CPUs
    python experiments/run_pathnet.py --savee DIR --enterface DIR   # your copies
    python experiments/run_pathnet.py --smoke              # same code in seconds (CI)

Writes to --out (default runs/pathnet-<data>): metrics.json (per experiment the
per-iteration transfer_accuracy / scratch_accuracy lists), results.md (our
figures beside the paper's 93.75% SAVEE, 87.5% eNTERFACE, 75% SAVEE->eNTERFACE
at iteration 3), experiments/<name>.json (curves, paths, fitness) and plots/
(Figs. 3-8, best paths, population fitness). Wiring only: everything lives in
fer_tf.models.pathnet.
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def parse_args(argv=None):
    from fer_tf.models.pathnet.experiment import EXPERIMENTS

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--savee", help="SAVEE folder (AudioVisualClip/<speaker>/*.avi)")
    p.add_argument("--enterface", help="eNTERFACE'05 folder (subject N/<emotion>/...)")
    p.add_argument("--out", help="run folder (default runs/pathnet-<synthetic|real>)")
    p.add_argument("--smoke", action="store_true", help="tiny settings, seconds (CI)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--iterations", type=int, help="source->destination rounds (paper: 4)")
    p.add_argument("--generations", type=int, help="tournaments per task (paper: 1000)")
    p.add_argument("--folds", default="1",
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
    p.add_argument("--baseline-epochs", type=int, default=3)
    p.add_argument("--cache-dir", help="face-crop cache for real data")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    p.add_argument("--resume", action="store_true", help="skip experiments already done")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from fer_tf.errors import FerTfError
    from fer_tf.models.pathnet.baselines import TABLE_I_BACKBONES as BACKBONES
    from fer_tf.models.pathnet import PAPER, SMOKE
    from fer_tf.models.pathnet import experiment as exp

    config = SMOKE if args.smoke else PAPER
    if args.generations:
        config = config.replace(generations=args.generations)
    faces = exp.FaceSettings(crop_size=8 if args.smoke else args.crop_size, every=args.every,
                             max_frames=args.max_frames)
    synthetic = exp.SMOKE_VIDEOS if args.smoke else exp.SyntheticVideoSettings()
    folds = (tuple(range(6)) if args.folds == "all"
             else tuple(int(f) - 1 for f in args.folds.split(",")))
    baselines = ()
    if args.baselines:
        baselines = tuple(BACKBONES) if args.baselines == "all" else tuple(
            b.strip() for b in args.baselines.split(","))
    data = "synthetic" if args.savee is None else "real"
    out = args.out or os.path.join("runs", f"pathnet-{data}{'-smoke' if args.smoke else ''}")
    try:
        exp.run(out, savee_dir=args.savee, enterface_dir=args.enterface, config=config,
                faces=faces, synthetic=synthetic, folds=folds, iterations=args.iterations,
                seed=args.seed, experiments=tuple(args.experiments.split(",")),
                baselines=baselines, baseline_weights=args.baseline_weights,
                baseline_epochs=1 if args.smoke else args.baseline_epochs,
                overwrite=args.overwrite, resume=args.resume, cache_dir=args.cache_dir,
                progress=not args.smoke)
    except FerTfError as e:
        print(f"run_pathnet: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
