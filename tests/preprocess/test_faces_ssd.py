"""SsdFaceDetector end to end through cv2.dnn on a tiny Caffe SSD."""

import pathlib
import shutil

import numpy as np
import pytest

from fer_tf.errors import MissingModelFileError
from fer_tf.preprocess import faces

FIXTURES = pathlib.Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, tiny_ssd):
    return tiny_ssd.write_tiny_ssd(tmp_path_factory.mktemp("tiny_ssd"))


def _reference_rows(min_score):
    """OpenCV 4.14's detection_out for the tiny SSD on the astronaut."""
    rows = np.load(FIXTURES / "tiny_ssd_opencv4.npz")["detection_out"].reshape(-1, 7)
    rows = rows[np.argsort(-rows[:, 2], kind="stable")]
    return rows[rows[:, 2] >= min_score]


def test_tiny_ssd_runs_through_opencv_dnn(tiny_model, astronaut, tiny_ssd):
    detector = faces.SsdFaceDetector(*tiny_model, confidence=0.9)
    # The blob is the landmark paper's input, computed independently here.
    np.testing.assert_allclose(detector.blob(astronaut),
                               tiny_ssd.astronaut_blob(astronaut), atol=1e-4)
    found = detector.detect_with_scores(astronaut)
    rows = _reference_rows(0.9)
    assert len(found) == len(rows) > 1
    scores = [score for _, score in found]
    assert scores == sorted(scores, reverse=True) and min(scores) >= 0.9
    height, width = astronaut.shape[:2]
    for (box, score), row in zip(found, rows):
        x, y, w, h = box
        assert score == pytest.approx(row[2], abs=1e-4)
        assert 0 <= x < x + w <= width and 0 <= y < y + h <= height
        # Normalised corners, clipped to the image, scaled to 224 x 224.
        x0, y0, x1, y1 = np.clip(row[3:] * [width, height, width, height], 0,
                                 [width, height, width, height])
        np.testing.assert_allclose(box, [x0, y0, x1 - x0, y1 - y0], atol=1.0)
    assert detector.detect(astronaut) == [box for box, _ in found]


def test_unreadable_or_mismatched_caffe_files(tmp_path, tiny_model):
    prototxt, caffemodel = tiny_model
    broken = tmp_path / "broken.caffemodel"
    broken.write_bytes(b"\x0a\xff\xff\xff\xff\x0f")
    with pytest.raises(MissingModelFileError, match="broken.caffemodel"):
        faces.SsdFaceDetector(prototxt, broken)
    empty = tmp_path / "empty.caffemodel"
    empty.write_bytes(b"")  # a valid, empty protobuf: fails at the first forward
    with pytest.raises(MissingModelFileError, match="empty.caffemodel.*deploy.prototxt"):
        faces.SsdFaceDetector(prototxt, empty)
    odd = tmp_path / "odd.prototxt"
    odd.write_text('input: "data"\nlayer { name: "x" type: "NoSuchLayer" '
                   'bottom: "data" top: "x" }')
    with pytest.raises(MissingModelFileError, match="odd.prototxt"):
        faces.SsdFaceDetector(odd, caffemodel)


def test_model_files_found_in_fer_tf_home(tmp_path, monkeypatch, tiny_model, astronaut):
    folder = tmp_path / "models" / "face_detector"
    folder.mkdir(parents=True)
    shutil.copy(tiny_model[0], folder / faces.SSD_PROTOTXT_FILE)
    shutil.copy(tiny_model[1], folder / faces.SSD_WEIGHTS_FILE)
    monkeypatch.setenv("FER_TF_HOME", str(tmp_path))
    detector = faces.make_detector("auto", confidence=0.9)
    assert isinstance(detector, faces.SsdFaceDetector)
    assert len(detector.detect(astronaut)) == len(_reference_rows(0.9))
