import pathlib

import cv2
import numpy as np
import pytest

from fer_tf.data.records import Records
from fer_tf.errors import ConfigError, FaceNotFoundError, MissingModelFileError
from fer_tf.preprocess import faces, landmarks


def _iou(a, b):
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0, min(ax1, bx1) - max(a[0], b[0]))
    ih = max(0, min(ay1, by1) - max(a[1], b[1]))
    inter = iw * ih
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


@pytest.fixture(scope="module")
def haar():
    return faces.HaarFaceDetector()


@pytest.fixture(scope="module")
def hog():
    return faces.DlibHogFaceDetector()


def test_haar_and_hog_find_exactly_one_face(astronaut, haar, hog):
    haar_boxes = haar.detect(astronaut)
    hog_boxes = hog.detect(astronaut)
    assert len(haar_boxes) == 1 and len(hog_boxes) == 1
    assert _iou(haar_boxes[0], hog_boxes[0]) > 0.5
    x, y, w, h = haar_boxes[0]
    assert 40 < w < 120 and w == h  # a face-sized, square Viola-Jones box
    assert len(haar.detect(astronaut[..., 0])) == 1  # grayscale input works
    assert hog.detect(np.full((120, 120, 3), 90, np.uint8)) == []


def test_haar_max_side_maps_boxes_back(astronaut, haar):
    fast = faces.HaarFaceDetector(max_side=160)
    (full,), (small,) = haar.detect(astronaut), fast.detect(astronaut)
    assert _iou(full, small) > 0.7


def test_haar_max_side_on_a_wide_image(astronaut, haar):
    wide = np.pad(astronaut, ((0, 0), (0, 96), (0, 0)), mode="edge")  # 224 x 320
    (full,) = haar.detect(wide)
    (small,) = faces.HaarFaceDetector(max_side=160).detect(wide)
    assert _iou(full, small) > 0.7 and _iou(full, haar.detect(astronaut)[0]) > 0.8


def test_face_crop_pipeline_size_is_height_width(astronaut):
    crop, points = faces.face_crop_pipeline(astronaut, (20, 30, 100, 60), (24, 40),
                                            grayscale=True)
    assert crop.shape == (24, 40, 1) and points is None
    crop, _ = faces.face_crop_pipeline(astronaut, (20, 30, 100, 60), (24, 40),
                                       grayscale=False)
    assert crop.shape == (24, 40, 3)


