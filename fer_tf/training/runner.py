"""`fer-tf train` / `fer-tf evaluate`: data -> folds -> members -> fit -> report.

A run trains a registered model by its paper's `Recipe` (CLI flags override
single fields) through the one loop, `fit.train`. Its folder holds:

    config.json        the resolved recipe, data, protocol, folds, seed
    history.csv, checkpoints/best.keras, plots/     (one fold, one member)
    folds/<k>/         one sub-run per fold with `--fold all`
    members/<m>/       one sub-run per ensemble member (`--members N`)
    metrics.json       test metrics; over folds, from the fold-summed
                       confusion matrix with per-fold accuracies

`config.json` records everything needed to rebuild the test sets, so
`evaluate` needs only the run folder.
"""

import dataclasses
import os
import shutil
import sys
import time

import numpy as np

from fer_tf.data import protocols
from fer_tf.data.pipeline import make_dataset
from fer_tf.errors import ConfigError
from fer_tf.evaluation import metrics as metrics_lib
from fer_tf.evaluation.report import RunFolder, plot_confusion_matrix, plot_history
from fer_tf.models import registry
from fer_tf.models.saving import load_model
from fer_tf.training import fit
from fer_tf.training.precision import choose_run_precision, dtype_policy
from fer_tf.training.recipes import Recipe

#: The embedded data's default size for `fer-tf train --dataset synthetic`.
SYNTHETIC_DEFAULTS = {"num_subjects": 24, "images_per_class": 6, "size": 48}

#: Protocol of each dataset when trained through the CLI (papers' protocols).
DATASET_PROTOCOLS = {
    "synthetic": ("subject_holdout", {"test_fraction": 0.25}),
    "fer2013": ("predefined", {"train": ("Training",), "val": ("PublicTest",),
                               "test": ("PrivateTest",)}),
    "sfew": ("predefined", {"train": ("Train",), "test": ("Val",)}),
    "ckplus": ("subject_kfold", {"k": 10}),
    "jaffe": ("loso", {}),
}

#: Share of the training part held out for validation (early stopping and the
#: best checkpoint) when the protocol names no validation split: whole
#: subjects where the records have them, else a class-stratified sample. The
#: landmark paper trains CK+ and JAFFE on all nine other folds and SFEW on all
#: of Train (Sec. II), so those hold out nothing by default and train their
#: fixed epoch budget, keeping the last weights (`fit.train` without
#: validation data); `--val-fraction` asks for a split. FER2013 selects on
#: PublicTest, and on this share of Training only in a copy without it.
DEFAULT_VAL_FRACTIONS = {"synthetic": 0.15, "fer2013": 0.10, "sfew": 0.0, "ckplus": 0.0,
                         "jaffe": 0.0}

#: Face detection used by default on each real dataset's images: FER2013's
#: 48x48 images are already face crops; the others are whole frames.
DEFAULT_DETECTORS = {"fer2013": "none", "ckplus": "haar", "jaffe": "haar", "sfew": "haar"}


@dataclasses.dataclass(frozen=True)
class DataOptions:
    """How a real dataset's images become model inputs (`fer-tf train` flags).

    Args:
        detector: "haar", "dlib", "ssd", "none" or None (the dataset's default).
        margin: float. widen the face box by this fraction per side.
        interpolation: resize interpolation of the crops.
        clahe: bool. CLAHE (clip 2.0, 8x8) on the crops.
        cache_dir: crash-safe crop cache folder (None: the package default).
        max_train_images: int or None. keep at most this many training images
            (stratified by class), for a CPU-sized run of a big dataset.
        crop_size: (height, width) the crops are stored at, or None: the
            model's input size, except FER2013 without a detector, kept at
            its native 48x48 (the pipeline resizes each batch; 35,887 crops
            at 224x224x3 would take 5.4 GB).
        val_fraction: float in [0, 1) or None. share of the training part
            held out for validation where the protocol has no validation
            split (None: `DEFAULT_VAL_FRACTIONS`; 0: none, a fixed epoch
            budget keeping the last weights).
    """

    detector: str = None
    margin: float = 0.0
    interpolation: str = "area"
    clahe: bool = False
    cache_dir: str = None
    max_train_images: int = None
    crop_size: tuple = None
    val_fraction: float = None


