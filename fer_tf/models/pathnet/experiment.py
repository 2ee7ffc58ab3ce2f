"""The paper's three transfer experiments, end to end (Sec. IV).

videos -> Viola-Jones face crops (Sec. III-A) -> flattened grey crops ->
6-fold cross-validation split (Sec. IV) -> `run_transfer_experiment` per
experiment -> metrics.json, plots (Figs. 3-8) and a table beside the paper's
numbers. `experiments/run_pathnet.py` and the notebook only call `run`.

Reproduction notes: the paper does not state its input size; crops are
32x32 grey (D = 1024, the CIFAR-sized input of Fernando et al.'s PathNet
experiments that this architecture copies, Fig. 1). The paper reports one
accuracy per iteration under 6-fold cross-validation without saying which
fold; `run` evaluates fold 1 by default and any list of folds on request
(the mean over the folds run is reported). Accuracies are on the held-out
fold's frames; frames of one video never straddle train and test.
"""

import dataclasses
import os
import shutil
import time

import numpy as np

from fer_tf.data import labels as labels_lib
from fer_tf.data.protocols import stratified_kfold
from fer_tf.errors import ConfigError, DatasetError, FerTfError
from fer_tf.evaluation.report import RunFolder, comparison_table
from fer_tf.io import atomic_write_json, atomic_write_text
from fer_tf.models.pathnet.baselines import run_baselines
from fer_tf.models.pathnet.evolution import TaskData
from fer_tf.models.pathnet.presets import PAPER
from fer_tf.models.pathnet.transfer import run_transfer_experiment

#: (source dataset, destination dataset) of each experiment (Sec. IV-C).
EXPERIMENTS = {
    "savee_to_savee": ("savee", "savee"),
    "enterface_to_enterface": ("enterface", "enterface"),
    "savee_to_enterface": ("savee", "enterface"),
}

#: What the paper reports for the destination at iteration 3 (Sec. IV-C2,
#: Figs. 3, 5, 7); scratch = transfer minus the stated gain.
PAPER_RESULTS = {
    "savee_to_savee": {"figure": "Fig. 3", "transfer_accuracy": 93.75,
                       "scratch_accuracy": 87.5, "transfer_loss": 0.16},
    "enterface_to_enterface": {"figure": "Fig. 5", "transfer_accuracy": 87.5,
                               "scratch_accuracy": 68.75, "transfer_loss": 0.45},
    "savee_to_enterface": {"figure": "Fig. 7", "transfer_accuracy": 75.0,
                           "scratch_accuracy": None, "transfer_loss": 0.59},
}
PAPER_ITERATION = 3

#: Table I training losses (SAVEE, eNTERFACE) of the fine-tuned baselines.
PAPER_TABLE_I = {
    "inception_v3": (1.777, None), "mobilenet": (1.791, None), "mobilenet_v2": (1.796, None),
    "resnet50": (1.812, None), "resnet101": (1.827, None), "resnet152": (1.886, None),
    "resnet50_v2": (1.787, None), "resnet101_v2": (1.772, None),
    "resnet152_v2": (1.813, None), "vgg19": (1.792, 1.56), "pathnet": (0.22, 0.69),
}


@dataclasses.dataclass(frozen=True)
class FaceSettings:
    """How videos become PathNet inputs (Sec. III-A).

    Args:
        crop_size: int. Side of the square grey face crop (D = crop_size**2).
        every: int. Keep every k-th frame.
        max_frames: int or None. At most this many frames per video.
        detector: str. "haar" (the paper's Viola-Jones).
    """

    crop_size: int = 32
    every: int = 1
    max_frames: int = None
    detector: str = "haar"


@dataclasses.dataclass(frozen=True)
class SyntheticVideoSettings:
    """Size of the embedded SAVEE-like and eNTERFACE-like video sets."""

    savee_subjects: int = 4
    enterface_subjects: int = 8
    videos_per_class: int = 4
    num_frames: int = 12


SMOKE_VIDEOS = SyntheticVideoSettings(savee_subjects=2, enterface_subjects=2,
                                      videos_per_class=2, num_frames=4)


