"""The microbial binary tournament that evolves path genotypes.

Nguyen et al. 2018, Sec. III-B2 (Fig. 2) and Sec. IV-C1; Harvey, "The
microbial genetic algorithm" (ECAL 2009); Fernando et al., PathNet
(arXiv:1701.08734, 2017), Sec. 2.
"""

import dataclasses

import numpy as np

from fer_tf.errors import ConfigError
from fer_tf.models.pathnet.genotype import mutate_genotype, random_genotype, recombine


@dataclasses.dataclass(frozen=True)
class TournamentOutcome:
    """One binary tournament: who won, who lost, the fitnesses compared."""

    winner: int
    loser: int
    winner_fitness: float
    loser_fitness: float


class MicrobialTournament:
    """A population of path genotypes evolved by binary tournaments.

    Sec. III-B2 / IV-C1: pick two genotypes at random, compare their fitness
    (training accuracy over their T minibatches), and overwrite the loser by
    the winner (microbial infection at `recombination_rate`, 1.0 = full copy)
    before mutating it. The winner is left untouched. A tie goes to the first
    of the two picked. The loser's recorded fitness is cleared (NaN): its new
    genotype has not been evaluated yet.

    Args:
        population: int array (P, L, N). Initial genotypes.
        num_modules: int. M, for the modulo-M mutation.
        rng: numpy Generator. Source of every random choice.
        mutation_probability: float. Per-gene mutation probability.
        max_shift: int. Mutation shifts are non-zero in [-max_shift, max_shift].
        recombination_rate: float. Probability that a loser gene is
            overwritten by the winner's.

    Example:
    >>> t = MicrobialTournament.random(PAPER, np.random.default_rng(0))
    >>> a, b = t.pick()
    >>> outcome = t.compete(a, b, 0.6, 0.4)
    """

    def __init__(
        self,
        population,
        num_modules,
        rng,
        mutation_probability,
        max_shift=2,
        recombination_rate=1.0,
    ):
        population = np.array(population, dtype=np.int32)
        if population.ndim != 3 or population.shape[0] < 2:
            raise ConfigError(
                "population must be an int array (P >= 2, L, N), got shape "
                f"{population.shape}"
            )
        self._population = population
        self.num_modules = int(num_modules)
        self.rng = rng
        self.mutation_probability = float(mutation_probability)
        self.max_shift = int(max_shift)
        self.recombination_rate = float(recombination_rate)
        self.fitness = np.full(population.shape[0], np.nan)

    @classmethod
    def random(cls, config, rng):
        """A random population of `config.population_size` genotypes."""
        population = [
            random_genotype(rng, config.num_layers, config.num_modules, config.max_active)
            for _ in range(config.population_size)
        ]
        return cls(
            population,
            config.num_modules,
            rng,
            config.mutation_rate,
            config.max_shift,
            config.recombination_rate,
        )

    @property
    def population(self):
        """A copy of the genotypes (P, L, N)."""
        return self._population.copy()

    def __len__(self):
        return self._population.shape[0]

    def genotype(self, index):
        return self._population[index].copy()

    def pick(self):
        """Two distinct random members (Fig. 2, "randomly picking")."""
        first, second = self.rng.choice(len(self), size=2, replace=False)
        return int(first), int(second)

    def compete(self, first, second, first_fitness, second_fitness):
        """Record both fitnesses, let the loser become a mutated winner."""
        if first == second:
            raise ConfigError("a binary tournament needs two distinct members")
        if first_fitness >= second_fitness:
            winner, loser = first, second
            winner_fitness, loser_fitness = first_fitness, second_fitness
        else:
            winner, loser = second, first
            winner_fitness, loser_fitness = second_fitness, first_fitness
        infected = recombine(
            self._population[winner],
            self._population[loser],
            self.rng,
            self.recombination_rate,
        )
        self._population[loser] = mutate_genotype(
            infected, self.rng, self.num_modules, self.mutation_probability, self.max_shift
        )
        self.fitness[winner] = winner_fitness
        self.fitness[loser] = np.nan
        return TournamentOutcome(
            int(winner), int(loser), float(winner_fitness), float(loser_fitness)
        )

    def mean_fitness(self):
        """Mean recorded fitness over the members evaluated since their last change."""
        known = self.fitness[~np.isnan(self.fitness)]
        return float(known.mean()) if known.size else float("nan")

    def best(self):
        """Index of the member with the highest recorded fitness (0 if none)."""
        if np.all(np.isnan(self.fitness)):
            return 0
        return int(np.nanargmax(self.fitness))
