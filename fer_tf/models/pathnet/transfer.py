"""PathNet transfer learning between emotion datasets (Sec. III-B2, IV-C).

Nguyen et al. 2018, Sec. III-B2 and IV-C; Fernando et al., PathNet
(arXiv:1701.08734, 2017), Sec. 2 ("transfer learning paradigm").

Reproduction notes
------------------
What the paper says: after the source task "the parameters presented in the
best fit path ... are fixed, and the rest of parameters are randomly
reinitialized when evolved on the destination task" (Sec. IV-C1); positive
transfer means a better destination accuracy than learning from scratch after
the same fixed training time (Sec. III-B2); "we run each set of experiments
with four iterations and compare the performance between them" (Sec. IV-C),
the best destination accuracy being reached "at iteration 3".

Our reading of "iterations": one iteration is one more source -> destination
round on the SAME network, so knowledge accumulates:

  iteration k = 1..K:
    1. re-initialise every non-frozen module (k > 1; at k = 1 the network is
       new), add a fresh source readout, evolve a new population on the source
       task; freeze the best source path IN ADDITION to the paths frozen in
       earlier iterations;
    2. re-initialise every non-frozen module, add a fresh destination readout
       (sized for the destination's classes), evolve a new population on the
       destination task -> the transfer figures of iteration k;
    3. from scratch (`run_scratch`): a brand-new PathNet (nothing frozen)
       evolved on the destination with the same budget -> the scratch
       figures of iteration k. Scratch depends only on the destination and
       its seed, so experiments sharing a destination share one scratch run.

Consequences of this reading: the destination's best path is never frozen
(only source knowledge accumulates); the frozen set grows by at most N modules
per layer per iteration, so with the paper's M = 20, N = 5 and 4 iterations
every module of a layer can end up frozen, leaving only the readout to train
in the last round - one plausible reason why the paper's best iteration is 3.
Frozen modules remain usable by destination paths (Sec. III-B2). Freezing is a
per-layer, per-module mask that zeroes updates, not trainable=False.

Figures, per role (source / transfer / scratch) and iteration: the best path
of a population is the member with the highest recorded fitness after the
fixed budget of `generations` tournaments;
- `<role>_train_accuracy` is its fitness, the training accuracy over its last
  T minibatches, and `<role>_train_loss` its mean training loss over them:
  the quantities the paper reports ("the performance (training accuracy and
  training loss)", Sec. IV-C2);
- `<role>_test_accuracy` / `<role>_test_loss` are on the task's held-out
  frames and `<role>_test_video_accuracy` on its held-out videos (majority
  vote over a video's frames); the paper reports no held-out figure.
"""

import keras
import numpy as np

from fer_tf.errors import ConfigError
from fer_tf.models.pathnet.evolution import as_task, evolve
from fer_tf.models.pathnet.model import build_pathnet
from fer_tf.models.pathnet.presets import PAPER
from fer_tf.models.pathnet.training import PathTrainer


def frozen_modules_summary(net):
    """Per layer, the frozen module indices of a PathNet (list of lists)."""
    return [np.flatnonzero(row).tolist() for row in net.frozen_mask()]


def _seed(rng):
    return int(rng.integers(1, 2**31 - 1))


METRICS = ("train_accuracy", "train_loss", "test_accuracy", "test_loss",
           "test_video_accuracy")


def _curve(result):
    return {
        "generation": list(result.train_curve["generation"]),
        "train_accuracy": list(result.train_curve["accuracy"]),
        "train_loss": list(result.train_curve["loss"]),
        "test_generation": list(result.test_curve["generation"]),
        "test_accuracy": list(result.test_curve["accuracy"]),
        "test_loss": list(result.test_curve["loss"]),
    }


def _figures(result):
    return {
        "train_accuracy": result.best_fitness,
        "train_loss": result.best_loss,
        "test_accuracy": result.test_accuracy,
        "test_loss": result.test_loss,
        "test_video_accuracy": result.test_video_accuracy,
    }


def _empty(roles):
    out = {f"{role}_{metric}": [] for role in roles for metric in METRICS}
    out.update({key: {role: [] for role in roles}
                for key in ("curves", "best_paths", "fitness_histories")})
    return out


def _record(out, role, result):
    for metric, value in _figures(result).items():
        out[f"{role}_{metric}"].append(value)
    out["curves"][role].append(_curve(result))
    out["best_paths"][role].append(result.best_path.tolist())
    out["fitness_histories"][role].append(
        {key: list(values) for key, values in result.fitness_history.items()}
    )


def _check_tasks(*tasks):
    for task in tasks:
        if not task.has_test:
            raise ConfigError(f"{task.name}: a transfer experiment needs x_test and y_test")


def _iterations(config, iterations):
    iterations = config.iterations if iterations is None else int(iterations)
    if iterations < 1:
        raise ConfigError(f"iterations must be >= 1, got {iterations}")
    return iterations


def _trainer(config, trainer):
    if trainer is None:
        return PathTrainer(config.learning_rate, jit_compile=config.jit_compile)
    return trainer