def load_faces(dataset, data_dir=None, faces=FaceSettings(), synthetic=SyntheticVideoSettings(),
               seed=0, cache_dir=None, progress=True):
    """Face-crop Records of SAVEE or eNTERFACE (six basic emotions) and the
    Viola-Jones detection statistics. Real data is read from `data_dir` and
    cached; with `data_dir=None` the embedded synthetic videos are used."""
    from fer_tf.preprocess.video import faces_from_videos

    kwargs = dict(class_names=labels_lib.SIX_BASIC, size=faces.crop_size,
                  detector=faces.detector, grayscale=True, every=faces.every,
                  max_frames=faces.max_frames, progress=progress, return_stats=True)
    if data_dir is None:
        from fer_tf.data.synthetic import make_video_dataset

        subjects = (synthetic.savee_subjects if dataset == "savee"
                    else synthetic.enterface_subjects)
        videos = make_video_dataset(num_subjects=subjects,
                                    videos_per_class=synthetic.videos_per_class,
                                    classes="six", domain=dataset, seed=seed,
                                    num_frames=synthetic.num_frames)
        return faces_from_videos(videos, name=f"synthetic_{dataset}", **kwargs)

    from fer_tf.data.readers import load_dataset
    from fer_tf.preprocess.cache import cached, dataset_identity

    index = load_dataset(dataset, data_dir)  # six basic emotions (SAVEE: neutral left out)
    key = {"dataset": dataset, "files": dataset_identity(list(index.paths), data_dir),
           "settings": dataclasses.asdict(faces), "purpose": "pathnet"}
    return cached(key, lambda: faces_from_videos(index, name=dataset, **kwargs),
                  cache_dir=cache_dir, name=f"pathnet-{dataset}")


def features(records):
    """Flattened grey crops in [0, 1] (PathNet's dense modules take vectors)."""
    return records.images.reshape(len(records), -1).astype(np.float32) / 255.0


def fold_task(records, fold, num_folds=6, seed=0, name=None):
    """TaskData of one fold of the 6-fold cross-validation (Sec. IV), with the
    frames of a video kept on one side."""
    if records.class_names != labels_lib.SIX_BASIC:
        raise DatasetError(f"{records.name}: PathNet experiments use the six basic "
                           f"emotions {labels_lib.SIX_BASIC}, got {records.class_names}.")
    folds = stratified_kfold(records, k=num_folds, seed=seed)
    if not 0 <= fold < len(folds):
        raise ConfigError(f"fold must be in [0, {len(folds) - 1}], got {fold}.")
    f = folds[fold]
    x = features(records)
    return TaskData(x[f.train], records.labels[f.train], x[f.test], records.labels[f.test],
                    num_classes=len(labels_lib.SIX_BASIC), name=name or records.name)


#: Generations averaged for a run's final training loss (one tournament
#: winner's loss is too noisy to report alone).
TRAIN_LOSS_WINDOW = 50


def add_training_losses(result, window=TRAIN_LOSS_WINDOW):
    """Per iteration, the destination's final training loss: the mean winner
    loss over the last `window` generations. The paper's loss figures (0.16,
    0.45, 0.59 and Table I) are training losses, so the table compares these."""
    for role in ("transfer", "scratch"):
        result[f"{role}_train_loss"] = [float(np.mean(c["train_loss"][-window:]))
                                        for c in result["curves"].get(role, [])]
    return result


def _mean_over_folds(results):
    keys = ("transfer_accuracy", "transfer_loss", "scratch_accuracy", "scratch_loss",
            "source_accuracy", "source_loss", "transfer_train_loss", "scratch_train_loss")
    return {k: np.mean([r[k] for r in results], axis=0).tolist() for k in keys}


