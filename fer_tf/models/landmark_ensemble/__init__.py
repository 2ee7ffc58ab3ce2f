"""Landmark-aware part-based ensemble (Wadhawan & Gandhi, IEEE TAI 2022).

Model parts, the Baseline / FTL / EL networks and the paper's presets.
"""

from fer_tf.models.landmark_ensemble.model import (
    LandmarkPartEnsemble,
    baseline_ensemble,
    el_ensemble,
    ensemble_of,
    expression_head,
    expression_network,
    feature_extractor,
    ftl_ensemble,
    landmark_head,
    landmark_network,
    landmark_subnetwork,
    network_subnetworks,
    num_part_points,
)
from fer_tf.models.landmark_ensemble.presets import (
    EL_PARTS,
    EXTRACTOR,
    HEADS,
    INPUT_SHAPE,
    NETWORKS,
    PAPER_EFFICIENCY,
)

__all__ = [
    "EL_PARTS",
    "EXTRACTOR",
    "HEADS",
    "INPUT_SHAPE",
    "NETWORKS",
    "PAPER_EFFICIENCY",
    "LandmarkPartEnsemble",
    "baseline_ensemble",
    "el_ensemble",
    "ensemble_of",
    "expression_head",
    "expression_network",
    "feature_extractor",
    "ftl_ensemble",
    "landmark_head",
    "landmark_network",
    "landmark_subnetwork",
    "network_subnetworks",
    "num_part_points",
]
