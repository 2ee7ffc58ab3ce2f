"""The paper's three transfer experiments, end to end (Sec. IV).

videos -> Viola-Jones face crops (Sec. III-A) -> flattened grey crops ->
6-fold cross-validation split (Sec. IV) -> per seed and fold: one scratch run
per destination dataset (`run_scratch`) and `run_transfer_experiment` per
experiment -> metrics.json (means and 95% intervals over seeds x folds),
results.md (tables beside the paper's numbers, see `results`), plots
(Figs. 3-8) and timing.json. `experiments/run_pathnet.py` and the notebook
only call `run(settings, out, ...)` with one of the `SETTINGS` budgets.

Reproduction notes: the paper does not state its input size; crops are
32x32 grey (D = 1024, the CIFAR-sized input of Fernando et al.'s PathNet
experiments that this architecture copies, Fig. 1). The paper reports one
figure per iteration under 6-fold cross-validation without saying which fold
or how many runs; `run` evaluates fold 1 of seed 0 by default and any folds
and number of seeds on request, every figure being a mean with its 95%
confidence interval over the seeds x folds runs. Frames of one video never
straddle train and test. Seeds: each synthetic dataset's seed depends only on
its name and the run seed, each scratch run's on its destination, the seed
and the fold, each experiment's on its name, the seed and the fold, so a run
of a subset of the experiments reproduces their figures in the full run.
metrics.json holds no timings (those go to timing.json), so the same command
with the same seed writes the same metrics.json.
"""

import dataclasses
import json
import os
import shutil
import time

from fer_tf.errors import ConfigError, FerTfError
from fer_tf.evaluation.report import RunFolder
from fer_tf.io import atomic_write_json, atomic_write_text
from fer_tf.data.seeds import derive_seed
from fer_tf.models.pathnet.presets import PAPER, SMOKE, PathNetConfig
from fer_tf.models.pathnet.training import PathTrainer
from fer_tf.models.pathnet.transfer import run_scratch, run_transfer_experiment
from fer_tf.papers.pathnet import report as results_lib
from fer_tf.papers.pathnet.baselines import TABLE_I_RECIPE, run_baselines
from fer_tf.papers.pathnet.data import (SMOKE_VIDEOS, FaceSettings, SyntheticVideoSettings,  # noqa: F401
                                       dataset_seed, features, fold_task,
                                       load_faces)
from fer_tf.papers.pathnet.report import PAPER_RESULTS
from fer_tf.training.precision import PrecisionChoice, dtype_policy, gpu_available

#: (source dataset, destination dataset) of each experiment (Sec. IV-C).
EXPERIMENTS = {
    "savee_to_savee": ("savee", "savee"),
    "enterface_to_enterface": ("enterface", "enterface"),
    "savee_to_enterface": ("savee", "enterface"),
}


#: What `precision` accepts here. The path trainer (`PathTrainer`) trains on
#: the raw float32 module weights in its own compiled loop (packed kernels,
#: float32 accuracy and loss arrays), not through the layers' dtype policy, so
#: a bfloat16 or float16 policy would change only evaluation, not training:
#: PathNet runs in float32, the paper's precision (it names no other).
PRECISIONS = ("auto", "float32")


def run_precision(requested="auto"):
    """The run's `PrecisionChoice`: float32 for "auto" (the paper's precision,
    on a GPU and on a CPU alike) and "float32"; anything else is a
    ConfigError (see `PRECISIONS`)."""
    requested = "auto" if requested is None else str(requested).lower()
    if requested not in PRECISIONS:
        raise ConfigError(f"PathNet precision must be one of {', '.join(PRECISIONS)}; got "
                          f"{requested!r}: the path trainer computes in float32 only.")
    gpu = gpu_available()
    why = "auto: the paper's float32" if requested == "auto" else "requested"
    return PrecisionChoice(requested, "float32",
                           f"{why}; {'a GPU' if gpu else 'no GPU'} found; PathNet's path "
                           "trainer computes in float32 only", gpu)


