"""Reproduces the landmark part-ensemble paper's Tables I-III and Figs. 7-11.

    python experiments/run_landmark_ensemble.py --dataset synthetic   # embedded faces,
        # 8 classes, exact landmarks, 48 px, epochs x 0.1 (Baseline 40; FTL/EL
        # head 3, fine-tune 27) and 60 landmark epochs in full, held-out
        # test subjects: ~17 min on 2 cores (the README's figures: add
        # --val-fraction 0.15, the rule they were run with)
    python experiments/run_landmark_ensemble.py --dataset ckplus --data-dir DIR   # 10 folds
    python experiments/run_landmark_ensemble.py --dataset jaffe --data-dir DIR    # LOSO
    python experiments/run_landmark_ensemble.py --dataset sfew --data-dir DIR \\
        --cross-ckplus CK_DIR --cross-jaffe JAFFE_DIR                             # + Table III
    python experiments/run_landmark_ensemble.py --dataset sfew --data-dir TRAIN_ONLY \\
        --sfew-split-train 0.2    # a copy without Val/: a random 20% of Train is the test set
    python experiments/run_landmark_ensemble.py --dataset ckplus --data-dir DIR \\
        --folds 1,2 --epochs-scale 0.1 --input-size 96    # the protocol at a CPU budget
    python experiments/run_landmark_ensemble.py --smoke   # the same code in seconds (CI)
    python experiments/run_landmark_ensemble.py --smoke --precision bfloat16   # mixed_bfloat16

Each fold trains on the protocol's whole training part (the paper's nine
folds / all of SFEW Train), every stage for its full epoch budget, keeping
the last weights; --val-fraction F holds out a share of the training
subjects to stop each stage early on, as "when the validation loss
saturates" (Sec. III-D) may mean.

Writes --out (default runs/landmark-<dataset>): metrics.json, results.md
(every table beside the paper's, the budget and stopping rule used), plots/ (confusion
matrices, Grad-CAM, landmarks before/after) and one sub-run per network, fold
and member. Wiring only: the logic is fer_tf.papers.landmark_ensemble.experiment.
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _folds(text):
    if text == "all":
        return text
    try:
        return [int(f) for f in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'all' or folds like 1,2, got {text!r}")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="synthetic",
                   choices=("ckplus", "jaffe", "sfew", "synthetic"))
    p.add_argument("--data-dir", help="the dataset's published layout")
    p.add_argument("--networks", default="baseline,ftl,el",
                   help="comma-separated subset of baseline, ftl, el")
    p.add_argument("--folds", type=_folds, default="all",
                   help="'all' (default) or comma-separated 1-based folds")
    p.add_argument("--epochs-scale", type=float,
                   help="multiply the paper's epoch budgets (default 1; synthetic 0.1)")
    p.add_argument("--input-size", type=int, help="face crop side (default 160; synthetic 48)")
    p.add_argument("--landmark-epochs", type=int,
                   help="the landmark stage's own epoch budget, not scaled and run in full "
                        "(FTL, EL; default: scaled; synthetic 60)")
    p.add_argument("--val-fraction", type=float, default=0.0,
                   help="share of the training subjects held out for early stopping and "
                        "checkpoint selection (default 0: train on the whole training part "
                        "for the full epoch budget and keep the last weights, as the paper "
                        "trains on all nine other folds)")
    p.add_argument("--class-balanced", action="store_true",
                   help="class-balanced batches, as in the authors' notebook")
    p.add_argument("--sfew-split-train", type=float, metavar="FRACTION",
                   help="SFEW copy without Val/: hold out this random, class-stratified "
                        "share of Train as the test set (not subject-independent: SFEW has no "
                        "subject ids); the published layout needs no such option")
    p.add_argument("--cross-ckplus", help="Table III: CK+ folder to test on (contempt dropped)")
    p.add_argument("--cross-jaffe", help="Table III: JAFFE folder to test on")
    p.add_argument("--precision", default="auto",
                   choices=("auto", "float32", "bfloat16", "float16"),
                   help="compute precision (default auto: the paper's float32 on a GPU; on a "
                        "CPU float32 or bfloat16, whichever a few measured training steps "
                        "find faster for runs of 2,000 steps or more, never float16; the "
                        "choice and its reason go into config.json and metrics.json)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="run folder (default runs/landmark-<dataset>)")
    p.add_argument("--cache-dir", help="face-crop cache for real data")
    p.add_argument("--smoke", action="store_true", help="tiny settings, seconds (CI)")
    p.add_argument("--overwrite", action="store_true", help="replace a fer_tf run folder")
    p.add_argument("--resume", action="store_true", help="reuse finished members and folds")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from fer_tf.errors import FerTfError
    from fer_tf.experiment_args import command_line
    from fer_tf.papers.landmark_ensemble import experiment as exp

    out = args.out or os.path.join(
        "runs", f"landmark-{args.dataset}{'-smoke' if args.smoke else ''}")
    cross = {k: v for k, v in (("ckplus", args.cross_ckplus), ("jaffe", args.cross_jaffe))
             if v}
    try:
        settings = exp.settings_for(args.dataset, args.smoke, args.input_size,
                                    args.epochs_scale, args.class_balanced,
                                    args.landmark_epochs, args.val_fraction,
                                    args.precision)
        metrics = exp.run(
            settings, out, dataset=args.dataset, data_dir=args.data_dir,
            networks=tuple(n.strip() for n in args.networks.split(",") if n.strip()),
            folds=args.folds, seed=args.seed,
            overwrite=args.overwrite, resume=args.resume, cross=cross,
            cache_dir=args.cache_dir, verbose=0 if args.smoke else "auto",
            progress=True, sfew_split_train=args.sfew_split_train,
            command=command_line("run_landmark_ensemble.py", argv))
    except FerTfError as e:
        print(f"run_landmark_ensemble: error: {e}", file=sys.stderr)
        return 2
    for network, m in metrics["networks"].items():
        members = ", ".join(f"{k} {v:.3f}" for k, v in m["members"].items())
        print(f"{network:<8} ensemble accuracy {m['accuracy']:.4f}  (members: {members})")
    print(f"Run folder: {os.path.abspath(out)} (results.md, metrics.json, plots/); "
          f"{metrics['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
