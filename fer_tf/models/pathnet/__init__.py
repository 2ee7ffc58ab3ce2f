"""PathNet for facial emotion transfer (Nguyen et al. 2018; Fernando et al. 2017).

Layers: fer_tf.layers.pathnet.PathNetLayer. Here: the PathNet model, path
genotypes, the microbial tournament, compiled path training (one trainer per
run), evolution on one task, the source -> destination transfer experiment
with its scratch baseline, and the seeds x folds protocol with its tables.
"""

from fer_tf.models.pathnet.evolution import (
    EvolutionResult,
    MinibatchSampler,
    TaskData,
    as_task,
    evolve,
)
from fer_tf.models.pathnet.genotype import (
    active_modules,
    mutate_genotype,
    random_genotype,
    recombine,
    validate_path,
)
from fer_tf.models.pathnet.model import PathNet, build_pathnet
from fer_tf.models.pathnet.presets import PAPER, SMOKE, PathNetConfig
from fer_tf.models.pathnet.tournament import MicrobialTournament, TournamentOutcome
from fer_tf.models.pathnet.training import (
    PathTrainer,
    evaluate_path,
    majority_vote_accuracy,
)
from fer_tf.models.pathnet.transfer import (
    frozen_modules_summary,
    run_scratch,
    run_transfer_experiment,
)

__all__ = [
    "PAPER",
    "SMOKE",
    "EvolutionResult",
    "MicrobialTournament",
    "MinibatchSampler",
    "PathNet",
    "PathNetConfig",
    "PathTrainer",
    "TaskData",
    "TournamentOutcome",
    "active_modules",
    "as_task",
    "build_pathnet",
    "evaluate_path",
    "evolve",
    "frozen_modules_summary",
    "majority_vote_accuracy",
    "mutate_genotype",
    "random_genotype",
    "recombine",
    "run_scratch",
    "run_transfer_experiment",
    "validate_path",
]
