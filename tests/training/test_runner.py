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


def _subjects(records, indices=None):
    return set(records.subjects if indices is None else records.subjects[indices])


def test_landmark_protocols_train_on_every_other_subject_by_default():
    """Landmark paper Sec. II: JAFFE trains on the nine other subjects, CK+ on
    the nine other folds, SFEW on all of Train; nothing is held out unless
    asked (the old splitter took 1 of JAFFE's 9 training subjects away)."""
    from fer_tf.data.protocols import leave_one_subject_out, subject_kfold
    from fer_tf.training.runner import split_records
    from tests.helpers.fake_data import tiny_records

    jaffe = tiny_records(n_subjects=10, per_class=1)
    for k, fold in enumerate(leave_one_subject_out(jaffe)):
        train, val, test = split_records(jaffe, "jaffe", k)
        (held_out,) = _subjects(test)
        assert val is None
        assert _subjects(train) == _subjects(jaffe) - {held_out}
        assert len(train) + len(test) == len(jaffe)
        np.testing.assert_array_equal(train.labels, jaffe.labels[fold.train])

    ck = tiny_records(n_subjects=13, per_class=1)
    for k, fold in enumerate(subject_kfold(ck, k=10)):
        train, val, test = split_records(ck, "ckplus", k)
        assert val is None and len(train) == len(fold.train)
        assert _subjects(train) == _subjects(ck) - _subjects(test)

    split = np.array(["Train"] * 12 + ["Val"] * 6)
    sfew = tiny_records(n_subjects=6, per_class=1, split=split)
    sfew.subjects = None
    train, val, test = split_records(sfew, "sfew")
    assert val is None and len(train) == 12 and len(test) == 6


def test_a_validation_split_must_be_asked_for_and_takes_whole_training_subjects():
    from fer_tf.errors import ConfigError
    from fer_tf.training.runner import DataOptions, split_records
    from tests.helpers.fake_data import tiny_records

    jaffe = tiny_records(n_subjects=10, per_class=1)
    train, val, test = split_records(jaffe, "jaffe", 3, val_fraction=0.25)
    assert len(_subjects(val)) == 2 and not _subjects(val) & _subjects(train)
    assert _subjects(train) | _subjects(val) == _subjects(jaffe) - _subjects(test)
    # The CLI's embedded data keeps its own validation subjects by default.
    assert split_records(tiny_records(n_subjects=8), "synthetic")[1] is not None
    assert DataOptions().val_fraction is None
    for bad in (1.0, -0.1):
        with pytest.raises(ConfigError, match="val-fraction"):
            split_records(jaffe, "jaffe", 0, val_fraction=bad)


def test_evaluate_run_sums_member_probabilities_eq_4(tmp_path, monkeypatch):
    """Eq. 4: argmax of the SUMMED softmax outputs. The two members below are
    built so that the sum picks the true class y while the element-wise
    maximum picks y + 1 (and the mean agrees with the sum): each member
    alone is always wrong, the ensemble always right."""
    from fer_tf.evaluation.report import RunFolder
    from fer_tf.training import runner
    from fer_tf.training.recipes import Recipe

    synthetic = {"num_subjects": 4, "images_per_class": 1, "size": 16}
    records, _ = runner.load_records("synthetic", num_classes=7, synthetic=synthetic,
                                     input_shape=(16, 16, 1))
    _, _, test = runner.split_records(records, "synthetic")
    y = test.labels
    c = records.num_classes
    member_a = np.zeros((len(y), c))
    member_b = np.zeros((len(y), c))
    rows = np.arange(len(y))
    member_a[rows, y], member_a[rows, (y + 1) % c] = 0.4, 0.6
    member_b[rows, y], member_b[rows, (y + 1) % c], member_b[rows, (y + 2) % c] = 0.4, 0.1, 0.5
    assert (np.maximum(member_a, member_b).argmax(-1) != y).all()

    run = RunFolder(tmp_path / "run", create=True)
    run.write_config({"model": "baseline_cnn", "dataset": "synthetic", "data_dir": None,
                      "folds": [0], "seed": 0, "input_shape": [16, 16, 1],
                      "num_classes": c, "synthetic": synthetic,
                      "recipe": Recipe(members=2).to_dict()})
    monkeypatch.setattr(runner, "_load", lambda path, where: path)
    monkeypatch.setattr(runner, "predict_probabilities",
                        lambda path, ds: member_a if "members/0" in path else member_b)
    metrics = runner.evaluate_run(run.path, records=records)
    assert metrics["accuracy"] == 1.0
    assert metrics["member_accuracy"] == {"0": 0.0, "1": 0.0} and metrics["members"] == 2


def test_train_picks_its_precision_by_device_and_never_float16_on_a_cpu(capsys, tmp_path,
                                                                        monkeypatch):
    import keras

    from fer_tf.training import precision

    # The recipe asks for the paper's mixed precision; with no GPU, auto is float32.
    monkeypatch.setattr(precision, "gpu_available", lambda: False)
    code, out, err = run_cli(capsys, "train", "baseline_cnn", "--out", tmp_path / "cpu",
                             "--set", "mixed_precision=true", *TINY)
    assert code == 0, err
    config = json.loads((tmp_path / "cpu" / "config.json").read_text())
    assert config["precision"]["precision"] == "float32" and "no GPU" in out
    assert config["recipe"]["mixed_precision"] is False
    # An explicit float16 on a CPU is kept, with a one-line warning.
    chosen = precision.choose_precision("float16", gpu=False)
    assert chosen.precision == "float16" and "slower" in chosen.warning
    # bfloat16 reaches the model that trains (mixed_bfloat16 layers in the checkpoint).
    code, _, err = run_cli(capsys, "train", "baseline_cnn", "--out", tmp_path / "bf16",
                           "--precision", "bfloat16", *TINY)
    assert code == 0, err
    model = keras.saving.load_model(tmp_path / "bf16" / "checkpoints" / "best.keras")
    conv = next(l for l in model.layers if isinstance(l, keras.layers.Conv2D))
    assert conv.dtype_policy.name == "mixed_bfloat16"
    assert json.loads((tmp_path / "bf16" / "config.json").read_text())[
        "precision"]["policy"] == "mixed_bfloat16"
