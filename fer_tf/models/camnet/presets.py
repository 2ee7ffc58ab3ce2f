"""Training presets of the CAMnet thesis.

`BASELINE_CNN_RECIPE` is the Sec. 4.1 baseline CNN's training: Adam with
categorical cross-entropy, no augmentation. The thesis gives neither a
learning rate nor a batch size; Adam at 3e-4 and batches of 32 are this
package's choice (Keras' 1e-3 diverged to chance on held-out subjects of the
embedded data), 12 epochs on the embedded data, checkpoint on validation
accuracy. See `fer_tf.models.baseline_cnn` for the architecture notes.
"""

import dataclasses

from fer_tf.errors import ConfigError
from fer_tf.training.recipes import OptimizerConfig, Recipe, TransformConfig

BASELINE_CNN_RECIPE = Recipe(
    name="camnet_baseline_cnn", paper="camnet", epochs=12, batch_size=32,
    optimizer=OptimizerConfig("adam", 3e-4), loss="sparse_categorical_crossentropy",
    monitor="val_accuracy", mode="max", normalization="unit")


# --- CAMnet and the Table 6.5 zoo (thesis Ch. 5-6) ---------------------------

#: Table 6.1, the training augmentation of every architecture: rotation in
#: [-30, 30] degrees, width/height shifts of up to 0.5 of the side, horizontal
#: flip (Keras ImageDataGenerator, "nearest" fill); rescale 1/255 is the
#: recipe's "unit" normalisation, applied after the augmentation.
TABLE_6_1 = {"rotation_degrees": 30.0, "shift": 0.5, "flip": True, "zoom": 0.0}

#: Sec. 6.1.1: FER2013's 48x48 faces upscaled to 224x224 with Lanczos.
IMAGE_SIZE = (224, 224)

#: Sec. 6.2.1 / Table 6.3: batch 32, weight decay 1e-4, momentum 0.9, 50 epochs,
#: each optimizer at its learning rate, and the accuracy the thesis reports.
TABLE_6_3 = {
    "adadelta": {"learning_rate": 1.0, "accuracy": 61.71},
    "sgd": {"learning_rate": 0.01, "accuracy": 65.18},
    "adam": {"learning_rate": 1e-3, "accuracy": 67.35},
    "radam": {"learning_rate": 1e-4, "accuracy": 70.65},
}
TRAINING = {"batch_size": 32, "epochs": 50, "weight_decay": 1e-4, "momentum": 0.9}
#: Sec. 6.2.1: CAMnet's 50% dropout before its last fully connected layer. The
#: thesis gives it for CAMnet only; the zoo members only "replaced the softmax
#: layer", so they get none.
CAMNET_DROPOUT = 0.5
#: Sec. 6.2.2: the members whose own batch the thesis states (SE-ResNet34 and
#: SE-ResNeXt101: 48); the others use Sec. 6.2.1's 32.
TABLE_6_5_BATCH = {"se_resnet34": 48, "se_resnext101": 48}

#: Table 6.4 (no pretrained weights) and Table 6.5 (test accuracy; WPW = with
#: ImageNet weights, which the thesis used for every member but CAMnet).
TABLE_6_4 = {"residual_masking": 68.18, "resnet34": 66.70, "camnet34": 70.65}
TABLE_6_5 = {"se_resnet34": 71.1, "cbam_resnet50": 73.42, "se_resnext101": 70.85,
             "bam_resnet50": 73.42, "densenet121": 73.59, "camnet34": 70.65,
             "ensemble": 76.12}
#: Table 6.5's training accuracy and epochs (SE-ResNeXt101 stopped at 43).
TABLE_6_5_TRAINING = {"se_resnet34": 94.3, "cbam_resnet50": 89.75, "se_resnext101": 92.92,
                      "bam_resnet50": 91.28, "densenet121": 91.9, "camnet34": 88.77}