def test_haar_options_change_what_is_found(astronaut, haar):
    assert faces.HaarFaceDetector(min_size=(100, 100)).detect(astronaut) == []
    # At a sixth of its contrast the face is lost unless the histogram is
    # equalised first (the `equalize` option).
    faint = (astronaut // 6 + 100).astype(np.uint8)
    assert haar.detect(faint) == []
    equalized = faces.HaarFaceDetector(equalize=True)
    (box,) = equalized.detect(faint)
    assert _iou(box, haar.detect(astronaut)[0]) > 0.7
    assert equalized.config()["equalize"] is True
    assert haar.config()["cascade"] == "haarcascade_frontalface_default.xml"


def test_haar_finds_nothing_in_flat_noise_or_tiny_images(haar):
    assert haar.detect(np.full((96, 96, 3), 128, np.uint8)) == []
    noise = np.random.default_rng(0).integers(0, 256, (96, 96)).astype(np.uint8)
    assert haar.detect(noise) == []
    assert haar.detect(np.zeros((20, 20), np.uint8)) == []  # below the 24x24 window
    with pytest.raises(ConfigError, match="uint8"):
        haar.detect(np.zeros((64, 64), np.float32))


def test_haar_cascade_files_that_cannot_be_used(tmp_path, astronaut):
    with pytest.raises(MissingModelFileError, match="nowhere.xml"):
        faces.HaarFaceDetector(tmp_path / "nowhere.xml")
    broken = tmp_path / "broken.xml"
    broken.write_text("<opencv_storage><cascade>")
    with pytest.raises(MissingModelFileError, match="broken.xml.*not a cascade"):
        faces.HaarFaceDetector(broken)
    empty = tmp_path / "empty.xml"
    empty.write_text('<?xml version="1.0"?>\n<opencv_storage></opencv_storage>\n')
    with pytest.raises(MissingModelFileError, match="empty.xml"):
        faces.HaarFaceDetector(empty)
    # A user cascade is accepted and used.
    alt = faces.HaarFaceDetector(
        pathlib.Path(cv2.data.haarcascades) / "haarcascade_frontalface_alt2.xml")
    assert alt.config()["cascade"] == "haarcascade_frontalface_alt2.xml"
    assert len(alt.detect(astronaut)) == 1


def test_dlib_landmarks_are_in_face_order(astronaut, hog, landmarker):
    box = hog.detect(astronaut)[0]
    points = landmarker(astronaut, box)
    assert points.shape == (68, 2) and points.dtype == np.float32
    x, y, w, h = box
    slack = 0.15 * w
    assert np.all(points[:, 0] > x - slack) and np.all(points[:, 0] < x + w + slack)
    assert np.all(points[:, 1] > y - slack) and np.all(points[:, 1] < y + h + slack)
    left_eye, right_eye = points[36:42].mean(0), points[42:48].mean(0)
    nose_tip, mouth, chin = points[30], points[48:68].mean(0), points[8]
    assert left_eye[0] < nose_tip[0] < right_eye[0]  # image-left eye, nose, image-right eye
    assert max(left_eye[1], right_eye[1]) < nose_tip[1] < mouth[1] < chin[1]
    assert chin[1] >= points[:, 1].max() - 1.0  # the chin is the lowest point


def test_dlib_landmarks_follow_the_continuous_convention(astronaut, hog, landmarker):
    import dlib

    box = hog.detect(astronaut)[0]
    x, y, w, h = box
    raw = landmarker._predictor(np.ascontiguousarray(astronaut),
                                dlib.rectangle(x, y, x + w - 1, y + h - 1))
    indices = np.array([(p.x, p.y) for p in raw.parts()], np.float32)
    # dlib's points are pixel indices (centres at integers): centre = index + 0.5.
    np.testing.assert_allclose(landmarker(astronaut, box), indices + 0.5)


def test_landmarker_missing_predictor(tmp_path, monkeypatch):
    with pytest.raises(MissingModelFileError, match="nope.dat"):
        landmarks.DlibLandmarker(tmp_path / "nope.dat")
    monkeypatch.setenv("FER_TF_HOME", str(tmp_path))
    monkeypatch.setattr(landmarks, "_packaged_predictor", lambda: None)
    with pytest.raises(MissingModelFileError) as err:
        landmarks.DlibLandmarker()
    message = str(err.value)
    assert str(tmp_path / "models" / "dlib") in message
    assert "shape_predictor_68_face_landmarks.dat" in message
    assert "face_recognition_models" in message


def test_ssd_missing_files_say_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.setenv("FER_TF_HOME", str(tmp_path / "home"))
    with pytest.raises(MissingModelFileError) as err:
        faces.SsdFaceDetector()
    message = str(err.value)
    assert str(tmp_path / "home" / "models" / "face_detector") in message
    assert "deploy.prototxt" in message and "does not download" in message
    folder = tmp_path / "home" / "models" / "face_detector"
    folder.mkdir(parents=True)
    (folder / "deploy.prototxt").write_text('input: "data"')
    with pytest.raises(MissingModelFileError, match="res10_300x300_ssd_iter_140000"):
        faces.SsdFaceDetector()
    with pytest.raises(MissingModelFileError, match="given.caffemodel"):
        faces.SsdFaceDetector(folder / "deploy.prototxt", tmp_path / "given.caffemodel")


class _FakeSsdNet:
    """Stands in for a cv2.dnn.Net: records its input, returns fixed rows."""

    def __init__(self, rows):
        self.rows = np.asarray(rows, np.float32).reshape(1, 1, -1, 7)
        self.blobs = []

    def setInput(self, blob):  # noqa: N802 - cv2.dnn.Net's method name
        self.blobs.append(blob)

    def forward(self):
        return self.rows


def test_ssd_box_decoding_with_injected_net():
    rows = [[0, 1, 0.70, 0.10, 0.20, 0.50, 0.60],
            [0, 1, 0.95, 0.50, 0.50, 1.20, 0.90],  # runs off the right edge
            [0, 1, 0.30, 0.00, 0.00, 0.50, 0.50],  # below the threshold
            [0, 0, 0.99, 0.00, 0.00, 1.00, 1.00],  # background label
            [0, 1, 0.90, 0.40, 0.40, 0.40, 0.80]]  # zero width
    net = _FakeSsdNet(rows)
    detector = faces.SsdFaceDetector(net=net, confidence=0.5)
    image = np.random.default_rng(0).integers(0, 256, (100, 200, 3)).astype(np.uint8)
    found = detector.detect_with_scores(image)
    assert [box for box, _ in found] == [(100, 50, 100, 40), (20, 20, 80, 40)]
    assert [round(s, 2) for _, s in found] == [0.95, 0.70]
    blob = net.blobs[0]
    assert blob.shape == (1, 3, 300, 300) and blob.dtype == np.float32
    # BGR order with the mean (104, 177, 123) removed.
    resized = faces.image_ops.resize_image(image, (300, 300), "bilinear")
    np.testing.assert_allclose(blob[0, 0], resized[..., 2] - 104.0)
    np.testing.assert_allclose(blob[0, 2], resized[..., 0] - 123.0)
    gray_blob = detector.blob(image[..., 0])
    np.testing.assert_allclose(gray_blob[0, 0] + 104.0, gray_blob[0, 2] + 123.0)


def test_track_faces_reuses_previous_box(fake_detector):
    a, b, c = (10, 10, 20, 20), (30, 30, 20, 20), (0, 0, 5, 5)
    script = [[], [a], [a, c], [], [b], [b, c], [c, a], []]
    boxes, counts = faces.track_faces(range(8), fake_detector(script), "clip.avi")
    # frame 0 has no face: back-filled from the first single detection (a).
    assert [tuple(x) for x in boxes] == [a, a, a, a, b, b, b, b]
    np.testing.assert_array_equal(counts, [0, 1, 2, 0, 1, 2, 2, 0])


def test_track_faces_without_any_face_names_the_video(fake_detector):
    with pytest.raises(FaceNotFoundError, match="clip7.avi: no face in any of its 3 frames"):
        faces.track_faces(range(3), fake_detector([[]]), "clip7.avi")


def test_track_faces_with_several_faces_in_every_frame_starts_from_the_largest(fake_detector):
    small, large, other = (0, 0, 4, 4), (5, 5, 9, 8), (1, 1, 10, 10)
    script = [[], [small, large], [other, small], []]
    boxes, counts = faces.track_faces(range(4), fake_detector(script), "clip8.avi")
    # No frame has exactly one face: the first crowded frame's largest box, kept.
    assert [tuple(x) for x in boxes] == [large] * 4
    np.testing.assert_array_equal(counts, [0, 2, 2, 0])


def test_crop_face_margin_clipping_and_landmarks():
    image = np.arange(100 * 80, dtype=np.int64).reshape(100, 80)
    crop = faces.crop_face(image, (10, 20, 30, 40))
    np.testing.assert_array_equal(crop, image[20:60, 10:40])
    crop, pts = faces.crop_face(image, (10, 20, 30, 40), margin=0.5,
                                landmarks=[[15.0, 25.0]])
    np.testing.assert_array_equal(crop, image[0:80, 0:55])  # clipped at the top-left
    np.testing.assert_allclose(pts, [[15.0, 25.0]])
    with pytest.raises(FaceNotFoundError, match="outside"):
        faces.crop_face(image, (200, 200, 10, 10))


def test_make_detector(tmp_path, monkeypatch):
    assert isinstance(faces.make_detector("dlib"), faces.DlibHogFaceDetector)
    monkeypatch.setenv("FER_TF_HOME", str(tmp_path))
    with pytest.warns(UserWarning, match="HOG.*deploy.prototxt"):
        assert isinstance(faces.make_detector("auto"), faces.DlibHogFaceDetector)
    custom = _FakeSsdNet([])
    custom.detect = lambda image: []
    assert faces.make_detector(custom) is custom
    with pytest.raises(ConfigError, match="mtcnn"):
        faces.make_detector("mtcnn")
    assert faces.detector_config(faces.DlibHogFaceDetector(upsample=0)) == {
        "detector": "dlib_hog", "upsample": 0}
    assert faces.detector_config(custom) == {"detector": "_FakeSsdNet"}


def test_faces_from_records_landmark_paper_pipeline(astronaut, landmarker):
    images = np.stack([astronaut, np.full_like(astronaut, 80)])
    records = Records(images=images, labels=[0, 1], class_names=("happy", "neutral"),
                      subjects=["s1", "s2"], sources=["astro.png", "blank.png"],
                      name="toy")
    out, stats = faces.faces_from_records(records, detector="dlib", size=(64, 64),
                                          landmarker=landmarker, progress=False,
                                          return_stats=True)
    assert out.images.shape == (2, 64, 64, 3) and out.landmarks.shape == (2, 68, 2)
    assert np.all(out.images[0, ..., 0] == out.images[0, ..., 2])  # gray x 3
    assert stats["detected"] == 1 and stats["missing"] == ["blank.png"]
    assert list(out.subjects) == ["s1", "s2"] and list(out.labels) == [0, 1]
    face_points = out.landmarks[0]
    assert face_points[:, 0].min() >= -8 and face_points[:, 0].max() <= 72
    skipped = faces.faces_from_records(records, detector="dlib", size=32,
                                       on_missing="skip", progress=False)
    assert len(skipped) == 1 and skipped.sources[0] == "astro.png"
    assert skipped.landmarks is None
    with pytest.raises(FaceNotFoundError, match="toy: no face found in blank.png"):
        faces.faces_from_records(records, detector="dlib", size=32,
                                 on_missing="error", progress=False)