def run_scratch(destination, config=PAPER, *, iterations=None, seed=0, trainer=None,
                progress=False, on_task=None):
    """Learning from scratch (Sec. III-B2): per iteration, a brand-new PathNet
    evolved on `destination` with the transfer runs' budget.

    Args:
        destination: TaskData or (x_train, y_train, x_test, y_test).
        config: PathNetConfig. PAPER by default.
        iterations: int or None. K; None uses config.iterations.
        seed: int. Seeds the numpy Generator of every network and evolution.
        trainer: PathTrainer or None. Reused when given (one compile per run).
        progress: bool. tqdm bars over generations.
        on_task: callable or None. Called as on_task(role, iteration,
            EvolutionResult) after every evolved task.

    Returns:
        A JSON-serialisable dict: per-iteration lists "scratch_<metric>" for
        the METRICS, and "curves", "best_paths", "fitness_histories" under
        "scratch".
    """
    iterations = _iterations(config, iterations)
    destination = as_task(destination, "destination")
    _check_tasks(destination)
    trainer = _trainer(config, trainer)
    rng = np.random.default_rng(np.random.SeedSequence(int(seed)))
    out = _empty(("scratch",))
    for iteration in range(1, iterations + 1):
        net = build_pathnet(config, destination.input_dim, seed=_seed(rng))
        result = evolve(destination, net, config, rng, trainer=trainer, progress=progress,
                        desc=f"iteration {iteration}/{iterations} scratch")
        _record(out, "scratch", result)
        if on_task is not None:
            on_task("scratch", iteration, result)
    return out


def run_transfer_experiment(
    source,
    destination,
    config=PAPER,
    *,
    iterations=None,
    seed=0,
    scratch=True,
    trainer=None,
    progress=False,
    on_task=None,
):
    """Source -> destination PathNet transfer, repeated for K iterations.

    See the module docstring (reproduction notes) for what one iteration does.

    Args:
        source: TaskData or (x_train, y_train, x_test, y_test). Source task.
        destination: TaskData or (x_train, y_train, x_test, y_test).
            Destination task; its test set scores every iteration.
        config: PathNetConfig. PAPER by default.
        iterations: int or None. K; None uses config.iterations (paper: 4).
        seed: int. Seeds keras.utils.set_random_seed and the numpy Generator
            that drives everything: same seed -> same paths and accuracies.
        scratch: bool or dict. True also runs `run_scratch` on the
            destination (seeded from `seed`, on its own stream, so the
            transfer figures do not depend on it); a dict is a `run_scratch`
            result to report beside the transfer figures (a scratch run
            shared by several experiments); False leaves scratch out.
        trainer: PathTrainer or None. Reused when given (one compile per run).
        progress: bool. tqdm bars over generations.
        on_task: callable or None. Called as on_task(role, iteration,
            EvolutionResult) after every evolved task.

    Returns:
        A JSON-serialisable dict: per-iteration lists "<role>_<metric>" for
        role in source / transfer / scratch (scratch lists empty without
        scratch) and metric in METRICS (see the module docstring); "curves"
        (per role, one learning-curve dict per iteration); "best_paths" and
        "fitness_histories" (same roles); "frozen_modules" (per iteration, per
        layer, after freezing the source path); "config", "seed",
        "iterations", "task_names", "num_classes".
    """
    iterations = _iterations(config, iterations)
    source = as_task(source, "source")
    destination = as_task(destination, "destination")
    _check_tasks(source, destination)
    if source.input_dim != destination.input_dim:
        raise ConfigError(
            f"source features have {source.input_dim} dimensions but destination "
            f"features {destination.input_dim}: both tasks share the PathNet layers"
        )
    trainer = _trainer(config, trainer)
    keras.utils.set_random_seed(int(seed))
    # Independent streams: the transfer runs do not depend on whether the
    # scratch runs are made.
    transfer_stream, scratch_stream = np.random.SeedSequence(int(seed)).spawn(2)
    rng = np.random.default_rng(transfer_stream)
    out = {
        "config": config.to_dict(),
        "seed": int(seed),
        "iterations": iterations,
        "task_names": {"source": source.name, "destination": destination.name},
        "num_classes": {
            "source": source.num_classes,
            "destination": destination.num_classes,
        },
        **_empty(("source", "transfer", "scratch")),
        "frozen_modules": [],
    }
    net = build_pathnet(config, source.input_dim, seed=_seed(rng))
    for iteration in range(1, iterations + 1):
        label = f"iteration {iteration}/{iterations}"
        if iteration > 1:
            net.reinitialize_unfrozen(seed=_seed(rng))
        source_result = evolve(source, net, config, rng, trainer=trainer,
                               progress=progress, desc=f"{label} source")
        _record(out, "source", source_result)
        if on_task is not None:
            on_task("source", iteration, source_result)
        net.freeze_path(source_result.best_path)
        out["frozen_modules"].append(frozen_modules_summary(net))

        net.reinitialize_unfrozen(seed=_seed(rng))
        transfer_result = evolve(destination, net, config, rng, trainer=trainer,
                                 progress=progress, desc=f"{label} transfer")
        _record(out, "transfer", transfer_result)
        if on_task is not None:
            on_task("transfer", iteration, transfer_result)

    if scratch is True:
        scratch = run_scratch(destination, config, iterations=iterations,
                              seed=int(scratch_stream.generate_state(1)[0]),
                              trainer=trainer, progress=progress, on_task=on_task)
    if scratch:
        if len(scratch["scratch_train_accuracy"]) != iterations:
            raise ConfigError(
                f"the scratch run has {len(scratch['scratch_train_accuracy'])} "
                f"iterations, the transfer run {iterations}"
            )
        for key, value in scratch.items():
            if key.startswith("scratch_"):
                out[key] = list(value)
        for key in ("curves", "best_paths", "fitness_histories"):
            out[key]["scratch"] = list(scratch[key]["scratch"])
    return out
