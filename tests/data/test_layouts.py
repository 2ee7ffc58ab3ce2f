"""write_layout -> check_dataset round trips for every published layout."""

import json
import os
import re

import cv2
import numpy as np
import pytest

from fer_tf.data import labels as L
from fer_tf.data.layouts import LAYOUTS, MANIFEST, layout_options, write_layout
from fer_tf.data.readers import check_dataset
from fer_tf.errors import ConfigError

QUIET = {"show_progress": False}
SMALL = {
    "ckplus": {"num_subjects": 3, "labelled_per_subject": 3, "unlabelled_per_subject": 1},
    "ckplus48": {"num_subjects": 2, "sequences_per_subject": 4},
    "jaffe": {"num_subjects": 4},
    "fer2013": {"per_class_training": 3, "per_class_public": 1, "per_class_private": 2},
    "fer2013_folders": {"per_class_train": 3, "per_class_test": 1},
    "sfew": {"per_class_train": 2, "per_class_val": 1, "size": 40},
    "savee": {"num_speakers": 2, "clips_per_emotion": 1, "neutral_clips": 2,
              "num_frames": 3},
    "enterface": {"num_subjects": 2, "sentences": 1, "num_frames": 3},
}


def test_every_layout_has_a_small_case():
    # demo_video mimics no dataset (no reader); tests/test_demo_video_layout.py.
    assert set(SMALL) == set(LAYOUTS) - {"demo_video"} == {
        "ckplus", "ckplus48", "jaffe", "fer2013", "fer2013_folders", "sfew", "savee",
        "enterface"}


@pytest.mark.parametrize("layout", sorted(SMALL))
def test_round_trip_counts(layout, tmp_path):
    written = write_layout(layout, tmp_path, seed=3, **QUIET, **SMALL[layout])
    options = {"include_neutral": True} if layout == "savee" else {}
    found = check_dataset(written["dataset"], tmp_path, **QUIET, **options)
    assert found["num_images"] == written["num_images"] > 0
    assert found["per_class"] == written["per_class"]
    assert found["splits"] == written["splits"]
    assert found["num_subjects"] == written["num_subjects"]
    if "per_split_class" in written:
        assert found["per_split_class"] == written["per_split_class"]
    assert found["differences"]  # small synthetic sets never match the real counts
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    assert manifest["per_class"] == written["per_class"] and "Synthetic" in manifest["note"]


def test_ckplus_layout_files(tmp_path):
    written = write_layout("ckplus", tmp_path, **QUIET, **SMALL["ckplus"])
    assert written["num_sequences"] == 12 and written["num_labelled_sequences"] == 9
    sequences = [os.path.join(s, q) for s in os.listdir(tmp_path / "cohn-kanade-images")
                 for q in os.listdir(tmp_path / "cohn-kanade-images" / s)]
    assert len(sequences) == 12
    emotion_files = [f for _, _, files in os.walk(tmp_path / "Emotion") for f in files]
    assert len(emotion_files) == 9  # unlabelled sequences have no label file
    name = sorted(emotion_files)[0]
    assert re.fullmatch(r"S\d{3}_\d{3}_\d{8}_emotion\.txt", name)
    subject, sequence = name.split("_")[:2]
    text = (tmp_path / "Emotion" / subject / sequence / name).read_text()
    assert re.fullmatch(r"   \d\.0000000e\+00\n", text)
    frames = sorted(os.listdir(tmp_path / "cohn-kanade-images" / subject / sequence))
    assert frames[-1] == name.replace("_emotion.txt", ".png")  # labels the last frame
    marks = np.loadtxt(tmp_path / "Landmarks" / subject / sequence
                       / frames[0].replace(".png", "_landmarks.txt"))
    assert marks.shape == (68, 2)
    image = cv2.imread(str(tmp_path / "cohn-kanade-images" / subject / sequence / frames[0]),
                       cv2.IMREAD_UNCHANGED)
    assert image.shape == (96, 125)  # CK+'s 640:490 aspect


def test_videos_are_real_mjpg_avi(tmp_path):
    write_layout("savee", tmp_path, **QUIET, **SMALL["savee"])
    path = tmp_path / "AudioVisualClip" / "DC" / "sa01.avi"
    capture = cv2.VideoCapture(str(path))
    assert int(capture.get(cv2.CAP_PROP_FOURCC)) == cv2.VideoWriter_fourcc(*"MJPG")
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    assert len(frames) == 3 and frames[0].shape == (96, 128, 3)
    assert sorted(os.listdir(tmp_path / "AudioVisualClip" / "JE")) == [
        "a01.avi", "d01.avi", "f01.avi", "h01.avi", "n01.avi", "n02.avi", "sa01.avi",
        "su01.avi"]


@pytest.mark.parametrize("layout,images,subjects", [("jaffe", 213, 10),
                                                    ("ckplus48", 981, 118)])
def test_official_counts_match_published(layout, images, subjects, tmp_path):
    written = write_layout(layout, tmp_path, official=True, **QUIET)
    found = check_dataset(written["dataset"], tmp_path, **QUIET)
    assert found["num_images"] == written["num_images"] == images
    assert found["num_subjects"] == subjects
    assert found["differences"] == {}


def test_official_jaffe_has_three_or_four_images_per_subject_and_expression(tmp_path):
    write_layout("jaffe", tmp_path, official=True, **QUIET)
    counts = {}
    for name in os.listdir(tmp_path):
        if name.endswith(".tiff"):
            key = name.split(".")[0], name.split(".")[1][:2]
            counts[key] = counts.get(key, 0) + 1
    assert len(counts) == 70 and set(counts.values()) <= {2, 3, 4}
    assert sum(v for (s, c), v in counts.items() if c == "FE") == 32


