"""Fine-tuned ImageNet CNNs: the baseline systems of the PathNet paper (Sec. IV-B, Table I).

Nguyen et al. fine-tune "off-the-shelf" pretrained CNNs on SAVEE and eNTERFACE
and report their TRAINING loss in Table I. The paper used TF-slim checkpoints;
these baselines are the ``keras.applications`` backbones of
``fer_tf.models.backbones``:

====================  ==========================  ===============================
Table I row           ``BACKBONES`` name          keras.applications constructor
====================  ==========================  ===============================
Inception_v3 [28]     ``inception_v3``            ``InceptionV3``
Mobilenet_v1 [30]     ``mobilenet``               ``MobileNet``
Mobilenet_v2 [30]     ``mobilenet_v2``            ``MobileNetV2``
Resnet_v1_50 [31]     ``resnet50``                ``ResNet50``
Resnet_v1_101 [31]    ``resnet101``               ``ResNet101``
Resnet_v1_152 [31]    ``resnet152``               ``ResNet152``
Resnet_v2_50 [32]     ``resnet50_v2``             ``ResNet50V2``
Resnet_v2_101 [32]    ``resnet101_v2``            ``ResNet101V2``
Resnet_v2_152 [32]    ``resnet152_v2``            ``ResNet152V2``
Vgg_19 [33]           ``vgg19``                   ``VGG19``
====================  ==========================  ===============================

Rows with no ``keras.applications`` equivalent, hence not available here
(``UNAVAILABLE_ROWS`` holds each reason):

- Cifar [26]: TF-slim's small CIFAR-10 network; Keras ships no CIFAR model.
- Inception_v1 [27], Inception_v2 [28], Inception_v4 [29]: TF-slim only.
- Mobilenet_v3 and Mobilenet_v4: all four MobileNet rows cite the MobileNet v1
  paper [30], so the architecture behind "v3"/"v4" cannot be identified
  (MobileNetV4 was published years after the paper). Keras' MobileNetV3 is
  therefore NOT substituted for the "Mobilenet_v3" row.
- Resnet_v1_200 [31] and Resnet_v2_200 [32]: Keras has no 200-layer ResNet.

Reproduction notes:

- ImageNet weights come from ``fer_tf.weights`` (the Keras cache, else the
  standard Keras download unless offline); ``"random"`` trains from scratch.
- Faces are the PathNet experiments' grey Viola-Jones crops of the same fold
  (``data.fold_task``), scaled back to [0, 255] and resized to at least
  the backbone's smallest input; the model repeats grey to RGB and applies the
  backbone's own ImageNet preprocessing.
- The paper does not state the optimiser, learning rate or schedule of its
  baselines. ``TABLE_I_RECIPE`` holds this project's choice: Adam at 1e-4,
  a small step that fine-tunes every layer without wiping out the ImageNet
  features, batches of 16 (the minibatch size of the paper's PathNet runs),
  10 epochs, dropout 0.2 before the classifier. SGD with momentum 0.9 at 1e-3
  is the alternative (``TABLE_I_RECIPE.replace(optimizer=...)``).
- Each (backbone, dataset) pair trains through ``fer_tf.training.fit.train``
  into the sub-run ``<out>/baselines/<backbone>/<dataset>/`` (history,
  best checkpoint, ``result.json``); a finished sub-run is not trained again,
  and one trained for another number of epochs is refused (Table I states one
  budget per run).
"""

import json
import os

import keras
import numpy as np

from fer_tf.errors import ConfigError
from fer_tf.evaluation.report import RunFolder
from fer_tf.io import atomic_write_json
from fer_tf.models.backbones import build_classifier, get_backbone, resolve_imagenet_weights
from fer_tf.papers.pathnet.data import fold_task
from fer_tf.training import fit
from fer_tf.training.recipes import OptimizerConfig, Recipe

