"""Issue 21 (reliability) for `fer-tf predict` and `fer-tf data synth`: outputs
that never replace a user's file, interruptions that publish nothing partial,
photos read as a viewer shows them, and inputs or options that used to crash,
hang or mislead. Tiny images and a tiny model; every file is made here."""

import json
import os
import pathlib
import signal
import subprocess
import sys

import cv2
import keras
import numpy as np
import PIL.Image
import pytest

from fer_tf import cli
from fer_tf.errors import ConfigError
from fer_tf.serving.predict import load_classifier, predict_inputs, read_image
from tests.helpers.predict import run_predict, save_tiny_classifier, write_video

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """An untrained 48x48 grey softmax classifier saved as .keras with its info."""
    return save_tiny_classifier(tmp_path_factory.mktemp("model"), filters=2)[0]


def _png(path, value=100, size=(48, 48)):
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full(size, value, np.uint8))
    return path


def _video(path, frames=20, size=(48, 64)):
    return write_video(path, [np.full((*size, 3), 10 * i, np.uint8) for i in range(frames)])


_run = run_predict


def _frames(path):
    capture = cv2.VideoCapture(str(path))
    count = 0
    while capture.read()[0]:
        count += 1
    capture.release()
    return count


# ----------------------------------------------------------------------------- --out


def test_annotations_never_replace_a_users_file(tiny_model, tmp_path, capsys):
    photos = tmp_path / "photos"
    _png(photos / "me.jpg", 90)
    mine = _png(photos / "me.png", 200).read_bytes()
    code, lines, err = _run(capsys, tiny_model, photos, "--out", photos, "--detector", "none")
    assert code == 0, err
    assert (photos / "me.png").read_bytes() == mine
    assert sorted(pathlib.Path(r["input"]).name for r in lines) == ["me.jpg", "me.png"]
    written = sorted(p.name for p in photos.glob("*.annotated*"))
    assert written == ["me.annotated-1.png", "me.annotated.png"]
    # A second run reads neither annotation back and replaces only its own files.
    code, lines, _ = _run(capsys, tiny_model, photos, "--out", photos, "--detector", "none")
    assert code == 0
    assert sorted(pathlib.Path(r["input"]).name for r in lines) == ["me.jpg", "me.png"]
    assert sorted(p.name for p in photos.glob("*.annotated*")) == written
    assert (photos / "me.png").read_bytes() == mine

    # An explicit input whose name is taken in --out by the user's files.
    user = tmp_path / "userdir"
    theirs = {name: _png(user / name, 30 + i).read_bytes()
              for i, name in enumerate(["full.png", "full.annotated.png"])}
    code, _, _ = _run(capsys, tiny_model, _png(tmp_path / "in" / "full.png"), "--out", user,
                      "--detector", "none")
    assert code == 0
    assert {n: (user / n).read_bytes() for n in theirs} == theirs
    assert (user / "full.annotated-1.png").is_file()


def test_a_walk_skips_the_out_folder_inside_it(tiny_model, tmp_path, capsys):
    photos = tmp_path / "photos"
    _png(photos / "a.png")
    for _ in range(2):
        code, lines, _ = _run(capsys, tiny_model, photos, "--out", photos / "annotated",
                              "--detector", "none")
        assert code == 0
        assert [r["input"] for r in lines] == [str(photos / "a.png")]
    assert sorted(p.name for p in (photos / "annotated").iterdir()) == [
        ".fer-tf-outputs", "a.annotated.png"]


def test_out_that_is_a_file_or_cannot_be_written_is_one_line(tiny_model, tmp_path, capsys,
                                                              monkeypatch):
    photo = _png(tmp_path / "a.png")
    notes = tmp_path / "notes.txt"
    notes.write_text("keep me")
    code, _, err = _run(capsys, tiny_model, photo, "--out", notes)
    assert code == 2 and "not a folder" in err and "Traceback" not in err
    assert notes.read_text() == "keep me"

    import tempfile

    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    code, _, err = _run(capsys, tiny_model, photo, "--out", tmp_path / "ro", "--detector",
                        "none")
    assert code == 2 and "cannot write there (Permission denied)" in err
    assert len(err.strip().splitlines()) == 1


# ----------------------------------------------------------------------------- interruptions


