"""Ships a finished FER2013 run as the package's default model, with its card.

    fer-tf train vgg_lite --dataset fer2013 --data-dir ../shared/data --out runs/default
    python experiments/ship_default_model.py runs/default --data-dir ../shared/data

Writes fer_tf/serving/assets/default_model/vgg_lite_fer2013.keras and MODEL_CARD.md
(data, command, recipe, PrivateTest accuracy and per-class F1, speed,
limitations) and copies the run's learning curves and confusion matrix to
docs/results/default_model/. Wiring only: everything lives in
fer_tf.serving.model_card.
"""

import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", help="the finished `fer-tf train` run folder")
    p.add_argument("--data-dir", help="the FER2013 copy it was trained on (named in the card)")
    p.add_argument("--dest", help="folder to write (default: the package's default model)")
    p.add_argument("--figures", default=os.path.join(ROOT, "docs", "results", "default_model"),
                   help="where the run's plots are copied")
    p.add_argument("--command", help="the training command to print in the card")
    args = p.parse_args(argv)
    from fer_tf.errors import FerTfError
    from fer_tf.serving.model_card import copy_figures, ship_run

    try:
        summary = ship_run(args.run, args.dest, args.data_dir, args.command)
    except FerTfError as e:
        print(f"ship_default_model: error: {e}", file=sys.stderr)
        return 2
    summary["figures"] = copy_figures(args.run, args.figures)
    print(json.dumps({k: summary[k] for k in ("model_file", "bytes", "sha256", "test",
                                              "faces_per_s", "figures")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
