import types

import cv2
import numpy as np
import pytest

from fer_tf.errors import DatasetError, FaceNotFoundError
from fer_tf.preprocess import video
from fer_tf.preprocess.faces import HaarFaceDetector


def _write_avi(path, frames_rgb, fps=10):
    height, width = frames_rgb.shape[1:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps,
                             (width, height))
    assert writer.isOpened()
    for frame in frames_rgb:
        writer.write(np.ascontiguousarray(frame[..., ::-1]))
    writer.release()
    return path


def _face_frames(astronaut, n=6):
    """The portrait drifting right by 3 pixels per frame."""
    return np.stack([np.roll(astronaut, 3 * t, axis=1) for t in range(n)])


def test_read_video_frames_round_trip(tmp_path):
    colors = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (200, 200, 50), (10, 10, 10)]
    frames = np.stack([np.full((32, 48, 3), c, np.uint8) for c in colors])
    path = _write_avi(tmp_path / "colors.avi", frames)
    out = video.read_video_frames(path)
    assert out.shape == (5, 32, 48, 3) and out.dtype == np.uint8
    np.testing.assert_allclose(out.mean(axis=(1, 2)), np.asarray(colors), atol=12)
    every = video.read_video_frames(path, every=2)
    np.testing.assert_array_equal(every, out[::2])
    np.testing.assert_array_equal(video.read_video_frames(path, max_frames=2), out[:2])


def test_missing_corrupt_and_empty_videos_name_the_file(tmp_path):
    with pytest.raises(DatasetError, match="nothere.avi does not exist"):
        video.read_video_frames(tmp_path / "nothere.avi")
    corrupt = tmp_path / "corrupt.avi"
    corrupt.write_bytes(b"RIFF\x00\x00garbage" * 50)
    with pytest.raises(DatasetError, match="corrupt.avi"):
        video.read_video_frames(corrupt)
    with pytest.raises(DatasetError, match="every"):
        video.read_video_frames(corrupt, every=0)
    with pytest.raises(DatasetError, match="non-empty uint8"):
        video.clip_frames(video.VideoClip(np.zeros((0, 8, 8, 3), np.uint8), 0))


def test_faces_from_videos_files_and_arrays(tmp_path, astronaut):
    frames = _face_frames(astronaut)
    path = _write_avi(tmp_path / "s01_happy.avi", frames)
    synthetic_like = types.SimpleNamespace(frames=frames[:4], label=1, subject="s02")
    records, stats = video.faces_from_videos(
        [(path, 0, "s01"), synthetic_like, {"source": frames[:2], "label": 1}],
        class_names=("happy", "sad"), size=(40, 48), progress=False,
        return_stats=True)
    # size is (height, width)
    assert records.images.shape == (12, 40, 48, 1) and records.images.dtype == np.uint8
    assert list(records.labels) == [0] * 6 + [1] * 6
    assert list(records.subjects) == ["s01"] * 6 + ["s02"] * 4 + [""] * 2
    assert list(records.groups) == ["s01_happy"] * 6 + ["videos[1]"] * 4 + ["videos[2]"] * 2
    assert records.sources[0] == f"{path}#0" and records.sources[7] == "videos[1]#1"
    assert stats["frames"] == 12 and stats["single_face_frames"] == 12
    assert stats["detection_rate"] == 1.0 and len(stats["per_video"]) == 3
    # The crop follows the face as it drifts right: the face stays centred.
    crops = records.images[:6, ..., 0].astype(float)
    assert np.abs(crops[0] - crops[5]).mean() < 20


def test_faces_from_videos_rule_and_detection_rate(astronaut, fake_detector):
    frames = _face_frames(astronaut, n=4)
    box = (80, 50, 70, 70)
    detector = fake_detector([[], [box], [box, (0, 0, 30, 30)], [box]])
    records, stats = video.faces_from_videos([(frames, 0, "s1")], ("happy",),
                                             size=32, detector=detector,
                                             grayscale=False, progress=False,
                                             return_stats=True)
    assert records.images.shape == (4, 32, 32, 3)
    assert stats["detection_rate"] == 0.5
    # Frames 0 and 2 reuse the box of frame 1, so crops 0..2 show the same region.
    expected = [frames[t][50:120, 80:150] for t in range(3)]
    for t in range(3):
        np.testing.assert_array_equal(records.images[t],
                                      cv2.resize(expected[t], (32, 32),
                                                 interpolation=cv2.INTER_LINEAR))


def test_faces_from_videos_without_faces_names_the_file(tmp_path):
    blank = np.full((3, 64, 64, 3), 128, np.uint8)
    path = _write_avi(tmp_path / "no_face.avi", blank)
    with pytest.raises(FaceNotFoundError, match="no_face.avi"):
        video.faces_from_videos([(path, 0)], ("happy",), progress=False,
                                detector=HaarFaceDetector())


def test_faces_from_videos_with_landmarks(astronaut, landmarker):
    records = video.faces_from_videos([(astronaut[None], 0)], ("happy",), size=96,
                                      detector="dlib", landmarker=landmarker,
                                      progress=False)
    assert records.landmarks.shape == (1, 68, 2)
    eyes = records.landmarks[0, 36:48]
    assert eyes[:, 1].max() < records.landmarks[0, 48:68, 1].min()


def test_string_labels_and_video_index(tmp_path, astronaut):
    frames = _face_frames(astronaut, n=2)
    path = _write_avi(tmp_path / "KL_sa01.avi", frames)
    # SyntheticVideo-style items carry the class name as label.
    clip = types.SimpleNamespace(frames=frames, label="sad", subject="KL")
    records = video.faces_from_videos([clip], ("happy", "sad"), size=32, progress=False)
    assert list(records.labels) == [1, 1]
    with pytest.raises(DatasetError, match="'angry' is not one of"):
        video.faces_from_videos([(frames, "angry")], ("happy", "sad"), progress=False)
    with pytest.raises(DatasetError, match="outside"):
        video.faces_from_videos([(frames, 5)], ("happy", "sad"), progress=False)
    # A readers' VideoIndex (duck-typed here) brings its own classes and name.
    index = types.SimpleNamespace(paths=np.array([str(path)]), labels=np.array([1]),
                                  class_names=("happy", "sad"), subjects=np.array(["KL"]),
                                  groups=np.array(["KL/sa01"]), name="savee")
    records = video.faces_from_videos(index, size=32, progress=False)
    assert records.name == "savee" and records.class_names == ("happy", "sad")
    assert list(records.groups) == ["KL/sa01"] * 2 and list(records.subjects) == ["KL"] * 2
    with pytest.raises(DatasetError, match="class_names"):
        video.faces_from_videos([(frames, 0)], progress=False)


def test_bad_video_items():
    with pytest.raises(DatasetError, match="source, label"):
        video.as_clip((1,))
    with pytest.raises(DatasetError, match="int"):
        video.as_clip(3)
