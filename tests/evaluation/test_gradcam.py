"""Grad-CAM (landmark paper Eq. 5-6, Fig. 11) on models whose answer is known."""

import json

import keras
import numpy as np
import PIL.Image
import pytest

from fer_tf import cli
from fer_tf.errors import ConfigError
from fer_tf.evaluation import gradcam as gc
from fer_tf.models.features import FEATURE_MAP
from fer_tf.models.landmark_ensemble import el_ensemble, landmark_subnetwork

SIZE = 32
SQUARE = (slice(4, 12), slice(20, 28))     # the class-1 pattern: top right
BAR = (slice(24, 27), slice(3, 13))        # a distractor drawn on every image
#: Zero-mean texture, so only the pattern, not the image's brightness, tells
#: the classes apart.
CHECKER = np.where(np.add.outer(np.arange(8), np.arange(8)) % 2 == 0, 1.0, -1.0)


def _pattern_images(n, seed):
    rng = np.random.default_rng(seed)
    images = rng.normal(0.0, 0.15, (n, SIZE, SIZE, 1)).astype("float32")
    labels = np.arange(n) % 2
    images[(slice(None),) + BAR] += 1.0
    for i in np.flatnonzero(labels == 1):
        images[(i,) + SQUARE] += CHECKER[..., None]
    return images, labels


def _pattern_model():
    """Conv features in a nested model (like the landmark 'extractor'), its
    last map named as every fer_tf model names it, global average pooling,
    softmax head."""
    inputs = keras.Input((SIZE, SIZE, 1))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name=FEATURE_MAP)(x)
    extractor = keras.Model(inputs, x, name="extractor")
    outer_in = keras.Input((SIZE, SIZE, 1))
    y = keras.layers.GlobalAveragePooling2D()(extractor(outer_in))
    y = keras.layers.Dense(2, activation="softmax", name="probabilities")(y)
    return keras.Model(outer_in, {"labels": y}, name="pattern")


@pytest.fixture(scope="module")
def trained():
    keras.utils.set_random_seed(0)
    x, y = _pattern_images(256, 0)
    model = _pattern_model()
    model.compile(keras.optimizers.Adam(1e-2), {"labels": "sparse_categorical_crossentropy"},
                  metrics={"labels": ["accuracy"]})
    model.fit(x, {"labels": y}, epochs=25, batch_size=32, verbose=0)
    return model


def test_the_feature_map_is_found_inside_nested_models(trained):
    layer, path = gc.explained_layer(trained)
    assert layer.name == FEATURE_MAP and path == ("pattern", "extractor")
    sub = landmark_subnetwork(7, "mouth", (SIZE, SIZE, 3))
    layer, path = gc.explained_layer(sub)
    assert path[1:] == ("extractor",) and tuple(layer.output.shape[1:3]) == (2, 2)
    # Another layer, by name through the nested models or as itself.
    conv, path = gc.explained_layer(sub, "block3_conv2")
    assert conv.name == "block3_conv2" and path[1:] == ("extractor",)
    assert gc.explained_layer(sub, conv)[0] is conv
    flat = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)], name="flat")
    with pytest.raises(ConfigError, match="no feature-map layer named 'features'"):
        gc.gradcam(flat, np.zeros((1, 4), "float32"))


def test_heatmap_peaks_where_the_discriminative_pattern_was_drawn(trained):
    x, y = _pattern_images(8, 1)
    probs = np.asarray(trained(x)["labels"])
    assert (probs.argmax(-1) == y).all()
    result = gc.gradcam(trained, x[y == 1], class_index=1)
    assert result["layer"] == "extractor/features"
    assert result["heatmaps"].shape == (4, SIZE, SIZE)
    np.testing.assert_allclose(result["probabilities"], probs[y == 1], atol=1e-5)
    for heat in result["heatmaps"]:
        row, col = np.unravel_index(heat.argmax(), heat.shape)
        assert 2 <= row <= 13 and 18 <= col <= 29, (row, col)
        assert heat[SQUARE].mean() > 3 * heat[BAR].mean()


def test_ensemble_explains_its_own_prediction_and_unions_the_members(tmp_path):
    keras.utils.set_random_seed(1)
    ensemble = el_ensemble(num_classes=7, input_shape=(SIZE, SIZE, 3))
    x = np.random.default_rng(2).uniform(-1, 1, (2, SIZE, SIZE, 3)).astype("float32")
    result = gc.ensemble_gradcam(ensemble, x)
    members = np.asarray(ensemble(x)["members"])
    np.testing.assert_array_equal(result["class_index"], members.sum(1).argmax(-1))
    assert list(result["members"]) == ["el_eyebrows", "el_eyes", "el_nose", "el_mouth",
                                       "el_jaw"]
    heat = np.stack([r["heatmaps"] for r in result["members"].values()])
    np.testing.assert_allclose(result["union"], heat.max(0))
    assert all(r["layer"] == "extractor/features" for r in result["members"].values())
    np.testing.assert_allclose(result["probabilities"], members.mean(1), atol=1e-5)
    # Fig. 11: face, five members and the union.
    out = gc.plot_gradcam(x[0], dict({k: v["heatmaps"][0] for k, v in
                                      result["members"].items()}, union=result["union"][0]),
                          str(tmp_path / "fig11.png"), title="t")
    assert PIL.Image.open(out).size[0] > 500