@dataclasses.dataclass(frozen=True)
class Settings:
    """One budget of the experiment (`SETTINGS`).

    Args:
        pathnet: `PathNetConfig`, the architecture and evolution budget
            (`fer_tf.models.pathnet.presets.PAPER`, Sec. III-B, IV-C1).
        faces: `FaceSettings`, how videos become inputs (crop side, frames).
        synthetic: `SyntheticVideoSettings`, the size of the embedded videos
            (used without --savee / --enterface).
        iterations: int or None. source -> destination rounds (None:
            `pathnet.iterations`, the paper's 4).
        baseline_epochs: int or None. Table I baselines' epochs (None:
            `TABLE_I_RECIPE`'s 10).
        precision: "auto" or "float32" (`run_precision`).
    """

    pathnet: PathNetConfig = PAPER
    faces: FaceSettings = FaceSettings()
    synthetic: SyntheticVideoSettings = SyntheticVideoSettings()
    iterations: int = None
    baseline_epochs: int = None
    precision: str = "auto"


#: The budgets: the paper's settings ("paper", any data), the same settings on
#: the embedded synthetic videos, which a CPU runs as they are ("cpu"), and
#: "smoke" (`--smoke`: `SMOKE` PathNet, 8 x 8 crops, the smallest videos, one
#: baseline epoch; seconds).
SETTINGS = {
    "paper": Settings(),
    "cpu": Settings(),
    "smoke": Settings(pathnet=SMOKE, faces=FaceSettings(crop_size=8), synthetic=SMOKE_VIDEOS,
                      baseline_epochs=1),
}


def task_seed(kind, name, seed, fold):
    """Seed of one scratch run (kind "scratch", name = destination) or one
    experiment (kind "experiment") for a run seed and a 0-based fold."""
    return derive_seed(seed, fold, kind, name)


