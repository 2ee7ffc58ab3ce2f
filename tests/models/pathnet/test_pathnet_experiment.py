"""The seeds x folds protocol of the PathNet experiments (issue 8): shared
scratch runs, seeds that do not move, confidence intervals, video votes."""

import numpy as np
import pytest
from scipy import stats

from fer_tf.errors import ConfigError, DatasetError
from fer_tf.models.pathnet import experiment, results
from fer_tf.models.pathnet.presets import SMOKE
from fer_tf.models.pathnet.training import majority_vote_accuracy

TINY = SMOKE.replace(generations=3, iterations=1, eval_every=0)


def _run(out, experiments=tuple(experiment.EXPERIMENTS), seeds=2):
    return experiment.run(str(out), config=TINY, faces=experiment.FaceSettings(crop_size=8),
                          synthetic=experiment.SMOKE_VIDEOS, seeds=seeds,
                          experiments=experiments, progress=False, log=lambda *a: None)


def test_scratch_runs_once_per_destination_and_seed_and_subsets_reproduce(tmp_path,
                                                                           monkeypatch):
    calls = []
    real = experiment.run_scratch

    def counting(destination, *args, **kwargs):
        calls.append((destination.name, kwargs["seed"]))
        return real(destination, *args, **kwargs)

    monkeypatch.setattr(experiment, "run_scratch", counting)
    full = _run(tmp_path / "full")
    # Two destinations (savee, enterface) x two seeds, each run once although
    # two experiments have the eNTERFACE destination.
    assert sorted(name for name, _ in calls) == ["enterface"] * 2 + ["savee"] * 2
    assert len(set(calls)) == 4
    figures = {n: e["figures"] for n, e in full["experiments"].items()}
    for key in ("scratch_train_accuracy", "scratch_test_accuracy"):
        assert figures["enterface_to_enterface"][key] == figures["savee_to_enterface"][key]
    assert full["n"] == 2 and full["seeds"] == [0, 1]
    stat = figures["savee_to_savee"]["transfer_train_accuracy"]
    assert stat["n"] == [2] and len(stat["values"][0]) == 2 and stat["ci95"][0] is not None
    diff = figures["savee_to_savee"]["diff_train_accuracy"]["values"][0]
    transfer = figures["savee_to_savee"]["transfer_train_accuracy"]["values"][0]
    scratch = figures["savee_to_savee"]["scratch_train_accuracy"]["values"][0]
    assert diff == pytest.approx([t - s for t, s in zip(transfer, scratch)])
    # The datasets' and experiments' seeds do not depend on which experiments
    # run: one experiment alone gives its figures in the full run.
    calls.clear()
    alone = _run(tmp_path / "alone", experiments=("savee_to_enterface",))
    assert sorted(name for name, _ in calls) == ["enterface"] * 2
    assert alone["experiments"]["savee_to_enterface"] == full["experiments"]["savee_to_enterface"]
    assert full["timing"]["traces"] == 1


def test_dataset_and_task_seeds_depend_only_on_their_names():
    assert experiment.dataset_seed("savee", 0) == experiment.dataset_seed("savee", 0)
    seeds = {experiment.dataset_seed(d, s) for d in ("savee", "enterface") for s in (0, 1)}
    assert len(seeds) == 4
    assert experiment.task_seed("scratch", "savee", 0, 0) != experiment.task_seed(
        "scratch", "savee", 0, 1)
    assert experiment.task_seed("scratch", "savee", 0, 0) != experiment.task_seed(
        "experiment", "savee", 0, 0)


def test_run_rejects_bad_seeds_and_folds(tmp_path):
    with pytest.raises(ConfigError, match="--seeds"):
        experiment.run(str(tmp_path / "a"), config=TINY, seeds=0)
    with pytest.raises(ConfigError, match="folds"):
        experiment.run(str(tmp_path / "b"), config=TINY, folds=(6,))
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_mean_ci_is_the_student_t_interval():
    mean, half, n = results.mean_ci([0.5, 0.7, None, 0.9])
    assert n == 3 and mean == pytest.approx(0.7)
    assert half == pytest.approx(stats.t.ppf(0.975, 2) * 0.2 / np.sqrt(3))
    assert results.mean_ci([0.4]) == (0.4, None, 1)
    assert results.mean_ci([None]) == (None, None, 0)


def test_majority_vote_over_a_videos_frames():
    labels = np.array([0, 0, 0, 1, 1, 2, 2])
    groups = np.array(["a", "a", "a", "b", "b", "c", "c"])
    logits = np.full((7, 3), -5.0)
    # video a: frames vote 0, 0, 1 -> 0 (right); video b: 1 vs 2 tie, broken
    # by the higher mean probability (class 2, wrong); video c: 2, 2 (right).
    for row, (cls, score) in enumerate([(0, 1), (0, 1), (1, 1), (1, 1), (2, 3), (2, 1), (2, 1)]):
        logits[row, cls] = score
    assert majority_vote_accuracy(logits, labels, groups) == pytest.approx(2 / 3)
    with pytest.raises(DatasetError, match="one emotion label"):
        majority_vote_accuracy(logits, np.array([0, 1, 0, 1, 1, 2, 2]), groups)
