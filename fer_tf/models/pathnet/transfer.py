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
       destination task and score its best path on the destination test set
       -> transfer_accuracy[k], transfer_loss[k];
    3. from scratch: a brand-new PathNet (nothing frozen) evolved on the
       destination with the same budget -> scratch_accuracy[k], scratch_loss[k]
       (scratch runs draw from their own random stream, so the transfer
       results do not depend on whether they are made).

Consequences of this reading: the destination's best path is never frozen
(only source knowledge accumulates); the frozen set grows by at most N modules
per layer per iteration, so with the paper's M = 20, N = 5 and 4 iterations
every module of a layer can end up frozen, leaving only the readout to train
in the last round - one plausible reason why the paper's best iteration is 3.
Frozen modules remain usable by destination paths (Sec. III-B2). Freezing is a
per-layer, per-module mask that zeroes updates, not trainable=False.

Other choices: the best path of a population is the member with the highest
recorded fitness (training accuracy over its last T minibatches); the
accuracies reported are test-set accuracies of that path after the fixed
budget of `generations` tournaments (the paper reports training curves too:
they are in the returned curves).
"""

import time

import keras
import numpy as np

from fer_tf.errors import ConfigError
from fer_tf.models.pathnet.evolution import as_task, evolve
from fer_tf.models.pathnet.model import build_pathnet
from fer_tf.models.pathnet.presets import PAPER


def frozen_modules_summary(net):
    """Per layer, the frozen module indices of a PathNet (list of lists)."""
    return [np.flatnonzero(row).tolist() for row in net.frozen_mask()]


def _seed(rng):
    return int(rng.integers(1, 2**31 - 1))


def _curve(result):
    return {
        "generation": list(result.train_curve["generation"]),
        "train_accuracy": list(result.train_curve["accuracy"]),
        "train_loss": list(result.train_curve["loss"]),
        "test_generation": list(result.test_curve["generation"]),
        "test_accuracy": list(result.test_curve["accuracy"]),
        "test_loss": list(result.test_curve["loss"]),
    }


def run_transfer_experiment(
    source,
    destination,
    config=PAPER,
    *,
    iterations=None,
    seed=0,
    scratch=True,
    progress=False,
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
        scratch: bool. Also evolve a fresh network on the destination per
            iteration (the paper's "learning from scratch" comparison).
        progress: bool. tqdm bars over generations.

    Returns:
        A JSON-serialisable dict: per-iteration lists "transfer_accuracy",
        "transfer_loss", "scratch_accuracy", "scratch_loss" (empty without
        scratch), "source_accuracy", "source_loss"; "curves" (per role
        "source"/"transfer"/"scratch", one learning-curve dict per iteration);
        "best_paths" and "fitness_histories" (same roles); "frozen_modules"
        (per iteration, per layer, after freezing the source path); "config",
        "seed", "iterations", "task_names", "num_classes", "seconds".
    """
    iterations = config.iterations if iterations is None else int(iterations)
    if iterations < 1:
        raise ConfigError(f"iterations must be >= 1, got {iterations}")
    source = as_task(source, "source")
    destination = as_task(destination, "destination")
    for task in (source, destination):
        if not task.has_test:
            raise ConfigError(f"{task.name}: a transfer experiment needs x_test and y_test")
    if source.input_dim != destination.input_dim:
        raise ConfigError(
            f"source features have {source.input_dim} dimensions but destination "
            f"features {destination.input_dim}: both tasks share the PathNet layers"
        )
    started = time.perf_counter()
    keras.utils.set_random_seed(int(seed))
    # Independent streams: the transfer runs do not depend on whether the
    # scratch runs are made.
    transfer_stream, scratch_stream = np.random.SeedSequence(int(seed)).spawn(2)
    rng = np.random.default_rng(transfer_stream)
    scratch_rng = np.random.default_rng(scratch_stream)
    roles = ("source", "transfer", "scratch")
    out = {
        "config": config.to_dict(),
        "seed": int(seed),
        "iterations": iterations,
        "task_names": {"source": source.name, "destination": destination.name},
        "num_classes": {
            "source": source.num_classes,
            "destination": destination.num_classes,
        },
        "transfer_accuracy": [],
        "transfer_loss": [],
        "scratch_accuracy": [],
        "scratch_loss": [],
        "source_accuracy": [],
        "source_loss": [],
        "curves": {role: [] for role in roles},
        "best_paths": {role: [] for role in roles},
        "fitness_histories": {role: [] for role in roles},
        "frozen_modules": [],
    }

    def record(role, result):
        out["curves"][role].append(_curve(result))
        out["best_paths"][role].append(result.best_path.tolist())
        out["fitness_histories"][role].append(
            {key: list(values) for key, values in result.fitness_history.items()}
        )

    net = build_pathnet(config, source.input_dim, seed=_seed(rng))
    for iteration in range(1, iterations + 1):
        label = f"iteration {iteration}/{iterations}"
        if iteration > 1:
            net.reinitialize_unfrozen(seed=_seed(rng))
        source_result = evolve(
            source, net, config, rng, progress=progress, desc=f"{label} source"
        )
        record("source", source_result)
        out["source_accuracy"].append(source_result.test_accuracy)
        out["source_loss"].append(source_result.test_loss)
        net.freeze_path(source_result.best_path)
        out["frozen_modules"].append(frozen_modules_summary(net))

        net.reinitialize_unfrozen(seed=_seed(rng))
        transfer_result = evolve(
            destination, net, config, rng, progress=progress, desc=f"{label} transfer"
        )
        record("transfer", transfer_result)
        out["transfer_accuracy"].append(transfer_result.test_accuracy)
        out["transfer_loss"].append(transfer_result.test_loss)

        if scratch:
            scratch_net = build_pathnet(
                config, destination.input_dim, seed=_seed(scratch_rng)
            )
            scratch_result = evolve(
                destination,
                scratch_net,
                config,
                scratch_rng,
                progress=progress,
                desc=f"{label} scratch",
            )
            record("scratch", scratch_result)
            out["scratch_accuracy"].append(scratch_result.test_accuracy)
            out["scratch_loss"].append(scratch_result.test_loss)
    out["seconds"] = time.perf_counter() - started
    return out
