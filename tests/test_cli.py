import json
import os
import subprocess
import sys

import numpy as np
import pytest

from fer_tf import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_cli(capsys, *argv):
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_help_via_console_entry_point():
    proc = subprocess.run([sys.executable, "-m", "fer_tf", "--help"], capture_output=True,
                          text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0
    for command in ("models", "train", "evaluate", "data"):
        assert command in proc.stdout


def test_models_json_lists_baseline_with_true_params(capsys):
    code, out, _ = run_cli(capsys, "models", "--json")
    assert code == 0
    models = {m["name"]: m for m in json.loads(out)}
    base = models["baseline_cnn"]
    assert base["params"] == 1_863_879
    assert base["paper"] == "camnet" and base["input_shape"] == [48, 48, 1]
    for m in models.values():
        assert {"name", "paper", "input_shape", "params"} <= set(m)


@pytest.mark.parametrize("argv, message", [
    (["train", "resnet9000", "--out", "{tmp}/a"], "Unknown model 'resnet9000'"),
    (["train", "baseline_cnn", "--dataset", "mnist", "--out", "{tmp}/b"],
     "Unknown dataset 'mnist'"),
    (["train", "baseline_cnn", "--dataset", "fer2013", "--out", "{tmp}/c"],
     "--data-dir is required"),
    (["evaluate", "{tmp}"], "is not a run folder"),
])
def test_bad_input_is_one_clear_message(capsys, tmp_path, argv, message):
    argv = [a.format(tmp=tmp_path) for a in argv]
    code, out, err = run_cli(capsys, *argv)
    assert code == 2
    assert message in err
    assert "Traceback" not in err
    assert os.listdir(tmp_path) == [], "nothing half-written"


def test_non_empty_output_is_refused_and_left_alone(capsys, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    code, _, err = run_cli(capsys, "train", "baseline_cnn", "--out", str(out))
    assert code == 2 and "not empty" in err and "--overwrite" in err
    assert os.listdir(out) == ["keep.txt"]


@pytest.mark.parametrize("value", ["ten", "0", "-3"])
def test_non_numeric_epochs(capsys, tmp_path, value):
    with pytest.raises(SystemExit) as exc:
        cli.main(["train", "baseline_cnn", "--out", str(tmp_path / "r"), "--epochs", value])
    assert exc.value.code == 2
    assert "positive integer" in capsys.readouterr().err
    assert not (tmp_path / "r").exists(), "nothing half-written"


@pytest.mark.parametrize("setting, message", [
    ("optimizer.weight_decay=abc", "optimizer.weight_decay: expected float, got 'abc'"),
    ("patience=soon", "patience: expected int, got 'soon'"),
    ("batch_size=1.5", "batch_size: expected int, got 1.5"),
    ("mixed_precision=1", "mixed_precision: expected bool, got 1")])
def test_set_values_are_checked_against_the_recipe_before_anything_is_written(
        capsys, tmp_path, setting, message):
    code, _, err = run_cli(capsys, "train", "baseline_cnn", "--out", str(tmp_path / "r"),
                           "--set", setting)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "r").exists(), "nothing written"


def test_train_then_evaluate_on_held_out_synthetic_subjects(capsys, tmp_path):
    out = tmp_path / "run"
    code, stdout, err = run_cli(capsys, "train", "baseline_cnn", "--out", str(out),
                                "--epochs", "1", "--synthetic-subjects", "8",
                                "--synthetic-per-class", "1", "--seed", "3")
    assert code == 0, err
    assert "Run folder" in stdout and "learning_curves.png" in stdout
    for name in ("config.json", "metrics.json", "history.csv", "checkpoints/best.keras",
                 "plots/learning_curves.png", "plots/confusion_matrix.png"):
        assert (out / name).exists(), name
    config = json.loads((out / "config.json").read_text())
    assert config["split_sizes"]["0"]["test"] == 2 * 7  # 2 of 8 subjects held out
    assert config["recipe"]["optimizer"]["learning_rate"] == 3e-4

    code, stdout, err = run_cli(capsys, "evaluate", str(out), "--json")
    assert code == 0, err
    m = json.loads(stdout)
    assert {"accuracy", "macro_f1", "weighted_f1", "per_class", "confusion_matrix"} <= set(m)
    assert set(m["per_class"]) == {"anger", "disgust", "fear", "happiness", "sadness",
                                   "surprise", "neutral"}
    assert set(m["per_class"]["anger"]) == {"precision", "recall", "f1", "support"}
    assert np.sum(m["confusion_matrix"]) == 14
    # The held-out subjects are not among the ones the model was trained on.
    assert len(m["test_subjects"]) == 2

    code, _, err = run_cli(capsys, "train", "baseline_cnn", "--out", str(out), "--epochs", "1")
    assert code == 2 and "not empty" in err


def test_data_synth_then_check_round_trip(capsys, tmp_path):
    out = tmp_path / "jaffe"
    code, stdout, err = run_cli(capsys, "data", "synth", "--layout", "jaffe", "--out", str(out),
                                "--json")
    assert code == 0, err
    written = json.loads(stdout)
    code, stdout, err = run_cli(capsys, "data", "check", "--dataset", "jaffe", "--data-dir",
                                str(out), "--json")
    assert code == 0, err
    report = json.loads(stdout)
    assert {"dataset", "num_images", "per_class", "num_subjects", "splits"} <= set(report)
    assert report["per_class"] == written["per_class"]
    code, stdout, _ = run_cli(capsys, "data", "check", "--dataset", "jaffe", "--data-dir",
                              str(out))
    assert code == 0 and "jaffe" in stdout.lower()


def test_data_check_missing_folder_is_one_clear_message(capsys, tmp_path):
    code, _, err = run_cli(capsys, "data", "check", "--dataset", "ckplus", "--data-dir",
                           str(tmp_path / "nope"))
    assert code == 2 and "nope" in err and "Traceback" not in err


def test_evolved_models_point_to_their_experiment_script(capsys, tmp_path):
    code, _, err = run_cli(capsys, "train", "pathnet", "--out", str(tmp_path / "p"))
    assert code == 2 and "experiments/run_pathnet.py" in err
    assert not (tmp_path / "p").exists()
