"""The landmark paper's experiments (Sec. IV): Baseline, FTL and EL trained
by their Sec. III-D2 recipes under each dataset's protocol, evaluated by the
ensemble policy (Eq. 4), with the Sec. V-B landmark study, Grad-CAM figures
(Fig. 11) and the cross-dataset test (Table III).

Run folder of `run(settings, out, ...)`:

    config.json                the dataset, protocol, budgets, preprocessing
    <network>/folds/<k>/       one fold of one network (k is 1-based)
        members/<name>/        one sub-network trained by `fit.train`
                               (stages/1-landmarks, 2-head, 3-finetune)
        ensemble.keras         the LandmarkPartEnsemble of the five members
        result.json            test labels and predictions, landmark errors
    metrics.json, results.md   Tables I-III, efficiency, Sec. V-B
    plots/                     confusion matrices (Fig. 7-9), Grad-CAM
                               (Fig. 11), landmarks before/after (Fig. 10)

Protocols (Sec. II): CK+ 10-fold subject-independent (8 classes), JAFFE
leave-one-subject-out (7), SFEW Train -> Val (7); `fer_tf.training.runner`'s
splitters. Each fold trains on the protocol's whole training part, as the
paper does (nine folds, nine subjects, all of SFEW Train), for the Sec.
III-D3 epoch budget of each stage, keeping the last weights; the paper's
"stop when the validation loss saturates" names no validation set, so a
validation split (and early stopping on it) is an option,
`Settings.val_fraction` (`--val-fraction`).

Preprocessing (Sec. III-A/B; `fer_tf.papers.landmark_ensemble.data`): grey
face crops with CLAHE and dlib's 68 landmarks, scaled to [-1, 1] by the
pipeline. Departures from the paper: docs/papers/landmark_ensemble.md.
"""

import dataclasses
import os
import time

import numpy as np

from fer_tf.data.pipeline import make_dataset
from fer_tf.errors import ConfigError
from fer_tf.evaluation import metrics as metrics_lib
from fer_tf.evaluation.report import RunFolder, plot_history
from fer_tf.models.landmark_ensemble import presets
from fer_tf.models.landmark_ensemble.model import (ensemble_of, landmark_network,
                                                   landmark_subnetwork)
from fer_tf.models.saving import load_model
from fer_tf.papers.landmark_ensemble import report
from fer_tf.papers.landmark_ensemble.data import CLASSES, DATASETS, load_data  # noqa: F401
from fer_tf.progress import WorkClock
from fer_tf.training import fit, runner
from fer_tf.training.precision import choose_run_precision, dtype_policy


@dataclasses.dataclass(frozen=True)
class Settings:
    """One budget of the experiment (`SETTINGS`): what one run trains: image
    side, epoch scale of the paper's budgets (Sec. III-D3; at least one epoch
    per stage), class-balanced batches, the members per network (the paper's
    five; `--smoke` trains the first two), optionally the landmark stage's
    own epoch budget, the share of the training subjects held out for
    validation, the compute precision (`precision`: "auto", "float32",
    "bfloat16" or "float16"; see `run_precision`) and the size of the embedded faces `--dataset
    synthetic` draws (`synthetic`: num_subjects, images_per_class).

    `val_fraction` 0 (the default) trains on the protocol's whole training
    part, like the paper, each stage for its full budget with its last
    weights kept; above 0, that share of the training subjects (of the
    images, without subject ids) is held out, and each stage stops early on
    its val_loss (patience `presets.PATIENCE`) and keeps its best epoch.

    `landmark_epochs` (None: scaled like the other stages) is not scaled,
    and the stage runs it in full: the expression features FTL and EL
    fine-tune exist only once the landmark stage is precise. On the
    embedded faces an expression moves the points by about 0.012 crop
    widths, and a landmark stage stopped at an MAE of 0.03-0.06 leaves
    features that hold the pose but not the expression. Early stopping
    (patience 20, with `val_fraction` 0.15) is what stopped it there: over
    40 validation faces the validation MAE doubles from one epoch to the
    next while the training MAE still falls. With a validation split the
    best epoch by validation loss is still the one kept.
    """

    input_size: int = 160
    epochs_scale: float = 1.0
    class_balanced: bool = False
    members: int = 5
    landmark_epochs: int = None
    val_fraction: float = 0.0
    precision: str = "auto"
    synthetic: dict = dataclasses.field(default_factory=dict)