TABLE_6_5_EPOCHS = {"se_resnext101": 43}
#: Table 6.5's members in the thesis' order: the six models of the ensemble.
ENSEMBLE_MEMBERS = ("se_resnet34", "cbam_resnet50", "se_resnext101", "bam_resnet50",
                    "densenet121", "camnet34")
#: Table 6.6 (test accuracy): the zoo's models as the thesis quotes them, and
#: the published results it compares with (no model of this package).
TABLE_6_6 = {"vgg16": 70.2, "vgg19": 71.41, "bam_resnet50": 73.21, "cbam_resnet50": 73.37,
             "resnet50": 72.11, "se_resnet34": 71.1, "se_resnet50": 71.48,
             "densenet121": 73.58, "ensemble": 76.12}
TABLE_6_6_PUBLISHED = {"Pramerdorfer et al. [44]": 75.2, "Khanzada et al. [45]": 75.8,
                       "Pham et al. [43] (Residual Masking Network, 7 models)": 76.82}
#: Sec. 6.2.2: the ensemble without / with test-time augmentation.
ENSEMBLE_TTA = {"without_tta": 74.93, "with_tta": 76.12}


def _optimizer(name):
    # Every Table 6.3 optimizer gets the thesis' weight decay 1e-4 in Keras 3's
    # one form, decoupled (variable -= lr * wd * variable); the thesis' PyTorch
    # adds it to the gradient (L2) instead. "adam" is therefore AdamW.
    keras_name = "adamw" if name == "adam" else name
    return OptimizerConfig(keras_name, TABLE_6_3[name]["learning_rate"],
                           weight_decay=TRAINING["weight_decay"],
                           momentum=TRAINING["momentum"] if name == "sgd" else 0.0)


def camnet_recipe(optimizer="radam", model_kwargs=None, name=None):
    """The thesis' recipe (Sec. 6.1-6.2.1) with one Table 6.3 optimizer."""
    if optimizer not in TABLE_6_3:
        raise ConfigError(f"Unknown Table 6.3 optimizer {optimizer!r}; expected one of "
                          f"{', '.join(TABLE_6_3)}.")
    resize = dict(resize=IMAGE_SIZE, interpolation="lanczos3")
    return Recipe(
        name=name or f"camnet_table_6_3_{optimizer}", paper="camnet",
        epochs=TRAINING["epochs"], batch_size=TRAINING["batch_size"],
        optimizer=_optimizer(optimizer), loss="sparse_categorical_crossentropy",
        monitor="val_accuracy", mode="max", normalization="unit",
        train_transform=TransformConfig(**resize, augmentation="camnet_table_6_1"),
        eval_transform=TransformConfig(**resize),
        model_kwargs=dict(model_kwargs or {}))


#: CAMnet's recipe (RAdam 1e-4) and the Table 6.3 comparison as variants.
CAMNET_RECIPE = camnet_recipe("radam", {"dropout": CAMNET_DROPOUT})
TABLE_6_3_RECIPES = {name: camnet_recipe(name, {"dropout": CAMNET_DROPOUT})
                     for name in TABLE_6_3}


def model_dropout(name):
    """Dropout before a model's classifier: CAMnet's 0.5, none for the zoo."""
    return CAMNET_DROPOUT if name == "camnet34" else 0.0


def member_recipe(member, weights=None):
    """A zoo member's recipe (Sec. 6.2.2): RAdam 1e-4, no dropout, the member's
    own batch (`TABLE_6_5_BATCH`) and epochs (`TABLE_6_5_EPOCHS`) where the
    thesis states them, with ImageNet weights when keras.applications has them."""
    kwargs = {"dropout": 0.0}
    if weights:
        kwargs["weights"] = weights
    recipe = camnet_recipe("radam", kwargs, name="camnet_table_6_5_member")
    return dataclasses.replace(
        recipe, batch_size=TABLE_6_5_BATCH.get(member, recipe.batch_size),
        epochs=TABLE_6_5_EPOCHS.get(member, recipe.epochs))
