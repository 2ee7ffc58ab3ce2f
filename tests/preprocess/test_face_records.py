"""The real-data face-crop path on layouts written by `write_layout`."""

import os
import warnings

import cv2
import numpy as np
import pytest

from fer_tf.data import labels as L
from fer_tf.data.layouts import write_layout
from fer_tf.data.readers import DatasetCountWarning
from fer_tf.data.readers.ckplus import read_ckplus
from fer_tf.data.readers.fer2013 import FOLDER_TEST_NOTE
from fer_tf.errors import ConfigError, DatasetError, MissingModelFileError
from fer_tf.preprocess import image_ops
from fer_tf.preprocess.face_records import FaceCropper, load_face_records

QUIET = {"show_progress": False}
BOX = (10, 5, 30, 36)  # x, y, w, h


class BoxDetector:
    """Finds one fixed box, except in frames wider than `max_width`."""

    def __init__(self, box=BOX, max_width=65):
        self.box, self.max_width, self.calls = box, max_width, 0

    def config(self):
        return {"detector": "box", "box": list(self.box), "max_width": self.max_width}

    def detect(self, image):
        self.calls += 1
        return [] if image.shape[1] > self.max_width else [self.box]


def load(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DatasetCountWarning)
        return load_face_records(*args, progress=False, **kwargs)


@pytest.fixture(scope="module")
def ckplus_dir(tmp_path_factory):
    # Three subjects: 640x490-like grey frames (48x63) and 720x480-like colour
    # ones (47x70), as in the real release.
    out = tmp_path_factory.mktemp("ckplus")
    write_layout("ckplus", out, num_subjects=3, labelled_per_subject=1,
                 unlabelled_per_subject=0, num_frames=4, size=48, **QUIET)
    return str(out)


@pytest.fixture(scope="module")
def reference(ckplus_dir):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DatasetCountWarning)
        return read_ckplus(ckplus_dir, size="common", **QUIET)


def _decoded(path):
    return cv2.imread(path, cv2.IMREAD_GRAYSCALE)


def test_mixed_size_ckplus_becomes_uniform_crops_with_its_labels(ckplus_dir, reference,
                                                                 tmp_path):
    records, stats = load("ckplus", ckplus_dir, image_size=(24, 20), detector=BoxDetector(),
                          cache_dir=tmp_path)
    assert records.images.shape == (len(reference), 24, 20, 1)
    assert records.images.dtype == np.uint8
    for field in ("labels", "subjects", "groups", "sources"):
        np.testing.assert_array_equal(getattr(records, field), getattr(reference, field))
    assert records.class_names == L.CKPLUS_CLASSES
    wide = [s for s in reference.sources if _decoded(s).shape[1] > 65]
    assert 0 < len(wide) < len(reference)
    assert stats["images"] == len(reference) and stats["missing"] == wide
    assert stats["detected"] == len(reference) - len(wide)
    assert stats["detection_rate"] == pytest.approx(stats["detected"] / len(reference))
    assert stats["detector"] == BoxDetector().config() and stats["cache"] == "built"
    x, y, w, h = BOX
    found = [i for i, s in enumerate(records.sources) if s not in wide]
    i, j = found[0], records.sources.tolist().index(wide[0])
    expected = image_ops.resize_image(_decoded(records.sources[i])[y:y + h, x:x + w], (24, 20))
    np.testing.assert_array_equal(records.images[i, ..., 0], expected)
    # A missed face keeps the whole frame (documented fallback).
    np.testing.assert_array_equal(records.images[j, ..., 0],
                                  image_ops.resize_image(_decoded(wide[0]), (24, 20)))
    # Landmarks move into the crop: shift by the box corner, scale by 20/30, 24/36.
    stem = os.path.basename(records.sources[i]).replace(".png", "_landmarks.txt")
    subject, sequence = stem.split("_")[:2]
    on_disk = np.loadtxt(os.path.join(ckplus_dir, "Landmarks", subject, sequence, stem))
    np.testing.assert_allclose(records.landmarks[i], (on_disk - [x, y]) * [20 / w, 24 / h],
                               rtol=1e-5, atol=1e-4)


