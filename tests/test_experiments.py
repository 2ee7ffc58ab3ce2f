"""End-to-end smoke runs of the experiment scripts and notebooks (what CI runs)."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(args, **kw):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT, MPLBACKEND="Agg")
    env.update(kw.pop("env", {}))
    return subprocess.run([sys.executable] + args, capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=600, **kw)


def _table_rows(markdown, header):
    """The cells of every row of the Markdown table whose header line starts with `header`."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def test_run_pathnet_smoke_writes_the_papers_outputs(tmp_path):
    out = tmp_path / "pathnet"
    proc = _run(["experiments/run_pathnet.py", "--smoke", "--out", str(out)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["experiments"]) == {"savee_to_savee", "enterface_to_enterface",
                                           "savee_to_enterface"}
    assert metrics["n"] == 1 and metrics["seeds"] == [0] and metrics["folds"] == [0]
    # Issue 23: --precision auto is the paper's float32 (no GPU here), recorded with its reason.
    config = json.loads((out / "config.json").read_text())
    for record in (metrics["precision"], config["precision"]):
        assert record["requested"] == "auto" and record["precision"] == "float32"
        assert record["policy"] == "float32" and record["reason"]
    assert "pathnet: precision float32 (auto: " in proc.stdout
    for name, m in metrics["experiments"].items():
        for role in ("transfer", "scratch"):
            for metric in ("train_accuracy", "test_accuracy", "test_video_accuracy"):
                stat = m["figures"][f"{role}_{metric}"]
                assert stat["n"] == [1, 1] and stat["ci95"] == [None, None]
                assert all(0.0 <= a <= 1.0 for a in stat["mean"])
        for kind in ("accuracy_loss", "learning_curves", "best_paths", "fitness"):
            assert (out / "plots" / f"{name}_{kind}.png").stat().st_size > 1000
        assert (out / "experiments" / f"{name}.json").exists()
        assert (out / "cells" / name / "seed0-fold1.json").exists()
    assert metrics["scratch_shared"] == {"savee": ["savee_to_savee"],
                                         "enterface": ["enterface_to_enterface",
                                                       "savee_to_enterface"]}
    assert min(metrics["detection"]["savee"]["detection_rate"]) > 0.8
    table = (out / "results.md").read_text()
    # The report shows this run's figures as metrics.json holds them.
    training = _table_rows(table, "| experiment | it. | transfer train acc. %")
    held_out = _table_rows(table, "| experiment | it. | transfer held-out frame acc. %")
    for name, m in metrics["experiments"].items():
        f = m["figures"]
        for it in range(metrics["iterations"]):
            row = next(r for r in training if r[0].startswith(name + " ") and r[1] == str(it + 1))
            assert row[2] == f"{100 * f['transfer_train_accuracy']['mean'][it]:.1f}"
            assert row[3] == f"{100 * f['scratch_train_accuracy']['mean'][it]:.1f}"
            assert row[6] == f"{f['transfer_train_loss']['mean'][it]:.3f}"
            assert row[7] == f"{f['scratch_train_loss']['mean'][it]:.3f}"
            row = next(r for r in held_out if r[0].startswith(name + " ") and r[1] == str(it + 1))
            assert row[4] == f"{100 * f['transfer_test_video_accuracy']['mean'][it]:.1f}"
    assert "held-out video acc." in table and "n = 1" in table
    assert f"{metrics['budget']['generations']} generations/task" in table
    assert "Deviations from the paper: docs/papers/pathnet.md" in table
    assert "shared by enterface_to_enterface, savee_to_enterface" in table

    # A second run refuses the folder, --resume reuses every finished experiment.
    again = _run(["experiments/run_pathnet.py", "--smoke", "--out", str(out)])
    assert again.returncode == 2 and "not empty" in again.stderr
    resumed = _run(["experiments/run_pathnet.py", "--smoke", "--out", str(out), "--resume"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert resumed.stdout.count("already done") == 3 + 2  # experiments + scratch runs
    assert json.loads((out / "metrics.json").read_text()) == metrics


def test_run_pathnet_same_seed_same_metrics_one_trace_flat_memory(tmp_path):
    """Issue 8: the same command and seed write an identical metrics.json (3
    experiments x 2 iterations x 30 generations); one trace of the path
    trainer per run; RSS after the last task within 50 MB of RSS after the
    first."""
    command = ["experiments/run_pathnet.py", "--smoke", "--generations", "30"]
    runs = []
    for name in ("a", "b"):
        proc = _run(command + ["--out", str(tmp_path / name)])
        assert proc.returncode == 0, proc.stderr[-3000:]
        runs.append((tmp_path / name / "metrics.json").read_bytes())
    assert runs[0] == runs[1]
    timing = json.loads((tmp_path / "a" / "timing.json").read_text())
    assert timing["tasks"] == 2 * (3 * 2 + 2) and timing["generations"] == 30 * 16
    assert timing["traces"] == 1
    assert timing["rss_growth_mb"] < 50


def test_run_pathnet_bad_input_is_one_clear_message(tmp_path):
    proc = _run(["experiments/run_pathnet.py", "--smoke", "--savee", str(tmp_path / "none"),
                 "--out", str(tmp_path / "o")])
    assert proc.returncode == 2
    assert "--enterface" in proc.stderr and "Traceback" not in proc.stderr
    proc = _run(["experiments/run_pathnet.py", "--smoke", "--savee", str(tmp_path / "none"),
                 "--enterface", str(tmp_path / "none"), "--out", str(tmp_path / "p")])
    assert proc.returncode == 2
    assert "none" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "p").exists(), "nothing written half-way"


def test_run_pathnet_precision_other_than_float32_is_refused(tmp_path):
    """PathNet's trainer computes in float32 only: --precision takes auto and
    float32, and bfloat16 / float16 are one argparse line naming them."""
    for precision in ("float16", "bfloat16"):
        proc = _run(["experiments/run_pathnet.py", "--smoke", "--precision", precision,
                     "--out", str(tmp_path / precision)])
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert "--precision" in proc.stderr and "'auto', 'float32'" in proc.stderr
        assert not (tmp_path / precision).exists()
    from fer_tf.errors import ConfigError
    from fer_tf.papers.pathnet.experiment import run_precision

    assert run_precision("float32").to_dict()["policy"] == "float32"
    with pytest.raises(ConfigError, match="float32 only"):
        run_precision("float16")


def test_run_pathnet_video_without_any_face_is_a_clear_error(tmp_path):
    import cv2
    import numpy as np

    from fer_tf.data.layouts import write_layout

    data = tmp_path / "savee"
    write_layout("savee", data, seed=0, show_progress=False)
    clip = sorted(data.rglob("*.avi"))[0]
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for _ in range(4):
        writer.write(np.full((48, 64, 3), 128, np.uint8))  # a grey frame: no face
    writer.release()
    out = tmp_path / "o"
    proc = _run(["experiments/run_pathnet.py", "--smoke", "--savee", str(data),
                 "--enterface", str(data), "--experiments", "savee_to_savee",
                 "--cache-dir", str(tmp_path / "cache"), "--out", str(out)])
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert clip.name in proc.stderr and "face" in proc.stderr.lower()
    assert "Traceback" not in proc.stderr
    assert not out.exists(), "nothing written half-way"


@pytest.mark.slow
def test_pathnet_notebook_executes_in_smoke_mode():
    from tests.helpers.notebooks import execute_notebook

    outputs, text = execute_notebook("pathnet_meta_transfer.ipynb")
    assert "transfer_train_accuracy per iteration" in text and "train acc." in str(outputs)


def test_run_pathnet_table_i_baselines(tmp_path):
    out = tmp_path / "pathnet"
    proc = _run(["experiments/run_pathnet.py", "--smoke", "--out", str(out),
                 "--experiments", "savee_to_savee", "--baselines", "mobilenet",
                 "--baseline-weights", "random"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    loss = metrics["table_i"]["mobilenet"]["savee"]
    assert loss > 0 and loss == loss  # a finite training loss
    table = (out / "results.md").read_text()
    # Each figure of ours with the budget behind it: --smoke's 1 epoch, labelled
    # against the recipe's 10, and PathNet at the run's last iteration (2 < 3).
    budget, iterations = metrics["budget"], metrics["iterations"]
    assert budget["baseline_epochs"] == 1 and "this run overrides it" in table
    rows = {row[0]: row for row in _table_rows(table, "| model | our budget |")}
    assert rows["mobilenet"][1:3] == ["1 epoch", f"{loss:.3f}"]
    assert rows["mobilenet"][6] == "epochs not stated"
    pathnet = rows["pathnet savee_to_savee (destination)"]
    figures = metrics["experiments"]["savee_to_savee"]["figures"]
    assert pathnet[1].startswith(f"it. {iterations} of {iterations}; "
                                 f"{budget['generations']} generations/task")
    assert pathnet[2] == f"{figures['transfer_train_loss']['mean'][iterations - 1]:.3f}"
    assert pathnet[3] == "-" and pathnet[6] == f"no figure at it. {iterations}"


def test_run_pathnet_missing_imagenet_weights_fails_before_any_work(tmp_path):
    out = tmp_path / "pathnet"
    proc = _run(["experiments/run_pathnet.py", "--smoke", "--out", str(out),
                 "--baselines", "vgg19"], env={"KERAS_HOME": str(tmp_path / "keras")})
    assert proc.returncode == 2
    assert "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5" in proc.stderr
    assert not out.exists(), "nothing written"