#: The budgets: the paper's (160 px, Sec. III-D3 epochs, the whole training
#: part; real data), "cpu" for `--dataset synthetic` (CK+'s eight classes
#: rendered with exact landmarks, split by held-out subjects, at the reduced
#: budget the script states: a tenth of the CK+ epochs (Baseline 40; head 3,
#: fine-tuning 27) and 60 landmark epochs run in full, about 17 min on 2
#: cores) and "smoke" (`--smoke`: every step of the real run, in seconds).
SETTINGS = {
    "paper": Settings(input_size=presets.INPUT_SHAPE[0], epochs_scale=1.0),
    "cpu": Settings(input_size=48, epochs_scale=0.1, landmark_epochs=60,
                    synthetic={"num_subjects": 12, "images_per_class": 5}),
    "smoke": Settings(input_size=32, epochs_scale=0.0, members=2,
                      synthetic={"num_subjects": 4, "images_per_class": 2}),
}


def _sub(run, *parts):
    return RunFolder(run.file(*parts), create=True, resume=True, subrun=True)


def member_names(network):
    """EL's members are named after their parts, the others member_0..4."""
    parts = presets.NETWORKS[network]
    return list(parts) if network == "el" else [f"member_{i}" for i in range(len(parts))]


def member_recipe(network, dataset, part, settings):
    """Sec. III-D1 (Baseline) or III-D2 (FTL, EL) at the settings' scale."""
    key = dataset if dataset in presets.EPOCHS else "ckplus"
    recipe = (presets.direct_recipe(key) if network == "baseline"
              else presets.three_stage_recipe(key, part))
    scale = float(settings.epochs_scale)

    def scaled(epochs):
        return max(1, int(round(epochs * scale)))

    if recipe.stages:
        stages = tuple(dataclasses.replace(s, epochs=int(settings.landmark_epochs), patience=0)
                       if s.name == "landmarks" and settings.landmark_epochs
                       else dataclasses.replace(s, epochs=scaled(s.epochs))
                       for s in recipe.stages)
        recipe = recipe.replace(stages=stages, epochs=sum(s.epochs for s in stages))
    else:
        recipe = recipe.replace(epochs=scaled(recipe.epochs))
    return recipe.replace(class_balanced=bool(settings.class_balanced))


def _inputs(records, input_shape):
    """Test images as the pipeline's evaluation path makes them (grey -> 3
    channels, [-1, 1]); records are stored at the input size."""
    images = records.images.astype(np.float32)
    if images.shape[1:3] != tuple(input_shape[:2]):
        raise ConfigError(f"{records.name}: images are {images.shape[1:3]}, the networks "
                          f"take {tuple(input_shape[:2])}.")
    if images.shape[-1] != input_shape[-1]:
        images = np.repeat(images[..., :1], input_shape[-1], axis=-1)
    return images / 127.5 - 1.0


def _pipelines(recipe, train, val, input_shape, seed):
    """Training and validation batches; every network gets the same
    landmark-aware augmentation (one affine for pixels and points), and a
    Baseline member, which has no landmark output, sees the labels only.
    The batches are the same from run to run (`deterministic`), so a
    command re-run with its seed writes the same metrics.json."""
    pipe = dict(image_size=input_shape[:2], channels=input_shape[-1],
                normalization=recipe.normalization, batch_size=recipe.batch_size,
                with_landmarks=True, landmark_part=recipe.landmark_part or "all",
                deterministic=True)
    train_ds = make_dataset(train, training=True, seed=seed, transform=recipe.train_transform,
                            class_balanced=recipe.class_balanced, **pipe)
    val_ds = None if val is None else make_dataset(val, transform=recipe.eval_transform, **pipe)
    if recipe.landmark_part is None:
        def labels_only(images, targets):
            return images, {"labels": targets["labels"]}

        train_ds = train_ds.map(labels_only)
        val_ds = None if val_ds is None else val_ds.map(labels_only)
    return train_ds, val_ds


