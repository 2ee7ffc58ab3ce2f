"""Wadhawan & Gandhi's part-based ensemble: the paper's architecture, parts
and efficiency figures, in one place.

Architecture (Sec. III-C1 and the authors' notebook, REFERENCE_NOTES section
2): four blocks of [Conv 3x3 "same" he_uniform -> BatchNorm -> ReLU] x 2 with
16, 32, 64 and 128 filters, each block followed by MaxPool 3x3 stride 2
"same"; global average pooling -> 128-D. Landmark head Dense 128 -> Dense 2k;
expression head Dense 128 -> Dense 128 -> Dense C softmax; the notebook puts
no activation on the hidden dense layers and the paper initialises them with
Glorot uniform.
"""

import types

from fer_tf.data import ibug68
from fer_tf.training.recipes import OptimizerConfig, Recipe, Stage, TransformConfig

#: Sec. III-C1: 160 x 160 grey face crops repeated to 3 channels.
INPUT_SHAPE = (160, 160, 3)

EXTRACTOR = types.MappingProxyType({
    "filters": (16, 32, 64, 128),
    "convs_per_block": 2,
    "kernel_size": 3,
    "pool_size": 3,
    "pool_stride": 2,
    "kernel_initializer": "he_uniform",
})

HEADS = types.MappingProxyType({
    "units": 128,
    "landmark_hidden_layers": 1,
    "expression_hidden_layers": 2,
    "hidden_activation": None,
    "kernel_initializer": "glorot_uniform",
})

#: Sec. III-C2, EL: the five part networks in the paper's order, each named
#: after the iBUG-68 subset its landmark head regresses (fer_tf.data.ibug68).
EL_PARTS = ("eyebrows", "eyes", "nose", "mouth", "jaw")

#: Sec. III-C2: the three networks as the landmark subset of each of the five
#: members; None = no landmark pre-training (Baseline), "all" = 68 points (FTL).
NETWORKS = types.MappingProxyType({
    "baseline": (None,) * 5,
    "ftl": ("all",) * 5,
    "el": EL_PARTS,
})

#: Sec. III-E as printed (worst case: 8 CK+ classes). fer_tf's own figures
#: come from fer_tf.evaluation.efficiency; README explains the differences.
PAPER_EFFICIENCY = types.MappingProxyType({
    "subnetwork_params": 0.33e6,
    "ensemble_params": 1.65e6,
    "subnetwork_gflops": 0.555,
    "ensemble_gflops": 2.775,
    "subnetwork_storage_mb": 6.3,
    "ensemble_storage_mb": 31.5,
    "conv_flops_share": 0.9998,
})

#: Sec. III-D3: "approximate number of epochs" per dataset as printed: the
#: Baseline, the landmark stage, and ONE figure for head training and
#: fine-tuning together ("Then, we train the classification head and
#: fine-tune the feature extractor for 300 epochs").
PAPER_EPOCHS = types.MappingProxyType({
    "ckplus": {"baseline": 400, "landmarks": 100, "head_and_finetune": 300},
    "jaffe": {"baseline": 300, "landmarks": 100, "head_and_finetune": 200},
    "sfew": {"baseline": 400, "landmarks": 200, "head_and_finetune": 200},
})

#: fer_tf's choice, not the paper's: the paper says only that the head stage
#: takes "a few epochs, as the validation loss saturates quickly"; the head
#: gets this share of `head_and_finetune` and fine-tuning the rest (10% / 90%).
HEAD_SHARE = 0.1


def _split_epochs(paper):
    head = int(round(paper["head_and_finetune"] * HEAD_SHARE))
    return {"baseline": paper["baseline"], "landmarks": paper["landmarks"], "head": head,
            "finetune": paper["head_and_finetune"] - head}


#: The per-stage budgets the recipes train (CK+: head 30, fine-tuning 270).
EPOCHS = types.MappingProxyType({k: _split_epochs(v) for k, v in PAPER_EPOCHS.items()})

