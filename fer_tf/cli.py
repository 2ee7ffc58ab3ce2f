"""`fer-tf`: list models, train and evaluate runs, check and synthesise datasets,
classify expressions (`predict`) and export models (`export`).

Thin by design: parses arguments and calls the package. Errors a user can
cause (`FerTfError`) print one line and exit with status 2, never a traceback.
"""

import argparse
import contextlib
import json
import os
import sys
import warnings

from fer_tf.errors import FerTfError

EXIT_USER_ERROR = 2
#: Exit status after Ctrl-C (128 + SIGINT), as a shell reports it.
EXIT_INTERRUPTED = 130


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    """A warning as one readable line, not Python's two-line source dump."""
    print(f"fer-tf: warning: {message}", file=file or sys.stderr)



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


def _recipe_overrides(args):
    """CLI flags -> Recipe fields (None leaves the model's recipe as it is)."""
    overrides = {"epochs": args.epochs, "batch_size": args.batch_size,
                 "optimizer.learning_rate": args.lr, "optimizer.name": args.optimizer,
                 "label_smoothing": args.label_smoothing, "patience": args.patience,
                 "members": args.members,
                 "class_balanced": True if args.class_balanced else None}
    if args.augment:
        overrides["train_transform.augmentation"] = args.augment
    overrides.update(_key_values(args.set, "--set", "FIELD=VALUE",
                                 "optimizer.weight_decay=1e-4"))
    return overrides


def _key_values(items, flag, form, example):
    """Repeated `KEY=VALUE` options -> {key: value}, each value read as JSON
    when it parses (numbers, lists, true/false) and kept as text otherwise."""
    out = {}
    for item in items or ():
        key, sep, text = item.partition("=")
        if not key or not sep:
            raise FerTfError(f"{flag} expects {form} (e.g. {example}), got {item!r}.")
        try:
            out[key] = json.loads(text)
        except ValueError:
            out[key] = text
    return out


def _fold(text):
    if text == "all":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fold index or 'all', got {text!r}") from None


def _cmd_train(args):
    from fer_tf.training.runner import DataOptions, train_run

    data = DataOptions(detector=args.detector, margin=args.margin,
                       interpolation=args.interpolation, clahe=args.clahe,
                       cache_dir=args.cache_dir, max_train_images=args.max_train_images,
                       val_fraction=args.val_fraction,
                       crop_size=tuple(args.crop_size) if args.crop_size else None)
    metrics = train_run(args.model, args.out, dataset=args.dataset, data_dir=args.data_dir,
                        seed=args.seed, fold=args.fold, overwrite=args.overwrite,
                        resume=args.resume, strategy=args.strategy,
                        synthetic=_synthetic_options(args),
                        recipe_overrides=_recipe_overrides(args),
                        input_size=args.input_size, num_classes=args.num_classes, data=data,
                        precision=args.precision or ("float16" if args.mixed_precision
                                                     else "auto"))
    if metrics.get("chief") is False:
        print("Worker finished; the chief wrote the run folder.")
        return
    out = os.path.abspath(args.out)
    print(f"\nRun folder: {out}")
    print("  config.json (the resolved recipe), metrics.json, checkpoints/best.keras"
          + (", folds/<k>/" if len(metrics.get("folds", [])) > 1 else "")
          + (", members/<m>/" if metrics.get("members", 1) > 1 else ""))
    plots = [os.path.join(out, "plots", "confusion_matrix.png")]
    curves = os.path.join(out, "plots", "learning_curves.png")
    print("  plots: " + ", ".join(([curves] if os.path.exists(curves) else []) + plots))
    if len(metrics.get("folds", [])) > 1:
        print(f"Folds: {len(metrics['folds'])}; accuracy per fold "
              + " ".join(f"{a:.3f}" for a in metrics["fold_accuracies"])
              + "; figures below are from the fold-summed confusion matrix.")
    else:
        print(f"Held-out subjects: {', '.join(metrics.get('test_subjects') or []) or '-'}")
    _print_metrics(metrics)


def _cmd_evaluate(args):
    from fer_tf.training.runner import evaluate_run

    metrics = evaluate_run(args.run)
    if args.json:
        print(json.dumps(metrics, indent=2))
    else:
        _print_metrics(metrics)


def _cmd_publish(args):
    from fer_tf.evaluation.report import publish_report

    names = publish_report(args.run, args.dest)
    print(f"{len(names)} files -> {args.dest}: {', '.join(names)}")