def test_cache_key_covers_every_setting_that_changes_a_crop(ckplus_dir, tmp_path):
    detector = BoxDetector()
    base = dict(image_size=(16, 16), detector=detector, cache_dir=tmp_path)
    first, stats = load("ckplus", ckplus_dir, **base)
    calls = detector.calls
    again, stats = load("ckplus", ckplus_dir, **base)
    assert stats["cache"] == "hit" and detector.calls == calls
    np.testing.assert_array_equal(again.images, first.images)
    assert stats["missing"] and stats["images"] == len(first)  # stats come back too
    changes = {
        "margin": dict(margin=0.1),
        "size": dict(image_size=(16, 12)),
        "interpolation": dict(interpolation="area"),
        "clahe": dict(clahe=True),
        "channels": dict(channels=3),
        "classes": dict(class_names=(L.NEUTRAL, L.HAPPINESS, L.SURPRISE, L.ANGER,
                                     L.DISGUST, L.FEAR, L.SADNESS)),
        "detector": dict(detector=BoxDetector(box=(8, 4, 30, 36))),
        "reader": dict(reader_options={"num_last": 2}),
    }
    for what, change in changes.items():
        _, stats = load("ckplus", ckplus_dir, **dict(base, **change))
        assert stats["cache"] == "built", what
    clahe, _ = load("ckplus", ckplus_dir, **dict(base, clahe=True))
    assert not np.array_equal(clahe.images, first.images)
    rgb, _ = load("ckplus", ckplus_dir, **dict(base, channels=3))
    assert rgb.image_shape == (16, 16, 3)
    # Editing one file of the dataset (its mtime) invalidates the entry.
    path = first.sources[0]
    os.utime(path, ns=(os.stat(path).st_atime_ns, os.stat(path).st_mtime_ns + 10**9))
    _, stats = load("ckplus", ckplus_dir, **base)
    assert stats["cache"] == "built"
    _, stats = load("ckplus", ckplus_dir, **base)
    assert stats["cache"] == "hit"


def test_jaffe_originals_are_face_cropped_then_resized(tmp_path):
    # The reported bug: JAFFE trained on its whole originals. Synthetic JAFFE
    # frames (80x80 here, 256x256 in the release) hold the face with a border.
    write_layout("jaffe", tmp_path / "jaffe", num_subjects=2, images_per_expression=1,
                 size=80, **QUIET)
    records, stats = load("jaffe", tmp_path / "jaffe", image_size=(48, 48),
                          detector="haar", cache_dir=False)
    assert records.image_shape == (48, 48, 1) and len(records) == 14
    assert stats["detection_rate"] > 0.9 and stats["cache"] == "off"
    assert stats["detector"]["detector"] == "haar" and stats["splits"] == []
    whole, _ = load("jaffe", tmp_path / "jaffe", image_size=(48, 48), detector="none",
                    cache_dir=False)
    assert np.abs(records.images.astype(int) - whole.images).mean() > 5
    assert sorted(set(records.subjects)) == ["KA", "KL"]


def test_fer2013_folder_split_note_and_no_detector(tmp_path):
    write_layout("fer2013_folders", tmp_path / "fer", per_class_train=1, per_class_test=1,
                 **QUIET)
    records, stats = load("fer2013", tmp_path / "fer", image_size=48, detector="none",
                          cache_dir=tmp_path / "cache")
    assert stats["splits"] == ["PrivateTest", "Training"] and stats["notes"] == [
        FOLDER_TEST_NOTE]
    assert stats["detected"] is None and stats["detection_rate"] is None
    assert records.image_shape == (48, 48, 1) and len(records) == 14
    first = cv2.imread(records.sources[0], cv2.IMREAD_GRAYSCALE)
    np.testing.assert_array_equal(records.images[0, ..., 0], first)
    csv, stats = load("fer2013", write_layout("fer2013", tmp_path / "csv", **QUIET,
                                              per_class_training=1, per_class_public=1,
                                              per_class_private=1)["path"],
                      image_size=(40, 32), detector="none", cache_dir=tmp_path / "cache")
    assert csv.image_shape == (40, 32, 1) and stats["notes"] == []
    assert stats["splits"] == ["PrivateTest", "PublicTest", "Training"]