def _class_set(num_classes):
    classes = {6: "six", 7: "seven", 8: "ckplus8"}.get(num_classes)
    if classes is None:
        raise ConfigError(f"The embedded data has 6, 7 or 8 classes, not {num_classes}.")
    return classes


def load_records(dataset, data_dir=None, num_classes=7, seed=0, synthetic=None,
                 input_shape=(48, 48, 1), data=DataOptions(), progress=True):
    """(Records at the model's input size, preprocessing stats) of a dataset.

    The embedded data is rendered at the input size; a real dataset is read
    from its published layout and each image face-detected, cropped,
    optionally CLAHE-enhanced and resized (`load_face_records`), through the
    crash-safe crop cache.
    """
    if dataset == "synthetic":
        from fer_tf.data.synthetic import make_synthetic

        opts = dict(SYNTHETIC_DEFAULTS, **(synthetic or {}))
        if opts["size"] < max(input_shape[:2]):
            opts["size"] = int(max(input_shape[:2]))
        return make_synthetic(classes=_class_set(num_classes), seed=seed, **opts), {}
    if dataset not in DATASET_PROTOCOLS:
        raise ConfigError(f"Unknown dataset {dataset!r} for training; expected one of "
                          f"{', '.join(sorted(DATASET_PROTOCOLS))}.")
    if not data_dir:
        raise ConfigError(f"--data-dir is required for dataset {dataset!r}.")
    from fer_tf.preprocess.face_records import load_face_records

    detector = data.detector or DEFAULT_DETECTORS[dataset]
    size = data.crop_size or ((48, 48) if dataset == "fer2013" and detector == "none"
                              else input_shape[:2])
    records, stats = load_face_records(
        dataset, data_dir, image_size=tuple(size), channels=int(input_shape[-1]),
        detector=detector, margin=data.margin, interpolation=data.interpolation,
        clahe=data.clahe, cache_dir=data.cache_dir, progress=progress)
    return records, dict(stats, detector=detector)


def fold_count(records, dataset, seed=0):
    name, kwargs = DATASET_PROTOCOLS[dataset]
    return len(_folds(records, name, kwargs, seed))


def _folds(records, name, kwargs, seed):
    if name in ("subject_holdout", "stratified_kfold"):
        kwargs = dict(kwargs, seed=seed)
    if name == "predefined" and kwargs.get("val") and not has_splits(records, kwargs["val"]):
        # FER2013's folder copy has no PublicTest: select on held-out Training.
        kwargs = dict(kwargs, val=None)
    return protocols.make_folds(records, name, **kwargs)


def has_splits(records, names):
    return records.split is not None and set(names) <= set(np.unique(records.split))