#: Table I row -> the ``BACKBONES`` entry that stands for it.
TABLE_I_ROWS = {
    "Inception_v3": "inception_v3",
    "Mobilenet_v1": "mobilenet",
    "Mobilenet_v2": "mobilenet_v2",
    "Resnet_v1_50": "resnet50",
    "Resnet_v1_101": "resnet101",
    "Resnet_v1_152": "resnet152",
    "Resnet_v2_50": "resnet50_v2",
    "Resnet_v2_101": "resnet101_v2",
    "Resnet_v2_152": "resnet152_v2",
    "Vgg_19": "vgg19",
}

#: The backbones of Table I, in the table's order.
TABLE_I_BACKBONES = tuple(TABLE_I_ROWS.values())

_TF_SLIM_ONLY = "a TF-slim network with no keras.applications equivalent"
_NO_200_LAYERS = "keras.applications has no 200-layer ResNet"
_UNKNOWN_MOBILENET = ("the paper cites MobileNet v1 [30] for every MobileNet row, so the "
                      "architecture cannot be identified; Keras' MobileNetV3 is not substituted")

#: Table I rows that keras.applications cannot provide, and why.
UNAVAILABLE_ROWS = {
    "Cifar": "TF-slim's small CIFAR-10 network; Keras ships no CIFAR model",
    "Inception_v1": _TF_SLIM_ONLY,
    "Inception_v2": _TF_SLIM_ONLY,
    "Inception_v4": _TF_SLIM_ONLY,
    "Mobilenet_v3": _UNKNOWN_MOBILENET,
    "Mobilenet_v4": _UNKNOWN_MOBILENET + " (MobileNetV4 appeared years after the paper)",
    "Resnet_v1_200": _NO_200_LAYERS,
    "Resnet_v2_200": _NO_200_LAYERS,
}

#: The training of every Table I baseline (see the module's reproduction notes).
TABLE_I_RECIPE = Recipe(
    name="pathnet_table_i_finetune",
    paper="pathnet",
    epochs=10,
    batch_size=16,
    optimizer=OptimizerConfig(name="adam", learning_rate=1e-4),
    loss="sparse_categorical_crossentropy",
    metrics=("accuracy",),
    monitor="val_accuracy",
    mode="max",
    # The model takes [0, 255] pixels and applies the backbone's own preprocessing.
    normalization="none",
)

#: Dropout rate before the classifier of every Table I baseline.
TABLE_I_DROPOUT = 0.2

RESULT_FILE = "result.json"


def check_table_i_backbones(models):
    """``ConfigError`` naming the first of ``models`` that is not a Table I backbone."""
    for name in models:
        get_backbone(name)
        if name not in TABLE_I_BACKBONES:
            raise ConfigError(f"{name!r} stands for no row of the PathNet paper's Table I; "
                              f"its backbones are {', '.join(TABLE_I_BACKBONES)}.")


def face_images(flat, image_shape, size):
    """PathNet's flattened [0, 1] grey crops as (N, size, size, 1) pixels in [0, 255]."""
    height, width = int(image_shape[0]), int(image_shape[1])
    images = (np.asarray(flat, np.float32).reshape(-1, height, width, 1) * 255.0)
    if (height, width) == (size, size):
        return images
    resized = keras.ops.image.resize(images, (size, size), interpolation="bilinear")
    return np.clip(keras.ops.convert_to_numpy(resized), 0.0, 255.0)


