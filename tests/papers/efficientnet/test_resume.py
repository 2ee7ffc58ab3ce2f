"""`run(settings, out, resume=True)` (`--resume`): an interrupted run continues after
its last backup, a finished one is not trained again, a changed run is refused.

EfficientNet-B0 itself is swapped for a tiny network (the experiment's wiring is
under test, not the backbone, whose trace alone costs half a minute), so this
runs in seconds; how `fit.train` backs up and restores: tests/training/test_fit.py.
"""

import dataclasses
import json

import keras
import pytest

from fer_tf.errors import ConfigError
from fer_tf.papers.efficientnet import experiment
from fer_tf.training import fit
from tests.helpers.callbacks import Crash, CrashAfterEpoch, EpochRecorder

SETTINGS = dataclasses.replace(experiment.SETTINGS["smoke"], epochs=3)


def _tiny_b0(input_shape, num_classes, **kwargs):
    return keras.Sequential([keras.Input(input_shape),
                             keras.layers.Conv2D(4, 3, strides=4),
                             keras.layers.GlobalAveragePooling2D(),
                             keras.layers.Dense(num_classes, activation="softmax")])


@pytest.fixture
def tiny(monkeypatch):
    """Tiny backbone; a backup after every epoch; extra callbacks for fit.train."""
    monkeypatch.setattr(experiment, "efficientnet_b0", _tiny_b0)
    monkeypatch.setattr(fit, "CHECKPOINT_INTERVAL_S", 0.0)
    extra = []
    train = fit.train

    def train_with(*args, **kwargs):
        return train(*args, callbacks=list(extra), **kwargs)

    monkeypatch.setattr(fit, "train", train_with)
    return extra


def _run(out, settings=SETTINGS, **kwargs):
    return experiment.run(settings, out, dataset="synthetic", data_path="numpy",
                          verbose=0, progress=False, **kwargs)


def test_an_interrupted_run_resumes_after_its_last_epoch(tiny, tmp_path):
    out = tmp_path / "run"
    tiny.append(CrashAfterEpoch(0))
    with pytest.raises(Crash):
        _run(out)
    assert not (out / "metrics.json").exists()
    with pytest.raises(ConfigError, match="--resume"):
        _run(out)  # without resume the folder is refused

    tiny[:] = [recorder := EpochRecorder()]
    metrics = _run(out, resume=True)
    assert recorder.begun == [1, 2], "the resumed run starts at epoch 2"
    assert metrics["epochs_run"] == 3
    config = json.loads((out / "config.json").read_text())
    assert config["resumed"] == 1 and "train_seconds" in config
    assert json.loads((out / "metrics.json").read_text())["epochs_run"] == 3

    # A finished run is returned as it is, not trained again.
    recorder.begun.clear()
    assert _run(out, resume=True)["accuracy"] == metrics["accuracy"]
    assert recorder.begun == []


def test_resume_refuses_another_run_or_more_epochs_after_the_end(tiny, tmp_path):
    out = tmp_path / "run"
    tiny.append(CrashAfterEpoch(0))
    with pytest.raises(Crash):
        _run(out)
    tiny.clear()
    with pytest.raises(ConfigError, match="input_shape differs"):
        _run(out, settings=dataclasses.replace(SETTINGS, input_size=24), resume=True)
    with pytest.raises(ConfigError, match="setting batch_size differs"):
        _run(out, settings=dataclasses.replace(SETTINGS, batch_size=8), resume=True)
    with pytest.raises(ConfigError, match="seed differs"):
        _run(out, seed=1, resume=True)
    _run(out, resume=True)
    with pytest.raises(ConfigError, match="has finished"):
        _run(out, settings=dataclasses.replace(SETTINGS, epochs=4), resume=True)
