"""End-to-end smoke run of experiments/run_landmark_ensemble.py (what CI runs)."""

import json

import keras
import numpy as np
import PIL.Image

from fer_tf import cli
from fer_tf.models import landmark_ensemble  # noqa: F401  (registers the ensemble class)
from tests.test_experiments import _run


def test_run_landmark_ensemble_smoke_writes_the_papers_outputs(tmp_path, capsys):
    out = tmp_path / "landmark"
    proc = _run(["experiments/run_landmark_ensemble.py", "--smoke", "--networks",
                 "baseline,el", "--out", str(out)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["networks"]) == {"baseline", "el"} and metrics["folds"] == [1]
    # Issue 23: --precision auto is float32 without a GPU (a smoke run is too short to
    # measure bfloat16), recorded with its reason in config.json and metrics.json.
    config = json.loads((out / "config.json").read_text())
    for record in (metrics["precision"], config["precision"]):
        assert record["requested"] == "auto" and record["precision"] == "float32"
        assert record["policy"] == "float32" and not record["gpu"] and record["reason"]
    assert config["budget"]["precision"] == "auto"
    assert "landmark ensemble: precision float32 (auto: no GPU found" in proc.stdout
    el = metrics["networks"]["el"]
    assert list(el["members"]) == ["eyebrows", "eyes"]          # smoke: two members
    assert np.asarray(el["confusion_matrix"]).sum() == metrics["split_sizes"]["1"]["test"]
    assert set(el["landmark_mae"]) == {"eyebrows", "eyes"}
    assert "landmark_mae" not in metrics["networks"]["baseline"]
    eff = metrics["efficiency"]["paper_input"]
    assert eff["params"] == 5 * 329_496 and eff["member_params"] == 329_496
    # No validation split by default: every non-test face trains (Sec. II).
    sizes = metrics["split_sizes"]["1"]
    assert sizes["val"] == 0 and sizes["train"] + sizes["test"] == 64
    table = (out / "results.md").read_text()
    for text in ("Table I", "Table II", "Sec. III-E", "Sec. V-B", "EL eyebrows alone",
                 "epochs scaled by 0.0", metrics["stopping"], "fine-tuning the other 90%",
                 "Deviations from the paper: docs/papers/landmark_ensemble.md"):
        assert text in table, text
    assert "keeps its last weights" in metrics["stopping"]
    # The report shows the figures this run computed, not the paper's template.
    rows = {line.split(" | ")[0].strip("| "): line for line in table.splitlines()
            if line.startswith("| ")}
    el_mean = 100 * float(np.mean(el["fold_accuracies"]))
    assert rows["EL"].startswith(f"| EL | {el_mean:.2f} |"), rows["EL"]
    assert f"| {100 * el['accuracy']:.2f} |" in rows["EL"]
    assert f"| {eff['member_gflops']:.4f} |" in rows["GFLOPs, one sub-network (Eq. 7-9)"]
    assert f"| {eff['gflops']:.4f} |" in rows["GFLOPs, ensemble"]
    # Side check: the paper's own figures stand beside them.
    assert "| 0.555 |" in rows["GFLOPs, one sub-network (Eq. 7-9)"]
    for name in ("confusion_el", "confusion_baseline", "gradcam_el_0", "gradcam_baseline_0",
                 "landmarks_before_after"):
        assert (out / "plots" / f"{name}.png").stat().st_size > 1000, name
    ensemble = keras.saving.load_model(out / "el" / "folds" / "1" / "ensemble.keras")
    assert [m.name for m in ensemble.members] == ["el_eyebrows", "el_eyes"]
    stages = sorted(p.name for p in (out / "el" / "folds" / "1" / "members" / "eyes" /
                                     "stages").iterdir())
    assert stages == ["1-landmarks", "2-head", "3-finetune"]

    # fer-tf gradcam explains a fold of the run (its ensemble, its config).
    face = np.full((40, 40), 128, np.uint8)
    PIL.Image.fromarray(face).save(tmp_path / "face.png")
    code = cli.main(["gradcam", str(out / "el" / "folds" / "1"), str(tmp_path / "face.png"),
                     "--out", str(tmp_path / "cam.png"), "--detector", "none", "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["class"] in metrics_classes(out)
    assert set(summary["layers"]) == {"el_eyebrows", "el_eyes"}

    # --resume reuses every finished fold; a bad dataset is one clear line.
    again = _run(["experiments/run_landmark_ensemble.py", "--smoke", "--networks",
                  "baseline,el", "--out", str(out), "--resume"])
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads((out / "metrics.json").read_text())["networks"] == metrics["networks"]
    # Issue 24: the same command and seed give the same figures (the training
    # pipeline augments in one thread, in the shuffled order).
    fresh = _run(["experiments/run_landmark_ensemble.py", "--smoke", "--networks",
                  "baseline", "--out", str(tmp_path / "fresh")])
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    assert json.loads((tmp_path / "fresh" / "metrics.json").read_text())["networks"][
        "baseline"] == metrics["networks"]["baseline"]
    bad = _run(["experiments/run_landmark_ensemble.py", "--dataset", "jaffe",
                "--out", str(tmp_path / "bad")])
    assert bad.returncode == 2 and "--data-dir" in bad.stderr
    assert "Traceback" not in bad.stderr


def metrics_classes(out):
    return json.loads((out / "config.json").read_text())["class_names"]


def test_landmark_notebook_runs_in_smoke_mode():
    from tests.helpers.notebooks import execute_notebook

    outputs, text = execute_notebook("landmark_part_ensemble.ipynb")
    assert "el: ensemble accuracy" in text and "1,647,480 parameters" in text
    assert "Table I" in str(outputs)


def test_run_landmark_ensemble_explicit_precision_on_a_cpu(tmp_path, capsys):
    """Issue 23: --precision bfloat16 trains every member under mixed_bfloat16;
    float16 on a CPU prints the choice's one-line warning before anything
    trains (checked on the choice the script's run makes: an emulated float16
    smoke run takes half a minute)."""
    script = _script()
    out = tmp_path / "bfloat16"
    assert script.main(["--smoke", "--networks", "baseline", "--precision", "bfloat16",
                        "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    config = json.loads((out / "config.json").read_text())
    assert config["precision"]["precision"] == "bfloat16"
    assert config["precision"]["policy"] == "mixed_bfloat16"
    assert "landmark ensemble: precision mixed_bfloat16 (requested; no GPU found)" in printed
    assert "warning:" not in printed
    ensemble = keras.saving.load_model(out / "baseline" / "folds" / "1" / "ensemble.keras")
    layers = ensemble.members[0]._flatten_layers()
    assert "mixed_bfloat16" in {layer.dtype_policy.name for layer in layers}

    from fer_tf.papers.landmark_ensemble import experiment as exp

    args = script.parse_args(["--smoke", "--precision", "float16"])
    settings = exp.settings_for("synthetic", smoke=True, precision=args.precision)
    choice = exp.run_precision(settings, ("baseline",), "synthetic", 8, (32, 32, 3), 48)
    printed = capsys.readouterr().out.splitlines()
    assert choice.precision == "float16" and choice.loss_scaling
    assert printed == [choice.warning,
                       "landmark ensemble: precision mixed_float16 (requested; no GPU found)"]
    assert choice.warning.startswith("warning: --precision float16 on a CPU")


def _script():
    """experiments/run_landmark_ensemble.py as a module: one process runs
    every layout (TensorFlow and dlib's predictor load once)."""
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).resolve().parents[1] / "experiments" / \
        "run_landmark_ensemble.py"
    spec = importlib.util.spec_from_file_location("run_landmark_ensemble_e2e", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_real_data_path_end_to_end_on_each_published_layout(tmp_path, capsys):
    """Issue 24e: the real-data path (reader -> detector -> crop -> dlib
    landmarks -> protocol -> three stages -> report) on tiny files in each
    published layout that `fer-tf data synth` writes, in smoke mode: JAFFE
    KA.HA1.29.tiff names (leave one subject out), CK+48/<class>/*.png (10
    subject folds), SFEW Train/ + Val/, and SFEW Train/ alone, refused
    without --sfew-split-train and run with it."""
    import shutil
    import warnings

    from fer_tf.data.layouts import write_layout
    from fer_tf.data.readers import DatasetCountWarning

    script = _script()
    quiet = {"show_progress": False}
    layouts = {"jaffe": ("jaffe", {"num_subjects": 3, "images_per_expression": 1}),
               "ckplus": ("ckplus48", {"num_subjects": 10, "sequences_per_subject": 1}),
               "sfew": ("sfew", {"per_class_train": 2, "per_class_val": 1})}
    for dataset, (layout, counts) in layouts.items():
        data = tmp_path / layout
        write_layout(layout, data, **quiet, **counts)
        out = tmp_path / f"run-{dataset}"
        # Table III from SFEW: CK+48 lacks SFEW's neutral and has contempt.
        cross = (["--cross-ckplus", str(tmp_path / "ckplus48"), "--cross-jaffe",
                  str(tmp_path / "jaffe")] if dataset == "sfew" else [])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DatasetCountWarning)
            code = script.main(["--dataset", dataset, "--data-dir", str(data), "--smoke",
                                "--networks", "el", "--folds", "1", "--out", str(out),
                                "--cache-dir", str(tmp_path / "cache"), *cross])
        captured = capsys.readouterr()
        assert code == 0, (dataset, captured.err[-2000:])
        # Issue 24: one progress line per epoch naming dataset, fold, network,
        # member, stage and epoch, with elapsed and remaining time.
        line = next(t for t in captured.out.splitlines() if "stage 1/3 landmarks" in t)
        assert line.startswith(f"{dataset} fold 1 (1/1) | el eyebrows (1/2) | "), line
        assert "| epoch 1/1 |" in line and "| elapsed " in line and "| remaining ~" in line
        metrics = json.loads((out / "metrics.json").read_text())
        config = json.loads((out / "config.json").read_text())
        faces = metrics["faces"]
        assert faces["detected"] + faces["missed"] == faces["images"]
        assert faces["images"] == sum(metrics["split_sizes"]["1"].values())
        mae = metrics["networks"]["el"]["landmark_mae"]
        assert set(mae) == {"eyebrows", "eyes"}, dataset
        assert "moved with the crop" in config["preprocessing"]["landmarks"]
        report = (out / "results.md").read_text()
        assert "Faces: the detector" in report and "Table I" in report
        assert f"run_landmark_ensemble.py --dataset {dataset} --data-dir" in report
        assert f"The paper's budget for {dataset} " in report and "input 32 px" in report
        assert np.asarray(metrics["networks"]["el"]["confusion_matrix"]).sum() == \
            metrics["split_sizes"]["1"]["test"]
    assert metrics["split_sizes"]["1"]["test"] == 7            # SFEW Val: 1 per class
    ck = metrics["cross_test_sets"]["ckplus"]
    assert ck["missing_classes"] == ["neutral"] and ck["dropped_classes"] == ["contempt"]
    assert np.asarray(metrics["cross"]["ckplus"]["el"]["confusion_matrix"]).sum() == \
        ck["images"] > 0
    assert "| sfew -> ckplus: EL | " in report and "classes of sfew with no ckplus image: " \
        "neutral" in report

    # SFEW without Val: one line saying how to run the Train-split variant.
    shutil.rmtree(tmp_path / "sfew" / "Val")
    capsys.readouterr()
    args = ["--dataset", "sfew", "--data-dir", str(tmp_path / "sfew"), "--smoke",
            "--networks", "el", "--out", str(tmp_path / "run-sfew-train")]
    assert script.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--sfew-split-train" in err and "Val/" in err
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DatasetCountWarning)
        assert script.main(args + ["--sfew-split-train", "0.5"]) == 0
    metrics = json.loads((tmp_path / "run-sfew-train" / "metrics.json").read_text())
    assert metrics["split_sizes"]["1"] == {"train": 7, "val": 0, "test": 7}
    assert "a random 50% of Train (7 of 14 images" in metrics["test_set"]
    assert "Test set: SFEW Train only" in (tmp_path / "run-sfew-train" /
                                           "results.md").read_text()