#: "stop training when the validation loss saturates" (Sec. III-D): with a
#: validation split (`--val-fraction`), early stopping on val_loss with this
#: patience, best weights kept per stage. The paper names no validation set
#: for CK+ or JAFFE (and SFEW's Val is its test set), so by default there is
#: none: each stage trains its full Sec. III-D3 budget and keeps its last
#: weights (docs/papers/landmark_ensemble.md).
PATIENCE = 20


#: fer_tf's choice, not the paper's: at the end of every stage (and before
#: every validation) each trainable batch norm's moving statistics become the
#: plain average over this many training batches (`fit.PreciseBatchNorm`).
#: Keras' momentum 0.99 needs ~500 steps to forget its initial (0, 1); JAFFE
#: has 6 batches an epoch, so a 10-epoch landmark stage ended with statistics
#: far from the data's: its inference-mode MAE was 7 crop widths where the
#: training-mode one was 0.08, and the frozen-extractor head stage trained
#: on those features (loss 168). The authors trained ~100x more steps.
PRECISE_BN_BATCHES = 32


def _adam(learning_rate):
    # Sec. III-D3: Adam {beta_1 = 0.9, beta_2 = 0.999, epsilon = 1e-7}.
    return OptimizerConfig("adam", learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-7)


#: REFERENCE_NOTES section 2 (the authors' notebook): rotation 15 deg, shift
#: 0.05, shear 0.05, horizontal flip; landmarks move with the pixels.
AUGMENTATION = TransformConfig(augmentation="landmark", augmentation_kwargs={
    "rotation": 15.0, "translation": 0.05, "shear": 0.05, "horizontal_flip": True})


def three_stage_recipe(dataset="ckplus", part="all"):
    """Sec. III-D2 transfer learning of one FTL (part "all") or EL member:

    1. landmark localisation: extractor + landmark head, L1 loss (Eq. 1),
       Adam 1e-2;
    2. expression head: extractor frozen, cross-entropy (Eq. 2), Adam 1e-2;
    3. fine-tuning: extractor + expression head, Adam 1e-4.

    Batch 32, landmark-aware augmentation, pixels in [-1, 1], landmarks
    divided by the crop size, batch-norm statistics recomputed at the end
    of each stage (`PRECISE_BN_BATCHES`); with a validation split each
    stage stops when val_loss saturates, without one it trains its full
    budget.
    """
    epochs = EPOCHS[dataset]
    labels = {"labels": "sparse_categorical_crossentropy"}
    return Recipe(
        name=f"landmark_{dataset}_{part}_three_stage", paper="landmark",
        epochs=epochs["landmarks"] + epochs["head"] + epochs["finetune"], batch_size=32,
        optimizer=_adam(1e-2), loss={"landmarks": "mae", **labels},
        metrics={"labels": ["accuracy"], "landmarks": ["mae"]},
        monitor="val_loss", mode="min", patience=PATIENCE,
        stages=(Stage("landmarks", epochs["landmarks"], ("extractor", "landmark_head"),
                      loss={"landmarks": "mae"}),
                Stage("head", epochs["head"], ("expression_head",), loss=labels),
                Stage("finetune", epochs["finetune"], ("extractor", "expression_head"),
                      optimizer=_adam(1e-4), loss=labels)),
        train_transform=AUGMENTATION, normalization="symmetric", landmark_part=part,
        precise_bn_batches=PRECISE_BN_BATCHES, model_kwargs={"part": part})


def direct_recipe(dataset="ckplus"):
    """Sec. III-D1 direct training of a Baseline member: cross-entropy, Adam
    1e-2, stopped when val_loss saturates (with a validation split)."""
    return Recipe(
        name=f"landmark_{dataset}_baseline_direct", paper="landmark",
        epochs=EPOCHS[dataset]["baseline"], batch_size=32, optimizer=_adam(1e-2),
        loss={"labels": "sparse_categorical_crossentropy"}, metrics={"labels": ["accuracy"]},
        monitor="val_loss", mode="min", patience=PATIENCE, train_transform=AUGMENTATION,
        normalization="symmetric", precise_bn_batches=PRECISE_BN_BATCHES,
        model_kwargs={"part": None})


