"""Path genotypes: an L x N table of module indices (Sec. III-B1, Fig. 2).

Nguyen et al. 2018, Sec. III-B1/III-B2; Fernando et al., PathNet
(arXiv:1701.08734, 2017), Sec. 2.

Conventions (decided here, tested in tests/models/pathnet/test_pathnet_genotype.py):
- Initialisation draws N DISTINCT modules per layer (the paper's "maximum of 5
  distinct modules"), so a new path has exactly N active modules per layer.
- Mutation: each gene independently with probability p (default 1/(L*N)) is
  moved by a shift drawn uniformly from the NON-ZERO integers of
  [-max_shift, max_shift] (i.e. {-2, -1, 1, 2}), wrapping around modulo M.
  Excluding 0 makes "mutated" mean "changed": for M > 2 * max_shift the
  empirical rate of changed genes equals p (for tiny M a shift can wrap onto
  the same module, e.g. +2 with M = 2).
- Mutation may make two slots of a layer name the same module. Such a
  duplicate counts once (see fer_tf.layers.pathnet), so a genotype encodes a
  path of at most N distinct modules per layer.
"""

import numpy as np

from fer_tf.errors import ConfigError


def random_genotype(rng, num_layers, num_modules, max_active):
    """A random path: `max_active` distinct module indices in each layer."""
    if max_active > num_modules:
        raise ConfigError(
            f"cannot draw {max_active} distinct modules out of {num_modules}"
        )
    rows = [
        rng.choice(num_modules, size=max_active, replace=False)
        for _ in range(num_layers)
    ]
    return np.stack(rows).astype(np.int32)


def mutate_genotype(genotype, rng, num_modules, probability, max_shift=2):
    """A mutated copy of `genotype` (Fernando et al. 2017, Sec. 2).

    Every gene mutates with probability `probability`; a mutated gene moves by
    a uniform non-zero shift in [-max_shift, max_shift], modulo `num_modules`.
    The same number of random values is drawn whatever mutates, so the rng
    stream does not depend on the outcome.
    """
    genotype = np.asarray(genotype)
    hit = rng.random(genotype.shape) < probability
    magnitude = rng.integers(1, max_shift + 1, size=genotype.shape)
    sign = np.where(rng.random(genotype.shape) < 0.5, -1, 1)
    shifted = (genotype.astype(np.int64) + sign * magnitude) % num_modules
    return np.where(hit, shifted, genotype).astype(np.int32)


def recombine(winner, loser, rng, rate=1.0):
    """Microbial GA infection (Harvey 2009): each loser gene becomes the
    winner's with probability `rate`; rate 1.0 copies the winner (Sec. IV-C1)."""
    winner = np.asarray(winner)
    if rate >= 1.0:
        return winner.astype(np.int32).copy()
    infected = rng.random(winner.shape) < rate
    return np.where(infected, winner, loser).astype(np.int32)


def validate_path(path, num_layers, num_modules, max_active):
    """Check a user-given path and return it as an (L, N) int32 array.

    A layer may list 1..N module indices; shorter rows are padded by
    repeating their first index, which (duplicates counting once) leaves the
    path unchanged. Raises ConfigError for a wrong number of layers, more than
    N modules in a layer, non-integer or out-of-range indices.
    """
    if hasattr(path, "numpy"):
        path = path.numpy()
    elif hasattr(path, "__array__") and not isinstance(path, np.ndarray):
        path = np.asarray(path)
    if isinstance(path, np.ndarray):
        if path.ndim != 2:
            raise ConfigError(
                f"a path must be a {num_layers} x (1..{max_active}) table of "
                f"module indices, got an array of shape {path.shape}"
            )
        rows = list(path)
    elif isinstance(path, (list, tuple)):
        rows = list(path)
    else:
        raise ConfigError(
            f"a path must be a {num_layers} x (1..{max_active}) table of module "
            f"indices (array or nested list), got {type(path).__name__}"
        )
    if len(rows) != num_layers:
        raise ConfigError(
            f"a path must list module indices for each of the {num_layers} "
            f"layers, got {len(rows)} rows"
        )
    out = np.empty((num_layers, max_active), dtype=np.int32)
    for layer, row in enumerate(rows):
        row = np.asarray(row).reshape(-1)
        if row.size == 0 or row.size > max_active:
            raise ConfigError(
                f"layer {layer} of the path has {row.size} modules; a path uses "
                f"1 to {max_active} modules per layer"
            )
        if row.dtype.kind not in "iu":
            if row.dtype.kind != "f" or not np.all(np.equal(np.mod(row, 1), 0)):
                raise ConfigError(
                    f"layer {layer} of the path has non-integer module indices "
                    f"{row.tolist()}"
                )
        row = row.astype(np.int64)
        bad = row[(row < 0) | (row >= num_modules)]
        if bad.size:
            raise ConfigError(
                f"layer {layer} of the path names module(s) {bad.tolist()}, but "
                f"modules are numbered 0..{num_modules - 1}"
            )
        out[layer, : row.size] = row
        out[layer, row.size :] = row[0]
    return out


def active_modules(path):
    """The distinct modules of each layer of `path`, sorted (list of lists)."""
    return [sorted(set(int(m) for m in row)) for row in np.asarray(path)]