def test_face_cropper_options_and_mistakes(tmp_path, monkeypatch):
    image = np.arange(60 * 80, dtype=np.int64).reshape(60, 80).astype(np.uint8)
    points = np.array([[20.0, 10.0], [50.0, 40.0]], np.float32)
    cropper = FaceCropper((10, 15), detector=BoxDetector(box=(20, 10, 30, 30), max_width=99))
    crop, moved = cropper(image, "a.png", points)
    assert crop.shape == (10, 15, 1)
    np.testing.assert_allclose(moved, [[0.0, 0.0], [15.0, 10.0]])
    assert cropper.stats() == {"images": 1, "detected": 1, "detection_rate": 1.0,
                               "missing": []}
    with pytest.raises(ConfigError, match="mtcnn"):
        FaceCropper(detector="mtcnn")
    with pytest.raises(ConfigError, match="bicubic"):
        FaceCropper(interpolation="bicubic")
    with pytest.raises(ConfigError, match="margin"):
        FaceCropper(margin=3)
    monkeypatch.setenv("FER_TF_HOME", str(tmp_path))
    with pytest.raises(MissingModelFileError, match="deploy.prototxt"):
        FaceCropper(detector="ssd")
    with pytest.raises(ConfigError, match="savee"):
        load("savee", tmp_path)
    with pytest.raises(DatasetError, match="channels must be 1"):
        load("jaffe", tmp_path, channels=2)
    with pytest.raises(DatasetError, match="does not exist"):
        load("jaffe", tmp_path / "nope", cache_dir=tmp_path / "cache")
    with pytest.raises(ConfigError, match="transform"):
        load("jaffe", tmp_path, reader_options={"transform": None})


def test_landmark_targets_are_the_points_in_the_crop_frame(tmp_path, astronaut, landmarker):
    """The real-data landmark path (issue 24a): dlib's points, predicted on the
    decoded image, move with the crop and the resize, and the pipeline's
    targets are them divided by the crop size. The astronaut's face is pasted
    at an offset into a larger black canvas (dlib reads 0 outside an image,
    so the predictor sees the same pixels either way), written as a JAFFE
    file and read back through `load_face_records`."""
    from fer_tf.data.pipeline import make_dataset
    from fer_tf.preprocess.faces import DlibHogFaceDetector

    gray = image_ops.to_gray(astronaut)
    (face,) = DlibHogFaceDetector().detect(gray)[:1]
    expected = landmarker(gray, face)                    # (68, 2) in the portrait
    offset = np.array([131, 57])
    canvas = np.zeros((400, 360), np.uint8)
    canvas[offset[1]:offset[1] + 224, offset[0]:offset[0] + 224] = gray
    folder = tmp_path / "jaffe"
    folder.mkdir()
    cv2.imwrite(str(folder / "KA.HA1.29.tiff"), canvas)
    box = (face[0] + offset[0], face[1] + offset[1], face[2], face[3])
    size = 64
    records, stats = load("jaffe", folder, image_size=(size, size), detector=BoxDetector(
        box, max_width=1000), landmarker=landmarker, cache_dir=False)
    assert stats["detected"] == 1 and stats["settings"]["landmarker"]["file"].endswith(".dat")
    in_crop = (expected - np.array(face[:2])) * size / np.array(face[2:])
    np.testing.assert_allclose(records.landmarks[0], in_crop, atol=1e-3)
    # The pixels are that very crop.
    crop = image_ops.resize_image(canvas[box[1]:box[1] + box[3], box[0]:box[0] + box[2]],
                                  (size, size), "bilinear")
    np.testing.assert_array_equal(records.images[0, ..., 0], crop)
    # Targets: the same points / crop size, in [0, 1] for the inner face (the
    # jaw may leave a tight detector box), as the evaluation pipeline yields.
    _, targets = next(iter(make_dataset(records, with_landmarks=True, channels=3,
                                        normalization="symmetric")))
    points = targets["landmarks"].numpy().reshape(-1, 68, 2)[0]
    np.testing.assert_allclose(points, in_crop / size, atol=1e-5)
    assert points[17:].min() >= 0.0 and points[17:].max() <= 1.0
    assert points.min() > -0.2 and points.max() < 1.2
    # Without a landmarker the reader's points (JAFFE has none) are kept.
    plain, _ = load("jaffe", folder, image_size=(size, size),
                    detector=BoxDetector(box, max_width=1000), cache_dir=False)
    assert plain.landmarks is None
