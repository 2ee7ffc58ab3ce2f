"""The CAMnet thesis' experiments (Ch. 6): Tables 6.3-6.6, the members'
confusion matrices (Fig. 6.3-6.8), learning curves (Fig. 6.2), the ensemble
with test-time augmentation (Sec. 6.2.2) and Grad-CAM of CAMnet.

Every table row is one training run of one model with one Table 6.3
optimizer, trained by `presets.camnet_recipe` through `fit.train` as a
sub-run; rows shared by several tables (CAMnet34 with RAdam is in 6.3, 6.4
and 6.5) are trained once. Run folder of `run(settings, out, ...)`:

    config.json                 dataset, splits, settings, the runs
    members/<model>-<optimizer>/ one run: checkpoints/best.keras,
                                 history.csv, result.json (its test softmax
                                 with and without TTA), plots/
    metrics.json, results.md    Tables 6.3-6.6 beside the thesis' numbers
    plots/                      learning curves, confusion matrices,
                                 Grad-CAM of CAMnet34

A finished run (its result.json) is not trained again: an interrupted
experiment continues with `resume=True` (`--resume`).

Data: FER2013's Training / PublicTest / PrivateTest (train, select the best
epoch, report; the thesis says "test set" without naming one) or the
embedded synthetic faces split by held-out subjects
(`fer_tf.data.protocols.train_select_report`). Images travel as NumPy
arrays at their own size (48 x 48, repeated to RGB), and each model carries
the Sec. 6.1.1 Lanczos upscaling to its input size, the Table 6.1
augmentation (training only) and its pixel scaling as its first layers -
so the same code trains under the TensorFlow and the JAX backends, and the
data stay 48 x 48 in memory. Test-time augmentation draws its N views from
the same Table 6.1 augmentation on the 48 x 48 test images.
"""

import dataclasses
import os
import time

import keras
import numpy as np

from fer_tf.data.augment import normalization_layer
from fer_tf.data.pixels import as_rgb
from fer_tf.data.seeds import derive_seed
from fer_tf.data.protocols import FER2013_SPLITS, train_select_report
from fer_tf.errors import ConfigError
from fer_tf.evaluation import metrics as metrics_lib
from fer_tf.evaluation.ensemble import Member, combine, ensemble_predict
from fer_tf.evaluation.report import RunFolder, plot_confusion_matrix, plot_history
from fer_tf.models import registry
from fer_tf.models.camnet import presets
from fer_tf.models.camnet.model import CAMNET34, table_6_1_augmentation
from fer_tf.models.saving import load_model
from fer_tf.papers.camnet import report
from fer_tf.papers.camnet.report import run_key
from fer_tf.training import fit
from fer_tf.training.precision import choose_run_precision, dtype_policy

#: Table 6.4's architectures (no pretrained weights).
TABLE_6_4_MODELS = tuple(presets.TABLE_6_4)
#: Table 6.6's architectures of the zoo.
TABLE_6_6_MODELS = tuple(k for k in presets.TABLE_6_6 if k != "ensemble")
#: Every model some table needs, in the order they are trained.
ALL_MODELS = tuple(dict.fromkeys(("camnet34",) + TABLE_6_4_MODELS + presets.ENSEMBLE_MEMBERS
                                 + TABLE_6_6_MODELS))


@dataclasses.dataclass(frozen=True)
class Settings:
    """One budget of the experiment.

    Args:
        input_size: int. the models' square input (Sec. 6.1.1: 224).
        epochs: int or None. per run; None: each model's thesis epochs
            (Sec. 6.2.1: 50; SE-ResNeXt101 43, Sec. 6.2.2).
        batch_size: int or None. one batch for every run; None: each model's
            thesis batch (Sec. 6.2.1: 32; SE-ResNet34 and SE-ResNeXt101 48).
        n_views: int. TTA views per test image (the thesis gives no number;
            Residual Masking Network's 10).
        models: the models trained with RAdam (Tables 6.4-6.6).
        optimizers: the Table 6.3 optimizers CAMnet34 is trained with.
        max_train_images: int or None. a class-stratified subset of train.
        synthetic: dict. size of the embedded data (num_subjects,
            images_per_class, size).
        run_eagerly: bool. no traced training step (the smoke run: tracing
            CAMnet34's step costs more than its few eager steps).
        precision: str. "auto" (the thesis' float32 on a GPU - it names no
            mixed precision; on a CPU float32 or bfloat16, whichever a few
            measured training steps of each run's model favour), "float32",
            "bfloat16" or "float16" (`fer_tf.training.precision`).
        augment: bool. Table 6.1's training augmentation (the thesis);
            False is a stated budget cut (`--no-augmentation`): at 48 px
            and 5 epochs on FER2013, ResNet34 with it stayed at the
            majority class (25.8% training accuracy).
    """

    input_size: int = presets.IMAGE_SIZE[0]
    epochs: int = None
    batch_size: int = None
    n_views: int = 10
    models: tuple = ALL_MODELS
    optimizers: tuple = tuple(presets.TABLE_6_3)
    max_train_images: int = None
    synthetic: dict = dataclasses.field(default_factory=dict)
    run_eagerly: bool = False
    precision: str = "auto"
    augment: bool = True