def _cmd_data_check(args):
    from fer_tf.data.readers import check_dataset, format_check

    report = check_dataset(args.dataset, args.data_dir)
    print(json.dumps(report, indent=2) if args.json else format_check(report))


def _cmd_data_synth(args):
    from fer_tf.data.layouts import write_layout

    options = _key_values(args.option, "--option", "KEY=VALUE", "seconds=30")
    written = write_layout(args.layout, args.out, seed=args.seed, overwrite=args.overwrite,
                           **options)
    print(json.dumps(written, indent=2) if args.json else
          f"Wrote the synthetic {args.layout} layout to {os.path.abspath(args.out)}:\n"
          + json.dumps(written.get("per_class", written), indent=2))


def _cmd_data_pack_fer2013(args):
    from fer_tf.data.fer2013_pack import write_pack

    written = write_pack(args.csv, args.out, show_progress=not args.json)
    print(json.dumps(written, indent=2) if args.json else
          f"Wrote {os.path.abspath(args.out)}: {written['rows']:,} rows "
          f"({written['unique_images']:,} distinct images), {written['bytes']:,} bytes.")


def _looks_like_model(path, more_inputs):
    """True when the first positional argument of `predict` names a model: a
    run folder (or one of its folds/members), a SavedModel folder, a path
    with a model suffix (.keras, .h5, .hdf5, .tflite) whether or not it
    exists, or, before other inputs, a path that exists not at all and is no
    image or video name (a mistyped run folder)."""
    from fer_tf.evaluation.report import has_run_config
    from fer_tf.serving.predict import IMAGE_SUFFIXES, MODEL_SUFFIXES, VIDEO_SUFFIXES

    if os.path.isdir(path):
        parent = os.path.dirname(os.path.abspath(path))
        return (os.path.isfile(os.path.join(path, "saved_model.pb")) or has_run_config(path)
                or (os.path.basename(parent) in ("folds", "members")
                    and has_run_config(os.path.dirname(parent))))
    suffix = os.path.splitext(path)[1].lower()
    if suffix in MODEL_SUFFIXES + (".tflite",):
        return True
    return more_inputs and not os.path.lexists(path) \
        and suffix not in IMAGE_SUFFIXES + VIDEO_SUFFIXES


def _print_prediction(result):
    where = result["input"] + (f" frame {result['frame']}" if "frame" in result else "")
    if "error" in result or "warning" in result:
        print(f"fer-tf: {result.get('error') or result['warning']}", file=sys.stderr)
    elif result.get("faces") == 0:
        print(f"{where}: no face found")
    else:
        top = sorted(result["probabilities"].items(), key=lambda kv: -kv[1])
        print(f"{where}: face {result['face']} at {tuple(result['box'])}: "
              f"{result['class']} {result['score']:.2f} ("
              + ", ".join(f"{n} {p:.2f}" for n, p in top[1:3]) + ")")


def _show_prediction(args, result):
    if not args.json:
        _print_prediction(result)
        return
    print(json.dumps(result), flush=True)
    if "error" in result or "warning" in result:
        print(f"fer-tf: {result.get('error') or result['warning']}", file=sys.stderr)


def _cmd_predict(args):
    from fer_tf.serving.predict import FACE_SIZED_SIDE, check_margin, load_classifier, predict_inputs

    check_margin(args.margin)
    items, model = list(args.inputs), args.model
    if model is None and _looks_like_model(items[0], len(items) > 1):
        model, items = items[0], items[1:]
    if not items:
        raise FerTfError(f"{model}: taken as the MODEL (a run folder, model file or "
                         "SavedModel); name the images, folders or videos to classify "
                         "after it (fer-tf predict MODEL INPUT...).")
    if model is not None and model != args.model and not os.path.lexists(model):
        raise FerTfError(f"{model}: no such model; the first of several arguments is the "
                         "MODEL unless it is an existing input or an image or video name "
                         "(expected a run folder, a .keras/.h5 file or a SavedModel folder).")
    if args.out and os.path.lexists(args.out) and not os.path.isdir(args.out):
        raise FerTfError(f"--out {args.out}: exists and is not a folder; expected a folder "
                         "for the annotated copies.")
    classifier = load_classifier(model, precision=args.precision)
    stats = {}
    results = predict_inputs(classifier, items, detector=args.detector,
                             batch_size=args.batch, out_dir=args.out,
                             show_progress=not args.no_progress, stats=stats,
                             margin=args.margin, detect_side=args.detect_side or None,
                             video_detect_side=args.video_detect_side or None)
    # closing(): a Ctrl-C between two results still discards a partial video.
    with contextlib.closing(results):
        for result in results:
            _show_prediction(args, result)
    print(f"fer-tf predict: {stats['processed']} of {stats['inputs']} inputs processed, "
          f"{stats['frames']} images/frames, {stats['faces']} faces"
          + (f"; annotated copies in {os.path.abspath(args.out)}" if args.out else "")
          + (f"; {classifier.precision.describe()}" if classifier.precision else ""),
          file=sys.stderr)
    if args.detector != "none" and stats["photos"] \
            and 2 * stats["faceless_small"] > stats["photos"]:
        print(f"fer-tf predict: hint: no face was found in {stats['faceless_small']} of the "
              f"{stats['photos']} images, which are face-sized (at most {FACE_SIZED_SIDE} "
              "px); if they are already-cropped faces, pass --detector none.",
              file=sys.stderr)
    return 0 if stats["processed"] else 1