def split_records(records, dataset, fold=0, seed=0, max_train_images=None,
                  val_fraction=None):
    """(train, val, test) Records for the dataset's protocol and fold index.

    Train is the protocol's whole training part (landmark paper Sec. II: the
    nine other CK+ folds, the nine other JAFFE subjects, all of SFEW Train)
    unless `val_fraction` (None: `DEFAULT_VAL_FRACTIONS[dataset]`) holds
    some of it out for validation: whole subjects where the records have
    subject ids (never test ones), else a class-stratified sample. A
    protocol's own validation split (FER2013 PublicTest) is used as is. val
    is None when nothing is held out (or too little data to hold any out).
    """
    name, kwargs = DATASET_PROTOCOLS[dataset]
    val_fraction = _val_fraction(dataset, val_fraction)
    folds = _folds(records, name, kwargs, seed)
    if not 0 <= fold < len(folds):
        raise ConfigError(f"{dataset} has {len(folds)} folds; --fold must be in "
                          f"[0, {len(folds) - 1}] or 'all'.")
    f = folds[fold]
    train, test = records.subset(f.train), records.subset(f.test)
    val = None
    if f.val is not None:
        val = records.subset(f.val)
    elif val_fraction == 0.0:
        pass
    elif train.subjects is not None and len(np.unique(train.subjects)) >= 3:
        inner = protocols.subject_holdout(train, test_fraction=val_fraction, seed=seed + 1)[0]
        train, val = train.subset(inner.train), train.subset(inner.test)
    elif train.subjects is None and len(train) >= 20:
        held = _stratified_sample(train.labels, max(1, int(round(len(train) * val_fraction))),
                                  seed + 1)
        rest = np.setdiff1d(np.arange(len(train)), held)
        train, val = train.subset(rest), train.subset(held)
    if max_train_images and len(train) > max_train_images:
        train = train.subset(_stratified_sample(train.labels, max_train_images, seed))
    return train, val, test


def _val_fraction(dataset, val_fraction):
    if val_fraction is None:
        return DEFAULT_VAL_FRACTIONS.get(dataset, 0.0)
    if not 0.0 <= float(val_fraction) < 1.0:
        raise ConfigError(f"--val-fraction must be in [0, 1), got {val_fraction}.")
    return float(val_fraction)


def stopping_rule(val_size, patience=None):
    """One line for config.json and reports: how each training stage ends."""
    if not val_size:
        return ("no validation split: every stage trains its full epoch budget and "
                "keeps its last weights")
    stop = f"early stopping (patience {patience}) and " if patience else ""
    return (f"{stop}the best checkpoint selected on {val_size} held-out validation images "
            "(never test ones)")


def _stratified_sample(labels, n, seed):
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(labels))
    share = np.bincount(labels) / len(labels)
    picked = []
    for k, p in enumerate(share):
        members = order[labels[order] == k]
        picked.extend(members[:max(1, int(round(p * n)))])
    return np.sort(np.asarray(picked[:n] if len(picked) > n else picked))


def resolve_recipe(spec, overrides=None):
    """The model's recipe with CLI overrides applied.

    Args:
        spec: registry.ModelSpec.
        overrides: dict of Recipe fields; nested fields as
            "optimizer.learning_rate" or "optimizer__learning_rate". None
            values are ignored; "epochs" sets each stage's budget in a
            staged recipe.
    """
    recipe = spec.default_recipe()
    changes = {k.replace(".", "__"): v for k, v in (overrides or {}).items() if v is not None}
    epochs = changes.pop("epochs", None)
    recipe = recipe.replace(**changes) if changes else recipe
    return recipe.with_epochs(epochs) if epochs is not None else recipe


def scale_transforms(recipe, old_size, new_size):
    """A recipe whose resize/crop sizes follow a changed model input size
    (e.g. resize 256 + crop 224 becomes resize 110 + crop 96 at 96x96)."""
    if tuple(old_size) == tuple(new_size):
        return recipe

    def scaled(size):
        if size is None:
            return None
        return tuple(max(1, int(round(v * n / o))) for v, n, o in zip(size, new_size, old_size))

    changes = {}
    for key in ("train_transform", "eval_transform"):
        t = getattr(recipe, key)
        changes[key] = dataclasses.replace(t, resize=scaled(t.resize), crop=scaled(t.crop))
    return recipe.replace(**changes)


def uses_landmarks(recipe):
    """A recipe trains a landmark output when any of its losses names one."""
    losses = [recipe.loss] + [s.loss for s in recipe.stages]
    return any(isinstance(loss, dict) and "landmarks" in loss for loss in losses)


