"""PathNet hyper-parameters: the paper's numbers live in `PAPER` and nowhere else.

Nguyen et al., "Meta Transfer Learning for Facial Emotion Recognition"
(ICPR 2018), Sec. III-B1 (architecture) and Sec. IV-C1 (PathNet settings);
Fernando et al., "PathNet" (arXiv:1701.08734, 2017) for the mutation rule.
"""

import dataclasses

from fer_tf.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class PathNetConfig:
    """Every setting of a PathNet evolution / transfer run (Sec. III-B, IV-C1).

    Args:
        num_layers: int. L, PathNet layers.
        num_modules: int. M, modules per layer.
        units: int. U, units (neurons) per module.
        max_active: int. N, module slots per layer in a path genotype
            (at most N distinct active modules).
        aggregation: str. "mean" (this paper) or "sum" (Fernando et al.).
        population_size: int. Path genotypes per task.
        generations: int. Binary tournaments per task.
        steps_per_path: int. T, SGD minibatches a path is trained for when it
            is evaluated; its fitness is its training accuracy over them
            (Sec. IV-C1: "50 mini-batches of size 16").
        epochs_per_path: int or None. The other reading of Sec. IV-C1's "one
            pathway is trained for 50 epochs": when set, a path is trained on
            this many epochs of the task's training set per evaluation
            (T = epochs * ceil(num_train / batch_size)) instead of
            `steps_per_path` minibatches. None (default) = T minibatches.
        batch_size: int. Minibatch size.
        learning_rate: float. Plain SGD learning rate.
        mutation_probability: float or None. Probability that a gene (one
            module index) mutates; None means 1 / (L * N) (Fernando et al.).
        max_shift: int. A mutated gene moves by a non-zero integer drawn
            uniformly from [-max_shift, max_shift], modulo M.
        recombination_rate: float. Microbial GA infection rate: probability
            that each gene of the loser is overwritten by the winner's
            (1.0 = the loser becomes a copy of the winner, Sec. IV-C1).
        iterations: int. Source -> destination rounds of a transfer experiment
            (the paper's "4 iterations", Sec. IV-C).
        eval_every: int. Generations between two test-set evaluations of the
            current best path (learning curves); 0 disables them. Reporting
            only, not from the paper.
        eval_batch_size: int. Batch size of test-set evaluation.
        jit_compile: bool. Compile the training loop with XLA (TF backend).
    """

    num_layers: int
    num_modules: int
    units: int
    max_active: int
    aggregation: str
    population_size: int
    generations: int
    steps_per_path: int
    epochs_per_path: int | None
    batch_size: int
    learning_rate: float
    mutation_probability: float | None
    max_shift: int
    recombination_rate: float
    iterations: int
    eval_every: int
    eval_batch_size: int
    jit_compile: bool

    def __post_init__(self):
        positive = (
            "num_layers",
            "num_modules",
            "units",
            "max_active",
            "generations",
            "steps_per_path",
            "batch_size",
            "iterations",
            "eval_batch_size",
        )
        for name in positive:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(
                    f"PathNetConfig.{name} must be a positive integer, got {value!r}"
                )
        if self.max_active > self.num_modules:
            raise ConfigError(
                f"PathNetConfig.max_active ({self.max_active}) cannot exceed "
                f"num_modules ({self.num_modules}): a path holds distinct modules"
            )
        if self.population_size < 2:
            raise ConfigError(
                "PathNetConfig.population_size must be >= 2 for a binary "
                f"tournament, got {self.population_size!r}"
            )
        if self.aggregation not in ("mean", "sum"):
            raise ConfigError(
                f"PathNetConfig.aggregation must be 'mean' or 'sum', got "
                f"{self.aggregation!r}"
            )
        if self.epochs_per_path is not None and (
            isinstance(self.epochs_per_path, bool)
            or not isinstance(self.epochs_per_path, int)
            or self.epochs_per_path < 1
        ):
            raise ConfigError(
                "PathNetConfig.epochs_per_path must be None or a positive integer, "
                f"got {self.epochs_per_path!r}"
            )
        if not self.learning_rate > 0:
            raise ConfigError(
                f"PathNetConfig.learning_rate must be > 0, got {self.learning_rate!r}"
            )
        if self.mutation_probability is not None and not (
            0.0 <= self.mutation_probability <= 1.0
        ):
            raise ConfigError(
                "PathNetConfig.mutation_probability must be None or in [0, 1], "
                f"got {self.mutation_probability!r}"
            )
        if not isinstance(self.max_shift, int) or self.max_shift < 1:
            raise ConfigError(
                f"PathNetConfig.max_shift must be an integer >= 1, got {self.max_shift!r}"
            )
        if not 0.0 <= self.recombination_rate <= 1.0:
            raise ConfigError(
                "PathNetConfig.recombination_rate must be in [0, 1], got "
                f"{self.recombination_rate!r}"
            )
        if not isinstance(self.eval_every, int) or self.eval_every < 0:
            raise ConfigError(
                f"PathNetConfig.eval_every must be an integer >= 0, got {self.eval_every!r}"
            )

    @property
    def mutation_rate(self):
        """The per-gene mutation probability actually used (default 1/(L*N))."""
        if self.mutation_probability is None:
            return 1.0 / (self.num_layers * self.max_active)
        return float(self.mutation_probability)

    def steps_for(self, num_train):
        """T, the minibatches a path is trained for per evaluation on a task
        with `num_train` training examples (see `epochs_per_path`)."""
        if self.epochs_per_path is None:
            return self.steps_per_path
        return self.epochs_per_path * -(-int(num_train) // self.batch_size)

    def replace(self, **changes):
        """A copy with some fields changed (validated again)."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ConfigError(f"unknown PathNetConfig fields: {sorted(unknown)}")
        return dataclasses.replace(self, **changes)

    def to_dict(self):
        return dataclasses.asdict(self)


# Sec. III-B1 (L, M, U, N, mean) and Sec. IV-C1 (population, generations,
# T minibatches of 16, SGD lr 0.02, loser <- mutated copy of winner, 4
# iterations); mutation probability 1/(L*N) and shifts in [-2, 2] as in
# Fernando et al. 2017.
#
# "50 epochs" (Sec. IV-C1 says a path is evaluated by training "on 50
# mini-batches of size 16 and one pathway is trained for 50 epochs"): we read
# T = 50 minibatches of 16 per evaluation. This is the setting of Fernando et
# al.'s CIFAR/SVHN PathNet experiments, on which the paper says its settings
# rely (Sec. III-B); the fitness is "the rate of correct samples on the set of
# training during that period", which matches one short period of T
# minibatches; and 50 full epochs per evaluation would make one 1000-
# generation task 2 x 1000 x 50 epochs (about 6 million SGD steps on SAVEE),
# far beyond a "fixed period of time" comparison. The other reading is
# available as `epochs_per_path` (--epochs-per-path).
PAPER = PathNetConfig(
    num_layers=3,
    num_modules=20,
    units=20,
    max_active=5,
    aggregation="mean",
    population_size=20,
    generations=1000,
    steps_per_path=50,
    epochs_per_path=None,
    batch_size=16,
    learning_rate=0.02,
    mutation_probability=None,
    max_shift=2,
    recombination_rate=1.0,
    iterations=4,
    eval_every=50,
    eval_batch_size=1024,
    jit_compile=True,
)

# Seconds-long end-to-end run of the same code paths (tests, --smoke).
SMOKE = PAPER.replace(
    num_modules=6,
    units=8,
    max_active=3,
    population_size=6,
    generations=8,
    steps_per_path=4,
    batch_size=8,
    iterations=2,
    eval_every=4,
    eval_batch_size=256,
    jit_compile=False,
)
