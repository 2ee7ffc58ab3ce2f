"""`fer-tf train` end to end: recipes, real layouts and folds, members, resume rules."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from fer_tf import cli

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = ["--epochs", "1", "--input-size", "32", "32", "--synthetic-subjects", "6",
        "--synthetic-per-class", "1"]


def run_cli(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_ckplus_layout_with_mixed_sizes_trains_every_fold_and_sums_confusions(capsys, tmp_path):
    data = tmp_path / "ck"
    code, _, err = run_cli(capsys, "data", "synth", "--layout", "ckplus", "--out", data)
    assert code == 0, err
    sizes = {tuple(np.array(__import__("cv2").imread(str(p)).shape))
             for p in data.rglob("*.png")}
    assert len(sizes) > 1, "the synthetic CK+ mixes frame sizes like the release"
    out = tmp_path / "run"
    code, stdout, err = run_cli(capsys, "train", "baseline_cnn", "--dataset", "ckplus",
                                "--data-dir", data, "--fold", "all", "--epochs", "1",
                                "--input-size", "32", "32", "--cache-dir", tmp_path / "cache",
                                "--out", out)
    assert code == 0, err
    assert sorted(os.listdir(out / "folds"), key=int) == [str(k) for k in range(10)]
    metrics = json.loads((out / "metrics.json").read_text())
    config = json.loads((out / "config.json").read_text())
    assert config["folds"] == list(range(10)) and config["preprocessing"]["detector"] == "haar"
    assert config["recipe"]["name"] == "camnet_baseline_cnn"
    assert len(metrics["fold_accuracies"]) == 10
    matrix = np.array(metrics["confusion_matrix"])
    per_fold = sum(json.loads((out / "folds" / str(k) / "metrics.json").read_text())
                   ["num_samples"] for k in range(10))
    assert matrix.shape == (8, 8) and matrix.sum() == metrics["num_samples"] == per_fold
    assert (out / "plots" / "confusion_matrix.png").exists()
    assert "fold-summed" in stdout
    # stderr holds progress lines and one-line warnings, never a traceback.
    assert all(line.startswith(("faces in ckplus:", "fer-tf: warning:"))
               for line in err.splitlines()), err


def test_members_train_as_sub_runs_and_resume_refuses_a_changed_recipe(capsys, tmp_path):
    out = tmp_path / "ens"
    code, _, err = run_cli(capsys, "train", "baseline_cnn", "--out", out, "--members", "3",
                           *TINY)
    assert code == 0, err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["members"] == 3 and sorted(os.listdir(out / "members")) == ["0", "1", "2"]
    seeds = {json.loads((out / "members" / m / "result.json").read_text())["seed"]
             for m in "012"}
    assert len(seeds) == 3
    recipe = json.loads((out / "config.json").read_text())["recipe"]
    assert recipe["members"] == 3 and recipe["optimizer"]["learning_rate"] == 3e-4

    code, _, err = run_cli(capsys, "train", "baseline_cnn", "--out", out, "--members", "3",
                           "--resume", "--lr", "0.1", *TINY)
    assert code == 2 and "optimizer.learning_rate" in err and err.count("\n") == 1


def test_resume_with_more_epochs_continues_and_a_foreign_folder_is_refused(capsys, tmp_path):
    out = tmp_path / "run"
    assert run_cli(capsys, "train", "baseline_cnn", "--out", out, *TINY)[0] == 0
    more = [a if a != "1" else "2" for a in TINY]
    code, _, err = run_cli(capsys, "train", "baseline_cnn", "--out", out, "--resume", *more)
    assert code == 0, err
    assert (out / "history.csv").read_text().count("\n") == 3
    thesis = tmp_path / "thesis"
    thesis.mkdir()
    (thesis / "thesis.tex").write_text("years of work")
    for flag in ("--overwrite", "--resume"):
        code, _, err = run_cli(capsys, "train", "baseline_cnn", "--out", thesis, flag, *TINY)
        assert code == 2 and "not a fer_tf run folder" in err
    assert (thesis / "thesis.tex").read_text() == "years of work"


def test_the_command_line_prints_no_tensorflow_noise_and_one_line_per_epoch(tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    proc = subprocess.run([sys.executable, "-m", "fer_tf", "train", "baseline_cnn", "--out",
                           str(tmp_path / "r"), *TINY], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for noise in ("absl", "oneDNN", "cuda", "I0000", "W0000", "E0000"):
        assert noise not in proc.stderr, proc.stderr[:2000]
    assert "\r" not in proc.stdout and "\x08" not in proc.stdout
    epoch_lines = [ln for ln in proc.stdout.splitlines() if "val_accuracy" in ln]
    assert len(epoch_lines) == 1
    loud = subprocess.run([sys.executable, "-m", "fer_tf", "evaluate", str(tmp_path / "none"),
                           "--verbose"], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=300)
    assert loud.returncode == 2 and "not a run folder" in loud.stderr


def test_two_output_landmark_subnet_trains_in_three_stages_from_the_command_line(capsys,
                                                                                 tmp_path):
    out = tmp_path / "lm"
    code, _, err = run_cli(capsys, "train", "landmark_subnet", "--out", out, *TINY)
    assert code == 0, err
    assert sorted(os.listdir(out / "stages")) == ["1-landmarks", "2-head", "3-finetune"]
    config = json.loads((out / "config.json").read_text())
    stages = config["recipe"]["stages"]
    assert [s["trainable"] for s in stages] == [["extractor", "landmark_head"],
                                                ["expression_head"],
                                                ["extractor", "expression_head"]]
    assert [s["epochs"] for s in stages] == [1, 1, 1]
    assert [s["optimizer"]["learning_rate"] if s["optimizer"] else None
            for s in stages] == [None, None, 1e-4]
    history = (out / "history.csv").read_text()
    assert "landmarks_mae" in history and "labels_accuracy" in history
    assert json.loads((out / "metrics.json").read_text())["num_samples"] > 0
    assert (out / "plots" / "learning_curves.png").exists()


def test_input_size_scales_the_recipe_resize_and_crop():
    from fer_tf.training.recipes import Recipe, TransformConfig
    from fer_tf.training.runner import scale_transforms

    recipe = Recipe(train_transform=TransformConfig(resize=(256, 256), crop=(224, 224)),
                    eval_transform=TransformConfig(resize=(224, 224)))
    small = scale_transforms(recipe, (224, 224), (96, 96))
    assert small.train_transform.resize == (110, 110) and small.train_transform.crop == (96, 96)
    assert small.eval_transform.resize == (96, 96) and small.eval_transform.crop is None
    assert scale_transforms(recipe, (224, 224), (224, 224)) is recipe