def landmark_errors(before, after, images, records, part):
    """Sec. V-B: mean absolute difference (Eq. 1, coordinates / crop size)
    between ground truth and the points predicted before fine-tuning and
    after it with the localisation head put back, per iBUG-68 part.

    `before`, `after`: sub-networks with a landmark head on `part`.
    Returns ({part: {"before", "after"}}, before points, after points) with
    points (N, k, 2) in pixels.
    """
    from fer_tf.data import ibug68

    height, width = records.image_shape[:2]
    index = ibug68.part_indices(part)
    truth = records.landmarks[:, index] / np.array([width, height], np.float32)
    points = []
    for model in (before, after):
        pred = np.asarray(landmark_network(model).predict(images, verbose=0, batch_size=64))
        points.append(pred.reshape(len(images), -1, 2))
    parts = [part] if part != "all" else list(ibug68.PART_NAMES)
    errors = {}
    for name in parts:
        sel = np.isin(index, ibug68.part_indices(name))
        errors[name] = {when: float(np.mean(np.abs(p[:, sel] - truth[:, sel])))
                        for when, p in zip(("before", "after"), points)}
    scale = np.array([width, height], np.float32)
    return errors, points[0] * scale, points[1] * scale


def run_precision(settings, networks, dataset, num_classes, input_shape, num_train):
    """The run's `PrecisionChoice` (`fer_tf.training.precision`), one for
    every member: "auto" is the paper's float32 on a GPU (it names no mixed
    precision) and on a CPU float32 or bfloat16, whichever trains the first
    network's first sub-network faster (measured only for runs of at least
    `MEASURE_MIN_STEPS` steps), never float16; an explicit precision is kept,
    float16 on a CPU with a one-line warning. Printed before anything trains."""
    part = presets.NETWORKS[networks[0]][0]
    steps = max(member_steps(n, dataset, presets.NETWORKS[n][0], settings, num_train)
                for n in networks)
    batch_size = member_recipe(networks[0], dataset, part, settings).batch_size
    choice = choose_run_precision(
        settings.precision, lambda: landmark_subnetwork(num_classes, part, input_shape),
        batch_size, steps, gpu_precision="float32",
        key=f"landmark subnetwork {part or 'baseline'} {'x'.join(map(str, input_shape))} "
            f"batch {batch_size}")
    if choice.warning:
        print(choice.warning, flush=True)
    print(f"landmark ensemble: {choice.describe()}", flush=True)
    return choice