def test_gradcam_command_explains_a_saved_model(trained, tmp_path, capsys):
    path = str(tmp_path / "pattern.keras")
    trained.save(path)
    x, _ = _pattern_images(2, 3)
    face = np.clip((x[1, ..., 0] + 1.0) * 127.5, 0, 255).astype(np.uint8)
    PIL.Image.fromarray(face).save(tmp_path / "face.png")
    out = tmp_path / "cam.png"
    code = cli.main(["gradcam", path, str(tmp_path / "face.png"), "--out", str(out),
                     "--detector", "none", "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["class_index"] == 1 and summary["layers"] == {"pattern": "extractor/features"}
    assert out.stat().st_size > 1000
    assert cli.main(["gradcam", str(tmp_path / "nothing"), str(tmp_path / "face.png"),
                     "--out", str(out)]) == 2
    assert "Unknown model" in capsys.readouterr().err


def test_gradcam_out_never_replaces_a_file_it_did_not_write(trained, tmp_path, capsys,
                                                             monkeypatch):
    path = str(tmp_path / "pattern.keras")
    trained.save(path)
    face = tmp_path / "face.png"
    PIL.Image.fromarray(np.full((SIZE, SIZE), 128, np.uint8)).save(face)

    def gradcam_to(out):
        code = cli.main(["gradcam", path, str(face), "--out", str(out), "--detector", "none"])
        return code, capsys.readouterr().err

    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    photo = tmp_path / "holiday.png"
    photo.write_bytes(face.read_bytes())
    for out, message in [(notes, "expected a .png file name"),
                         (photo, "exists and was not written by fer-tf"),
                         (tmp_path / "folder.png", "is a folder")]:
        if out.name == "folder.png":
            out.mkdir()
        code, err = gradcam_to(out)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, out
    assert notes.read_text() == "my notes" and photo.read_bytes() == face.read_bytes()
    # Its own earlier output is replaced.
    cam = tmp_path / "cam.png"
    assert gradcam_to(cam)[0] == 0
    first = cam.stat().st_mtime_ns
    assert gradcam_to(cam)[0] == 0
    assert cam.stat().st_mtime_ns != first and PIL.Image.open(cam).format == "PNG"

    import tempfile

    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    (tmp_path / "ro").mkdir()
    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    code, err = gradcam_to(tmp_path / "ro" / "cam.png")
    assert code == 2 and "cannot write there (Permission denied)" in err


def test_the_shipped_default_model_gives_a_heatmap_of_its_feature_map():
    from fer_tf.models.saving import load_model
    from fer_tf.serving.predict import DEFAULT_MODEL_PATH

    model = load_model(str(DEFAULT_MODEL_PATH))
    faces = np.random.default_rng(4).uniform(0, 1, (2, 48, 48, 1)).astype("float32")
    result = gc.gradcam(model, faces)
    assert result["layer"] == FEATURE_MAP  # vgg_lite's last ReLU, 6 x 6
    assert result["maps"].shape == (2, 6, 6) and result["heatmaps"].shape == (2, 48, 48)
    assert np.isfinite(result["heatmaps"]).all() and result["heatmaps"].max() <= 1.0
    np.testing.assert_allclose(result["probabilities"], np.asarray(model(faces)), atol=1e-5)


@pytest.mark.parametrize("family", ["resnet_trunk", "keras_applications"])
def test_a_nested_feature_model_is_explained_as_a_whole(family):
    from fer_tf.models.backbones import build_classifier
    from fer_tf.models.resnet import resnet

    keras.utils.set_random_seed(5)
    if family == "resnet_trunk":
        model = resnet((32, 32, 3), 4, "basic", (1, 1, 1, 1), widths=(4, 4, 8, 8),
                       stage_modules="masking", masking_depths=(1, 1, 1, 1))
        images = np.random.default_rng(6).uniform(0, 1, (2, 32, 32, 3)).astype("float32")
    else:
        model = build_classifier("mobilenet", 4, (32, 32, 3), weights="random", alpha=0.25)
        images = np.random.default_rng(6).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    result = gc.gradcam(model, images, class_index=1)
    assert result["layer"] == FEATURE_MAP and result["maps"].shape == (2, 1, 1)
    np.testing.assert_allclose(result["probabilities"], np.asarray(model(images)), atol=1e-5)
    if family == "resnet_trunk":  # a stage by name, through the nested trunk
        stage = gc.gradcam(model, images, class_index=1, layer="stage2_block1_out")
        assert stage["layer"] == "features/stage2_block1_out"
        assert stage["maps"].shape == (2, 4, 4)