def _cmd_export(args):
    from fer_tf.serving.export import export_model

    summary = export_model(args.model, args.format, args.out, float16=args.float16,
                           overwrite=args.overwrite, precision=args.precision)
    print(json.dumps(summary, indent=2) if args.json else
          f"Exported {summary.get('source', args.model or 'the default model')} as "
          f"{args.format} to {os.path.abspath(args.out)}\n" + json.dumps(summary, indent=2))


def _cmd_summary(args):
    from fer_tf.errors import ConfigError
    from fer_tf.evaluation import efficiency
    from fer_tf.io import json_default

    if args.all == bool(args.model):
        raise ConfigError("fer-tf summary takes one MODEL name or --all")
    if args.all:
        summaries = efficiency.summarize_zoo(args.input_size, args.num_classes, args.latency)
    else:
        summaries = [efficiency.summarize_registered(args.model, args.input_size,
                                                     args.num_classes, args.latency)]
    if args.markdown:
        print(efficiency.markdown_table(summaries), end="")
    elif args.json:
        print(json.dumps(summaries if args.all else summaries[0], indent=2,
                         default=json_default))
    else:
        print("\n\n".join(efficiency.format_summary(s) for s in summaries))


def _cmd_gradcam(args):
    from fer_tf.evaluation.gradcam import explain_image

    summary = explain_image(args.model, args.image, args.out, detector=args.detector,
                            clahe=args.clahe, class_name=args.class_name)
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    print(f"Grad-CAM of {summary['class']} (p = {summary['probability']:.3f}) "
          f"-> {os.path.abspath(summary['out'])}")
    if summary["face_detected"] is False:
        print("  no face detected: the whole image was explained")


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
    parser.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's start-up and debug logging")
    parser.add_argument("--offline", action="store_true",
                        help="never download model files (same as FER_TF_OFFLINE=1)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("models", help="list registered models with parameter counts")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(func=_cmd_models)

    p = sub.add_parser("train", help="train a model by its paper's recipe into a run folder")
    p.add_argument("model", help="registered model name (see `fer-tf models`)")
    p.add_argument("--dataset", default="synthetic",
                   help="synthetic (embedded, default), fer2013, ckplus, jaffe, sfew")
    p.add_argument("--data-dir", help="the dataset's folder in its published layout")
    p.add_argument("--out", required=True, help="run folder to create")
    g = p.add_argument_group("recipe overrides (default: the model's paper recipe)")
    g.add_argument("--epochs", type=_positive_int)
    g.add_argument("--batch-size", type=_positive_int)
    g.add_argument("--lr", type=float, help="learning rate")
    g.add_argument("--optimizer", help="adam, adamw, sgd, rmsprop, adadelta")
    g.add_argument("--label-smoothing", type=float)
    g.add_argument("--patience", type=_positive_int, help="early-stopping patience")
    g.add_argument("--members", type=_positive_int,
                   help="train N seeded members, combined by summed softmax")
    g.add_argument("--mixed-precision", action="store_true",
                   help="the same as --precision float16")
    g.add_argument("--precision", choices=("auto", "float32", "bfloat16", "float16"),
                   help="compute precision (default auto: the recipe's mixed_float16 on a "
                        "GPU; on a CPU float32, or bfloat16 where a few measured training "
                        "steps of this model run faster (runs of 2000+ steps); never "
                        "float16, which a CPU emulates)")
    g.add_argument("--class-balanced", action="store_true", help="class-balanced batches")
    g.add_argument("--augment", nargs="?", const="default",
                   help="training augmentation by name (flag alone: flip/rotation/shift/zoom)")
    g.add_argument("--set", action="append", metavar="FIELD=VALUE",
                   help="any recipe field, e.g. optimizer.weight_decay=1e-4 (repeatable)")
    g = p.add_argument_group("data")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--fold", type=_fold, default=0,
                   help="fold index of the dataset's protocol, or 'all' (default 0)")
    g.add_argument("--input-size", type=_positive_int, nargs=2, metavar=("H", "W"),
                   help="override the model's input size")
    g.add_argument("--num-classes", type=_positive_int)
    g.add_argument("--detector", choices=("haar", "dlib", "ssd", "none"),
                   help="face detector for real images (default: haar; none for FER2013)")
    g.add_argument("--margin", type=float, default=0.0, help="face box margin per side")
    g.add_argument("--interpolation", default="area",
                   help="crop resize interpolation: bilinear, area, lanczos3, bicubic")
    g.add_argument("--clahe", action="store_true", help="CLAHE on the face crops")
    g.add_argument("--crop-size", type=_positive_int, nargs=2, metavar=("H", "W"),
                   help="size the crops are cached at (default: the model's input; "
                        "FER2013 without a detector: 48 48); batches are resized")
    g.add_argument("--cache-dir", help="face-crop cache folder")
    g.add_argument("--max-train-images", type=_positive_int,
                   help="stratified subset of the training split (CPU budgets)")
    g.add_argument("--val-fraction", type=float,
                   help="share of the training subjects held out for early stopping where "
                        "the protocol has no validation split (default: 0 for ckplus, "
                        "jaffe, sfew - the whole training part, full epoch budget, last "
                        "weights; 0.15 for synthetic)")
    g.add_argument("--synthetic-subjects", type=_positive_int,
                   help="subjects of the embedded data (default 24)")
    g.add_argument("--synthetic-per-class", type=_positive_int,
                   help="images per subject and class of the embedded data (default 6)")
    p.add_argument("--strategy", default="auto",
                   choices=("auto", "default", "mirrored", "multiworker"),
                   help="tf.distribute strategy; multiworker reads TF_CONFIG")
    p.add_argument("--overwrite", action="store_true",
                   help="replace --out if it is a fer_tf run folder")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("evaluate", help="evaluate a run on its held-out test set")
    p.add_argument("run", help="run folder written by `fer-tf train`")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("publish", help="copy a finished run's report (results.md, tables, "
                                       "metrics, config, plots) into a docs folder, "
                                       "without checkpoints or data")
    p.add_argument("run", help="a finished run folder (fer-tf train or experiments/run_*.py)")
    p.add_argument("dest", help="e.g. docs/results/<paper>_<dataset>")
    p.set_defaults(func=_cmd_publish)

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
    p.add_argument("--option", action="append", metavar="KEY=VALUE",
                   help="a count or size option of the layout, e.g. seconds=30 "
                        "(repeatable; fer_tf.data.layouts.layout_options lists them)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_data_synth)
    p = dsub.add_parser("pack-fer2013", help="write FER2013's csv as a lossless ~50 MB pack "
                                             "that --data-dir accepts")
    p.add_argument("--csv", required=True, help="fer2013.csv[.xz|.gz]")
    p.add_argument("--out", required=True, help="the pack, e.g. packs/fer2013.pack")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_data_pack_fer2013)

    p = sub.add_parser("summary", help="parameters, FLOPs (landmark paper Eq. 7-9), storage, "
                                       "latency of registered models")
    p.add_argument("model", nargs="?", help="registered model name (see `fer-tf models`)")
    p.add_argument("--all", action="store_true", help="every registered model")
    p.add_argument("--num-classes", type=_positive_int)
    p.add_argument("--input-size", type=_positive_int, nargs=2, metavar=("H", "W"),
                   help="image height and width (image models)")
    p.add_argument("--json", action="store_true", help="print JSON with the per-layer rows")
    p.add_argument("--markdown", action="store_true", help="print the efficiency table")
    p.add_argument("--latency", action="store_true",
                   help="also time batch 1 and 64 against this machine's fp32 matmul")
    p.set_defaults(func=_cmd_summary)

    p = sub.add_parser("gradcam", help="Grad-CAM heatmaps (landmark paper Eq. 5-6, Fig. 11) of "
                                       "a model, run or ensemble on one face image")
    p.add_argument("model", help="a run folder, a .keras file or a registered model name")
    p.add_argument("image", help="the face image (PNG/JPEG)")
    p.add_argument("--out", required=True,
                   help="the .png to write; an existing file is replaced only when it is an "
                        "earlier fer-tf output listed in its folder's .fer-tf-outputs, "
                        "otherwise refused")
    p.add_argument("--class", dest="class_name",
                   help="explain this class (default: the predicted one)")
    p.add_argument("--detector", default="haar", choices=("haar", "dlib", "ssd", "none"),
                   help="face detector (default haar; the whole image when none is found)")
    p.add_argument("--clahe", action="store_true", help="CLAHE on the face crop")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_gradcam)

    p = sub.add_parser("predict", help="expressions of the faces in images, folders and videos",
                       description="fer-tf predict [MODEL] INPUT...: MODEL is a run folder, "
                                   "a .keras file or an exported SavedModel (default: the "
                                   "packaged model trained on FER2013). The first argument "
                                   "is the model when it is a run or SavedModel folder or "
                                   "has a model suffix (.keras, .h5, .tflite), even if "
                                   "missing. Model files are code (a SavedModel runs its "
                                   "graph when loaded, a .keras file may name custom "
                                   "objects): load only models you trust. Ctrl-C stops "
                                   "with status 130 and discards a partial video.")
    p.add_argument("inputs", nargs="+", metavar="[MODEL] INPUT",
                   help="images, folders or videos, optionally preceded by the model")
    p.add_argument("--model", help="the model (instead of the first positional argument)")
    p.add_argument("--detector", default="haar", choices=("haar", "dlib", "ssd", "none"),
                   help="face detector; none: each image is one already-cropped face")
    p.add_argument("--margin", type=float, default=0.0,
                   help="face box margin per side, a fraction >= 0 of the box (default 0)")
    p.add_argument("--detect-side", type=int, default=0, metavar="N",
                   help="Haar on photos shrunk to this longest side (default 0: full size)")
    p.add_argument("--video-detect-side", type=int, default=320, metavar="N",
                   help="Haar on video frames shrunk to this longest side (default 320; "
                        "0: full size, for small faces)")
    p.add_argument("--json", action="store_true", help="one JSON line per face")
    p.add_argument("--out", metavar="DIR",
                   help="folder for annotated copies, <stem>.annotated.png/.mp4; they never "
                        "replace a file fer-tf did not write (DIR/.fer-tf-outputs lists "
                        "fer-tf's own, which a later run may replace; another file of the "
                        "name gives <stem>.annotated-1.png), and a folder walk skips DIR")
    p.add_argument("--batch", type=_positive_int, default=64,
                   help="video frames decoded and classified per batch (default 64)")
    p.add_argument("--precision", choices=("auto", "float32", "bfloat16"), default="auto",
                   help="what the model computes in (default auto: bfloat16 on a CPU with "
                        "bfloat16 units where a measured batch classifies faster, else "
                        "float32; probabilities are float32 either way)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar for videos")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("export", help="export a run or model as a SavedModel, TFLite or "
                                      ".keras file that takes raw uint8 face crops")
    p.add_argument("model", nargs="?", help="a run folder or .keras file (default: the "
                                            "packaged model)")
    p.add_argument("--format", required=True, choices=("savedmodel", "tflite", "keras"))
    p.add_argument("--out", required=True, help="the folder (savedmodel) or file to write")
    p.add_argument("--float16", action="store_true", help="TFLite: float16 weights")
    p.add_argument("--precision", choices=("auto", "float32", "bfloat16"), default="auto",
                   help="savedmodel: what its graph computes in (default auto: bfloat16 "
                        "where this CPU has bfloat16 units and a measured batch runs "
                        "faster, else float32); tflite and keras exports are float32")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an export written there before")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_export)
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    # --verbose and --offline are accepted anywhere on the line.
    verbose = "--verbose" in argv
    if "--offline" in argv:
        os.environ["FER_TF_OFFLINE"] = "1"
    args = build_parser().parse_args([a for a in argv if a not in ("--verbose", "--offline")])
    from fer_tf.quiet import quiet_tensorflow

    quiet_tensorflow(verbose=verbose)
    shown = warnings.showwarning
    if not verbose:
        warnings.showwarning = _one_line_warning
    try:
        code = args.func(args)
    except FerTfError as e:
        print(f"fer-tf: error: {e}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        command = " ".join(filter(None, (args.command, getattr(args, "data_command", None))))
        print(f"fer-tf: interrupted (Ctrl-C) during {command}.", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        warnings.showwarning = shown
    return code or 0


if __name__ == "__main__":
    sys.exit(main())