def test_same_seed_same_files(tmp_path):
    a = write_layout("jaffe", tmp_path / "a", seed=5, num_subjects=2, **QUIET)
    b = write_layout("jaffe", tmp_path / "b", seed=5, num_subjects=2, **QUIET)
    c = write_layout("jaffe", tmp_path / "c", seed=6, num_subjects=2, **QUIET)
    assert a["per_class"] == b["per_class"]
    name = sorted(f for f in os.listdir(tmp_path / "a") if f.endswith(".tiff"))[0]
    read = lambda d: cv2.imread(str(tmp_path / d / name), cv2.IMREAD_UNCHANGED)  # noqa
    np.testing.assert_array_equal(read("a"), read("b"))
    assert c["per_class"] == a["per_class"] and not np.array_equal(read("a"), read("c"))


def test_out_dir_rules(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    with pytest.raises(ConfigError, match="is not empty"):
        write_layout("jaffe", tmp_path / "mine", **QUIET)
    with pytest.raises(ConfigError, match="refusing to delete"):
        write_layout("jaffe", tmp_path / "mine", overwrite=True, **QUIET)
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "precious"
    out = tmp_path / "synth"
    write_layout("jaffe", out, num_subjects=3, **QUIET)
    with pytest.raises(ConfigError, match="overwrite=True"):
        write_layout("jaffe", out, num_subjects=2, **QUIET)
    written = write_layout("jaffe", out, num_subjects=2, overwrite=True, **QUIET)
    found = check_dataset("jaffe", out, **QUIET)
    assert found["num_subjects"] == 2 and found["num_images"] == written["num_images"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="not a folder"):
        write_layout("jaffe", tmp_path / "file", **QUIET)


def test_bad_options(tmp_path):
    with pytest.raises(ConfigError, match="Unknown layout 'affectnet'; known layouts: "
                                          "ckplus, ckplus48"):
        write_layout("affectnet", tmp_path)
    with pytest.raises(ConfigError, match=r"no option \['num_speakers'\]"):
        write_layout("jaffe", tmp_path, num_speakers=2)
    with pytest.raises(ConfigError, match=r"do not also pass \['num_subjects'\]"):
        write_layout("jaffe", tmp_path, official=True, num_subjects=3)
    with pytest.raises(ConfigError, match="at least 4 frames"):
        write_layout("ckplus", tmp_path, num_frames=3, **QUIET)
    with pytest.raises(ConfigError, match="1-4"):
        write_layout("savee", tmp_path / "s", num_speakers=5, **QUIET)
    assert layout_options("savee")["clips_per_emotion"] == 2
    assert "size" in layout_options("jaffe")


def test_fer2013_csv_rows(tmp_path):
    written = write_layout("fer2013", tmp_path, **QUIET, **SMALL["fer2013"])
    lines = (tmp_path / "fer2013.csv").read_text().splitlines()
    assert lines[0] == "emotion,pixels,Usage"
    assert len(lines) - 1 == written["num_images"] == 7 * 6
    usages = [line.rsplit(",", 1)[1] for line in lines[1:]]
    assert usages == ["Training"] * 21 + ["PublicTest"] * 7 + ["PrivateTest"] * 14
    assert all(len(line.split(",")[1].split()) == 2304 for line in lines[1:])
    assert written["per_class"][L.DISGUST] == 6


_SLOW_SYNTH = """
import sys, time
from fer_tf import cli
from fer_tf.data import layouts
write = layouts._imwrite
def slow(path, image):
    write(path, image)
    time.sleep(0.2)
layouts._imwrite = slow
sys.exit(cli.main(["data", "synth", "--layout", "jaffe", "--out", sys.argv[1]]))
"""


def test_killed_synth_leaves_a_folder_overwrite_replaces(tmp_path, capsys):
    import signal
    import subprocess
    import sys
    import time

    from fer_tf import cli

    out = tmp_path / "synth"
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_SYNTH, str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            if out.is_dir() and len([f for f in os.listdir(out) if f.endswith(".tiff")]) >= 2:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the writer finished or died before it could be killed"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["complete"] is False and manifest["layout"] == "jaffe"
    with pytest.raises(ConfigError, match="overwrite=True"):
        write_layout("jaffe", out, **QUIET)
    code = cli.main(["data", "synth", "--layout", "jaffe", "--out", str(out), "--overwrite"])
    capsys.readouterr()
    assert code == 0
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["complete"] is True
    tiffs = [f for f in os.listdir(out) if f.endswith(".tiff")]
    assert len(tiffs) == manifest["num_images"] == check_dataset("jaffe", out, **QUIET)[
        "num_images"]


def test_overwrite_refuses_folders_the_package_did_not_write(tmp_path, capsys):
    from fer_tf import cli

    for name, manifest in (("plain", None), ("foreign", '{"layout": "jaffe"}'),
                           ("garbled", "not json")):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "thesis.tex").write_text("precious")
        if manifest is not None:
            (folder / MANIFEST).write_text(manifest)
        code = cli.main(["data", "synth", "--layout", "jaffe", "--out", str(folder),
                         "--overwrite"])
        _, err = capsys.readouterr()
        assert code == 2 and "refusing to delete" in err and len(err.strip().splitlines()) == 1
        assert (folder / "thesis.tex").read_text() == "precious"