def results_table(metrics):
    """Markdown: our destination test accuracy and training loss beside the paper's."""
    rows = []
    it = PAPER_ITERATION - 1
    for name, m in metrics["experiments"].items():
        paper = PAPER_RESULTS[name]
        it = min(PAPER_ITERATION, len(m["transfer_accuracy"])) - 1
        row = {"name": f"{name} ({paper['figure']})",
               "transfer": 100 * m["transfer_accuracy"][it],
               "paper_transfer": paper["transfer_accuracy"],
               "scratch": (100 * m["scratch_accuracy"][it] if m["scratch_accuracy"] else None),
               "paper_scratch": paper["scratch_accuracy"],
               "loss": m["transfer_train_loss"][it], "paper_loss": paper["transfer_loss"],
               "per_iteration": " / ".join(f"{100 * a:.1f}" for a in m["transfer_accuracy"])}
        rows.append(row)
    header = ["experiment", f"transfer acc. % (it. {it + 1})", f"paper (it. {PAPER_ITERATION})",
              "scratch acc. %", "paper", "transfer training loss", "paper",
              "transfer acc. per iteration"]
    return comparison_table(rows, columns=("transfer", "paper_transfer", "scratch",
                                           "paper_scratch", "loss", "paper_loss",
                                           "per_iteration"), headers=header)


def table_i(baseline_losses, metrics):
    """Markdown Table I: training loss of fine-tuned CNNs and of PathNet."""
    rows = []
    for name, losses in baseline_losses.items():
        paper = PAPER_TABLE_I.get(name, (None, None))
        rows.append({"name": name, "savee": losses.get("savee"), "paper_savee": paper[0],
                     "enterface": losses.get("enterface"), "paper_enterface": paper[1]})
    it = PAPER_ITERATION - 1
    final = {n: m["transfer_train_loss"][min(it, len(m["transfer_train_loss"]) - 1)]
             for n, m in metrics["experiments"].items()}
    rows.append({"name": "pathnet (ours, transfer)", "savee": final.get("savee_to_savee"),
                 "paper_savee": PAPER_TABLE_I["pathnet"][0],
                 "enterface": final.get("enterface_to_enterface"),
                 "paper_enterface": PAPER_TABLE_I["pathnet"][1]})
    return comparison_table(rows, columns=("savee", "paper_savee", "enterface",
                                           "paper_enterface"),
                            headers=["model", "loss SAVEE", "paper", "loss eNTERFACE", "paper"],
                            digits=3)


SUMMARY_KEYS = ("transfer_accuracy", "transfer_loss", "scratch_accuracy", "scratch_loss",
                "source_accuracy", "source_loss", "per_fold_transfer_accuracy", "folds",
                "best_paths", "frozen_modules", "task_names", "seconds",
                "transfer_train_loss", "scratch_train_loss")


def summary(metrics):
    """metrics.json: per-experiment per-iteration figures; the curves and
    fitness histories stay in experiments/<name>.json."""
    out = {k: v for k, v in metrics.items() if k != "experiments"}
    out["experiments"] = {name: {k: m[k] for k in SUMMARY_KEYS if k in m}
                          for name, m in metrics["experiments"].items()}
    return out


