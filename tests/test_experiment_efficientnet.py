"""End-to-end: experiments/run_efficientnet.py --smoke on the NumPy path, that path's
model under JAX with TensorFlow absent, and the notebook in smoke mode (the tf.data
path); the script's precision choice with the device injected; a bad --data-dir:
tests/test_fer2013_scripts.py."""

import importlib.util
import json
import os

import pytest

from fer_tf.evaluation.metrics import wilson_text
from tests.helpers.scripts import ROOT, run_script

# A JAX-only machine: `import tensorflow` fails, nothing else changes.
_WITHOUT_TENSORFLOW = """
import sys
class _NoTensorFlow:
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ImportError("tensorflow is absent")
sys.meta_path.insert(0, _NoTensorFlow())
import keras
import numpy as np
from fer_tf.papers.efficientnet.experiment import (SETTINGS, augmented_classifier,
                                                   load_splits, resize_rgb)
from fer_tf.models.efficientnet.model import efficientnet_b0
train, _, _ = load_splits("synthetic", synthetic=SETTINGS["smoke"].synthetic, progress=False)
x = resize_rgb(train.images[:2], 37)
model = augmented_classifier(efficientnet_b0((32, 32, 3), 7), 32, seed=0)
# The crop and the augmentation stack run eagerly; EfficientNet itself is only built
# (an eager JAX forward pass of it costs a minute of CPU and tests Keras, not fer_tf).
crop, augment = model.get_layer("random_crop"), model.get_layer("efficientnet_augmentation")
y = keras.ops.convert_to_numpy(augment(crop(x, training=True), training=True))
print(keras.backend.backend(), y.shape, model.output_shape, "tensorflow" in sys.modules)
"""