def finetune_one(run, model_name, train, test, num_classes, weights=None, recipe=TABLE_I_RECIPE,
                 dropout=TABLE_I_DROPOUT, seed=0, offline=None, verbose=0):
    """Fine-tunes one Table I backbone into ``run`` (a RunFolder) by ``recipe``.

    Args:
        run: RunFolder. the sub-run folder.
        model_name: str. a ``TABLE_I_BACKBONES`` name.
        train, test: (images, labels) arrays; images (N, H, W, 1 or 3) in [0, 255].
        num_classes: int.
        weights: ``None``/``"imagenet"``, ``"random"`` or a weights file.
        recipe: Recipe. ``TABLE_I_RECIPE`` or a variant of it.
        dropout: float. dropout before the classifier.
        seed: int. seeds Python, NumPy and the backend.
        offline: bool or None. never download ImageNet weights.
        verbose: passed to ``fit.train``.

    Returns:
        dict with ``final_train_loss`` (the last epoch's mean training loss,
        what Table I reports), ``final_train_accuracy``, the last epoch's
        ``val_loss``/``val_accuracy`` on ``test`` and the resolved ``recipe``.
    """
    x_train, y_train = train
    input_shape = tuple(int(v) for v in np.shape(x_train)[1:])
    fit.set_seed(int(seed))

    def build():
        return build_classifier(model_name, num_classes, input_shape=input_shape,
                                weights=weights, dropout=dropout, offline=offline)

    _, history = fit.train(build, (x_train, np.asarray(y_train, np.int32)),
                           (test[0], np.asarray(test[1], np.int32)), run, recipe,
                           verbose=verbose)
    return {"model": model_name, "input_shape": list(input_shape),
            "weights": "imagenet" if weights is None else str(weights),
            "final_train_loss": float(history["loss"][-1]),
            "final_train_accuracy": float(history["accuracy"][-1]),
            "val_loss": float(history["val_loss"][-1]),
            "val_accuracy": float(history["val_accuracy"][-1]),
            "recipe": recipe.to_dict()}


def run_baselines(faces_by_dataset, out, models, weights=None, epochs=None, fold=0, seed=0,
                  input_size=32, recipe=TABLE_I_RECIPE, offline=None):
    """Table I: fine-tunes each backbone on each dataset's face crops (Sec. IV-B).

    Args:
        faces_by_dataset: {dataset: Records} of the PathNet experiments' face crops.
        out: str. the folder under which the sub-runs
            ``baselines/<model>/<dataset>/`` are written.
        models: iterable of ``TABLE_I_BACKBONES`` names.
        weights: ``None``/``"imagenet"``, ``"random"`` or a weights file.
        epochs: int or None. overrides ``recipe.epochs``.
        fold: int. the 0-based fold of the 6-fold split (the PathNet runs' first fold).
        seed: int. split and training seed.
        input_size: int. crop side; raised to each backbone's smallest input.
        recipe: Recipe. the baselines' training settings.
        offline: bool or None. never download ImageNet weights.

    Returns:
        {model: {dataset: final training loss}}, what Table I reports.
    """
    # experiment.py imports this module, so its fold splitter is imported here.

    models = tuple(models)
    check_table_i_backbones(models)
    if epochs is not None:
        recipe = recipe.replace(epochs=int(epochs))
    losses = {}
    for model_name in models:
        size = max(int(input_size), get_backbone(model_name).min_size)
        # A missing weights file fails before any training, not after the first dataset.
        resolve_imagenet_weights(model_name, weights, input_shape=(size, size, 3),
                                 offline=offline)
        losses[model_name] = {}
        for dataset, records in faces_by_dataset.items():
            run = RunFolder(os.path.join(out, "baselines", model_name, dataset), create=True,
                            resume=True, subrun=True)
            done = run.file(RESULT_FILE)
            if os.path.exists(done):
                with open(done) as f:
                    result = json.load(f)
                trained = result.get("recipe", {}).get("epochs")
                if trained != recipe.epochs:
                    # Table I states one budget per run, so a sub-run trained
                    # for another number of epochs is not silently reused.
                    raise ConfigError(
                        f"{done}: this baseline was fine-tuned for {trained} epoch(s), "
                        f"this run asks for {recipe.epochs}; use another --out or "
                        f"--baseline-epochs {trained}.")
            else:
                task = fold_task(records, fold, seed=seed)
                shape = records.image_shape

                result = finetune_one(
                    run, model_name, (face_images(task.x_train, shape, size), task.y_train),
                    (face_images(task.x_test, shape, size), task.y_test), task.num_classes,
                    weights=weights, recipe=recipe, seed=seed, offline=offline)
                result.update(dataset=dataset, fold=int(fold), seed=int(seed))
                atomic_write_json(done, result)
            losses[model_name][dataset] = float(result["final_train_loss"])
    return losses