def test_ctrl_c_keeps_the_complete_annotated_video(tiny_model, tmp_path, capsys,
                                                   monkeypatch):
    from fer_tf.serving import predict

    video = _video(tmp_path / "clip.avi", frames=20)
    out = tmp_path / "out"
    code, _, _ = _run(capsys, tiny_model, video, "--out", out, "--batch", "8")
    assert code == 0
    [annotated] = out.glob("*.mp4")
    complete = annotated.read_bytes()
    assert _frames(annotated) == 20

    real_write, calls = predict._VideoSink.write, []

    def interrupted(self, frame, faces):
        calls.append(1)
        if len(calls) == 12:  # in the second batch of 8
            raise KeyboardInterrupt
        return real_write(self, frame, faces)

    monkeypatch.setattr(predict._VideoSink, "write", interrupted)
    # What a SIGKILLed run leaves: its temporary, which this run deletes.
    orphan = out / f".{annotated.name}.tmp-{2 ** 22 + 12345}-abcd1234.mp4"
    orphan.write_bytes(b"partial")
    code, _, err = _run(capsys, tiny_model, video, "--out", out, "--batch", "8")
    assert code == 130
    assert err.strip().splitlines() == ["fer-tf: interrupted (Ctrl-C) during predict."]
    assert annotated.read_bytes() == complete
    assert sorted(p.name for p in out.iterdir()) == [".fer-tf-outputs", annotated.name]