#: The thesis' budget, the CPU run on the embedded faces (under 20 minutes on 2 cores)
#: and CI's seconds-long smoke run.
SETTINGS = {
    "paper": Settings(),
    "cpu": Settings(input_size=32, epochs=8, batch_size=32, n_views=5,
                    models=("camnet34", "resnet34", "se_resnet34", "densenet121"),
                    optimizers=("radam", "adam"),
                    synthetic={"num_subjects": 20, "images_per_class": 6, "size": 32}),
    "smoke": Settings(input_size=32, epochs=1, batch_size=16, n_views=2,
                      models=("camnet34",), optimizers=("radam",),
                      synthetic={"num_subjects": 4, "images_per_class": 1, "size": 32},
                      run_eagerly=True),
}


def planned_runs(settings):
    """[(model, optimizer)]: CAMnet34 with each Table 6.3 optimizer, every
    other model with RAdam (the thesis' recipe of Tables 6.4-6.6)."""
    unknown = sorted(set(settings.models) - set(ALL_MODELS))
    if unknown:
        raise ConfigError(f"Unknown CAMnet-thesis model(s) {unknown}; expected some of "
                          f"{', '.join(ALL_MODELS)}.")
    bad = sorted(set(settings.optimizers) - set(presets.TABLE_6_3))
    if bad:
        raise ConfigError(f"Unknown Table 6.3 optimizer(s) {bad}; expected some of "
                          f"{', '.join(presets.TABLE_6_3)}.")
    runs = []
    if "camnet34" in settings.models or settings.optimizers != ("radam",):
        runs += [("camnet34", opt) for opt in settings.optimizers]
    runs += [(m, "radam") for m in settings.models if (m, "radam") not in runs]
    return runs


def thesis_recipe(name, optimizer, settings):
    """One run's recipe: CAMnet34's with the Table 6.3 optimizer, a member's
    (RAdam, its own batch and epochs) otherwise; the budget's epochs and
    batch replace the thesis' when it sets them."""
    recipe = (presets.camnet_recipe(optimizer, {"dropout": presets.CAMNET_DROPOUT})
              if name == "camnet34" else presets.member_recipe(name))
    return recipe.replace(epochs=int(settings.epochs or recipe.epochs),
                          batch_size=int(settings.batch_size or recipe.batch_size))


def pipeline_model(name, native_shape, input_size, num_classes, weights="random",
                   augment=True, seed=None):
    """A zoo model behind its input steps: [0, 255] pixels at their own size
    -> Lanczos resize to `input_size` (Sec. 6.1.1) -> Table 6.1 augmentation
    (training only) -> the model's pixel scaling -> the registered model.

    Args:
        weights: for the keras.applications members, "imagenet" (the thesis'
            WPW), "random" or a file; the trunk models have no Keras ImageNet
            weights and train from scratch whatever this says.
    """
    spec = registry.get_spec(name)
    kwargs = {"dropout": presets.model_dropout(name)}
    if spec.normalization == "none":  # keras.applications: weights by name
        kwargs["weights"] = weights
    network = registry.build_model(name, input_shape=(input_size, input_size, 3),
                                   num_classes=num_classes, **kwargs)
    inputs = keras.Input(tuple(native_shape), name="pixels")
    x = inputs
    if tuple(native_shape[:2]) != (input_size, input_size):
        x = keras.layers.Resizing(input_size, input_size, interpolation="lanczos3",
                                  name="lanczos_resize")(x)
    if augment:
        x = table_6_1_augmentation(seed=seed)(x)
    x = normalization_layer(spec.normalization)(x)
    return keras.Model(inputs, network(x), name=f"{name}_camnet_pipeline")


