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