#: Table I: accuracy (%) of each network and each EL part network alone.
TABLE_I = types.MappingProxyType({
    "ckplus": {"baseline": 82.56, "ftl": 95.87, "eyebrows": 93.29, "eyes": 93.96,
               "nose": 91.86, "mouth": 95.16, "jaw": 93.28, "el": 97.31},
    "jaffe": {"baseline": 85.02, "ftl": 92.42, "eyebrows": 91.43, "eyes": 87.30,
              "nose": 82.88, "mouth": 92.36, "jaw": 86.40, "el": 97.14},
    "sfew": {"baseline": 36.47, "ftl": 42.20, "eyebrows": 40.60, "eyes": 41.30,
             "nose": 36.70, "mouth": 41.74, "jaw": 40.82, "el": 44.50},
})

#: Table II: the current benchmark (CB) beside EL, accuracy (%) and parameters (M).
TABLE_II = types.MappingProxyType({
    "ckplus": {"cb_accuracy": 96.80, "cb_reference": "[22]", "el_accuracy": 97.31,
               "cb_params_m": 11, "el_params_m": 1.65},
    "jaffe": {"cb_accuracy": 91.80, "cb_reference": "[18], [32]", "el_accuracy": 97.14,
              "cb_params_m": 2, "el_params_m": 1.65},
    "sfew": {"cb_accuracy": 48.19, "cb_reference": "[22]", "el_accuracy": 44.50,
             "cb_params_m": 11, "el_params_m": 1.65},
})

#: Table III: trained on SFEW Train, tested on SFEW Val, CK+ (contempt
#: dropped) and JAFFE, accuracy (%).
TABLE_III = types.MappingProxyType({
    "sfew": TABLE_I["sfew"],
    "ckplus": {"baseline": 32.85, "ftl": 41.31, "eyebrows": 33.33, "eyes": 35.49,
               "nose": 22.97, "mouth": 37.72, "jaw": 32.62, "el": 47.53},
    "jaffe": {"baseline": 16.90, "ftl": 26.29, "eyebrows": 22.54, "eyes": 24.88,
              "nose": 18.78, "mouth": 24.88, "jaw": 21.60, "el": 30.51},
})

#: Fig. 7-9: EL's confusion matrices (rows actual, columns predicted) in the
#: paper's class order; CK+ and JAFFE summed over the ten folds.
PAPER_CONFUSION = types.MappingProxyType({
    "ckplus": {"classes": ("anger", "contempt", "disgust", "fear", "happiness", "neutral",
                           "sadness", "surprise"),
               "matrix": ((132, 0, 0, 0, 0, 3, 0, 0), (0, 48, 0, 0, 0, 6, 0, 0),
                          (0, 0, 177, 0, 0, 0, 0, 0), (0, 0, 0, 66, 0, 3, 3, 3),
                          (0, 0, 0, 0, 207, 0, 0, 0), (1, 0, 0, 0, 0, 326, 0, 0),
                          (0, 0, 0, 0, 0, 10, 74, 0), (0, 3, 1, 0, 0, 3, 0, 242))},
    "jaffe": {"classes": ("anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise"),
              "matrix": ((29, 0, 0, 0, 0, 1, 0), (0, 29, 0, 0, 0, 0, 0),
                         (0, 0, 32, 0, 0, 0, 0), (0, 0, 0, 30, 0, 0, 1),
                         (0, 0, 0, 0, 30, 1, 0), (0, 1, 0, 1, 0, 29, 0),
                         (0, 0, 0, 1, 0, 0, 29))},
    "sfew": {"classes": ("anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise"),
             "matrix": ((32, 3, 3, 9, 13, 7, 10), (3, 1, 1, 5, 6, 5, 2),
                        (13, 2, 1, 7, 9, 10, 5), (3, 0, 1, 54, 4, 10, 1),
                        (5, 2, 3, 2, 56, 15, 3), (0, 0, 2, 3, 19, 41, 8),
                        (7, 0, 0, 6, 26, 9, 9))},
})
