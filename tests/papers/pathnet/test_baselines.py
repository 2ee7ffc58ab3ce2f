import json
import math

import numpy as np
import pytest

from fer_tf.data import labels as labels_lib
from fer_tf.errors import ConfigError, MissingModelFileError
from fer_tf.models.backbones import BACKBONES
from fer_tf.papers.pathnet import baselines
from fer_tf.papers.pathnet.baselines import (
    TABLE_I_BACKBONES,
    TABLE_I_DROPOUT,
    TABLE_I_RECIPE,
    TABLE_I_ROWS,
    UNAVAILABLE_ROWS,
    face_images,
    run_baselines,
)
from fer_tf.papers.pathnet.report import PAPER_TABLE_I
from fer_tf.training.recipes import Recipe
from tests.helpers.fake_data import tiny_records


def test_table_i_rows():
    assert not set(TABLE_I_ROWS) & set(UNAVAILABLE_ROWS)
    assert len(TABLE_I_ROWS) + len(UNAVAILABLE_ROWS) == 18  # Table I minus the paper's system
    assert set(TABLE_I_BACKBONES) <= set(BACKBONES)
    assert len(set(TABLE_I_BACKBONES)) == len(TABLE_I_BACKBONES)
    # Every row we can train has the paper's loss to compare with.
    assert set(PAPER_TABLE_I) == set(TABLE_I_BACKBONES)
    assert "Mobilenet_v3" in UNAVAILABLE_ROWS and "mobilenet_v3" not in TABLE_I_BACKBONES


def test_recipe_is_the_projects_stated_choice():
    recipe = TABLE_I_RECIPE
    assert (recipe.optimizer.name, recipe.optimizer.learning_rate) == ("adam", 1e-4)
    assert (recipe.batch_size, recipe.epochs, TABLE_I_DROPOUT) == (16, 10, 0.2)
    assert recipe.normalization == "none"  # the model preprocesses [0, 255] pixels itself
    assert Recipe.from_dict(recipe.to_dict()) == recipe


def test_face_images_scale_and_resize():
    flat = np.full((2, 64), 0.5, np.float32)
    same = face_images(flat, (8, 8), 8)
    assert same.shape == (2, 8, 8, 1) and np.allclose(same, 127.5)
    larger = face_images(flat, (8, 8), 32)
    assert larger.shape == (2, 32, 32, 1) and np.allclose(larger, 127.5, atol=1e-3)


def test_only_table_i_backbones():
    with pytest.raises(ConfigError, match="Table I"):
        run_baselines({}, "unused", ["efficientnet_b0"], weights="random")
    with pytest.raises(ConfigError, match="Unknown backbone"):
        run_baselines({}, "unused", ["inception_v4"], weights="random")


def test_missing_weights_fail_before_any_sub_run(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    faces = {"savee": tiny_records(classes=labels_lib.SIX_BASIC, per_class=1, size=8)}
    with pytest.raises(MissingModelFileError, match="vgg19_weights_tf_dim_ordering"):
        run_baselines(faces, str(tmp_path / "run"), ["vgg19"])
    assert not (tmp_path / "run").exists()


def test_one_tiny_baseline_trains_through_fit_into_its_sub_run(tmp_path, monkeypatch):
    faces = {"savee": tiny_records(classes=labels_lib.SIX_BASIC, per_class=1, size=8,
                                   landmarks=False)}
    recipe = TABLE_I_RECIPE.replace(batch_size=8)
    losses = run_baselines(faces, str(tmp_path), ["mobilenet"], weights="random", epochs=1,
                           input_size=8, recipe=recipe)
    loss = losses["mobilenet"]["savee"]
    assert math.isfinite(loss) and loss > 0
    sub_run = tmp_path / "baselines" / "mobilenet" / "savee"
    result = json.loads((sub_run / "result.json").read_text())
    assert result["final_train_loss"] == loss and result["input_shape"] == [32, 32, 1]
    assert result["recipe"]["epochs"] == 1 and 0.0 <= result["val_accuracy"] <= 1.0
    assert (sub_run / "history.csv").exists() and (sub_run / "checkpoints" / "best.keras").exists()

    def no_training(*args, **kwargs):
        raise AssertionError("a finished sub-run was trained again")

    monkeypatch.setattr(baselines, "finetune_one", no_training)
    assert run_baselines(faces, str(tmp_path), ["mobilenet"], weights="random", epochs=1,
                         input_size=8, recipe=recipe) == losses
    # Table I states one budget: a sub-run of another epoch count is not reused.
    with pytest.raises(ConfigError, match="fine-tuned for 1 epoch"):
        run_baselines(faces, str(tmp_path), ["mobilenet"], weights="random", epochs=2,
                      input_size=8, recipe=recipe)