def run(out, savee_dir=None, enterface_dir=None, config=PAPER, faces=FaceSettings(),
        synthetic=SyntheticVideoSettings(), folds=(0,), iterations=None, seed=0,
        experiments=tuple(EXPERIMENTS), baselines=(), baseline_weights=None,
        baseline_epochs=3, overwrite=False, resume=False, cache_dir=None, progress=True,
        log=print):
    """Runs the experiments into the run folder `out` and returns metrics.

    Each finished experiment is written at once (`experiments/<name>.json`),
    so `resume=True` after a crash skips what is done.
    """
    if (savee_dir is None) != (enterface_dir is None):
        raise ConfigError("Give both --savee and --enterface (real data), or neither "
                          "(embedded synthetic videos).")
    unknown = set(experiments) - set(EXPERIMENTS)
    if unknown:
        raise ConfigError(f"Unknown experiment(s) {sorted(unknown)}; expected "
                          f"{sorted(EXPERIMENTS)}.")
    if baselines:
        # Fail before hours of evolution, not after, when a weights file is absent.
        from fer_tf.models.backbones import resolve_imagenet_weights

        for model_name in baselines:
            resolve_imagenet_weights(model_name, baseline_weights)
    fresh = not os.path.isdir(out) or not os.listdir(out) or overwrite
    run_dir = RunFolder(out, create=True, overwrite=overwrite, resume=resume)
    data = "synthetic" if savee_dir is None else "real"
    run_config = {"paper": "pathnet", "data": data, "savee_dir": savee_dir,
                  "enterface_dir": enterface_dir, "pathnet": config.to_dict(),
                  "faces": dataclasses.asdict(faces), "synthetic": dataclasses.asdict(synthetic),
                  "folds": list(folds), "iterations": iterations or config.iterations,
                  "seed": seed, "experiments": list(experiments),
                  "baselines": list(baselines)}
    run_dir.write_config(run_config)
    started = time.time()
    dirs = {"savee": savee_dir, "enterface": enterface_dir}
    needed = sorted({d for e in experiments for d in EXPERIMENTS[e]})
    faces_by_dataset, detection = {}, {}
    for i, dataset in enumerate(needed):
        try:
            records, stats = load_faces(dataset, dirs[dataset], faces, synthetic,
                                        seed=seed + 101 * i, cache_dir=cache_dir,
                                        progress=progress)
        except FerTfError:
            if fresh:  # unreadable data: leave no run folder behind
                shutil.rmtree(run_dir.path, ignore_errors=True)
            raise
        faces_by_dataset[dataset] = records
        detection[dataset] = {"frames": stats["frames"],
                              "detection_rate": stats["detection_rate"],
                              "videos": len(stats["per_video"])}
        log(f"{dataset}: {stats['frames']} frames from {len(stats['per_video'])} videos, "
            f"Viola-Jones found exactly one face in {stats['detection_rate']:.1%} "
            f"(other frames reuse the previous box)")

    metrics = {"data": data, "detection": detection, "experiments": {},
               "paper": PAPER_RESULTS}
    for name in experiments:
        done_path = run_dir.file("experiments", f"{name}.json")
        if resume and os.path.exists(done_path):
            import json

            with open(done_path) as f:
                metrics["experiments"][name] = json.load(f)
            log(f"{name}: already done, resumed from {done_path}")
            continue
        src_name, dst_name = EXPERIMENTS[name]
        per_fold = []
        for fold in folds:
            source = fold_task(faces_by_dataset[src_name], fold, seed=seed, name=src_name)
            destination = fold_task(faces_by_dataset[dst_name], fold, seed=seed,
                                    name=dst_name)
            log(f"{name}, fold {fold + 1}: source {len(source.y_train)} train frames, "
                f"destination {len(destination.y_train)} train / "
                f"{len(destination.y_test)} test frames")
            per_fold.append(add_training_losses(run_transfer_experiment(
                source, destination, config, iterations=iterations, seed=seed + fold,
                progress=progress)))
        result = dict(per_fold[0])
        result.update(_mean_over_folds(per_fold))
        result["folds"] = list(folds)
        result["per_fold_transfer_accuracy"] = [r["transfer_accuracy"] for r in per_fold]
        atomic_write_json(done_path, result)
        metrics["experiments"][name] = result
        log(f"{name}: transfer accuracy per iteration "
            f"{[round(100 * a, 1) for a in result['transfer_accuracy']]}, "
            f"scratch {[round(100 * a, 1) for a in result['scratch_accuracy']]}")

    from fer_tf.models.pathnet import plots

    for name, result in metrics["experiments"].items():
        plots.plot_experiment(result, name, run_dir.plots_dir)
    tables = "## PathNet transfer (destination accuracy)\n\n" + results_table(metrics)
    if baselines:
        log(f"Table I baselines: fine-tuning {', '.join(baselines)}")
        losses = run_baselines(faces_by_dataset, run_dir.plots_dir, baselines,
                               weights=baseline_weights, epochs=baseline_epochs,
                               fold=folds[0], seed=seed, input_size=faces.crop_size)
        metrics["table_i"] = losses
        tables += "\n## Table I: training loss\n\n" + table_i(losses, metrics)
    metrics["seconds"] = round(time.time() - started, 1)
    atomic_write_text(run_dir.file("results.md"), tables)
    run_dir.write_metrics(summary(metrics))
    log("\n" + tables)
    log(f"Run folder: {run_dir.path} (metrics.json, results.md, plots/)")
    return metrics
