"""Pathway evolution on one task (Sec. III-B2, IV-C1).

Nguyen et al. 2018, Sec. III-B2 and IV-C1; Fernando et al., PathNet
(arXiv:1701.08734, 2017), Sec. 2: a population of random path genotypes is
evolved by binary tournaments; to evaluate a path the network is trained
along it with SGD for T minibatches, and its fitness is the training accuracy
over those minibatches.
"""

import dataclasses
import time

import numpy as np

from fer_tf.errors import ConfigError, DatasetError
from fer_tf.progress import progress as show_progress
from fer_tf.models.pathnet.tournament import MicrobialTournament
from fer_tf.models.pathnet.training import (
    PathTrainer,
    check_features,
    check_labels,
    evaluate_path,
    logit_scores,
    majority_vote_accuracy,
    path_logits,
)


@dataclasses.dataclass(eq=False)
class TaskData:
    """One task: training (and optional test) features and integer labels.

    Args:
        x_train: float array (N, D). Training features (e.g. flattened faces).
        y_train: int array (N,). Training labels in [0, num_classes).
        x_test: float array (N_test, D) or None. Test features.
        y_test: int array (N_test,) or None. Test labels.
        num_classes: int or None. Classes of the task's readout; None means
            max(y_train) + 1. Test labels >= num_classes raise DatasetError.
        name: str. Used in messages and progress bars.
        test_groups: array (N_test,) or None. Video id of every test frame,
            for the video-level (majority vote) accuracy.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    num_classes: int | None = None
    name: str = "task"
    test_groups: np.ndarray | None = None

    def __post_init__(self):
        self.x_train = check_features(self.x_train, f"{self.name} training features")
        y = np.asarray(self.y_train)
        if self.num_classes is None:
            if y.size == 0 or y.dtype.kind not in "iuf":
                raise DatasetError(f"{self.name}: training labels must be integers")
            self.num_classes = int(np.max(y)) + 1
        self.num_classes = int(self.num_classes)
        if self.num_classes < 2:
            raise DatasetError(
                f"{self.name}: a classification task needs at least 2 classes, "
                f"got num_classes={self.num_classes}"
            )
        self.y_train = check_labels(
            y, self.x_train.shape[0], self.num_classes, f"{self.name} training labels"
        )
        if (self.x_test is None) != (self.y_test is None):
            raise DatasetError(f"{self.name}: give both x_test and y_test, or neither")
        if self.x_test is not None:
            self.x_test = check_features(self.x_test, f"{self.name} test features")
            if self.x_test.shape[1] != self.x_train.shape[1]:
                raise DatasetError(
                    f"{self.name}: test features have {self.x_test.shape[1]} "
                    f"dimensions, training features {self.x_train.shape[1]}"
                )
            self.y_test = check_labels(
                self.y_test,
                self.x_test.shape[0],
                self.num_classes,
                f"{self.name} test labels",
            )
        if self.test_groups is not None:
            self.test_groups = np.asarray(self.test_groups)
            if self.x_test is None or self.test_groups.shape != (self.x_test.shape[0],):
                raise DatasetError(
                    f"{self.name}: test_groups needs one video id per test frame "
                    f"({0 if self.x_test is None else self.x_test.shape[0]}), got "
                    f"shape {self.test_groups.shape}"
                )

    @property
    def input_dim(self):
        return self.x_train.shape[1]

    @property
    def has_test(self):
        return self.x_test is not None


def as_task(value, name):
    """A TaskData from a TaskData, an (x, y[, x_test, y_test]) tuple or a dict."""
    if isinstance(value, TaskData):
        return value
    if isinstance(value, dict):
        return TaskData(**{"name": name, **value})
    if isinstance(value, (tuple, list)) and len(value) in (2, 4):
        return TaskData(*value, name=name)
    raise ConfigError(
        f"{name}: expected TaskData, a dict of its fields or a tuple "
        "(x_train, y_train[, x_test, y_test])"
    )


class MinibatchSampler:
    """Training-example indices in reshuffled epochs (each example once per epoch)."""

    def __init__(self, num_examples, rng):
        self.num_examples = int(num_examples)
        self.rng = rng
        self._order = np.empty(0, dtype=np.int64)
        self._position = 0

    def draw(self, count):
        while self._order.size - self._position < count:
            self._order = np.concatenate(
                [self._order[self._position :], self.rng.permutation(self.num_examples)]
            )
            self._position = 0
        out = self._order[self._position : self._position + count]
        self._position += count
        return out


@dataclasses.dataclass(eq=False)
class EvolutionResult:
    """Outcome of `evolve` on one task.

    best_path: (L, N) genotype with the highest recorded fitness at the end.
    best_fitness: its fitness, the training accuracy over its last T
        minibatches (the paper's "training accuracy", Sec. IV-C1/C2).
    best_loss: its mean training loss over the same T minibatches (the
        paper's "training loss").
    fitness_history: per generation, "winner", "loser" fitness and the "mean"
        recorded fitness of the population.
    train_curve: per generation, the winner's training "accuracy" (= fitness)
        and mean training "loss" over its T minibatches.
    test_curve: every `eval_every` generations, test "accuracy"/"loss" of the
        current best path (empty without test data).
    test_accuracy / test_loss: held-out frame accuracy and loss of the final
        best path (None without test data).
    test_video_accuracy: held-out video-level accuracy (majority vote over a
        video's frames) of the final best path (None without test_groups).
    """

    best_path: np.ndarray
    best_fitness: float | None
    best_loss: float | None
    task_index: int
    fitness_history: dict
    train_curve: dict
    test_curve: dict
    test_accuracy: float | None
    test_loss: float | None
    test_video_accuracy: float | None
    population: np.ndarray
    seconds: float

    def to_dict(self):
        """A JSON-serialisable copy (arrays as nested lists)."""
        return {
            "best_path": self.best_path.tolist(),
            "best_fitness": self.best_fitness,
            "best_loss": self.best_loss,
            "task_index": self.task_index,
            "fitness_history": self.fitness_history,
            "train_curve": self.train_curve,
            "test_curve": self.test_curve,
            "test_accuracy": self.test_accuracy,
            "test_loss": self.test_loss,
            "test_video_accuracy": self.test_video_accuracy,
            "population": self.population.tolist(),
            "seconds": self.seconds,
        }


def _finite_or_none(value):
    return None if np.isnan(value) else float(value)


def evolve(
    task,
    net,
    config,
    rng,
    *,
    task_index=None,
    trainer=None,
    progress=False,
    desc=None,
    on_generation=None,
):
    """Evolve a population of paths of `net` on `task` (Sec. III-B2, IV-C1).

    Args:
        task: TaskData (or tuple/dict accepted by `as_task`).
        net: PathNet. Built network; its frozen modules stay frozen.
        config: PathNetConfig. Population, generations, T, batch size, lr...
        rng: numpy Generator. Drives population, tournaments, mutation and
            minibatches: same rng state + same net state -> same result.
        task_index: int or None. Readout to train; None adds a fresh readout
            for `task.num_classes`.
        trainer: PathTrainer or None. A trainer to reuse (one compile for a
            whole run); None builds one for this task.
        progress: bool. Show progress over generations (`fer_tf.progress`).
        desc: str or None. Progress-bar label.
        on_generation: callable or None. Called as on_generation(generation,
            outcome) after every tournament (generation counts from 1).

    Returns:
        EvolutionResult.
    """
    task = as_task(task, "task")
    if net.num_layers != config.num_layers or net.num_modules != config.num_modules or (
        net.max_active != config.max_active or net.units != config.units
    ):
        raise ConfigError(
            "the PathNet architecture (L, M, U, N) = "
            f"({net.num_layers}, {net.num_modules}, {net.units}, {net.max_active}) "
            "does not match the config "
            f"({config.num_layers}, {config.num_modules}, {config.units}, "
            f"{config.max_active})"
        )
    if task_index is None:
        task_index = net.add_task(task.num_classes)
    task_index = net.check_task(task_index)
    if net.task_classes[task_index] != task.num_classes:
        raise ConfigError(
            f"readout {task_index} has {net.task_classes[task_index]} classes but "
            f"task {task.name!r} has {task.num_classes}"
        )
    started = time.perf_counter()
    if trainer is None:
        trainer = PathTrainer(config.learning_rate, jit_compile=config.jit_compile)
    elif trainer.learning_rate != config.learning_rate:
        raise ConfigError(
            f"the trainer's learning rate {trainer.learning_rate} differs from the "
            f"config's {config.learning_rate}"
        )
    trainer.bind(net, task_index, task.x_train, task.y_train)
    sampler = MinibatchSampler(task.x_train.shape[0], rng)
    tournament = MicrobialTournament.random(config, rng)
    steps = config.steps_for(task.x_train.shape[0])
    per_generation = 2 * steps * config.batch_size
    # Training loss of each member over its last T minibatches, cleared with
    # its fitness when its genotype changes (MicrobialTournament.compete).
    member_loss = np.full(len(tournament), np.nan)
    fitness_history = {"winner": [], "loser": [], "mean": []}
    train_curve = {"generation": [], "accuracy": [], "loss": []}
    test_curve = {"generation": [], "accuracy": [], "loss": []}
    for generation in show_progress(range(config.generations), desc=desc or task.name,
                                    enabled=progress, unit="gen"):
        first, second = tournament.pick()
        paths = np.stack([tournament.genotype(first), tournament.genotype(second)])
        indices = sampler.draw(per_generation).reshape(2, steps, config.batch_size)
        accuracy, loss = trainer.train(paths, indices)
        fitness = accuracy.mean(axis=1)
        outcome = tournament.compete(first, second, float(fitness[0]), float(fitness[1]))
        winner_slot = 0 if outcome.winner == first else 1
        winner_loss = float(loss[winner_slot].mean())
        member_loss[outcome.winner] = winner_loss
        member_loss[outcome.loser] = np.nan
        fitness_history["winner"].append(outcome.winner_fitness)
        fitness_history["loser"].append(outcome.loser_fitness)
        fitness_history["mean"].append(tournament.mean_fitness())
        train_curve["generation"].append(generation + 1)
        train_curve["accuracy"].append(outcome.winner_fitness)
        train_curve["loss"].append(winner_loss)
        if task.has_test and config.eval_every and (generation + 1) % config.eval_every == 0:
            test_accuracy, test_loss = evaluate_path(
                net,
                tournament.genotype(tournament.best()),
                task.x_test,
                task.y_test,
                task=task_index,
                batch_size=config.eval_batch_size,
            )
            test_curve["generation"].append(generation + 1)
            test_curve["accuracy"].append(test_accuracy)
            test_curve["loss"].append(test_loss)
        if on_generation is not None:
            on_generation(generation + 1, outcome)
    best = tournament.best()
    best_path = tournament.genotype(best)
    test_accuracy = test_loss = test_video_accuracy = None
    if task.has_test:
        logits = path_logits(
            net, best_path, task.x_test, task=task_index, batch_size=config.eval_batch_size
        )
        test_accuracy, test_loss = logit_scores(logits, task.y_test)
        if task.test_groups is not None:
            test_video_accuracy = majority_vote_accuracy(
                logits, task.y_test, task.test_groups
            )
    return EvolutionResult(
        best_path=best_path,
        best_fitness=_finite_or_none(tournament.fitness[best]),
        best_loss=_finite_or_none(member_loss[best]),
        task_index=task_index,
        fitness_history=fitness_history,
        train_curve=train_curve,
        test_curve=test_curve,
        test_accuracy=test_accuracy,
        test_loss=test_loss,
        test_video_accuracy=test_video_accuracy,
        population=tournament.population,
        seconds=time.perf_counter() - started,
    )