def test_ctrl_c_in_data_synth_leaves_no_partial_layout(tmp_path, capsys, monkeypatch):
    from fer_tf.data import layouts

    def killed_halfway(out_dir, **kwargs):
        (pathlib.Path(out_dir) / "half.png").write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setitem(layouts.LAYOUTS, "jaffe", killed_halfway)
    out = tmp_path / "jaffe"
    code = cli.main(["data", "synth", "--layout", "jaffe", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 130
    assert err.strip().splitlines() == ["fer-tf: interrupted (Ctrl-C) during data synth."]
    assert not out.exists()


@pytest.mark.parametrize("option, message", [
    ("seconds=abc", 'seconds="abc": expected a number > 0'),
    ("fps=0", "fps=0: expected an integer >= 1"),
    ("frame_size=[480]", "frame_size=[480]: expected a list of 2 integers"),
    ("segment_seconds=-1", "segment_seconds=-1: expected a number > 0"),
    ("colour=red", "colour: layout 'demo_video' has no such option"),
])
def test_data_synth_options_are_checked_before_writing(tmp_path, capsys, option, message):
    out = tmp_path / "demo"
    code = cli.main(["data", "synth", "--layout", "demo_video", "--out", str(out),
                     "--option", option])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert not out.exists()


# ----------------------------------------------------------------------------- reading photos


def test_exif_orientation_is_applied(tmp_path):
    upright = np.zeros((20, 40), np.uint8)
    upright[:, 20:] = 255  # dark left half, bright right half, wider than tall
    stored = PIL.Image.fromarray(upright).transpose(PIL.Image.Transpose.ROTATE_90)
    exif = PIL.Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    path = tmp_path / "phone.jpg"
    stored.save(path, exif=exif.tobytes(), quality=95)
    assert PIL.Image.open(path).size == (20, 40)
    image = read_image(path)
    assert image.shape == (20, 40, 1)
    assert image[:, :20].mean() < 40 and image[:, 20:].mean() > 215


def test_16_bit_and_float_images_are_scaled_by_their_own_range(tmp_path):
    ramp16 = np.tile(np.linspace(1000, 3000, 32).astype(np.uint16), (8, 1))
    PIL.Image.fromarray(ramp16).save(tmp_path / "scan.png")
    assert PIL.Image.open(tmp_path / "scan.png").mode.startswith("I")
    ramp32 = np.tile(np.linspace(0.0, 1.0, 32, dtype=np.float32), (8, 1))
    PIL.Image.fromarray(ramp32).save(tmp_path / "depth.tif")
    assert PIL.Image.open(tmp_path / "depth.tif").mode == "F"
    for name in ("scan.png", "depth.tif"):
        image = read_image(tmp_path / name)
        assert image.dtype == np.uint8 and image.shape == (8, 32, 1), name
        row = image[0, :, 0].astype(int)
        assert row[0] == 0 and row[-1] == 255, name
        assert np.all(np.diff(row) > 0), name  # every level distinct, none clipped


# ----------------------------------------------------------------------------- bad inputs


def test_a_decompression_bomb_is_one_inputs_error(tiny_model, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(PIL.Image, "MAX_IMAGE_PIXELS", 1000)  # > 2000 pixels: a bomb
    bomb = _png(tmp_path / "bomb.png", size=(64, 64))
    small = _png(tmp_path / "small.png", size=(20, 20))
    code, lines, err = _run(capsys, tiny_model, bomb, small, "--detector", "none")
    assert code == 0 and "Traceback" not in err
    assert "decompression bomb" in lines[0]["error"] and lines[0]["input"] == str(bomb)
    assert lines[1]["input"] == str(small) and "class" in lines[1]


@pytest.mark.parametrize("margin", ["nan", "-0.2", "inf"])
def test_margin_must_be_finite_and_non_negative(tiny_model, tmp_path, capsys, margin):
    code, lines, err = _run(capsys, tiny_model, _png(tmp_path / "a.png"), "--detector",
                            "none", "--margin", margin)
    assert code == 2 and lines == []
    assert err.strip().splitlines() == [f"fer-tf: error: --margin {float(margin)}: expected a "
                                        "finite number >= 0 (the fraction of the face box "
                                        "added on each side, e.g. 0.1)."]
    with pytest.raises(ConfigError, match="--margin"):
        list(predict_inputs(None, [], margin=float(margin)))


def test_arguments_that_look_like_models_are_the_model(tmp_path, capsys):
    photo = _png(tmp_path / "x.png")
    for model, message in [(tmp_path / "runs" / "bsae", "bsae: no such model"),
                           (tmp_path / "m.tflite", "m.tflite: no such model"),
                           (tmp_path / "gone.keras", "gone.keras: no such model")]:
        code, lines, err = _run(capsys, model, photo)
        assert code == 2 and message in err and lines == [], model
    (tmp_path / "real.tflite").write_bytes(b"TFL3 not served by predict")
    code, _, err = _run(capsys, tmp_path / "real.tflite", photo)
    assert code == 2 and "a TFLite model, which fer-tf predict does not run" in err
    run = tmp_path / "runs" / "base"
    _png(run / "plots" / "confusion_matrix.png")
    (run / "config.json").write_text(json.dumps({"fer_tf_run": 1, "class_names": ["a"]}))
    code, lines, err = _run(capsys, run)
    assert code == 2 and lines == [] and "taken as the MODEL" in err


def test_a_model_whose_output_is_no_probability_vector_is_refused(tmp_path):
    from fer_tf.models.registry import build_model

    subnet = build_model("landmark_subnet", input_shape=(32, 32, 3))
    subnet.save(tmp_path / "subnet.keras")
    with pytest.raises(ConfigError, match=r"subnet.keras: a model with outputs .*expected one"):
        load_classifier(tmp_path / "subnet.keras")
    logits = keras.Sequential([keras.Input((16, 16, 1)), keras.layers.Flatten(),
                               keras.layers.Dense(7)])
    logits.save(tmp_path / "logits.keras")
    with pytest.raises(ConfigError, match=r"logits.keras: its output is not a probability"):
        load_classifier(tmp_path / "logits.keras")


def test_a_video_writer_that_cannot_open_is_an_error(tiny_model, tmp_path, capsys,
                                                     monkeypatch):
    class ClosedWriter:
        def __init__(self, *args):
            pass

        def isOpened(self):
            return False

        def write(self, frame):
            pass

        def release(self):
            pass

    video = _video(tmp_path / "clip.avi", frames=4)
    out = tmp_path / "out"
    monkeypatch.setattr(cv2, "VideoWriter", ClosedWriter)
    code, lines, err = _run(capsys, tiny_model, video, "--out", out)
    assert code == 1
    assert "OpenCV cannot write an MP4" in lines[-1]["error"]
    assert not list(out.glob("*.mp4"))


def test_a_fifo_is_refused_not_waited_for(tiny_model, tmp_path, capsys):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    photo = _png(tmp_path / "x.png")

    def hung(*args):
        raise TimeoutError("predict blocked on the FIFO")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(60)
    try:
        code, lines, _ = _run(capsys, tiny_model, fifo, photo, "--detector", "none")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert code == 0
    assert "not a regular file" in lines[0]["error"]
    assert lines[1]["input"] == str(photo) and "class" in lines[1]


def test_face_sized_photos_without_faces_get_a_detector_none_hint(tiny_model, tmp_path,
                                                                  capsys):
    crops = tmp_path / "crops"
    for i in range(3):
        _png(crops / f"{i}.png", 60 + 40 * i)
    code, lines, err = _run(capsys, tiny_model, crops)
    assert code == 0 and all(r.get("faces") == 0 for r in lines)
    assert err.strip().splitlines()[-1] == (
        "fer-tf predict: hint: no face was found in 3 of the 3 images, which are face-sized "
        "(at most 160 px); if they are already-cropped faces, pass --detector none.")
    code, _, err = _run(capsys, tiny_model, crops, "--detector", "none")
    assert "hint" not in err


def test_a_broken_video_prints_fer_tfs_line_only(tmp_path):
    good = tmp_path / "good.mp4"
    writer = cv2.VideoWriter(str(good), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    for i in range(10):
        writer.write(np.full((48, 64, 3), 20 * i, np.uint8))
    writer.release()
    data = good.read_bytes()
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(data[:data.index(b"moov") - 4])  # cut where the index begins
    script = ("import sys; from fer_tf.serving.predict import predict_inputs; "
              "print(list(predict_inputs(None, [sys.argv[1]], detector='none', "
              "show_progress=False)))")
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENCV_FFMPEG_LOGLEVEL", "OPENCV_LOG_LEVEL")}
    proc = subprocess.run([sys.executable, "-c", script, str(broken)], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "OpenCV cannot open this video" in proc.stdout
    assert "moov atom" not in proc.stderr and "cap_ffmpeg" not in proc.stderr