def uses_imagenet(name, weights):
    return registry.get_spec(name).normalization == "none" and weights != "random"


def check_weights(runs, weights):
    """Finds (or fetches, when online) the ImageNet file of every
    keras.applications member before anything trains, so that a missing file
    is one line at the start and not an error hours into the experiment."""
    from fer_tf.models.backbones import resolve_imagenet_weights
    from fer_tf.models.camnet.zoo import APPLICATIONS

    for name in dict.fromkeys(m for m, _ in runs):
        if uses_imagenet(name, weights):
            resolve_imagenet_weights(APPLICATIONS[name], weights)


def _train_accuracy(history):
    """Training accuracy (augmented batches, as the thesis' logs) at the
    epoch whose validation accuracy was selected."""
    val = history.get("val_accuracy") or []
    acc = history.get("accuracy") or []
    if not acc:
        return None
    best = int(np.nanargmax(val)) if val else len(acc) - 1
    return float(acc[best])


def train_one(name, optimizer, sub, data, settings, weights, seed, verbose):
    """Trains one table row into `sub`; returns its result.json dict."""
    (x_train, y_train), (x_val, y_val), (x_test, y_test), class_names = data
    recipe = thesis_recipe(name, optimizer, settings)
    run_seed = derive_seed(seed, run_key(name, optimizer))
    fit.set_seed(run_seed)

    def build():
        return pipeline_model(name, x_train.shape[1:], settings.input_size,
                              len(class_names), weights, augment=settings.augment,
                              seed=run_seed)

    steps = recipe.epochs * -(-len(x_train) // recipe.batch_size)
    choice = choose_run_precision(
        settings.precision, build, recipe.batch_size, steps, gpu_precision="float32",
        key=f"camnet pipeline {name} {'x'.join(map(str, x_train.shape[1:]))} -> "
            f"{settings.input_size} batch {recipe.batch_size}")
    if choice.warning:
        print(choice.warning, flush=True)
    print(f"{name}: {choice.describe()}", flush=True)
    start = time.time()
    with dtype_policy(choice.policy):
        model, history = fit.train(build, (x_train, y_train), (x_val, y_val), sub, recipe,
                                   verbose=verbose, run_eagerly=settings.run_eagerly,
                                   mixed_precision=choice.loss_scaling)
    seconds = time.time() - start
    if os.path.exists(sub.best_checkpoint):
        # The finished run's checkpoint without its optimizer state (CAMnet34
        # with RAdam: 476 MB -> 166 MB); the run is not trained again.
        fit.atomic_save_model(load_model(sub.best_checkpoint),
                              sub.best_checkpoint)
    plain, tta = member_probabilities(model, name, x_test, settings.n_views, seed,
                                      recipe.batch_size)
    select_plain, select_tta = member_probabilities(model, name, x_val, settings.n_views,
                                                    seed, recipe.batch_size)
    metrics = metrics_lib.classification_metrics(y_test, plain.argmax(-1), class_names)
    plot_history(history, sub.file("plots", "learning_curves.png"),
                 title=f"{name} ({optimizer}): learning curves")
    plot_confusion_matrix(np.asarray(metrics["confusion_matrix"]), class_names,
                          sub.file("plots", "confusion_matrix.png"),
                          title=f"{name} ({optimizer}): test confusion matrix")
    return {"model": name, "optimizer": optimizer,
            "learning_rate": presets.TABLE_6_3[optimizer]["learning_rate"],
            "pretrained": uses_imagenet(name, weights),
            "params": int(model.count_params()),
            "batch_size": recipe.batch_size, "epochs": recipe.epochs,
            "dropout": presets.model_dropout(name),
            "epochs_run": len(history.get("epoch", [])),
            "train_accuracy": _train_accuracy(history),
            "best_val_accuracy": float(np.nanmax(history["val_accuracy"]))
            if history.get("val_accuracy") else None,
            "test_accuracy": metrics["accuracy"],
            "test_accuracy_tta": float((tta.argmax(-1) == y_test).mean()),
            "macro_f1": metrics["macro_f1"],
            "confusion_matrix": metrics["confusion_matrix"],
            "train_seconds": round(seconds, 1),
            "precision": choice.to_dict(),
            "test_probabilities": np.round(plain, 6).tolist(),
            "test_probabilities_tta": np.round(tta, 6).tolist(),
            "select_probabilities": np.round(select_plain, 6).tolist(),
            "select_probabilities_tta": np.round(select_tta, 6).tolist()}


def member_probabilities(model, name, images, n_views, seed, batch_size):
    """(softmax, softmax averaged over `n_views` Table 6.1 views) of one model."""
    member = Member(model, "none", name)
    plain, _ = ensemble_predict([member], images, batch_size=batch_size)
    tta, _ = ensemble_predict([member], images, table_6_1_augmentation(seed=seed), n_views,
                              batch_size=batch_size)
    return plain, tta


def with_select_probabilities(result, sub, x_val, n_views, seed):
    """`result` with its selection split's softmax (plain and TTA), computed
    from the run's best checkpoint when an earlier fer_tf stored none."""
    if "select_probabilities" in result or not os.path.exists(sub.best_checkpoint):
        return result
    plain, tta = member_probabilities(load_model(sub.best_checkpoint), result["model"], x_val,
                                      n_views, seed, result["batch_size"])
    result = dict(result, select_probabilities=np.round(plain, 6).tolist(),
                  select_probabilities_tta=np.round(tta, 6).tolist())
    sub.write_json("result.json", result)
    return result


def paper_test_set(results, select_labels, test_labels, keys=None):
    """FER2013's PublicTest + PrivateTest pooled (n = 7,178), the test set of
    the papers that name one (EfficientNet's Table II; the thesis only says
    "test set"): accuracy without and with TTA of each run, or of the mean of
    the `keys` runs' softmax (the ensemble), with 95% Wilson intervals."""
    labels = np.concatenate([np.asarray(select_labels), np.asarray(test_labels)])
    out = {"split": "PublicTest + PrivateTest", "num_samples": int(len(labels))}
    for suffix, name in (("", "accuracy"), ("_tta", "accuracy_tta")):
        scores = [np.concatenate([np.asarray(results[k][f"select_probabilities{suffix}"]),
                                  np.asarray(results[k][f"test_probabilities{suffix}"])])
                  for k in keys]
        pooled = combine(np.stack(scores), "mean") if len(scores) > 1 else scores[0]
        out[name] = float((pooled.argmax(-1) == labels).mean())
        out[f"{name}_ci95"] = metrics_lib.wilson_interval(out[name], len(labels))
    return out


def ensemble_results(results, labels, members=presets.ENSEMBLE_MEMBERS):
    """Sec. 6.2.2 from the members' stored softmax: the mean over the members
    that were trained, without and with TTA, and each one's accuracy."""
    keys = [run_key(m, "radam") for m in members if run_key(m, "radam") in results]
    if not keys:
        return None
    labels = np.asarray(labels)
    out = {"members": [results[k]["model"] for k in keys],
           "missing": [m for m in members if run_key(m, "radam") not in results]}
    for field, name in (("test_probabilities", "accuracy"),
                        ("test_probabilities_tta", "accuracy_tta")):
        scores = combine(np.stack([np.asarray(results[k][field]) for k in keys]), "mean")
        out[name] = float((scores.argmax(-1) == labels).mean())
        if name == "accuracy":
            out["confusion_matrix"] = metrics_lib.confusion_matrix(
                labels, scores.argmax(-1), scores.shape[-1]).tolist()
    return out


#: What CAMnet34's Grad-CAM figure explains when its feature map (1/32 of the
#: input: 7 x 7 at 224 x 224) is narrower than `GRADCAM_MIN_SIDE` pixels, as
#: the 1 x 1 map of the 32 x 32 smoke runs: stage 2's last block (1/8 of the
#: input, 4 x 4 there).
GRADCAM_SMALL_INPUT_LAYER = f"stage2_block{CAMNET34['depths'][1]}_out"
GRADCAM_MIN_SIDE = 4


def gradcam_figure(run, sub, images, class_names, count=3):
    """Grad-CAM of trained CAMnet34 on a few test faces: its feature map
    (`fer_tf.models.features`), or `GRADCAM_SMALL_INPUT_LAYER` when that map
    is under `GRADCAM_MIN_SIDE` pixels wide."""
    from fer_tf.evaluation.gradcam import gradcam, plot_gradcam
    from fer_tf.models.features import feature_map_layer

    model = load_model(sub.best_checkpoint)
    features, _ = feature_map_layer(model)
    small = min(features.output.shape[1:3]) < GRADCAM_MIN_SIDE
    result = gradcam(model, images[:count].astype(np.float32),
                     layer=GRADCAM_SMALL_INPUT_LAYER if small else None)
    paths = []
    for k in range(min(count, len(images))):
        label = class_names[int(result["class_index"][k])]
        path = run.file("plots", f"gradcam_camnet34_{k}.png")
        plot_gradcam(images[k], {"CAMnet34": result["heatmaps"][k]}, path,
                     title=f"Grad-CAM of CAMnet34 ({result['layer']})", class_name=label)
        paths.append(os.path.relpath(path, run.path))
    return paths


def run(settings, out, dataset="synthetic", data_dir=None, weights="random", seed=0,
        overwrite=False, resume=False, verbose="auto", progress=True, command=None):
    """Trains every planned run of `settings` (a `Settings`, `SETTINGS`) into
    the run folder `out`, evaluates them and the ensemble, and writes Tables
    6.3-6.6 (`fer_tf.papers.camnet.report`). `command`: the command line
    that made the run (config.json and results.md). Returns metrics.json."""
    runs = planned_runs(settings)
    train, val, test = train_select_report(dataset, data_dir, seed, settings.max_train_images,
                                           settings.synthetic, progress)
    check_weights(runs, weights)
    run = RunFolder(out, create=True, overwrite=overwrite, resume=resume)
    class_names = list(train.class_names)
    config = {
        "command": command, "paper": "camnet", "dataset": dataset,
        "data_dir": None if data_dir is None else os.path.abspath(data_dir),
        "weights": str(weights), "seed": seed, "backend": keras.backend.backend(),
        "settings": dataclasses.asdict(settings), "class_names": class_names,
        "runs": [run_key(m, o) for m, o in runs],
        "split_sizes": {"train": len(train), "val": len(val), "test": len(test)},
        "splits_used": (dict(FER2013_SPLITS) if dataset == "fer2013" else
                        {"train": "synthetic subjects", "select": "held-out training subjects",
                         "report": "held-out test subjects"}),
        "recipes": {run_key(m, o): thesis_recipe(m, o, settings).to_dict() for m, o in runs},
    }
    run.write_config(config)
    data = ((as_rgb(train.images), train.labels), (as_rgb(val.images), val.labels),
            (as_rgb(test.images), test.labels), class_names)
    by_key = dict(zip(config["runs"], runs))

    def one(key, sub):
        name, optimizer = by_key[key]
        print(f"\n== {key}: {name} with {optimizer} "
              f"({config['runs'].index(key) + 1} of {len(runs)}) ==", flush=True)
        return train_one(name, optimizer, sub, data, settings, weights, seed, verbose)

    results = fit.run_subruns(run, "members", config["runs"], one)
    subs = {key: RunFolder(run.file("members", key), create=True, resume=True, subrun=True)
            for key in results}
    if dataset == "fer2013":
        results = {key: with_select_probabilities(result, subs[key], data[1][0],
                                                  settings.n_views, seed)
                   for key, result in results.items()}
    metrics = {"dataset": dataset, "test_split": config["splits_used"]["report"],
               "num_test": len(test), "n_views": settings.n_views, "runs": {}}
    for key, result in results.items():
        row = {k: v for k, v in result.items() if "probabilities" not in k}
        row["test_accuracy_ci95"] = metrics_lib.wilson_interval(row["test_accuracy"], len(test))
        if dataset == "fer2013":
            row["paper_test_set"] = paper_test_set(results, val.labels, test.labels, [key])
        metrics["runs"][key] = row
    metrics["ensemble"] = ensemble_results(results, test.labels)
    if metrics["ensemble"]:
        for name in ("accuracy", "accuracy_tta"):
            metrics["ensemble"][f"{name}_ci95"] = metrics_lib.wilson_interval(
                metrics["ensemble"][name], len(test))
        if dataset == "fer2013":
            metrics["ensemble"]["paper_test_set"] = paper_test_set(
                results, val.labels, test.labels,
                [run_key(m, "radam") for m in metrics["ensemble"]["members"]])
    report.write_figures(run, metrics, class_names,
                         {key: sub.read_history() for key, sub in subs.items()})
    if run_key("camnet34", "radam") in subs:
        metrics["gradcam"] = gradcam_figure(run, subs[run_key("camnet34", "radam")],
                                            data[2][0], class_names)
    run.write_metrics(metrics)
    report.write_report(run, metrics, config)
    return metrics
