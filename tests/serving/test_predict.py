"""`fer_tf.serving.predict` and `fer-tf predict`: the default model on the fixture photo,
a synthetic video, pre-cropped faces with `--detector none`, and each bad
input of issue 13 (reported per input; the others are still processed)."""

import pathlib

import cv2
import keras
import numpy as np
import pytest

from fer_tf import cli
from fer_tf.data import labels as L
from fer_tf.errors import ConfigError
from fer_tf.serving.predict import DEFAULT_MODEL_PATH, load_classifier
from tests.helpers.predict import run_predict, save_tiny_classifier, write_video

PHOTO = pathlib.Path(__file__).parents[1] / "fixtures" / "astronaut.png"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A small untrained 48x48 grey classifier saved as .keras with its info."""
    return save_tiny_classifier(tmp_path_factory.mktemp("model"))


def _video(path, frames=20, size=(120, 160)):
    from fer_tf.data.synthetic import sample_identity
    from fer_tf.data.synthetic.videos import make_video

    rng = np.random.default_rng(0)
    clip = make_video(sample_identity(rng, "DE001"), "happiness", num_frames=frames,
                      frame_size=size, face_size=90, rng=rng)
    return write_video(path, clip.frames)


_run = run_predict


def test_default_model_on_the_fixture_photo(capsys):
    assert DEFAULT_MODEL_PATH.is_file(), "the default model must ship in the package"
    code, lines, _ = _run(capsys, PHOTO)
    assert code == 0
    assert len(lines) == 1
    face = lines[0]
    assert face["class"] == "happiness"  # she smiles: the shipped weights and preprocessing agree
    assert sum(face["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    x, y, w, h = face["box"]
    assert 40 < x < 120 and 20 < y < 100 and 50 < w < 120  # the face, not the suit
    classifier = load_classifier()
    assert classifier.class_names == L.FER2013_CLASSES
    assert classifier.predict_image(str(PHOTO))[0]["box"] == face["box"]


def test_predict_faces_takes_any_size_grey_or_colour(tiny_model):
    path, model = tiny_model
    classifier = load_classifier(path, precision="float32")
    rng = np.random.default_rng(1)
    crops = [rng.integers(0, 256, (48, 48), dtype=np.uint8),
             rng.integers(0, 256, (97, 80, 3), dtype=np.uint8),
             rng.integers(0, 256, (20, 30, 1), dtype=np.uint8)]
    probs = classifier.predict_faces(crops)
    assert probs.shape == (3, 7)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    # A 48x48 grey crop goes to the model unchanged but for the [0, 1] scaling.
    expected = model.predict(crops[0][None, ..., None] / 255.0, verbose=0)
    np.testing.assert_allclose(probs[0], expected[0], atol=1e-5)
    # Colour is BT.601 luminance: the same face in grey gives the same answer.
    colour = crops[1]
    grey = cv2.cvtColor(colour, cv2.COLOR_RGB2GRAY)
    np.testing.assert_allclose(classifier.predict_faces([colour])[0],
                               classifier.predict_faces([grey])[0], atol=2e-3)
    with pytest.raises(ConfigError, match=r"crop 0: expected a face crop"):
        classifier.predict_faces([np.zeros((4, 4, 2), np.uint8)])


def test_detector_none_on_precropped_faces(tiny_model, tmp_path, capsys):
    path, _ = tiny_model
    folder = tmp_path / "crops"
    folder.mkdir()
    rng = np.random.default_rng(2)
    for i in range(3):
        cv2.imwrite(str(folder / f"face{i}.png"), rng.integers(0, 256, (48, 48), dtype=np.uint8))
    code, lines, _ = _run(capsys, path, folder, "--detector", "none")
    assert code == 0
    assert [pathlib.Path(r["input"]).name for r in lines] == ["face0.png", "face1.png",
                                                               "face2.png"]
    assert all(r["box"] == [0, 0, 48, 48] for r in lines)


def test_video_is_classified_frame_by_frame_and_annotated(tiny_model, tmp_path, capsys):
    path, _ = tiny_model
    video = _video(tmp_path / "clip.avi", frames=20)
    out = tmp_path / "out"
    code, lines, _ = _run(capsys, path, video, "--batch", "8", "--out", out)
    assert code == 0
    frames = sorted({r["frame"] for r in lines})
    assert frames == list(range(20))  # every frame: a face or "no face found"
    faces = [r for r in lines if "class" in r]
    assert len(faces) >= 15, "Haar finds the synthetic face in most frames"
    for r in faces:
        assert sum(r["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    written = cv2.VideoCapture(str(out / "clip.annotated.mp4"))
    assert int(written.get(cv2.CAP_PROP_FRAME_COUNT)) == 20
    written.release()
    assert not list(out.glob(".tmp-*"))


def test_bad_inputs_are_reported_and_the_rest_processed(tiny_model, tmp_path, capsys):
    path, _ = tiny_model
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(PHOTO.read_bytes()[:300])   # truncated JPEG/PNG data
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("nothing to see")
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((120, 160), 128, np.uint8))
    video = _video(tmp_path / "full.avi", frames=30)
    cut = tmp_path / "cut.avi"
    data = video.read_bytes()
    cut.write_bytes(data[:len(data) * 2 // 3])
    code, lines, err = _run(capsys, path, broken, text, empty, blank, cut, PHOTO)
    assert code == 0
    by_input = {}
    for r in lines:
        by_input.setdefault(pathlib.Path(r["input"]).name, []).append(r)
    assert "not a readable image" in by_input["broken.jpg"][0]["error"]
    assert "not a readable image" in by_input["notes.png"][0]["error"]
    assert "no images or videos" in by_input["empty"][0]["error"]
    assert by_input["blank.png"] == [{"input": str(blank), "faces": 0,
                                      "message": "no face found"}]
    assert "truncated video" in by_input["cut.avi"][-1]["warning"]
    assert any("frame" in r for r in by_input["cut.avi"][:-1])
    assert "class" in by_input["astronaut.png"][0]
    assert err.count("fer-tf: ") >= 4  # one stderr line per bad input (plus the summary)
    # Nothing processed at all: a non-zero exit.
    code, lines, _ = _run(capsys, path, broken, text)
    assert code == 1 and len(lines) == 2


def test_models_from_other_programs_are_refused(tmp_path, capsys):
    import h5py
    import tensorflow as tf

    junk = tmp_path / "other.keras"
    junk.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ConfigError, match=r"other.keras: not a Keras model file"):
        load_classifier(junk)
    h5 = tmp_path / "weights.h5"
    with h5py.File(h5, "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(ConfigError, match=r"weights.h5: not a Keras model file"):
        load_classifier(h5)
    module = tf.Module()
    module.v = tf.Variable(1.0)
    tf.saved_model.save(module, str(tmp_path / "sm"))
    with pytest.raises(ConfigError, match=r"sm: a SavedModel without fer_tf's serving"):
        load_classifier(tmp_path / "sm")
    dense = keras.Sequential([keras.Input((10,)), keras.layers.Dense(7)])
    dense.save(tmp_path / "tabular.keras")
    with pytest.raises(ConfigError, match=r"not an image classifier"):
        load_classifier(tmp_path / "tabular.keras")
    assert cli.main(["predict", str(junk), str(PHOTO)]) == cli.EXIT_USER_ERROR
    assert "not a Keras model file" in capsys.readouterr().err
