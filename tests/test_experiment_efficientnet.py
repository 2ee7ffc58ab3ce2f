"""End-to-end: experiments/run_efficientnet.py --smoke on the NumPy path, that path's
model under JAX with TensorFlow absent, and the notebook in smoke mode (the tf.data
path); a bad --data-dir: tests/test_fer2013_scripts.py."""

import json

import pytest

from tests.helpers.scripts import run_script

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
from fer_tf.models.efficientnet.experiment import (SETTINGS, augmented_classifier,
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
    assert "paper 72.08%" in proc.stdout
    config = json.loads((out / "config.json").read_text())
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
    assert metrics["public_and_private_test"]["num_samples"] == 28
    table = (out / "results.md").read_text()
    assert "72.08" in table and "89.00" in table and "Table III" in table
    assert "on n = 14 test images, 95% Wilson interval" in table
    assert "PublicTest + PrivateTest" in table and "| 958 |" in table
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