def _rss_mb():
    """Resident memory of this process in MiB (Linux /proc; None elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return None


def _cell(run_dir, resume, kind, seed, fold, compute, log):
    """One (experiment or scratch, seed, fold) run, written at once so that
    `resume` skips it after a crash."""
    path = run_dir.file("cells", kind, f"seed{seed}-fold{fold + 1}.json")
    if resume and os.path.exists(path):
        with open(path) as f:
            log(f"{kind}, seed {seed}, fold {fold + 1}: already done, resumed from {path}")
            return json.load(f)
    result = compute()
    atomic_write_json(path, result)
    return result


def run(settings, out, savee_dir=None, enterface_dir=None, folds=(0,), seed=0, seeds=1,
        experiments=tuple(EXPERIMENTS), baselines=(), baseline_weights=None,
        overwrite=False, resume=False, cache_dir=None, progress=True, log=print):
    """Runs the experiments at the budget `settings` (`Settings`) into the
    run folder `out` and returns metrics.

    Every (experiment, seed, fold) and every scratch (destination, seed, fold)
    is one "cell" written at once (`cells/<kind>/seed<s>-fold<f>.json`), so
    `resume=True` after a crash skips what is done. `seeds` runs the seeds
    seed, seed + 1, ...; with synthetic data each seed also draws its own
    videos. One PathTrainer (one compile) serves every task of the run.
    `baselines` fine-tunes those Table I CNNs for `settings.baseline_epochs`
    epochs (None: `TABLE_I_RECIPE`'s); results.md states every budget beside
    the paper's (`results.table_i`). `settings.precision`: "auto" or
    "float32" (`run_precision`); the PathNets and their readouts are built
    under its dtype policy.
    """
    if (savee_dir is None) != (enterface_dir is None):
        raise ConfigError("Give both --savee and --enterface (real data), or neither "
                          "(embedded synthetic videos).")
    unknown = set(experiments) - set(EXPERIMENTS)
    if unknown:
        raise ConfigError(f"Unknown experiment(s) {sorted(unknown)}; expected "
                          f"{sorted(EXPERIMENTS)}.")
    if int(seed) < 0 or int(seeds) < 1:
        raise ConfigError(f"--seed must be >= 0 and --seeds >= 1, got {seed} and {seeds}.")
    folds = tuple(int(f) for f in folds)
    if not folds or any(not 0 <= f < 6 for f in folds) or len(set(folds)) != len(folds):
        raise ConfigError(f"folds must be distinct 1-based folds 1..6, got "
                          f"{[f + 1 for f in folds]}.")
    if baselines:
        # Fail before hours of evolution, not after, when a weights file is absent.
        from fer_tf.models.backbones import resolve_imagenet_weights

        for model_name in baselines:
            resolve_imagenet_weights(model_name, baseline_weights)
    config, faces, synthetic = settings.pathnet, settings.faces, settings.synthetic
    baseline_epochs = settings.baseline_epochs
    choice = run_precision(settings.precision)
    run_seeds = [int(seed) + i for i in range(int(seeds))]
    iterations = int(settings.iterations or config.iterations)
    if baseline_epochs is None:
        baseline_epochs = TABLE_I_RECIPE.epochs
    fresh = not os.path.isdir(out) or not os.listdir(out) or overwrite
    run_dir = RunFolder(out, create=True, overwrite=overwrite, resume=resume)
    data = "synthetic" if savee_dir is None else "real"
    run_config = {"paper": "pathnet", "data": data, "savee_dir": savee_dir,
                  "enterface_dir": enterface_dir, "pathnet": config.to_dict(),
                  "faces": dataclasses.asdict(faces), "synthetic": dataclasses.asdict(synthetic),
                  "folds": list(folds), "iterations": iterations, "seed": int(seed),
                  "seeds": run_seeds, "experiments": list(experiments),
                  "baselines": list(baselines), "baseline_epochs": int(baseline_epochs),
                  "precision": choice.to_dict()}
    run_dir.write_config(run_config)
    log(f"pathnet: {choice.describe()}")
    started = time.perf_counter()
    dirs = {"savee": savee_dir, "enterface": enterface_dir}
    needed = sorted({d for e in experiments for d in EXPERIMENTS[e]})
    shared = {}
    for name in experiments:
        shared.setdefault(EXPERIMENTS[name][1], []).append(name)
    faces_by_seed, detection = {}, {}
    for s in run_seeds:
        faces_by_seed[s] = {}
        for dataset in needed:
            if data == "real" and s != run_seeds[0]:  # real videos do not depend on the seed
                faces_by_seed[s][dataset] = faces_by_seed[run_seeds[0]][dataset]
                continue
            try:
                records, stats = load_faces(dataset, dirs[dataset], faces, synthetic,
                                            seed=dataset_seed(dataset, s),
                                            cache_dir=cache_dir, progress=progress)
            except FerTfError:
                if fresh:  # unreadable data: leave no run folder behind
                    shutil.rmtree(run_dir.path, ignore_errors=True)
                raise
            faces_by_seed[s][dataset] = records
            entry = detection.setdefault(dataset, {"frames": [], "detection_rate": [],
                                                   "videos": []})
            entry["frames"].append(stats["frames"])
            entry["detection_rate"].append(stats["detection_rate"])
            entry["videos"].append(len(stats["per_video"]))
            log(f"{dataset} (seed {s}): {stats['frames']} frames from "
                f"{len(stats['per_video'])} videos, Viola-Jones found exactly one face in "
                f"{stats['detection_rate']:.1%} (other frames reuse the previous box)")
    faces_seconds = time.perf_counter() - started

    with dtype_policy(choice.policy):  # the PathNets and their readouts
        trainer = PathTrainer(config.learning_rate, jit_compile=config.jit_compile)
        # One training-set capacity for every task: one trace and one compile.
        trainer.reserve(max(len(r) for per_seed in faces_by_seed.values()
                            for r in per_seed.values()))
        memory = {"tasks": 0, "generations": 0, "rss_mb_after_first_task": None}

        def on_task(role, iteration, result):
            memory["tasks"] += 1
            memory["generations"] += len(result.fitness_history["winner"])
            if memory["tasks"] == 1:
                memory["rss_mb_after_first_task"] = _rss_mb()

        evolution_started = time.perf_counter()
        cells = {name: [] for name in experiments}
        train_frames = {}  # of the first seed and fold, to state budgets in epochs
        for s in run_seeds:
            for fold in folds:
                tasks = {d: fold_task(faces_by_seed[s][d], fold, seed=s, name=d) for d in needed}
                for d in needed:
                    train_frames.setdefault(d, len(tasks[d].y_train))
                scratch = {}
                for destination in shared:
                    log(f"scratch on {destination}, seed {s}, fold {fold + 1}: "
                        f"{len(tasks[destination].y_train)} train / "
                        f"{len(tasks[destination].y_test)} test frames")
                    scratch[destination] = _cell(
                        run_dir, resume, f"scratch-{destination}", s, fold,
                        lambda: run_scratch(tasks[destination], config, iterations=iterations,
                                            seed=task_seed("scratch", destination, s, fold),
                                            trainer=trainer, progress=progress,
                                            on_task=on_task), log)
                for name in experiments:
                    src_name, dst_name = EXPERIMENTS[name]
                    log(f"{name}, seed {s}, fold {fold + 1}: source "
                        f"{len(tasks[src_name].y_train)} train frames")
                    cell = _cell(
                        run_dir, resume, name, s, fold,
                        lambda: run_transfer_experiment(
                            tasks[src_name], tasks[dst_name], config, iterations=iterations,
                            seed=task_seed("experiment", name, s, fold),
                            scratch=scratch[dst_name], trainer=trainer, progress=progress,
                            on_task=on_task), log)
                    cells[name].append(dict(cell, run_seed=s, fold=fold))
                    log(f"{name}, seed {s}, fold {fold + 1}: destination training accuracy "
                        f"per iteration {[round(100 * a, 1) for a in cell['transfer_train_accuracy']]}"
                        f", scratch {[round(100 * a, 1) for a in cell['scratch_train_accuracy']]}")
    evolution_seconds = time.perf_counter() - evolution_started
    rss_last = _rss_mb()

    metrics = {"data": data, "detection": detection, "seeds": run_seeds,
               "folds": list(folds), "n": len(run_seeds) * len(folds),
               "iterations": iterations, "paper": PAPER_RESULTS, "scratch_shared": shared,
               "precision": choice.to_dict(),
               "budget": {"iterations": iterations, "generations": config.generations,
                          "steps_per_path": config.steps_per_path,
                          "epochs_per_path": config.epochs_per_path,
                          "batch_size": config.batch_size,
                          "population_size": config.population_size,
                          "train_frames": train_frames},
               "experiments": {}}
    for name, runs in cells.items():
        src_name, dst_name = EXPERIMENTS[name]
        metrics["experiments"][name] = {
            "source": src_name, "destination": dst_name,
            "scratch_run": f"scratch-{dst_name}",
            "figures": results_lib.aggregate(runs),
            "runs": [{"seed": r["run_seed"], "fold": r["fold"] + 1,
                      "best_paths": r["best_paths"], "frozen_modules": r["frozen_modules"]}
                     for r in runs]}
        atomic_write_json(run_dir.file("experiments", f"{name}.json"),
                          metrics["experiments"][name])

    plots_started = time.perf_counter()
    from fer_tf.papers.pathnet import plots

    for name, runs in cells.items():
        plots.plot_experiment(runs[0], metrics["experiments"][name], name, run_dir.plots_dir)
    plots_seconds = time.perf_counter() - plots_started
    if baselines:
        log(f"Table I baselines: fine-tuning {', '.join(baselines)} for "
            f"{baseline_epochs} epoch(s) each")
        with dtype_policy(choice.policy):
            metrics["table_i"] = run_baselines(
                faces_by_seed[run_seeds[0]], run_dir.path, baselines,
                weights=baseline_weights, epochs=baseline_epochs, fold=folds[0],
                seed=run_seeds[0], input_size=faces.crop_size)
        metrics["budget"].update(baseline_epochs=int(baseline_epochs),
                                 baseline_fold=folds[0] + 1, baseline_seed=run_seeds[0])
    tables = results_lib.report(metrics)
    atomic_write_text(run_dir.file("results.md"), tables)
    run_dir.write_metrics(metrics)
    first = memory["rss_mb_after_first_task"]
    timing = {"seconds": round(time.perf_counter() - started, 2),
              "faces_seconds": round(faces_seconds, 2),
              "evolution_seconds": round(evolution_seconds, 2),
              "plots_seconds": round(plots_seconds, 2),
              "tasks": memory["tasks"], "generations": memory["generations"],
              "traces": trainer.trace_count, "rss_mb_after_first_task": first,
              "rss_mb_after_last_task": rss_last,
              "rss_growth_mb": None if first is None or rss_last is None else rss_last - first}
    atomic_write_json(run_dir.file("timing.json"), timing)
    log("\n" + tables)
    log(f"{timing['tasks']} tasks, {timing['generations']} generations in "
        f"{timing['seconds']:.0f} s ({timing['evolution_seconds']:.0f} s evolving), "
        f"{timing['traces']} trace(s) of the path trainer, RSS growth from the first "
        f"to the last task {timing['rss_growth_mb'] or 0:.1f} MiB")
    log(f"Run folder: {run_dir.path} (metrics.json, results.md, timing.json, plots/)")
    return dict(metrics, timing=timing)
