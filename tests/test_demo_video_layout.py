"""The demo_video synthetic layout: a real video file, per-frame truth, a face Haar finds."""

import csv
import json

import numpy as np
import pytest

from fer_tf.data.layouts import DEMO_EXPRESSIONS, MANIFEST, write_layout
from fer_tf.errors import ConfigError
from fer_tf.preprocess.faces import HaarFaceDetector
from fer_tf.preprocess.video import read_video_frames

SMALL = {"seconds": 1.2, "fps": 10, "frame_size": (120, 160), "face_size": 100,
         "segment_seconds": 0.6, "show_progress": False}


def _iou(a, b):
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    ix = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    return ix * iy / (aw * ah + bw * bh - ix * iy)


def test_demo_video_frames_truth_and_haar(tmp_path):
    written = write_layout("demo_video", tmp_path, seed=1, **SMALL)
    assert written["num_frames"] == written["num_images"] == 12
    assert [s["class"] for s in written["segments"]] == list(DEMO_EXPRESSIONS[:2])
    assert written["per_class"][DEMO_EXPRESSIONS[0]] == 6
    frames = read_video_frames(written["path"])
    assert len(frames) == 12 and frames[0].shape == (120, 160, 3)
    with open(tmp_path / "demo_video_labels.csv", encoding="ascii") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["frame"]) for r in rows] == list(range(12))
    assert [r["class"] for r in rows] == [DEMO_EXPRESSIONS[0]] * 6 + [DEMO_EXPRESSIONS[1]] * 6
    detector = HaarFaceDetector()
    found = 0
    for frame, row in zip(frames, rows):
        boxes = detector.detect(frame)
        truth = [float(row[k]) for k in ("x", "y", "w", "h")]
        found += bool(boxes) and _iou(boxes[0], truth) > 0.4
    assert found >= 9  # the face is there to be found in (almost) every frame
    # The head sways but stays in place: no frame jumps across the picture.
    centres = np.array([[float(r["x"]) + float(r["w"]) / 2, float(r["y"])] for r in rows])
    assert np.abs(np.diff(centres, axis=0)).max() < 0.25 * 100
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    assert manifest["complete"] and manifest["layout"] == "demo_video"


def test_demo_video_refuses_official_counts(tmp_path):
    with pytest.raises(ConfigError, match="demo_video"):
        write_layout("demo_video", tmp_path, official=True, show_progress=False)