def _pipelines(recipe, train, val, input_shape, seed, with_landmarks):
    pipe = dict(image_size=input_shape[:2], channels=input_shape[-1],
                normalization=recipe.normalization, batch_size=recipe.batch_size,
                with_landmarks=with_landmarks, landmark_part=recipe.landmark_part)
    train_ds = make_dataset(train, training=True, seed=seed, transform=recipe.train_transform,
                            class_balanced=recipe.class_balanced, **pipe)
    val_ds = (make_dataset(val, transform=recipe.eval_transform, **pipe)
              if val is not None else None)
    return train_ds, val_ds


def _check_resume(run, config):
    previous = run.read_config()
    for key in ("model", "dataset", "data_dir", "seed", "folds", "input_shape"):
        if previous.get(key) != config[key]:
            raise ConfigError(f"Cannot --resume {run.path}: {key} differs from the "
                              f"interrupted run ({previous.get(key)!r} there, "
                              f"{config[key]!r} now).")
    before = Recipe.from_dict(previous["recipe"])
    now = Recipe.from_dict(config["recipe"])
    changed = before.differences(now, allow_more_epochs=True)
    if changed:
        raise ConfigError(f"Cannot --resume {run.path}: recipe field {changed[0]} differs "
                          "from the interrupted run (only a larger epoch budget may change).")


