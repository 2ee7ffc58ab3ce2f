"""Command-line arguments and budget choice shared by the paper scripts:
`command_line` for every `experiments/run_*.py`, the rest for the FER2013
ones (`experiments/run_efficientnet.py`, `experiments/run_camnet.py`).

Both train on FER2013 with `--data-dir` (the paper's budget) or on the
embedded faces (`--dataset synthetic`, the stated "cpu" budget; `--smoke`
for CI), and override single fields of the chosen `Settings`.
"""

import dataclasses
import os
import shlex
import sys

from fer_tf.weights import OFFLINE_VARIABLE


def command_line(script, argv=None):
    """The command that made a run, as a reader re-runs it from the
    repository root: `python experiments/<script> <arguments>` (`argv`, or
    the process' own). Goes into config.json and results.md."""
    return shlex.join(["python", f"experiments/{script}",
                       *(sys.argv[1:] if argv is None else argv)])


def add_fer2013_arguments(parser, name, paper, weights_help):
    """The shared flags. `name`: the default run folder's prefix; `paper`:
    {"input_size", "epochs", "batch_size"} for the help texts."""
    p = parser
    p.add_argument("--data-dir", help="FER2013: fer2013.csv[.xz|.gz] or a folder holding it")
    p.add_argument("--dataset", choices=("fer2013", "synthetic"),
                   help="default: fer2013 with --data-dir, else synthetic")
    p.add_argument("--out", help=f"run folder (default runs/{name}-<dataset>)")
    p.add_argument("--weights", help=weights_help)
    p.add_argument("--input-size", type=int,
                   help=f"square input side (paper {paper['input_size']})")
    p.add_argument("--max-train-images", type=int, help="stratified subset of Training")
    p.add_argument("--epochs", type=int, help=f"epoch budget (paper {paper['epochs']})")
    p.add_argument("--batch-size", type=int, help=f"batch size (paper {paper['batch_size']})")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--smoke", action="store_true", help="tiny synthetic run, seconds (CI)")
    p.add_argument("--overwrite", action="store_true", help="replace --out (a fer_tf run)")
    p.add_argument("--offline", action="store_true", help="never download weights")
    p.add_argument("--run-eagerly", action="store_true",
                   help="no traced training step: for seconds-long smoke runs, where "
                        "compiling the step costs more than the few steps it runs")
    p.add_argument("--precision", choices=("auto", "float32", "bfloat16", "float16"),
                   help="compute precision (default auto: the paper's mixed_float16 on a "
                        "GPU; on a CPU float32 or bfloat16, never float16; the choice and "
                        "its reason go into config.json)")


def resolve_fer2013_run(args, settings_table, name, **changes):
    """(dataset, settings, weights, out) from the shared flags: FER2013 when
    `--data-dir` is given (the "paper" budget), else the embedded faces
    (the "cpu" budget, or "smoke"); the flags and `changes` (None: keep) override
    single fields. Sets FER_TF_OFFLINE for `--offline`."""
    if args.offline:
        os.environ[OFFLINE_VARIABLE] = "1"
    dataset = args.dataset or ("fer2013" if args.data_dir and not args.smoke else "synthetic")
    budget = "smoke" if args.smoke else ("paper" if dataset == "fer2013" else "cpu")
    changes = {"input_size": args.input_size, "epochs": args.epochs,
               "batch_size": args.batch_size, "max_train_images": args.max_train_images,
               "precision": args.precision, "run_eagerly": args.run_eagerly or None,
               **changes}
    settings = dataclasses.replace(settings_table[budget],
                                   **{k: v for k, v in changes.items() if v is not None})
    weights = args.weights or ("imagenet" if dataset == "fer2013" else "random")
    out = args.out or os.path.join("runs", f"{name}-{dataset}")
    return dataset, settings, weights, out