@pytest.mark.slow
def test_smoke_numpy_data_path_writes_the_report(tmp_path):
    # The path a JAX machine takes: arrays in, crop and augmentation inside the model.
    # on the FER2013 csv layout, so the PublicTest + PrivateTest tables are written too
    layout = tmp_path / "fer"
    from fer_tf.cli import main

    main(["data", "synth", "--layout", "fer2013", "--out", str(layout)])
    out = tmp_path / "run"
    proc = run_script(["experiments/run_efficientnet.py", "--smoke", "--dataset", "fer2013",
                 "--data-dir", str(layout), "--weights", "random", "--data-path", "numpy",
                 "--out", str(out)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    config = json.loads((out / "config.json").read_text())
    # --precision auto: the paper's mixed_float16 only where there is a GPU.
    choice = config["precision"]
    assert choice["requested"] == "auto"
    assert choice["policy"] == ("mixed_float16" if choice["gpu"] else "float32")
    assert f"precision {choice['policy']} (auto: " in proc.stdout.splitlines()[0]
    assert config["recipe"]["mixed_precision"] is choice["gpu"]
    assert config["data_path"] == "numpy" and config["weights"] == "random"
    assert config["recipe"]["label_smoothing"] == 0.1
    assert config["recipe"]["optimizer"]["name"] == "adamw"
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0.0 <= metrics["accuracy"] <= 1.0 and metrics["epochs_run"] == 1
    assert set(metrics["per_class"]) == set(config["class_names"])
    assert config["splits_used"] == {"train": "Training", "select": "PublicTest",
                                     "report": "PrivateTest"}
    assert config["split_sizes"] == {"train": 42, "val": 14, "test": 14}
    assert metrics["test_split"] == "PrivateTest" and metrics["num_samples"] == 14
    assert metrics["precision"] == choice["policy"]
    pooled = metrics["paper_test_set"]
    assert pooled["test_split"] == "PublicTest + PrivateTest" and pooled["num_samples"] == 28
    assert config["paper_test_set"] == {"name": "PublicTest + PrivateTest",
                                        "splits": ["PublicTest", "PrivateTest"]}
    # The report shows the computed figures: ours on PublicTest + PrivateTest in the
    # row beside the paper's 72.08, PrivateTest alone in its own labelled row.
    lines = (out / "results.md").read_text().splitlines()
    assert f"| Accuracy | {100 * pooled['accuracy']:.2f} | 72.08 |" in lines
    assert f"| Macro-averaged F1 | {100 * pooled['macro_f1']:.2f} | 71.67 |" in lines
    private = metrics["accuracy"]
    assert (f"| ours, never used for selection (not in the paper) | PrivateTest | 14 | "
            f"{100 * private:.2f} | {wilson_text(private, 14)} |") in lines
    assert (f"| ours, beside the paper | PublicTest + PrivateTest | 28 | "
            f"{100 * pooled['accuracy']:.2f} | {wilson_text(pooled['accuracy'], 28)} |") in lines
    for name, row in pooled["per_class"].items():
        assert any(line.startswith(f"| {name} | {100 * row['precision']:.2f} | "
                                   f"{100 * row['recall']:.2f} | {100 * row['f1']:.2f} | "
                                   f"{row['support']} |") for line in lines), name
    assert f"Accuracy on PublicTest + PrivateTest: {pooled['accuracy']:.2%} (n = 28" \
        in proc.stdout
    assert "Deviations from the paper: docs/papers/efficientnet.md" in lines
    for plot in ("learning_curves.png", "confusion_matrix.png"):
        assert (out / "plots" / plot).stat().st_size > 1000
    assert (out / "checkpoints" / "best.keras").exists()


@pytest.mark.slow
def test_numpy_path_runs_under_jax_without_tensorflow():
    proc = run_script(["-c", _WITHOUT_TENSORFLOW], env={"KERAS_BACKEND": "jax"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    # backend, augmented batch, model output, whether tensorflow got imported
    assert proc.stdout.strip().splitlines()[-1] == "jax (2, 32, 32, 3) (None, 7) False", \
        proc.stdout


@pytest.mark.slow
def test_notebook_executes_in_smoke_mode():
    from tests.helpers.notebooks import execute_notebook

    outputs, text = execute_notebook("efficientnet_b0_fer2013.ipynb", timeout=900)
    assert "ColorJitter" in text and "RandomErasing" in text and "paper 72.08%" in text
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 3


def _script():
    path = os.path.join(ROOT, "experiments", "run_efficientnet.py")
    spec = importlib.util.spec_from_file_location("run_efficientnet_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("gpu, flags, policy, warns", [
    (True, [], "mixed_float16", False),
    (False, [], "float32", False),
    (False, ["--precision", "bfloat16"], "mixed_bfloat16", False),
    (False, ["--precision", "float16"], "mixed_float16", True),
    (False, ["--no-mixed-precision"], "float32", False),
])
def test_script_picks_the_precision_by_device(monkeypatch, capsys, gpu, flags, policy, warns):
    # The device is injected and run replaced: nothing trains, nothing is timed.
    from fer_tf.papers.efficientnet import experiment
    from fer_tf.training import precision

    monkeypatch.setattr(precision, "gpu_available", lambda: gpu)
    seen = {}

    def fake_run(settings, out, **kwargs):
        seen.update(kwargs, settings=settings)
        part = {"accuracy": 0.5, "num_samples": 4, "macro_f1": 0.4}
        return dict(part, test_split="PrivateTest", epochs_run=1, train_seconds=0.0,
                    precision=kwargs["precision"].policy,
                    paper_test_set=dict(part, test_split="PublicTest + PrivateTest"))

    monkeypatch.setattr(experiment, "run", fake_run)
    assert _script().main(["--smoke", "--out", "unused"] + flags) == 0
    out, err = capsys.readouterr()
    assert seen["precision"].policy == policy
    assert f"precision {policy} (" in out.splitlines()[0]
    assert ("warning: --precision float16 on a CPU" in err) is warns
    assert "Accuracy on PublicTest + PrivateTest: 50.00% (n = 4" in out
    assert "paper 72.08% on PublicTest + PrivateTest" in out


def test_script_refuses_contradicting_precision_flags(capsys):
    assert _script().main(["--smoke", "--no-mixed-precision", "--precision", "float16"]) == 2
    assert "contradicts" in capsys.readouterr().err


def test_script_passes_resume_patience_and_precise_bn(monkeypatch, capsys):
    # run replaced: only the wiring of the flags into it is under test
    # (resume itself: tests/papers/efficientnet/test_resume.py).
    from fer_tf.papers.efficientnet import experiment

    seen = {}

    def fake_run(settings, out, **kwargs):
        seen.update(kwargs, settings=settings)
        part = {"accuracy": 0.5, "num_samples": 4, "macro_f1": 0.4}
        return dict(part, test_split="PrivateTest", epochs_run=1, train_seconds=0.0,
                    precision="float32",
                    paper_test_set=dict(part, test_split="PublicTest + PrivateTest"))

    monkeypatch.setattr(experiment, "run", fake_run)
    flags = ["--smoke", "--out", "unused", "--precision", "float32"]
    assert _script().main(flags + ["--resume", "--patience", "0",
                                   "--precise-bn-batches", "16"]) == 0
    assert seen["resume"] is True and "resuming" in capsys.readouterr().out.splitlines()[0]
    assert seen["settings"].patience is None and seen["settings"].precise_bn_batches == 16
    assert _script().main(flags + ["--patience", "3"]) == 0
    assert seen["resume"] is False and seen["settings"].patience == 3
    assert seen["settings"].precise_bn_batches == experiment.SETTINGS["smoke"].precise_bn_batches
