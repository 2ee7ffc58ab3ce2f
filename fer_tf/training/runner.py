"""`fer-tf train` / `fer-tf evaluate`: data -> folds -> pipeline -> fit -> report.

The run's `config.json` records everything needed to rebuild its test set
(dataset, data folder, protocol, fold, seed), so `evaluate` needs only the
run folder.
"""

import time

import keras
import numpy as np

from fer_tf.data import protocols
from fer_tf.data.pipeline import default_augmentation, make_dataset
from fer_tf.errors import ConfigError
from fer_tf.evaluation import metrics as metrics_lib
from fer_tf.evaluation.report import RunFolder, plot_confusion_matrix, plot_history
from fer_tf.models import registry
from fer_tf.training import fit

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


def load_records(dataset, data_dir=None, num_classes=7, seed=0, synthetic=None):
    """Records of an image dataset by name (the embedded one needs no folder)."""
    if dataset == "synthetic":
        from fer_tf.data.synthetic import make_synthetic

        opts = dict(SYNTHETIC_DEFAULTS, **(synthetic or {}))
        classes = {6: "six", 7: "seven", 8: "ckplus8"}.get(num_classes)
        if classes is None:
            raise ConfigError(f"The synthetic data has 6, 7 or 8 classes, not {num_classes}.")
        return make_synthetic(classes=classes, seed=seed, **opts)
    if dataset not in DATASET_PROTOCOLS:
        raise ConfigError(f"Unknown dataset {dataset!r} for training; expected one of "
                          f"{sorted(DATASET_PROTOCOLS)}.")
    if not data_dir:
        raise ConfigError(f"--data-dir is required for dataset {dataset!r}.")
    from fer_tf.data.readers import load_dataset

    return load_dataset(dataset, data_dir)


def split_records(records, dataset, fold=0, seed=0):
    """(train, val, test) Records for the dataset's protocol and fold index.

    Where the protocol has no validation split, whole subjects of the
    training part are held out for checkpoint selection (never test ones).
    """
    name, kwargs = DATASET_PROTOCOLS[dataset]
    if name in ("subject_holdout", "stratified_kfold"):
        kwargs = dict(kwargs, seed=seed)
    folds = protocols.make_folds(records, name, **kwargs)
    if not 0 <= fold < len(folds):
        raise ConfigError(f"{dataset} has {len(folds)} folds; --fold must be in "
                          f"[0, {len(folds) - 1}].")
    f = folds[fold]
    train, test = records.subset(f.train), records.subset(f.test)
    if f.val is not None:
        return train, records.subset(f.val), test
    if train.subjects is not None and len(np.unique(train.subjects)) >= 3:
        inner = protocols.subject_holdout(train, test_fraction=0.15, seed=seed + 1)[0]
        return train.subset(inner.train), train.subset(inner.test), test
    return train, None, test


def train_run(model_name, out, dataset="synthetic", data_dir=None, epochs=None,
              batch_size=None, learning_rate=None, seed=0, fold=0, mixed_precision=False,
              overwrite=False, resume=False, strategy="auto", augment=False,
              synthetic=None, verbose="auto"):
    """Trains a registered model and writes the run folder; returns its metrics."""
    spec = registry.get_spec(model_name)
    if not spec.trainable_by_cli:
        raise ConfigError(f"Model {model_name!r} is not trained by gradient descent "
                          f"alone; run experiments/run_{spec.paper}.py instead.")
    recipe = spec.default_recipe()
    epochs = epochs or recipe.epochs
    batch_size = batch_size or recipe.batch_size
    learning_rate = learning_rate or recipe.optimizer.learning_rate
    recipe = recipe.replace(epochs=epochs, batch_size=batch_size,
                            optimizer__learning_rate=learning_rate)
    # Data first: a bad dataset or folder must not leave a run folder behind.
    fit.set_seed(seed)
    records = load_records(dataset, data_dir, spec.num_classes, seed, synthetic)
    train, val, test = split_records(records, dataset, fold, seed)
    run = RunFolder(out, create=True, overwrite=overwrite, resume=resume)
    config = {
        "model": model_name, "paper": spec.paper, "dataset": dataset,
        "data_dir": data_dir, "fold": fold, "seed": seed, "epochs": epochs,
        "batch_size": batch_size, "learning_rate": learning_rate,
        "mixed_precision": mixed_precision, "augment": augment,
        "input_shape": list(spec.input_shape), "num_classes": spec.num_classes,
        "normalization": spec.normalization, "synthetic": synthetic or {},
        "protocol": DATASET_PROTOCOLS.get(dataset, ("?", {}))[0],
    }
    if resume and run.read_history_rows():
        previous = run.read_config()
        changed = {k for k in ("model", "dataset", "seed", "fold") if previous.get(k) != config[k]}
        if changed:
            raise ConfigError(f"Cannot resume {out}: {sorted(changed)} differ from the "
                              "interrupted run.")
    run.write_config(config)
    pipe = dict(image_size=spec.input_shape[:2], channels=spec.input_shape[-1],
                normalization=spec.normalization, batch_size=batch_size)
    train_ds = make_dataset(train, training=True, seed=seed,
                            augment=default_augmentation(seed=seed) if augment else None,
                            **pipe)
    val_ds = make_dataset(val, **pipe) if val is not None else None
    start = time.time()
    model, history = fit.train(
        lambda: registry.build_model(model_name, num_classes=records.num_classes),
        train_ds, val_ds, run, recipe, strategy=fit.get_strategy(strategy), mixed_precision=mixed_precision,
        verbose=verbose)
    plot_history(history, run.file("plots", "learning_curves.png"),
                 title=f"{model_name} on {dataset}")
    config["train_seconds"] = round(time.time() - start, 1)
    config["split_sizes"] = {"train": len(train), "val": 0 if val is None else len(val),
                             "test": len(test)}
    run.write_config(config)
    return evaluate_run(run.path, records=records)


def evaluate_run(path, records=None, batch_size=128):
    """Evaluates a run's best checkpoint on its held-out test set; writes
    metrics.json and the confusion-matrix plot, and returns the metrics."""
    run = RunFolder(path)
    config = run.read_config()
    try:
        model = keras.saving.load_model(run.best_checkpoint)
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path}: cannot load {run.best_checkpoint} ({e}); was the "
                          "run trained to the end?") from None
    if records is None:
        records = load_records(config["dataset"], config.get("data_dir"),
                               config["num_classes"], config["seed"], config.get("synthetic"))
    _, _, test = split_records(records, config["dataset"], config["fold"], config["seed"])
    ds = make_dataset(test, batch_size=batch_size, image_size=config["input_shape"][:2],
                      channels=config["input_shape"][-1],
                      normalization=config["normalization"])
    probs = model.predict(ds, verbose=0)
    result = metrics_lib.classification_metrics(test.labels, probs.argmax(-1),
                                                test.class_names)
    result.update({"model": config["model"], "dataset": config["dataset"],
                   "test_subjects": (None if test.subjects is None
                                     else sorted(set(test.subjects.tolist())))})
    run.write_metrics(result)
    plot_confusion_matrix(result["confusion_matrix"], test.class_names,
                          run.file("plots", "confusion_matrix.png"),
                          title=f"{config['model']} on {config['dataset']} "
                                f"(accuracy {result['accuracy']:.1%})")
    return result
