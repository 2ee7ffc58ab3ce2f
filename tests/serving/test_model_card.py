"""`fer_tf.serving.model_card.ship_run`: a finished run becomes a small shipped model
with a card, loadable by `fer_tf.serving.predict` without the run."""

import json

import keras
import numpy as np
import pytest

from fer_tf.data import labels as L
from fer_tf.errors import ConfigError
from fer_tf.serving.model_card import ship_run
from fer_tf.serving.predict import load_classifier, read_info_entry


def _fake_run(root):
    """The files `fer-tf train` leaves: config.json, metrics.json, checkpoints/."""
    (root / "checkpoints").mkdir(parents=True)
    model = keras.Sequential([keras.Input((48, 48, 1)), keras.layers.Conv2D(2, 3, strides=4),
                              keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(7, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.save(root / "checkpoints" / "best.keras")
    per_class = {n: {"precision": 0.5, "recall": 0.4, "f1": 0.44, "support": 10}
                 for n in L.FER2013_CLASSES}
    (root / "checkpoints" / "best.json").write_text(json.dumps(
        {"monitor": "val_accuracy", "mode": "max", "value": 0.61, "epoch": 7}))
    (root / "config.json").write_text(json.dumps({
        "fer_tf_run": "0.1.0", "model": "vgg_lite", "dataset": "fer2013",
        "class_names": list(L.FER2013_CLASSES), "data": {"clahe": False},
        "splits_used": {"train": "Training", "select": "PublicTest", "report": "PrivateTest"},
        "split_sizes": {"0": {"train": 100, "val": 20, "test": 70}}, "train_seconds": 60,
        "recipe": {"name": "vgg_lite_fer2013", "epochs": 3, "batch_size": 8,
                   "normalization": "unit", "optimizer": {"name": "adamw"}}}))
    (root / "metrics.json").write_text(json.dumps({
        "accuracy": 0.6123, "macro_f1": 0.5, "weighted_f1": 0.55, "num_samples": 70,
        "per_class": per_class}))
    return model


def test_ship_run_writes_model_and_card(tmp_path):
    model = _fake_run(tmp_path / "run")
    dest = tmp_path / "shipped"
    summary = ship_run(tmp_path / "run", dest, command="fer-tf train vgg_lite ...")
    shipped = dest / "vgg_lite_fer2013.keras"
    assert summary["bytes"] == shipped.stat().st_size < 10 * 2**20
    assert read_info_entry(shipped)["class_names"] == list(L.FER2013_CLASSES)
    # No compiled loss or optimizer state: any Keras reloads it.
    reloaded = keras.saving.load_model(shipped)
    assert getattr(reloaded, "optimizer", None) is None
    crops = np.random.default_rng(0).integers(0, 256, (2, 48, 48, 1), dtype=np.uint8)
    np.testing.assert_allclose(load_classifier(shipped, precision="float32").predict_faces(
                                   list(crops)),
                               model.predict(crops / 255.0, verbose=0), atol=1e-5)
    card = (dest / "MODEL_CARD.md").read_text()
    for text in ("0.6123", "fer-tf train vgg_lite ...", "| anger | 0.500 | 0.400 | 0.440 | 10 |",
                 "PrivateTest", "Not for decisions about people", "faces/s at batch 256"):
        assert text in card
    assert summary["faces_per_s"]["256"] > 0


def test_ship_run_refuses_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(ConfigError, match="not a fer_tf run folder"):
        ship_run(tmp_path, tmp_path / "out")
