import numpy as np
import pytest

from fer_tf.errors import ConfigError
from fer_tf.models.pathnet import (
    PAPER,
    active_modules,
    mutate_genotype,
    random_genotype,
    recombine,
    validate_path,
)


def test_random_genotype_in_range_and_distinct_per_layer():
    rng = np.random.default_rng(0)
    for _ in range(200):
        genotype = random_genotype(rng, 3, 6, 4)
        assert genotype.shape == (3, 4) and genotype.dtype == np.int32
        assert genotype.min() >= 0 and genotype.max() < 6
        assert all(len(set(row)) == 4 for row in genotype.tolist())
    with pytest.raises(ConfigError):
        random_genotype(rng, 3, 3, 4)


def test_empirical_mutation_rate_is_one_over_l_times_n():
    rng = np.random.default_rng(1)
    L, N, M = PAPER.num_layers, PAPER.max_active, PAPER.num_modules
    genotypes = rng.integers(0, M, size=(20000, L, N))
    mutated = np.stack([mutate_genotype(g, rng, M, PAPER.mutation_rate) for g in genotypes])
    rate = np.mean(mutated != genotypes)
    # 300,000 genes: the standard error of the rate is about 0.00046.
    assert rate == pytest.approx(1 / (L * N), abs=0.003)


def test_shifts_are_non_zero_within_two_and_uniform():
    rng = np.random.default_rng(2)
    M = 20
    genotypes = rng.integers(0, M, size=(5000, 3, 5))
    mutated = np.stack([mutate_genotype(g, rng, M, 1.0) for g in genotypes])
    shift = (mutated.astype(int) - genotypes) % M
    values, counts = np.unique(shift, return_counts=True)
    # {+1, +2, -2, -1} modulo 20; shift 0 is excluded (a mutation always changes).
    assert values.tolist() == [1, 2, 18, 19]
    np.testing.assert_allclose(counts / shift.size, 0.25, atol=0.01)


def test_mutation_wraps_around_modulo_m():
    rng = np.random.default_rng(3)
    M = 6
    top = np.full((200, 3, 5), M - 1)
    bottom = np.zeros((200, 3, 5), dtype=int)
    up = np.stack([mutate_genotype(g, rng, M, 1.0) for g in top])
    down = np.stack([mutate_genotype(g, rng, M, 1.0) for g in bottom])
    assert set(np.unique(up).tolist()) == {0, 1, 3, 4}  # 5 + {1, 2} wraps to {0, 1}
    assert set(np.unique(down).tolist()) == {1, 2, 4, 5}  # 0 - {1, 2} wraps to {5, 4}


def test_zero_probability_and_reproducibility():
    genotype = np.arange(15).reshape(3, 5) % 7
    rng = np.random.default_rng(4)
    np.testing.assert_array_equal(mutate_genotype(genotype, rng, 7, 0.0), genotype)
    a = mutate_genotype(genotype, np.random.default_rng(5), 7, 0.5)
    b = mutate_genotype(genotype, np.random.default_rng(5), 7, 0.5)
    np.testing.assert_array_equal(a, b)


def test_recombine_copies_winner_or_infects_a_fraction():
    rng = np.random.default_rng(6)
    winner = np.zeros((3, 5), dtype=int)
    loser = np.ones((3, 5), dtype=int)
    np.testing.assert_array_equal(recombine(winner, loser, rng, 1.0), winner)
    np.testing.assert_array_equal(recombine(winner, loser, rng, 0.0), loser)
    infected = np.stack([recombine(winner, loser, rng, 0.3) for _ in range(2000)])
    assert np.mean(infected == 0) == pytest.approx(0.3, abs=0.02)


def test_validate_path_pads_with_duplicates_and_rejects_bad_paths():
    padded = validate_path([[4], [1, 2], [0, 1, 3]], 3, 5, 3)
    np.testing.assert_array_equal(padded, [[4, 4, 4], [1, 2, 1], [0, 1, 3]])
    assert active_modules(padded) == [[4], [1, 2], [0, 1, 3]]
    with pytest.raises(ConfigError, match=r"names module\(s\) \[5\]"):
        validate_path([[5], [0], [0]], 3, 5, 3)
    with pytest.raises(ConfigError, match="4 modules"):
        validate_path([[0, 1, 2, 3], [0], [0]], 3, 5, 3)
    with pytest.raises(ConfigError, match="0 modules"):
        validate_path([[], [0], [0]], 3, 5, 3)
    with pytest.raises(ConfigError, match="3 layers"):
        validate_path([[0], [0]], 3, 5, 3)
    with pytest.raises(ConfigError, match="table of module indices"):
        validate_path("0,1,2", 3, 5, 3)
