"""Shared pieces of the `fer-tf predict` tests: the command's JSON lines and
short MJPG videos written by the tests themselves."""

import json

import cv2
import numpy as np

from fer_tf import cli


def run_predict(capsys, *argv):
    """(exit code, JSON lines, stderr) of `fer-tf predict ARGV --json --no-progress`."""
    code = cli.main(["predict", *map(str, argv), "--json", "--no-progress"])
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines() if line.strip()], err


def write_video(path, frames, fps=10):
    """RGB uint8 frames (H, W, 3) -> an MJPG .avi/.mp4 at `path`."""
    frames = [np.asarray(f, np.uint8) for f in frames]
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def save_tiny_classifier(folder, filters=4):
    """(path, model): an untrained 48x48 grey softmax classifier saved as
    `folder/tiny.keras` with its fer_tf info entry."""
    import keras

    from fer_tf.data import labels
    from fer_tf.serving.predict import ModelInfo, write_info_entry

    keras.utils.set_random_seed(0)
    inputs = keras.Input((48, 48, 1))
    x = keras.layers.Conv2D(filters, 3, strides=4, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(7, activation="softmax")(x))
    path = folder / "tiny.keras"
    model.save(path)
    write_info_entry(path, ModelInfo((48, 48, 1), labels.FER2013_CLASSES, "unit"))
    return path, model
