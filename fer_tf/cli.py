"""`fer-tf`: list models, train and evaluate runs, check and synthesise datasets.

Thin by design: parses arguments and calls the package. Errors a user can
cause (`FerTfError`) print one line and exit with status 2, never a traceback.
"""

import argparse
import json
import os
import sys

from fer_tf.errors import FerTfError

EXIT_USER_ERROR = 2


def _quiet_tensorflow():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _cmd_models(args):
    from fer_tf.models import registry

    rows = [registry.describe(spec) for spec in registry.list_models()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        print(f"{r['name']:<{width}}  paper={r['paper']:<8} input={tuple(r['input_shape'])} "
              f"classes={r['num_classes']} params={r['params']:,}  {r['description']}")


def _print_metrics(m):
    print(f"accuracy     {m['accuracy']:.4f}  (n={m['num_samples']})")
    print(f"macro F1     {m['macro_f1']:.4f}")
    print(f"weighted F1  {m['weighted_f1']:.4f}")
    width = max(len(c) for c in m["per_class"])
    print(f"{'class':<{width}}  precision  recall     f1  support")
    for name, c in m["per_class"].items():
        print(f"{name:<{width}}  {c['precision']:9.3f}  {c['recall']:6.3f}  "
              f"{c['f1']:5.3f}  {c['support']:7d}")


def _synthetic_options(args):
    opts = {}
    if args.synthetic_subjects:
        opts["num_subjects"] = args.synthetic_subjects
    if args.synthetic_per_class:
        opts["images_per_class"] = args.synthetic_per_class
    return opts


def _cmd_train(args):
    from fer_tf.training.runner import train_run

    metrics = train_run(args.model, args.out, dataset=args.dataset, data_dir=args.data_dir,
                        epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
                        fold=args.fold, mixed_precision=args.mixed_precision,
                        overwrite=args.overwrite, resume=args.resume,
                        augment=args.augment, synthetic=_synthetic_options(args),
                        verbose=2 if os.environ.get("CI") else "auto")
    out = os.path.abspath(args.out)
    print(f"\nRun folder: {out}")
    print("  config.json, metrics.json, history.csv, checkpoints/best.keras")
    print(f"  plots: {os.path.join(out, 'plots', 'learning_curves.png')}, "
          f"{os.path.join(out, 'plots', 'confusion_matrix.png')}")
    print(f"Held-out subjects: {', '.join(metrics.get('test_subjects') or []) or '-'}")
    _print_metrics(metrics)


def _cmd_evaluate(args):
    from fer_tf.training.runner import evaluate_run

    metrics = evaluate_run(args.run)
    if args.json:
        print(json.dumps(metrics, indent=2))
    else:
        _print_metrics(metrics)


def _cmd_data_check(args):
    from fer_tf.data.readers import check_dataset, format_check

    report = check_dataset(args.dataset, args.data_dir)
    print(json.dumps(report, indent=2) if args.json else format_check(report))


def _cmd_data_synth(args):
    from fer_tf.data.layouts import write_layout

    written = write_layout(args.layout, args.out, seed=args.seed, overwrite=args.overwrite)
    print(json.dumps(written, indent=2) if args.json else
          f"Wrote the synthetic {args.layout} layout to {os.path.abspath(args.out)}:\n"
          + json.dumps(written.get("per_class", written), indent=2))


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def build_parser():
    parser = argparse.ArgumentParser(
        prog="fer-tf", description="Facial-expression recognition: four papers in Keras 3.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("models", help="list registered models with parameter counts")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(func=_cmd_models)

    p = sub.add_parser("train", help="train a model and write a run folder")
    p.add_argument("model", help="registered model name (see `fer-tf models`)")
    p.add_argument("--dataset", default="synthetic",
                   help="synthetic (embedded, default), fer2013, ckplus, jaffe, sfew")
    p.add_argument("--data-dir", help="the dataset's folder (real datasets)")
    p.add_argument("--out", required=True, help="run folder to create")
    p.add_argument("--epochs", type=_positive_int)
    p.add_argument("--batch-size", type=_positive_int)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fold", type=int, default=0, help="fold index of k-fold protocols")
    p.add_argument("--mixed-precision", action="store_true", help="mixed_float16 compute")
    p.add_argument("--augment", action="store_true",
                   help="flip/rotation/shift/zoom augmentation (the Sec. 4.1 baseline has none)")
    p.add_argument("--synthetic-subjects", type=_positive_int,
                   help="subjects of the embedded data (default 24)")
    p.add_argument("--synthetic-per-class", type=_positive_int,
                   help="images per subject and class of the embedded data (default 6)")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("evaluate", help="evaluate a run on its held-out test set")
    p.add_argument("run", help="run folder written by `fer-tf train`")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_evaluate)

    data = sub.add_parser("data", help="check real datasets, write synthetic layouts")
    dsub = data.add_subparsers(dest="data_command", required=True)
    p = dsub.add_parser("check", help="count a dataset against its official numbers")
    p.add_argument("--dataset", required=True)
    p.add_argument("--data-dir", required=True)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_data_check)
    p = dsub.add_parser("synth", help="write the embedded data in a dataset's layout")
    p.add_argument("--layout", required=True,
                   help="ckplus, ckplus48, jaffe, fer2013, fer2013_folders, sfew, savee, enterface")
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_data_synth)
    return parser


def main(argv=None):
    _quiet_tensorflow()
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except FerTfError as e:
        print(f"fer-tf: error: {e}", file=sys.stderr)
        return EXIT_USER_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