def _precision(requested, recipe, model_name, input_shape, records):
    """The run's `PrecisionChoice` (`fer_tf.training.precision.choose_run_precision`)."""
    return choose_run_precision(
        requested,
        lambda: registry.build_model(model_name, input_shape=input_shape,
                                     num_classes=records.num_classes, **recipe.model_kwargs),
        recipe.batch_size, recipe.epochs * -(-len(records) // recipe.batch_size),
        key=f"{model_name} {'x'.join(map(str, input_shape))} batch {recipe.batch_size}",
        gpu_precision="float16" if recipe.mixed_precision else "float32")


def train_run(model_name, out, dataset="synthetic", data_dir=None, seed=0, fold=0,
              overwrite=False, resume=False, strategy="auto", synthetic=None,
              recipe_overrides=None, input_size=None, num_classes=None,
              data=DataOptions(), verbose="auto", progress=True, precision="auto"):
    """Trains a registered model and writes the run folder; returns its metrics.

    Args:
        model_name: a registered model (`fer-tf models`).
        out: the run folder.
        dataset: "synthetic" or a real dataset read from `data_dir`.
        seed: int. the run seed (data split, init, shuffles, augmentation).
        fold: int fold index, or "all" for every fold of the protocol.
        overwrite, resume: see `RunFolder`; resume refuses a changed recipe.
        strategy: "auto", "default", "mirrored" or "multiworker".
        synthetic: options of the embedded data (num_subjects, images_per_class).
        recipe_overrides: dict of recipe fields to change (CLI flags).
        input_size: (height, width) overriding the model's input size.
        num_classes: overriding the model's default class count.
        data: DataOptions for real datasets.
        precision: "auto" (the recipe's mixed_float16 on a GPU, float32 on a
            CPU, where float16 is emulated), "float32", "bfloat16" or
            "float16" (`fer_tf.training.precision`).
    """
    spec = registry.get_spec(model_name)
    if not spec.trainable_by_cli:
        raise ConfigError(f"Model {model_name!r} is not trained by gradient descent "
                          f"alone; run experiments/run_{spec.paper}.py instead.")
    recipe = resolve_recipe(spec, recipe_overrides)
    input_shape = tuple(spec.input_shape)
    if input_size:
        input_shape = (int(input_size[0]), int(input_size[1])) + input_shape[2:]
        recipe = scale_transforms(recipe, spec.input_shape[:2], input_shape[:2])
    # A multi-worker strategy must exist before any other TensorFlow op runs.
    tf_strategy = fit.get_strategy(strategy)
    fit.set_seed(seed)
    # Data first: a bad dataset or folder must not leave a run folder behind.
    records, prep_stats = load_records(dataset, data_dir, num_classes or spec.num_classes,
                                       seed, synthetic, input_shape, data, progress)
    folds = (list(range(fold_count(records, dataset, seed))) if fold == "all"
             else [int(fold)])
    for k in folds:
        split_records(records, dataset, k, seed, val_fraction=data.val_fraction)
    choice = _precision(precision, recipe, model_name, input_shape, records)
    recipe = recipe.replace(mixed_precision=choice.loss_scaling)
    if choice.warning:
        print(choice.warning, file=sys.stderr)
    if progress:
        print(f"{model_name}: {choice.describe()}", flush=True)
    config = {
        "model": model_name, "paper": spec.paper, "dataset": dataset,
        "data_dir": None if data_dir is None else os.path.abspath(data_dir),
        "folds": folds, "fold_mode": "all" if fold == "all" else "one", "seed": seed,
        "input_shape": list(input_shape), "num_classes": records.num_classes,
        "class_names": list(records.class_names), "synthetic": synthetic or {},
        "protocol": DATASET_PROTOCOLS[dataset][0], "data": dataclasses.asdict(data),
        "preprocessing": prep_stats, "strategy": strategy, "recipe": recipe.to_dict(),
        "precision": choice.to_dict(),
    }
    if dataset == "fer2013":
        config["splits_used"] = {
            "train": "Training", "report": "PrivateTest",
            "select": ("PublicTest" if has_splits(records, ("PublicTest",))
                       else f"{_val_fraction(dataset, data.val_fraction):.0%} of Training, "
                            "stratified (this copy has no PublicTest)")}
    chief = fit.is_chief()
    if chief:
        run = RunFolder(out, create=True, overwrite=overwrite, resume=resume)
        if resume and os.path.exists(run.file("config.json")):
            _check_resume(run, config)
        run.write_config(config)
    else:
        # Other workers of a multi-worker run compute with the chief but
        # write to a private folder, never the shared run folder.
        run = fit.scratch_run()
    start = time.time()
    with_landmarks = uses_landmarks(recipe)

    def train_fold(k, fold_run):
        train, val, test = split_records(records, dataset, k, seed, data.max_train_images,
                                         data.val_fraction)
        train_ds, val_ds = _pipelines(recipe, train, val, input_shape, seed + k,
                                      with_landmarks)

        def train_member(m, member_run):
            member_seed = seed + 1000 * int(m)
            fit.set_seed(member_seed)
            with dtype_policy(choice.policy):
                _, history = fit.train(
                    lambda: registry.build_model(model_name, input_shape=input_shape,
                                                 num_classes=records.num_classes,
                                                 **recipe.model_kwargs),
                    train_ds, val_ds, member_run, recipe, strategy=tf_strategy,
                    verbose=verbose)
            plot_history(history, member_run.file("plots", "learning_curves.png"),
                         title=f"{model_name} on {dataset}")
            return {"epochs_run": len(history.get("epoch", [])), "seed": member_seed}

        if recipe.members > 1:
            members = fit.run_subruns(fold_run, "members", range(recipe.members), train_member)
        else:
            members = {0: train_member(0, fold_run)}
        return {"split_sizes": {"train": len(train), "val": 0 if val is None else len(val),
                                "test": len(test)}, "members": members}

    if len(folds) > 1:
        results = fit.run_subruns(run, "folds", folds, train_fold)
    else:
        results = {folds[0]: train_fold(folds[0], run)}
    if not chief:
        shutil.rmtree(run.path, ignore_errors=True)
        return {"chief": False}
    config["train_seconds"] = round(time.time() - start, 1)
    config["split_sizes"] = {str(k): v["split_sizes"] for k, v in results.items()}
    config["stopping"] = stopping_rule(max(v["split_sizes"]["val"] for v in results.values()),
                                       recipe.patience)
    run.write_config(config)
    return evaluate_run(run.path, records=records)


def _member_runs(fold_run, members):
    if members > 1:
        return [RunFolder(fold_run.file("members", str(m)), create=True, resume=True,
                          subrun=True) for m in range(members)]
    return [fold_run]


def _load(path, where):
    return load_model(path, compile=True, hint=f"run {where}: was it trained to the end?")


def predict_probabilities(model, ds):
    """Class probabilities of a one- or multi-output model (its "labels" output)."""
    out = model.predict(ds, verbose=0)
    if isinstance(out, dict):
        out = out["labels"]
    return np.asarray(out, np.float64)


def evaluate_run(path, records=None, batch_size=128):
    """Evaluates a run's checkpoints (best on validation, or the last epoch's
    without a validation split) on its held-out test sets.

    Members are combined by summing their softmax outputs (landmark paper
    Eq. 4; each member's own metrics are kept too); folds by summing their
    confusion matrices. Writes metrics.json and the confusion-matrix plot,
    and returns the metrics.
    """
    run = RunFolder(path)
    config = run.read_config()
    if "recipe" not in config or "folds" not in config:
        raise ConfigError(f"{run.file('config.json')} was written by an older fer_tf (no "
                          "recipe recorded); train the run again to evaluate it.")
    recipe = Recipe.from_dict(config["recipe"])
    input_shape = tuple(config["input_shape"])
    if records is None:
        records, _ = load_records(config["dataset"], config.get("data_dir"),
                                  config["num_classes"], config["seed"],
                                  config.get("synthetic"), input_shape,
                                  DataOptions(**config.get("data", {})), progress=False)
    folds = config["folds"]
    pairs, per_fold, test_subjects = [], {}, set()
    for k in folds:
        fold_run = run if len(folds) == 1 else RunFolder(run.file("folds", str(k)),
                                                         create=True, resume=True,
                                                         subrun=True)
        _, _, test = split_records(records, config["dataset"], k, config["seed"])
        ds = make_dataset(test, batch_size=batch_size, image_size=input_shape[:2],
                          channels=input_shape[-1], normalization=recipe.normalization,
                          transform=recipe.eval_transform)
        member_probs = [predict_probabilities(_load(m.best_checkpoint, path), ds)
                        for m in _member_runs(fold_run, recipe.members)]
        ensemble = np.sum(member_probs, axis=0)
        pairs.append((test.labels, ensemble.argmax(-1)))
        fold_metrics = metrics_lib.classification_metrics(test.labels, ensemble.argmax(-1),
                                                          test.class_names)
        if recipe.members > 1:
            # Each member alone; "members" is the run's member count.
            fold_metrics["member_accuracy"] = {
                str(m): metrics_lib.classification_metrics(
                    test.labels, p.argmax(-1), test.class_names)["accuracy"]
                for m, p in enumerate(member_probs)}
        if len(folds) > 1:
            fold_run.write_metrics(fold_metrics)
        per_fold[str(k)] = fold_metrics
        if test.subjects is not None:
            test_subjects.update(test.subjects.tolist())
    if len(folds) > 1:
        result = metrics_lib.aggregate_folds(pairs, records.class_names)
        result["per_fold"] = {k: {"accuracy": v["accuracy"], "num_samples": v["num_samples"]}
                              for k, v in per_fold.items()}
    else:
        result = per_fold[str(folds[0])]
    result.update({"model": config["model"], "dataset": config["dataset"],
                   "folds": folds, "members": recipe.members,
                   "test_subjects": sorted(test_subjects) or None})
    run.write_metrics(result)
    what = "summed over folds, " if len(folds) > 1 else ""
    plot_confusion_matrix(result["confusion_matrix"], records.class_names,
                          run.file("plots", "confusion_matrix.png"),
                          title=f"{config['model']} on {config['dataset']} "
                                f"({what}accuracy {result['accuracy']:.1%})")
    return result
