import numpy as np
import pytest

from fer_tf.errors import ConfigError
from fer_tf.models.pathnet import MicrobialTournament
from fer_tf.models.pathnet.presets import SMOKE


def _tournament(mutation_probability, seed=0, size=6):
    rng = np.random.default_rng(seed)
    population = rng.integers(0, 6, size=(size, 3, 3))
    return MicrobialTournament(population, 6, rng, mutation_probability, max_shift=2)


def test_loser_becomes_copy_of_winner_and_winner_is_untouched():
    tournament = _tournament(0.0)
    before = tournament.population
    outcome = tournament.compete(1, 4, 0.2, 0.7)
    assert (outcome.winner, outcome.loser) == (4, 1)
    after = tournament.population
    np.testing.assert_array_equal(after[4], before[4])
    np.testing.assert_array_equal(after[1], before[4])
    for other in (0, 2, 3, 5):
        np.testing.assert_array_equal(after[other], before[other])
    assert tournament.fitness[4] == pytest.approx(0.7)
    assert np.isnan(tournament.fitness[1])


def test_loser_is_a_mutated_copy_of_winner():
    tournament = _tournament(1.0)
    before = tournament.population
    outcome = tournament.compete(2, 3, 0.9, 0.1)
    assert (outcome.winner, outcome.loser) == (2, 3)
    after = tournament.population
    np.testing.assert_array_equal(after[2], before[2])
    shift = (after[3] - before[2]) % 6
    assert set(np.unique(shift).tolist()) <= {1, 2, 4, 5}
    assert np.all(shift != 0)


def test_tie_goes_to_first_picked_and_best_uses_recorded_fitness():
    tournament = _tournament(0.0)
    outcome = tournament.compete(5, 0, 0.5, 0.5)
    assert (outcome.winner, outcome.loser) == (5, 0)
    tournament.compete(1, 2, 0.9, 0.3)
    assert tournament.best() == 1
    assert tournament.mean_fitness() == pytest.approx((0.5 + 0.9) / 2)
    with pytest.raises(ConfigError, match="two distinct"):
        tournament.compete(3, 3, 0.1, 0.2)
    with pytest.raises(ConfigError, match="population"):
        MicrobialTournament(np.zeros((1, 3, 3)), 6, np.random.default_rng(0), 0.1)


def test_pick_two_distinct_members_reproducibly():
    a = MicrobialTournament.random(SMOKE, np.random.default_rng(8))
    b = MicrobialTournament.random(SMOKE, np.random.default_rng(8))
    np.testing.assert_array_equal(a.population, b.population)
    picks = [a.pick() for _ in range(200)]
    assert picks == [b.pick() for _ in range(200)]
    assert all(i != j for i, j in picks)
    assert {i for pair in picks for i in pair} == set(range(SMOKE.population_size))