def member_steps(network, dataset, part, settings, num_train):
    """Training steps of one member over all its stages (the progress plan)."""
    recipe = member_recipe(network, dataset, part, settings)
    return recipe.epochs * -(-int(num_train) // recipe.batch_size)


def pending_steps(run, networks, folds, split_sizes, dataset, settings):
    """Training steps still to run in `run` (members and folds whose
    result.json exists are done), the plan of the run's `WorkClock`."""
    total = 0
    for network in networks:
        for k in folds:
            fold = os.path.join(run.path, network, "folds", str(k))
            if os.path.exists(os.path.join(fold, "result.json")):
                continue
            for name, part in zip(member_names(network)[:settings.members],
                                  presets.NETWORKS[network]):
                if not os.path.exists(os.path.join(fold, "members", name, "result.json")):
                    total += member_steps(network, dataset, part, settings,
                                          split_sizes[str(k)]["train"])
    return total


def train_network(network, fold_run, train, val, test, input_shape, dataset, settings, seed,
                  verbose="auto", choice=None, clock=None, context=""):
    """Trains the five members of `network` on one fold (members as sub-runs)
    and evaluates their Eq. 4 ensemble on `test` under the precision `choice`
    (None: float32). Returns the fold's result.

    With a `WorkClock`, each epoch is one log line (`fit.EpochProgress`:
    `context`, network, member, stage, epoch, elapsed and remaining) in place
    of Keras' own."""
    names = member_names(network)[:settings.members]
    parts = dict(zip(names, presets.NETWORKS[network]))
    num_classes = train.num_classes

    def train_member(name, member_run):
        member_seed = seed + 1000 * names.index(name)
        fit.set_seed(member_seed)
        recipe = member_recipe(network, dataset, parts[name], settings)
        train_ds, val_ds = _pipelines(recipe, train, val, input_shape, member_seed)
        callbacks = []
        if clock is not None:
            label = f"{network} {name} ({names.index(name) + 1}/{len(names)})"
            callbacks = [fit.EpochProgress(clock, f"{context} | {label}".lstrip(" |"),
                                           -(-len(train) // recipe.batch_size))]
        start = time.time()
        with dtype_policy(choice.policy if choice else "float32"):
            _, history = fit.train(
                lambda: landmark_subnetwork(num_classes, parts[name], input_shape,
                                            name=f"{network}_{name}"),
                train_ds, val_ds, member_run, recipe,
                verbose=0 if clock is not None else verbose, callbacks=callbacks,
                mixed_precision=bool(choice and choice.loss_scaling))
        plot_history(history, member_run.file("plots", "learning_curves.png"),
                     title=f"{network} {name}")
        return {"epochs_run": len(history.get("epoch", [])), "seed": member_seed,
                "stage_epochs": [s.epochs for s in recipe.resolved_stages()],
                "seconds": round(time.time() - start, 1)}

    members = fit.run_subruns(fold_run, "members", names, train_member)
    subnets = [load_model(_sub(fold_run, "members", n).best_checkpoint) for n in names]
    ensemble = ensemble_of(subnets, name=f"{network}_ensemble")
    fit.atomic_save_model(ensemble, fold_run.file("ensemble.keras"))
    images = _inputs(test, input_shape)
    out = ensemble.predict(images, verbose=0, batch_size=64)
    result = {"y_true": test.labels.tolist(),
              "y_pred": np.asarray(out["probabilities"]).argmax(-1).tolist(),
              "member_pred": {n: np.asarray(out["members"])[:, i].argmax(-1).tolist()
                              for i, n in enumerate(names)},
              "members": members, "test_size": len(test)}
    if network != "baseline" and test.landmarks is not None:
        result["landmark_mae"] = {}
        for name, subnet in zip(names, subnets):
            stage1 = _sub(fold_run, "members", name, "stages", "1-landmarks").best_checkpoint
            before = load_model(stage1)
            errors, pts_before, pts_after = landmark_errors(before, subnet, images, test,
                                                            parts[name])
            result["landmark_mae"][name] = errors
            np.savez_compressed(fold_run.file(f"landmarks_{name}.npz"), before=pts_before,
                                after=pts_after, part=parts[name])
    return result


def evaluate_on(fold_run, records, input_shape):
    """Table III: a trained fold's ensemble on another dataset (same classes)."""
    ensemble = load_model(fold_run.file("ensemble.keras"))
    out = ensemble.predict(_inputs(records, input_shape), verbose=0, batch_size=64)
    names = [m.name.split("_", 1)[1] for m in ensemble.members]
    return {"y_true": records.labels.tolist(),
            "y_pred": np.asarray(out["probabilities"]).argmax(-1).tolist(),
            "member_pred": {n: np.asarray(out["members"])[:, i].argmax(-1).tolist()
                            for i, n in enumerate(names)}}


def summarize_results(fold_results, class_names):
    """Accuracy of the ensemble and of each member alone, per network: pooled
    (confusion matrices summed over folds) and per fold (the paper's Table I
    averages the folds, Sec. II)."""
    pairs = [(r["y_true"], r["y_pred"]) for r in fold_results]
    ensemble = metrics_lib.aggregate_folds(pairs, class_names)
    members = {}
    for name in fold_results[0]["member_pred"]:
        member_pairs = [(r["y_true"], r["member_pred"][name]) for r in fold_results]
        members[name] = metrics_lib.aggregate_folds(member_pairs, class_names)
    out = {"accuracy": ensemble["accuracy"], "confusion_matrix": ensemble["confusion_matrix"],
           "fold_accuracies": ensemble["fold_accuracies"],
           "fold_accuracy_mean": ensemble["fold_accuracy_mean"], "macro_f1": ensemble["macro_f1"],
           "members": {n: m["accuracy"] for n, m in members.items()},
           "member_fold_accuracies": {n: m["fold_accuracies"] for n, m in members.items()}}
    errors = [r["landmark_mae"] for r in fold_results if "landmark_mae" in r]
    if errors:
        out["landmark_mae"] = {
            member: {part: {when: float(np.mean([e[member][part][when] for e in errors]))
                            for when in ("before", "after")} for part in errors[0][member]}
            for member in errors[0]}
    return out


def fold_numbers(records, dataset, folds, seed=0):
    """1-based fold numbers of `folds` ("all" or a list) under the protocol."""
    protocol = "synthetic" if dataset == "synthetic" else dataset
    available = runner.fold_count(records, protocol, seed)
    if folds == "all":
        return list(range(1, available + 1))
    chosen = [int(k) for k in folds]
    bad = [k for k in chosen if not 1 <= k <= available]
    if bad:
        raise ConfigError(f"{dataset} has {available} folds (1..{available}); got {bad}.")
    return chosen


def settings_for(dataset, smoke=False, input_size=None, epochs_scale=None,
                 class_balanced=False, landmark_epochs=None, val_fraction=None, precision=None):
    """The `SETTINGS` budget of `dataset`: "paper" for real data, "cpu" for the
    embedded data, "smoke" with `smoke`; the arguments (None: keep) override
    single fields."""
    base = SETTINGS["smoke" if smoke else "cpu" if dataset == "synthetic" else "paper"]
    changes = {"input_size": input_size, "epochs_scale": epochs_scale,
               "landmark_epochs": landmark_epochs, "precision": precision}
    return dataclasses.replace(
        base, class_balanced=bool(class_balanced), val_fraction=float(val_fraction or 0.0),
        **{k: v for k, v in changes.items() if v is not None})


def run(settings, out, dataset="synthetic", data_dir=None, networks=("baseline", "ftl", "el"),
        folds="all", seed=0, overwrite=False, resume=False, cross=None, cache_dir=None,
        verbose="auto", progress=True, sfew_split_train=None, command=None):
    """Runs the Sec. IV protocol of `dataset` for `networks` into `out`.

    Args:
        settings: `Settings`, the budget (`SETTINGS[...]` or `settings_for`).
        dataset: "ckplus", "jaffe", "sfew" or "synthetic" (its size:
            `settings.synthetic`).
        data_dir: the dataset's published layout (real datasets).
        networks: any of "baseline", "ftl", "el".
        folds: "all" or 1-based fold numbers of the protocol.
        cross: {test dataset: data_dir} evaluated with the fold-1 ensembles
            (Table III: SFEW Train -> CK+ without contempt, -> JAFFE).
        overwrite, resume: see `RunFolder`; finished members and folds are
            reused on resume.
        sfew_split_train: SFEW on a copy without Val: this share of Train,
            drawn at random (`load_data`), is the test set.
        command: the command line that made the run (config and results.md).

    Returns the metrics dict written to metrics.json.
    """
    unknown = sorted(set(networks) - set(presets.NETWORKS))
    if unknown or not networks:
        raise ConfigError(f"--networks takes baseline, ftl, el; got {list(networks)}.")
    input_shape = (settings.input_size, settings.input_size, 3)
    synthetic = settings.synthetic
    fit.set_seed(seed)
    start = time.time()
    records, stats = load_data(dataset, data_dir, settings.input_size, seed, synthetic,
                               cache_dir=cache_dir, progress=progress,
                               sfew_split_train=sfew_split_train)
    protocol = "synthetic" if dataset == "synthetic" else dataset
    chosen = fold_numbers(records, dataset, folds, seed)
    split_sizes = {}
    for k in chosen:
        train, val, test = runner.split_records(records, protocol, k - 1, seed,
                                                val_fraction=settings.val_fraction)
        split_sizes[str(k)] = {"train": len(train), "val": 0 if val is None else len(val),
                               "test": len(test)}
    stopping = runner.stopping_rule(max(v["val"] for v in split_sizes.values()),
                                    presets.PATIENCE)
    choice = run_precision(settings, networks, dataset, records.num_classes, input_shape,
                           max(v["train"] for v in split_sizes.values()))
    cross_records, cross_notes = {}, {}
    for other, other_dir in (cross or {}).items():
        # Table III: only the classes the training set has (CK+ drops contempt);
        # a training class the test set lacks (CK+48: neutral) has no image.
        other_records, other_stats = load_data(other, other_dir, settings.input_size, seed,
                                               cache_dir=cache_dir, progress=progress)
        kept = other_records.with_classes(records.class_names, allow_missing=True)
        cross_records[other] = (kept, other_stats)
        cross_notes[other] = {
            "images": len(kept),
            "dropped_classes": [c for c in other_records.class_names
                                if c not in records.class_names],
            "missing_classes": [c for c in records.class_names
                                if c not in other_records.class_names]}
    run = RunFolder(out, create=True, overwrite=overwrite, resume=resume)
    config = {"command": command, "dataset": dataset,
              "data_dir": data_dir and os.path.abspath(data_dir),
              "networks": list(networks), "folds": chosen, "seed": seed,
              "sfew_split_train": sfew_split_train,
              "protocol": runner.DATASET_PROTOCOLS[protocol][0],
              "budget": dataclasses.asdict(settings), "stopping": stopping,
              "precision": choice.to_dict(), "input_shape": list(input_shape),
              "class_names": list(records.class_names), "normalization": "symmetric",
              "synthetic": synthetic if dataset == "synthetic" else None,
              "preprocessing": {k: v for k, v in stats.items() if k != "missing"},
              "missed_faces": stats.get("missing", []),
              "cross": {k: os.path.abspath(v) for k, v in (cross or {}).items()},
              "recipes": {n: member_recipe(n, dataset, presets.NETWORKS[n][0], settings).to_dict()
                          for n in networks}}
    run.write_config(config)
    clock = None
    if progress:
        clock = WorkClock(pending_steps(run, networks, chosen, split_sizes, dataset, settings))
        clock.line(f"{dataset}: {len(networks)} network(s) x {len(chosen)} fold(s) x "
                   f"{settings.members} members, {clock.total} training steps to run")
    results = {}
    for network in networks:
        net_run = _sub(run, network)

        def train_fold(k, fold_run, network=network):
            train, val, test = runner.split_records(records, protocol, int(k) - 1, seed,
                                                    val_fraction=settings.val_fraction)
            context = f"{dataset} fold {k} ({chosen.index(k) + 1}/{len(chosen)})"
            result = train_network(network, fold_run, train, val, test, input_shape, dataset,
                                   settings, seed + int(k), verbose, choice, clock, context)
            if clock is not None:
                accuracy = np.mean(np.equal(result["y_true"], result["y_pred"]))
                clock.line(f"{context} | {network} ensemble test accuracy {accuracy:.2%} "
                           f"(n = {result['test_size']})")
            return result

        results[network] = fit.run_subruns(net_run, "folds", chosen, train_fold)
    summary = {n: summarize_results([results[n][k] for k in chosen], records.class_names)
               for n in networks}
    first = {n: _sub(run, n, "folds", str(chosen[0])) for n in networks}
    cross_summary = {}
    for other, (other_records, _) in cross_records.items():
        cross_summary[other] = {
            n: summarize_results([evaluate_on(first[n], other_records, input_shape)],
                                 records.class_names) for n in networks}
    _, _, test = runner.split_records(records, protocol, chosen[0] - 1, seed,
                                      val_fraction=settings.val_fraction)
    metrics = {"dataset": dataset, "networks": summary, "cross": cross_summary,
               "cross_test_sets": cross_notes,
               "folds": chosen, "split_sizes": split_sizes, "stopping": stopping,
               "test_set": stats.get("test_set"),
               "budget": dataclasses.asdict(settings), "precision": choice.to_dict(),
               "efficiency": report.efficiency_figures(records.num_classes, input_shape),
               "faces": {"images": stats.get("images"), "detected": stats.get("detected"),
                         "missed": len(stats.get("missing", [])),
                         "detector": (stats.get("detector") or {}).get("detector")
                         if isinstance(stats.get("detector"), dict) else None},
               "seconds": round(time.time() - start, 1),
               # Every member's own training time, also of members an earlier
               # process trained (a resumed run's `seconds` counts only its own).
               "member_seconds": round(sum(
                   member.get("seconds", 0.0) for n in networks for k in chosen
                   for member in results[n][k]["members"].values()), 1)}
    report.write_figures(run, summary, records.class_names, first, test, input_shape, dataset)
    run.write_metrics(metrics)
    report.write_report(run, metrics, config)
    return metrics
