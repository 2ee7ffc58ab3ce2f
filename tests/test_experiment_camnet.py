"""End-to-end: experiments/run_camnet.py --smoke (and its --resume), a missing
ImageNet file, the notebook in smoke mode, and the thesis zoo under JAX (a bad
--data-dir: tests/test_fer2013_scripts.py)."""

import json
import os
import re

import pytest

from tests.helpers.scripts import run_script


@pytest.mark.slow
def test_smoke_writes_the_tables_and_resumes(tmp_path):
    out = tmp_path / "run"
    proc = run_script(["experiments/run_camnet.py", "--smoke", "--out", str(out)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    config = json.loads((out / "config.json").read_text())
    assert config["runs"] == ["camnet34-radam"]
    # The command that made the run, as a reader re-runs it (config and report).
    command = f"python experiments/run_camnet.py --smoke --out {out}"
    assert config["command"] == command
    recipe = config["recipes"]["camnet34-radam"]
    assert recipe["optimizer"]["name"] == "radam" and recipe["batch_size"] == 16
    assert recipe["optimizer"]["weight_decay"] == 1e-4
    assert recipe["model_kwargs"]["dropout"] == 0.5
    metrics = json.loads((out / "metrics.json").read_text())
    # The figures printed and tabled are the computed ones, not the thesis' text.
    ensemble = metrics["ensemble"]
    assert (f"{ensemble['accuracy']:.2%} without TTA (thesis 74.93%), "
            f"{ensemble['accuracy_tta']:.2%} with TTA (thesis 76.12%)") in proc.stdout
    assert set(metrics["runs"]) == set(config["runs"])
    for row in metrics["runs"].values():
        assert 0.0 <= row["test_accuracy"] <= 1.0 and row["epochs_run"] == 1
        assert row["test_accuracy_ci95"][0] <= row["test_accuracy"] <= \
            row["test_accuracy_ci95"][1]
    assert metrics["ensemble"]["members"] == ["camnet34"]
    assert "se_resnet34" in metrics["ensemble"]["missing"]
    report = (out / "results.md").read_text()
    assert f"```bash\n{command}\n```" in report
    row = metrics["runs"]["camnet34-radam"]
    low, high = row["test_accuracy_ci95"]
    ours = f"{100 * row['test_accuracy']:.2f} [{100 * low:.1f}, {100 * high:.1f}]"
    assert f"| radam | 16 | 0.0001 | {ours} | 70.65 |" in report
    # A seconds-long run is not worth measuring: float32 on a CPU, said in the report.
    assert row["precision"]["policy"] == "float32"
    assert f"camnet34-radam: float32 ({row['precision']['reason']})" in report
    assert f"| ensemble with TTA (2 views) | {100 * ensemble['accuracy_tta']:.2f} " in report
    for text in ("Table 6.3", "Table 6.4", "Table 6.5", "Table 6.6", "not run",
                 "32 x 32 input", "docs/papers/camnet.md"):
        assert text in report, text
    for png in ["confusion_matrices.png", "validation_accuracy.png"] + \
            [os.path.basename(p) for p in metrics["gradcam"]]:
        assert (out / "plots" / png).stat().st_size > 1000, png
    member = out / "members" / "camnet34-radam"
    assert (member / "plots" / "learning_curves.png").exists()
    result = json.loads((member / "result.json").read_text())
    assert len(result["test_probabilities_tta"]) == metrics["num_test"]
    # --resume: the finished runs are not trained again, the report is rewritten.
    stamp = (member / "checkpoints" / "best.keras").stat().st_mtime
    again = run_script(["experiments/run_camnet.py", "--smoke", "--out", str(out), "--resume"])
    assert again.returncode == 0, again.stderr[-3000:]
    assert "== camnet34-radam" not in again.stdout
    assert (member / "checkpoints" / "best.keras").stat().st_mtime == stamp
    assert json.loads((out / "metrics.json").read_text())["runs"] == metrics["runs"]


def test_missing_imagenet_file_is_one_line_before_anything_trains(tmp_path):
    proc = run_script(["experiments/run_camnet.py", "--dataset", "synthetic", "--models",
                 "densenet121", "--weights", "imagenet", "--offline",
                 "--out", str(tmp_path / "o")], env={"KERAS_HOME": str(tmp_path / "keras")})
    assert proc.returncode == 2, proc.stderr[-2000:]
    error = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "densenet121" in error[0].lower(), proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and not (tmp_path / "o").exists()


@pytest.mark.slow
def test_notebook_executes_in_smoke_mode():
    from tests.helpers.notebooks import execute_notebook

    outputs, text = execute_notebook("camnet_ensemble.ipynb", timeout=900)
    # Computed figures, not the thesis' text: each trained run's test accuracy.
    assert re.search(r"\w+-radam: test accuracy \d+\.\d\d%, with TTA \d+\.\d\d%", text), \
        text[-2000:]
    assert "first adaptive step: 5" in text
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 3


# Every zoo model under KERAS_BACKEND=jax: the trunk models train one step and
# round-trip a .keras file at 48 x 48 (the eighth-width copies of
# tests/models/camnet/test_zoo.py), and every registered model builds at 48 and 224.
_JAX_ZOO = """
import tempfile
import keras
from fer_tf.models.registry import build_model
from tests.models.camnet.test_zoo import TRUNKS, ZOO, _small, _train_and_round_trip
assert keras.backend.backend() == "jax"
for name in sorted(set(TRUNKS) | {"camnet34"}):
    with tempfile.TemporaryDirectory() as folder:
        _train_and_round_trip(_small(name), folder)
    print("trained", name, flush=True)
for name in ZOO:
    for size in (48, 224):
        assert build_model(name, input_shape=(size, size, 3)).output_shape == (None, 7)
    print("built", name, flush=True)
"""


@pytest.mark.jax_zoo
def test_zoo_trains_and_round_trips_under_jax():
    proc = run_script(["-c", _JAX_ZOO], env={"KERAS_BACKEND": "jax"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    from tests.models.camnet.test_zoo import TRUNKS, ZOO

    lines = proc.stdout.split("\n")
    assert sum(line.startswith("trained") for line in lines) == len(TRUNKS) + 1
    assert sum(line.startswith("built") for line in lines) == len(ZOO)
