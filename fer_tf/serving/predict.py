"""Expressions in photos, folders and videos: `fer-tf predict` and its Python API.

    from fer_tf.serving.predict import load_classifier
    classifier = load_classifier()          # the packaged default model
    classifier.class_names                  # ('anger', 'disgust', ..., 'neutral')
    classifier.predict_faces([crop])        # (1, 7) probabilities, rows sum to 1
    classifier.predict_image("photo.jpg")   # [{"box": [x, y, w, h], "class": ..., ...}]

A model is named by a `spec`: None (the default model shipped in the package,
`DEFAULT_MODEL_PATH`), a run folder written by `fer-tf train` (its
`checkpoints/best.keras`; an ensemble run's members are combined by summed
softmax, as `fer-tf evaluate` does), a `.keras`/`.h5` file, or a SavedModel
written by `fer-tf export`.

One preprocessing serves every path, `preprocess_faces`, written in
TensorFlow ops so that an exported SavedModel runs the very same graph:

    uint8 crop (any size, 1 or 3 channels) -> channels the model takes
    (BT.601 luminance, or grey repeated) -> resize to the model's input
    (bilinear, antialiased, so a large crop is area-averaged as the training
    crops were) -> rounded to the uint8 grid -> CLAHE (models trained with
    it) -> the model's normalisation

`predict_inputs` walks images, folders and videos; faces are detected (or
the whole image is the face with `detector="none"`), classified in batches,
and each result is one dict, written by the CLI as a JSON line. A video is
decoded frame by frame and classified a batch at a time, so memory stays
flat whatever its length. A bad input is reported and skipped; the others
are still processed.

A Keras model computes in bfloat16 where that is faster (`precision`,
`choose_serving_precision`): on a CPU with bfloat16 units (AMX-BF16,
AVX512-BF16) "auto" times a batch in float32 and in bfloat16 once per machine
and model (cached) and keeps bfloat16 when it is at least 1.15x as fast; the
copy is rebuilt under the mixed_bfloat16 policy with the same float32
weights, and its softmax stays float32, so probabilities are float32 either
way (within `BFLOAT16_TOLERANCE` of float32's). `precision="float32"` is the
float32 path exactly.

Model files are code: a SavedModel runs its graph when loaded, and a
`.keras` file may name custom objects; load only models you trust.

Photos are read as a viewer shows them: the EXIF orientation is applied,
and 16-bit and floating-point images are scaled to 8 bits by their own
range (min..max). Only regular files are read (a FIFO named `x.png` would
block). A decompression bomb (more pixels than PIL's MAX_IMAGE_PIXELS) is
one input's error like any other unreadable file.

Annotated copies (`out_dir`, `fer-tf predict --out DIR`) are named
`<stem>.annotated.png` and `<stem>.annotated.mp4`. They never replace a file
fer_tf did not write: the folder's `.fer-tf-outputs` (`fer_tf.io.OwnedOutputs`)
lists every file written there, and only those, unchanged since, are
replaced by a later run; another file of that name makes the copy go to
`<stem>.annotated-1.png`, and so on. A folder walk skips the output folder
and fer_tf's own outputs, so a run never reads back its annotations. A
video is written to a temporary file that is moved into place only when the
video was read to its end; an interruption (Ctrl-C included) or an error
discards it and leaves an earlier copy as it was.
"""

import dataclasses
import json
import math
import os
import pathlib
import time
import zipfile

import numpy as np

from fer_tf.errors import ConfigError, DatasetError, FerTfError
from fer_tf.preprocess.photos import check_regular_file, read_image  # noqa: F401

#: The default model: `vgg_lite` trained on FER2013 (see its MODEL_CARD.md).
DEFAULT_MODEL_DIR = pathlib.Path(__file__).resolve().parent / "assets" / "default_model"
DEFAULT_MODEL_PATH = DEFAULT_MODEL_DIR / "vgg_lite_fer2013.keras"
#: The entry of a `.keras` zip that carries the model's `ModelInfo`.
INFO_ENTRY = "fer_tf_info.json"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp",
                  ".pgm", ".ppm", ".pbm")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg",
                  ".wmv", ".flv")
#: BT.601 luminance, as OpenCV's RGB -> grey.
LUMA = (0.299, 0.587, 0.114)
SIGNATURE = "serving_default"
#: What `load_classifier` takes for a model file (and the CLI for a MODEL).
MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")
#: Annotated copies are `<stem>` + this + `.png` / `.mp4` (module docstring).
ANNOTATED = ".annotated"
#: Photos no larger than this (longest side, pixels) are face-sized: when
#: most of a run's photos are face-sized and faceless, the CLI suggests
#: `--detector none` (Haar needs some background around a face).
FACE_SIZED_SIDE = 160


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """What a classifier needs to know besides its weights.

    Args:
        input_shape: (height, width, channels) the model takes.
        class_names: canonical expression names, in the order of its outputs.
        normalization: "unit", "symmetric" or "none" (`data.pipeline`).
        clahe: bool. whether its training crops were CLAHE-enhanced.
        source: where it was loaded from (for messages).
    """

    input_shape: tuple
    class_names: tuple
    normalization: str = "unit"
    clahe: bool = False
    source: str = ""

    def to_dict(self):
        return {"input_shape": list(self.input_shape), "class_names": list(self.class_names),
                "normalization": self.normalization, "clahe": bool(self.clahe)}

    @classmethod
    def from_dict(cls, d, source=""):
        try:
            return cls(tuple(int(v) for v in d["input_shape"]), tuple(d["class_names"]),
                       str(d.get("normalization", "unit")), bool(d.get("clahe", False)),
                       source)
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigError(f"{source}: model info is not valid ({e!r}); expected "
                              "input_shape, class_names, normalization, clahe.") from None


def preprocess_faces(images, info):
    """uint8 (N, H, W, C) crops, C in {1, 3}, any H, W -> the model's float input.

    TensorFlow ops only: `fer-tf export` traces this into the SavedModel's
    serving signature (module docstring for the steps).
    """
    import tensorflow as tf

    from fer_tf.data.pipeline import normalize_image

    height, width, channels = (int(v) for v in info.input_shape)
    x = tf.cast(tf.convert_to_tensor(images), tf.float32)
    have = tf.shape(x)[-1]
    if channels == 1:
        weights = tf.where(have == 1, tf.constant([1.0, 0.0, 0.0]), tf.constant(LUMA))
        x = tf.reduce_sum(x * weights[:have], axis=-1, keepdims=True)
    else:
        x = tf.tile(x, tf.stack([1, 1, 1, channels // have]))
    x = tf.ensure_shape(x, [None, None, None, channels])
    size = tf.shape(x)[1:3]

    def resize():
        return tf.clip_by_value(tf.round(tf.image.resize(
            x, (height, width), method="bilinear", antialias=True)), 0.0, 255.0)

    # Crops already at the model's size (FER2013's 48x48) skip the resize.
    x = tf.cond(tf.reduce_all(size == (height, width)), lambda: x, resize)
    x = tf.ensure_shape(x, [None, height, width, channels])
    if info.clahe:
        from fer_tf.preprocess.clahe_tf import clahe_tf

        x = tf.cast(clahe_tf(tf.cast(x, tf.uint8)), tf.float32)
    return normalize_image(x, info.normalization)


def as_crop(crop, source="crop"):
    """A face crop as uint8 (H, W, C), C in {1, 3}; anything else is refused."""
    crop = np.asarray(crop)
    if crop.ndim == 2:
        crop = crop[..., None]
    if crop.ndim != 3 or crop.shape[-1] not in (1, 3) or min(crop.shape[:2]) < 1:
        raise ConfigError(f"{source}: expected a face crop of shape (H, W), (H, W, 1) or "
                          f"(H, W, 3); got {crop.shape}.")
    if crop.dtype != np.uint8:
        if not np.issubdtype(crop.dtype, np.number) or crop.min() < 0 or crop.max() > 255:
            raise ConfigError(f"{source}: expected uint8 pixels in [0, 255]; got "
                              f"{crop.dtype} in [{crop.min()}, {crop.max()}].")
        crop = np.round(crop).astype(np.uint8)
    return crop


class Classifier:
    """Expression probabilities for face crops, photos and videos.

    Built by `load_classifier`; `predict_fn` maps a uint8 (N, H, W, C) batch of
    equal-sized crops to (N, K) probabilities, preprocessing included.

    Args:
        predict_fn: callable on a uint8 batch -> (N, K) probabilities.
        info: the model's `ModelInfo`.
        models: the Keras model(s) behind it, if any (for export).
        precision: the `PrecisionChoice` its models compute in
            (`choose_serving_precision`; None for a SavedModel, which computes
            in the precision it was exported in).
    """

    def __init__(self, predict_fn, info, models=(), precision=None):
        self._predict = predict_fn
        self.info = info
        self.models = tuple(models)
        self.precision = precision

    @property
    def class_names(self):
        return self.info.class_names

    @property
    def input_shape(self):
        return self.info.input_shape

    def predict_faces(self, crops, batch_size=256):
        """(N, K) float32 probabilities for a list of uint8 crops of any size."""
        crops = [as_crop(c, f"crop {i}") for i, c in enumerate(crops)]
        out = np.zeros((len(crops), len(self.class_names)), np.float32)
        for start in range(0, len(crops), batch_size):
            chunk = crops[start:start + batch_size]
            out[start:start + len(chunk)] = self._predict(_stack(chunk, self.info))
        return out

    def predict_image(self, image, detector="haar", margin=0.0):
        """Faces of one photo (a path or an array): a list of dicts with the
        box (x, y, w, h), the class and the per-class probabilities; [] when
        no face is found."""
        margin = check_margin(margin)
        if not isinstance(image, np.ndarray):
            image = read_image(image)
        boxes = detect_faces(image, _detector(detector))
        crops = [crop_box(image, b, margin) for b in boxes]
        probs = self.predict_faces(crops) if crops else np.zeros((0, len(self.class_names)))
        return [face_result(self.class_names, b, p) for b, p in zip(boxes, probs)]


def _stack(crops, info):
    """One uint8 batch: crops that differ in size are first brought to the
    model's size by the same resize `preprocess_faces` runs (then a no-op)."""
    shapes = {c.shape for c in crops}
    if len(shapes) == 1:
        return np.stack(crops)
    import tensorflow as tf

    height, width = info.input_shape[:2]
    resized = []
    for c in crops:
        r = tf.image.resize(tf.cast(c, tf.float32), (height, width), method="bilinear",
                            antialias=True)
        resized.append(np.asarray(tf.clip_by_value(tf.round(r), 0, 255), np.uint8))
    channels = max(c.shape[-1] for c in resized)
    return np.stack([np.repeat(c, channels // c.shape[-1], axis=-1) for c in resized])


def face_result(class_names, box, probs):
    """The dict of one classified face (a JSON line of `fer-tf predict`)."""
    probs = np.asarray(probs, np.float64)
    k = int(np.argmax(probs))
    return {"box": [int(round(v)) for v in box], "class": class_names[k],
            "score": round(float(probs[k]), 6),
            "probabilities": {n: round(float(p), 6) for n, p in zip(class_names, probs)}}


# ----------------------------------------------------------------------------- loading

def load_classifier(spec=None, precision="auto"):
    """A `Classifier` for `spec`: None (the default model), a run folder, a
    `.keras`/`.h5` file or a SavedModel folder written by `fer-tf export`.

    `precision`: "auto" (default), "float32" or "bfloat16", what a Keras
    model computes in (`choose_serving_precision`; `classifier.precision`
    says what was chosen and why). A SavedModel computes in the precision
    it was exported in and takes "auto" only."""
    precision = check_serving_precision(precision)
    if spec is None:
        if not DEFAULT_MODEL_PATH.is_file():
            raise ConfigError(f"The default model {DEFAULT_MODEL_PATH} is missing from "
                              "this installation; reinstall fer_tf or name a model.")
        spec = DEFAULT_MODEL_PATH
    path = pathlib.Path(spec).expanduser()
    if not path.exists():
        raise ConfigError(f"{path}: no such model; expected a run folder, a .keras/.h5 "
                          "file or an exported SavedModel folder.")
    if path.suffix.lower() == ".tflite":
        raise ConfigError(f"{path}: a TFLite model, which fer-tf predict does not run; "
                          "expected a run folder, a .keras/.h5 file or an exported "
                          "SavedModel folder (fer_tf.serving.export.load_tflite runs a .tflite).")
    if path.is_dir() and (path / "saved_model.pb").is_file():
        if precision != "auto":
            raise ConfigError(f"{path}: a SavedModel computes in the precision it was "
                              f"exported in; --precision {precision} applies to run "
                              "folders and .keras/.h5 files (fer-tf export --precision).")
        return _load_saved_model(path)
    if path.is_dir():
        models, info = _load_run(path)
    else:
        models, info = [load_keras_file(path)], None
        info = info_for_keras_file(path, models[0])
    return keras_classifier(models, info, precision)


def keras_classifier(models, info, precision="auto", measure=None, bf16_units=None,
                     gpu=None):
    """A `Classifier` over Keras models (members averaged): one compiled
    function that preprocesses and classifies, on copies with the batch
    norms folded into the layers before them (`serving.fold`), computing
    in the precision `choose_serving_precision` picks (bfloat16: copies
    under the mixed_bfloat16 policy, softmax outputs float32).

    `measure` (policy -> seconds), `bf16_units` and `gpu` stand in for the
    timing, the CPU's bfloat16 units and the GPU check of "auto" (tests)."""
    import tensorflow as tf

    from fer_tf.serving.fold import fold_batch_norms

    models = [fold_batch_norms(m) for m in models]
    for m in models:
        _expression_output(m, info, info.source)
    num_classes = len(info.class_names)
    copies = {"float32": models}
    if measure is None:
        measure = inference_seconds(models, info, copies)
    choice = choose_serving_precision(precision, measure, _precision_key(models, info),
                                      bf16_units=bf16_units, gpu=gpu)
    if choice.precision == "bfloat16":
        if POLICIES["bfloat16"] not in copies:
            copies[POLICIES["bfloat16"]] = [with_policy(m, POLICIES["bfloat16"])
                                            for m in models]
        if any(c is m for c, m in zip(copies[POLICIES["bfloat16"]], models)):
            from fer_tf.training.precision import PrecisionChoice

            choice = PrecisionChoice(choice.requested, "float32",
                                     f"{choice.reason}; but float32: a member cannot be "
                                     "rebuilt under mixed_bfloat16 (subclassed)", choice.gpu)
        else:
            models = copies[POLICIES["bfloat16"]]

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, None], tf.uint8)],
                 reduce_retracing=True)
    def predict(images):
        return combined_probabilities(models, info, preprocess_faces(images, info))

    def run(batch):
        out = predict(tf.constant(batch, tf.uint8)).numpy()
        return out.reshape(-1, num_classes)

    return Classifier(run, info, models, choice)


# ----------------------------------------------------------------------------- precision

#: What `precision=` (`--precision` of `fer-tf predict` / `fer-tf export`) takes.
SERVING_PRECISIONS = ("auto", "float32", "bfloat16")
#: Compute precision -> Keras dtype policy (weights stay float32 in mixed_bfloat16).
POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16"}
#: Largest absolute difference of a bfloat16 classifier's probabilities from
#: the float32 one's that the tests accept on faces (the default model on the
#: synthetic FER2013 faces: about 0.018; bfloat16 keeps 8 significant bits).
BFLOAT16_TOLERANCE = 0.05
#: "auto" times one batch of this many faces per precision (after a warm-up;
#: the fastest of `MEASURE_REPEATS`), once per machine and model (cached).
MEASURE_BATCH = 64
MEASURE_REPEATS = 3


def check_serving_precision(precision):
    """`precision` lower-cased, or one ConfigError line naming the choices."""
    value = "auto" if precision is None else str(precision).lower()
    if value not in SERVING_PRECISIONS:
        raise ConfigError(f"precision {precision!r}: expected one of "
                          f"{', '.join(SERVING_PRECISIONS)}.")
    return value


def choose_serving_precision(requested="auto", measure=None, key="model", bf16_units=None,
                             gpu=None):
    """The `PrecisionChoice` (`training.precision`) a classifier computes in.

    An explicit "float32" or "bfloat16" is kept. "auto" gives bfloat16 only
    on a CPU with bfloat16 units (`cpu_bf16_units`: AMX-BF16, AVX512-BF16)
    where a batch classifies at least `BFLOAT16_MARGIN` times as fast as in
    float32 (`measure(policy) -> seconds`, cached per machine and `key` by
    `measured_cpu_precision`), else float32: without such units bfloat16 is
    emulated and slower, and on a GPU serving stays float32.

    Probabilities are float32 either way (the softmax layers keep float32).
    """
    import dataclasses

    from fer_tf.training.precision import PrecisionChoice, choose_precision, gpu_available

    requested = check_serving_precision(requested)
    gpu = gpu_available() if gpu is None else bool(gpu)
    if requested != "auto":
        return PrecisionChoice(requested, requested, "requested", gpu)
    # The training choice with float32 on a GPU, timing a batch of faces.
    choice = choose_precision("auto", gpu=gpu, gpu_precision="float32", measure=measure,
                              key=f"serving | {key}", bf16_units=bf16_units)
    return dataclasses.replace(choice, reason=choice.reason.replace(
        "a training step", f"a batch of {MEASURE_BATCH} faces"))


def _precision_key(models, info):
    """The measurement's cache key: the members, their sizes and the input."""
    members = "+".join(f"{m.name}({m.count_params()})" for m in models)
    return f"{members} {'x'.join(map(str, info.input_shape))} batch {MEASURE_BATCH}"


def with_policy(model, policy):
    """A copy of `model` whose layers compute under the Keras dtype policy
    `policy` ("mixed_bfloat16"), its weights copied (float32 variables, as
    the mixed policy keeps them); the output layers keep their own policy, so
    a softmax stays float32. `model` itself for "float32" or a model that
    cannot be cloned (subclassed), whose precision is then unchanged."""
    import keras

    if policy == "float32":
        return model
    outputs = {t._keras_history.operation.name for t in keras.tree.flatten(model.outputs)}

    def clone(layer):
        if isinstance(layer, keras.Model):
            return with_policy(layer, policy) if layer.name not in outputs else layer
        config = layer.get_config()
        if layer.name not in outputs and layer.dtype_policy.compute_dtype == "float32":
            config = dict(config, dtype=policy)
        return layer.__class__.from_config(config)

    try:
        copy = keras.models.clone_model(model, clone_function=clone)
    except Exception:  # subclassed or unusual graphs: keep the original
        return model
    copy.set_weights(model.get_weights())
    return copy


def inference_seconds(models, info, copies=None, batch_size=MEASURE_BATCH,
                      repeats=MEASURE_REPEATS):
    """A `measure(policy)` for "auto": the fastest of `repeats` compiled calls
    (after a warm-up) of the members under `policy` on one random batch of
    `batch_size` preprocessed faces. The copies it builds are kept in
    `copies` (policy -> models), so the chosen one is not built twice."""
    import time

    import tensorflow as tf

    copies = {} if copies is None else copies

    def measure(policy):
        if policy not in copies:
            copies[policy] = [with_policy(m, policy) for m in models]
        members = copies[policy]
        forward = tf.function(lambda x: combined_probabilities(members, info, x))
        x = tf.constant(np.random.default_rng(0).uniform(
            0, 1, (batch_size, *info.input_shape)).astype(np.float32))
        forward(x).numpy()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            forward(x).numpy()
            times.append(time.perf_counter() - start)
        return min(times)

    return measure


def combined_probabilities(models, info, x):
    """Members' expression softmaxes on the preprocessed batch `x`, summed and
    renormalised (the combination `fer-tf evaluate` uses for ensembles)."""
    import tensorflow as tf

    probs = [tf.cast(_expression_output(m, info, info.source, m(x, training=False)),
                     tf.float32) for m in models]
    total = tf.add_n(probs)
    return total / tf.reduce_sum(total, axis=-1, keepdims=True)


def _expression_output(model, info, source, outputs=None):
    """The (N, K) softmax among a model's outputs (multi-output models such as
    `landmark_subnet` also predict landmarks); with `outputs` None, checks it."""
    shapes = model.outputs if outputs is None else outputs
    if isinstance(shapes, dict):
        shapes = list(shapes.values())
    if not isinstance(shapes, (list, tuple)):
        shapes = [shapes]
    k = len(info.class_names)
    matching = [o for o in shapes if len(o.shape) == 2 and o.shape[-1] == k]
    if len(matching) != 1:
        raise ConfigError(f"{source}: expected one (N, {k}) class-probability output; "
                          f"the model's outputs are {[tuple(o.shape) for o in shapes]}.")
    return matching[0]


def load_keras_file(path):
    """A Keras model from a .keras/.h5 file, or one ConfigError line naming it."""
    from fer_tf.models.saving import load_model

    path = pathlib.Path(path)
    if path.suffix not in MODEL_SUFFIXES:
        raise ConfigError(f"{path}: expected a .keras or .h5 Keras model file.")
    model = load_model(path)
    shape = tuple(model.inputs[0].shape[1:]) if getattr(model, "inputs", None) else ()
    if len(model.inputs) != 1 or len(shape) != 3 or shape[-1] not in (1, 3) \
            or None in shape:
        raise ConfigError(f"{path}: a Keras model, but not an image classifier fer_tf can "
                          f"use: expected one input of shape (H, W, 1 or 3); got "
                          f"{[tuple(i.shape) for i in model.inputs]}.")
    return model


def read_info_entry(path):
    """The `ModelInfo` dict a `.keras` zip carries (`INFO_ENTRY`), or None."""
    try:
        with zipfile.ZipFile(path) as z:
            if INFO_ENTRY in z.namelist():
                return json.loads(z.read(INFO_ENTRY).decode("utf-8"))
    except (zipfile.BadZipFile, OSError, ValueError):
        return None
    return None


def write_info_entry(path, info):
    """Adds `info` to a `.keras` zip (Keras ignores entries it does not know)."""
    with zipfile.ZipFile(path, "a") as z:
        z.writestr(INFO_ENTRY, json.dumps(info.to_dict(), indent=2))


def info_for_keras_file(path, model):
    """A .keras file's `ModelInfo`: its own entry, else the run folder above
    it (`RUN/checkpoints/best.keras`), else guessed from its shape (FER2013
    order for 7 classes) with unit normalisation."""
    from fer_tf.data import labels as L

    path = pathlib.Path(path)
    d = read_info_entry(path) if path.suffix == ".keras" else None
    if d is not None:
        return ModelInfo.from_dict(d, str(path))
    config = path.parent.parent / "config.json"
    if path.parent.name == "checkpoints" and config.is_file():
        return _info_from_config(config, model)
    shape = tuple(int(v) for v in model.inputs[0].shape[1:])
    outputs = list(model.outputs)
    if len(outputs) != 1 or len(outputs[0].shape) != 2:
        raise ConfigError(f"{path}: a model with outputs "
                          f"{[tuple(o.shape) for o in outputs]} and no run folder saying "
                          "which is the expression; expected one (N, K) class-probability "
                          "output, or the file in its run folder (RUN/checkpoints/best.keras).")
    _check_probabilities(model, shape, path)
    k = int(outputs[0].shape[-1])
    names = L.FER2013_CLASSES if k == 7 else tuple(f"class_{i}" for i in range(k))
    return ModelInfo(shape, tuple(names), "unit", False, str(path))


def _check_probabilities(model, shape, path):
    """Refuses a model whose output on probe images is not a probability
    vector per row (logits, landmarks, embeddings ...): without a run folder
    nothing else says what its output means."""
    probe = np.random.default_rng(0).uniform(0.0, 1.0, (2, *shape)).astype(np.float32)
    y = np.asarray(model(probe, training=False), np.float64)
    ok = (y.ndim == 2 and np.all(np.isfinite(y)) and y.min() >= -1e-6 and y.max() <= 1 + 1e-6
          and np.allclose(y.sum(axis=1), 1.0, atol=1e-3))
    if not ok:
        raise ConfigError(f"{path}: its output is not a probability vector (values "
                          f"{np.nanmin(y):.3g}..{np.nanmax(y):.3g}, rows summing to "
                          f"{np.round(y.reshape(len(y), -1).sum(axis=1), 3).tolist()}); "
                          "expected a softmax classifier.")


def _info_from_config(config_path, model):
    with open(config_path, encoding="utf-8") as f:
        config = json.load(f)
    recipe = config.get("recipe") or {}
    names = config.get("class_names")
    if not names:
        raise ConfigError(f"{config_path}: the run's config names no class_names.")
    return ModelInfo(tuple(int(v) for v in model.inputs[0].shape[1:]), tuple(names),
                     recipe.get("normalization", "unit"),
                     bool((config.get("data") or {}).get("clahe", False)),
                     str(config_path.parent))


def _load_run(path):
    from fer_tf.evaluation.report import has_run_config

    sub_run = path.parent.name in ("folds", "members") and has_run_config(path.parent.parent)
    if not (has_run_config(path) or sub_run):
        raise ConfigError(f"{path}: a folder that is neither a fer_tf run (config.json "
                          "with fer_tf_run) nor a SavedModel (saved_model.pb).")
    best = path / "checkpoints" / "best.keras"
    files = [best] if best.is_file() else sorted(path.glob("members/*/checkpoints/best.keras"))
    if not files:
        folds = sorted(p.name for p in (path / "folds").glob("*") if p.is_dir())
        hint = (f"; it has folds {folds}: name one, e.g. {path / 'folds' / folds[0]}"
                if folds else "; it may not have finished training")
        raise ConfigError(f"{path}: no checkpoints/best.keras{hint}.")
    models = [load_keras_file(f) for f in files]
    config = (path.parent.parent if sub_run else path) / "config.json"
    return models, _info_from_config(config, models[0])


def _load_saved_model(path):
    import tensorflow as tf

    try:
        loaded = tf.saved_model.load(str(path))
    except Exception as e:
        raise ConfigError(f"{path}: TensorFlow cannot load this SavedModel "
                          f"({str(e).splitlines()[0][:160]}).") from None
    fn = getattr(loaded, "signatures", {}).get(SIGNATURE)
    spec = fn.structured_input_signature[1] if fn is not None else {}
    image_spec = spec.get("images")
    outputs = fn.structured_outputs if fn is not None else {}
    if image_spec is None or image_spec.dtype != tf.uint8 or len(image_spec.shape) != 4 \
            or not {"probabilities", "class_names"} <= set(outputs):
        raise ConfigError(f"{path}: a SavedModel without fer_tf's serving signature; "
                          f"expected {SIGNATURE!r} taking uint8 'images' (N, H, W, C) and "
                          "returning 'probabilities' and 'class_names' (fer-tf export).")
    probe = fn(images=tf.zeros((1, 8, 8, 1), tf.uint8))
    names = tuple(n.decode() for n in probe["class_names"].numpy().tolist())
    shape = tuple(int(v) for v in probe.get("input_shape", tf.constant([0, 0, 0])).numpy())
    info = ModelInfo(shape, names, "saved_model", False, str(path))

    def run(batch):
        return fn(images=tf.constant(batch, tf.uint8))["probabilities"].numpy()

    classifier = Classifier(run, info)
    classifier.saved_model = loaded
    return classifier


# ----------------------------------------------------------------------------- inputs

def check_margin(margin):
    """The face-box margin: a finite fraction >= 0 (ConfigError otherwise)."""
    try:
        value = float(margin)
    except (TypeError, ValueError):
        value = float("nan")
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"--margin {margin}: expected a finite number >= 0 (the fraction "
                          "of the face box added on each side, e.g. 0.1).")
    return value


_DETECTORS = {}
#: Video frames are shrunk to this longest side for Haar detection: detection
#: is most of a video's time (about 26 frames/s on a 640x480 frame on 2 cores,
#: 45 at 320), and a face in a video frame is rarely under the 60 pixels
#: that Haar's 30-pixel minimum becomes at half size.
VIDEO_DETECT_SIDE = 320


def _detector(name, max_side=None):
    """A cached detector; "none" means the whole image is the face. Haar
    runs on a copy shrunk to `max_side` (boxes mapped back) when given."""
    if name in (None, "none"):
        return None
    if not isinstance(name, str):
        return name
    key = (name, max_side if name == "haar" else None)
    if key not in _DETECTORS:
        from fer_tf.preprocess.faces import make_detector

        kwargs = {"max_side": max_side} if key[1] else {}
        _DETECTORS[key] = make_detector(name, **kwargs)
    return _DETECTORS[key]


def detect_faces(image, detector):
    """(x, y, w, h) boxes, largest first; the whole image without a detector."""
    height, width = image.shape[:2]
    if detector is None:
        return [(0, 0, width, height)]
    rgb = image if image.shape[-1] == 3 else np.repeat(image, 3, axis=-1)
    return [tuple(float(v) for v in b) for b in detector.detect(rgb)]


def crop_box(image, box, margin=0.0):
    from fer_tf.preprocess.faces import crop_face

    return crop_face(image, box, margin)


def expand_inputs(inputs, out_dir=None, owned=None):
    """(path, kind) for every image and video among files and folders
    (folders are walked in sorted order); a folder without any yields
    (folder, "empty"), a path that exists but is no regular file (a FIFO,
    a device) (path, "special"), anything else (path, "missing").

    A walk skips `out_dir` when it lies inside the walked folder, and the
    files `owned` (an `OwnedOutputs` of `out_dir`) lists as fer_tf's own
    outputs: a run never reads back its annotated copies.
    """
    out = pathlib.Path(out_dir).resolve() if out_dir is not None else None
    for item in inputs:
        path = pathlib.Path(item)
        if path.is_dir():
            keep = _walk_filter(path, out, owned)
            found = sorted(p for p in path.rglob("*")
                           if p.suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES
                           and p.is_file() and keep(p))
            if not found:
                yield path, "empty"
            for p in found:
                yield p, "video" if p.suffix.lower() in VIDEO_SUFFIXES else "image"
        elif path.is_file():
            yield path, "video" if path.suffix.lower() in VIDEO_SUFFIXES else "image"
        elif os.path.exists(path):
            yield path, "special"
        else:
            yield path, "missing"


def _walk_filter(root, out, owned):
    """A test for the files of a walk of `root`: False inside the output
    folder `out` when it lies within `root`, and for fer_tf's own outputs
    in `out` (the only ones skipped when `root` is `out` itself)."""
    if out is None:
        return lambda p: True
    inside = out.is_relative_to(root.resolve()) and out != root.resolve()
    parents = {}

    def keep(p):
        parent = parents.setdefault(p.parent, p.parent.resolve())
        if inside and parent.is_relative_to(out):
            return False
        if parent != out:
            return True
        # fer_tf's own files there: its outputs and any writer's temporaries.
        temporary = p.name.startswith(".") and ".tmp-" in p.name
        return not (temporary or owned is not None and owned.owns(p.name))

    return keep


def predict_inputs(classifier, inputs, detector="haar", batch_size=64, out_dir=None,
                   show_progress=True, stats=None, margin=0.0, detect_side=None,
                   video_detect_side=VIDEO_DETECT_SIDE):
    """Classifies every face of `inputs` (images, folders, videos).

    Yields one dict per face ({"input", "box", "class", "score",
    "probabilities"}, plus "frame" for videos), one per image or frame
    without a face ({"input", "faces": 0, "message"}), and one per input that
    could not be read ({"input", "error"}); a truncated video also yields a
    {"input", "warning"} after its decoded frames. `out_dir` receives
    annotated copies (module docstring: their names, and the files they
    never replace); a walk skips it. `stats` (a dict) is filled with
    inputs, processed, errors, frames, faces, photos, faceless_small (photos
    of at most `FACE_SIZED_SIDE` pixels in which the detector found no face)
    and the seconds spent decoding, detecting, classifying and writing.
    Haar detects on photos at `detect_side` (None: full size) and on video
    frames at `video_detect_side` (longest side in pixels; None: full size).
    """
    margin = check_margin(margin)
    stats = {} if stats is None else stats
    for key in ("inputs", "processed", "frames", "faces", "errors", "photos",
                "faceless_small"):
        stats.setdefault(key, 0)
    for key in ("decode_s", "detect_s", "classify_s", "write_s"):
        stats.setdefault(key, 0.0)
    writer = _Annotator(out_dir) if out_dir else None
    det = _detector(detector, detect_side)
    video_det = _detector(detector, video_detect_side)
    owned = writer.owned if writer is not None else None
    for path, kind in expand_inputs(inputs, out_dir, owned):
        stats["inputs"] += 1
        try:
            if kind == "empty":
                raise DatasetError(f"{path}: a folder with no images or videos (looked for "
                                   f"{', '.join(IMAGE_SUFFIXES + VIDEO_SUFFIXES)}).")
            if kind == "missing":
                raise DatasetError(f"{path}: no such file or folder.")
            if kind == "special":
                check_regular_file(path)
            if kind == "video":
                yield from _predict_video(classifier, path, video_det, batch_size, writer,
                                          show_progress, stats, margin)
            else:
                yield from _predict_photo(classifier, path, det, writer, stats, margin)
            stats["processed"] += 1
        except FerTfError as e:
            stats["errors"] += 1
            yield {"input": str(path), "error": str(e)}


def _timed(stats, key, fn, *args):
    start = time.perf_counter()
    try:
        return fn(*args)
    finally:
        stats[key] += time.perf_counter() - start


def _detect_and_crop(image, det, stats, margin):
    boxes = _timed(stats, "detect_s", detect_faces, image, det)
    crops = [crop_box(image, b, margin) for b in boxes]
    return boxes, crops


def _predict_photo(classifier, path, det, writer, stats, margin):
    image = _timed(stats, "decode_s", read_image, path)
    stats["frames"] += 1
    boxes, crops = _detect_and_crop(image, det, stats, margin)
    probs = _timed(stats, "classify_s", classifier.predict_faces, crops) if crops else []
    faces = [face_result(classifier.class_names, b, p) for b, p in zip(boxes, probs)]
    stats["faces"] += len(faces)
    stats["photos"] += 1
    if not faces and det is not None and max(image.shape[:2]) <= FACE_SIZED_SIDE:
        stats["faceless_small"] += 1
    if writer is not None:
        _timed(stats, "write_s", writer.image, path, image, faces)
    if not faces:
        yield {"input": str(path), "faces": 0, "message": "no face found"}
    for i, face in enumerate(faces):
        yield {"input": str(path), "face": i, **face}


def _predict_video(classifier, path, det, batch_size, writer, show_progress, stats, margin):
    """Decodes, detects and classifies `batch_size` frames at a time."""
    import cv2

    from fer_tf.preprocess.video import quiet_video_logs
    from fer_tf.progress import progress

    check_regular_file(path)
    quiet_video_logs()
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        capture.release()
        raise DatasetError(f"{path}: OpenCV cannot open this video; expected a video file "
                           "(mp4, avi, ...) with a codec this OpenCV build decodes.")
    expected = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0) or 25.0
    sink = writer.video(path, fps) if writer is not None else None
    decoded, finished = 0, False
    try:
        frames = _read_frames(capture, stats)
        for batch in _batches(progress(frames, f"frames of {path.name}", show_progress,
                                       total=expected or None, unit="frame"), batch_size):
            found = [_detect_and_crop(frame, det, stats, margin) for _, frame in batch]
            crops = [c for _, cs in found for c in cs]
            probs = _timed(stats, "classify_s", classifier.predict_faces, crops) \
                if crops else []
            at = 0
            for (index, frame), (boxes, _) in zip(batch, found):
                faces = [face_result(classifier.class_names, b, p)
                         for b, p in zip(boxes, probs[at:at + len(boxes)])]
                at += len(boxes)
                stats["faces"] += len(faces)
                if sink is not None:
                    _timed(stats, "write_s", sink.write, frame, faces)
                if not faces:
                    yield {"input": str(path), "frame": index, "faces": 0,
                           "message": "no face found"}
                for i, face in enumerate(faces):
                    yield {"input": str(path), "frame": index, "face": i, **face}
            decoded += len(batch)
        finished = True
    finally:
        # Only a video read to its end is published: an error, Ctrl-C or a
        # consumer that stops early discards the partial copy.
        capture.release()
        if sink is not None:
            sink.close(keep=finished and decoded > 0)
    if decoded == 0:
        raise DatasetError(f"{path}: no decodable frames; expected a video file that "
                           "OpenCV can read.")
    if expected and decoded < expected:
        yield {"input": str(path), "warning": f"{path}: truncated video: decoded {decoded} "
                                              f"of the {expected} frames its header "
                                              "announces."}


def _read_frames(capture, stats):
    """(index, uint8 RGB frame) until the stream ends; timed as decoding."""
    import cv2

    index = 0
    while True:
        start = time.perf_counter()
        ok, frame = capture.read()
        if ok:
            frame = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        stats["decode_s"] += time.perf_counter() - start
        if not ok:
            return
        stats["frames"] += 1
        yield index, frame
        index += 1


def _batches(items, size):
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


class _Annotator:
    """Writes annotated copies of the inputs into `out_dir` as
    `<stem>.annotated.png|mp4`, never over a file fer_tf did not write
    (`fer_tf.io.OwnedOutputs`): images atomically, videos into a temporary
    file moved into place when the video is complete."""

    def __init__(self, out_dir):
        from fer_tf.io import prepare_output_folder

        self.out_dir = pathlib.Path(out_dir)
        self.owned = prepare_output_folder(self.out_dir)
        self.used = set()

    def _name(self, path, suffix):
        name = self.owned.free_name(path.stem + ANNOTATED, suffix, self.used)
        self.used.add(name)
        return name

    def image(self, path, image, faces):
        import cv2

        ok, data = cv2.imencode(".png", draw_faces(image, faces))
        if not ok:
            raise DatasetError(f"{path}: OpenCV cannot encode its annotated copy as PNG.")
        self.owned.write_bytes(self._name(path, ".png"), data.tobytes())

    def video(self, path, fps):
        return _VideoSink(self.owned, self._name(path, ".mp4"), fps)


class _VideoSink:
    """One annotated video: frames go to `.<name>.tmp-<pid>-<random>.mp4`,
    published as `name` by `close(keep=True)`; temporaries that killed runs
    left for the same name are deleted first (`io.remove_abandoned_temps`)."""

    def __init__(self, owned, name, fps):
        import uuid

        from fer_tf.io import pid_temp_name, remove_abandoned_temps

        self.owned, self.name, self.fps, self.writer = owned, name, fps, None
        self.out = owned.folder / name
        remove_abandoned_temps(owned.folder, f".{name}")
        self.tmp = owned.folder / f"{pid_temp_name('.' + name)}{uuid.uuid4().hex[:8]}.mp4"

    def write(self, frame, faces):
        import cv2

        drawn = draw_faces(frame, faces)
        if self.writer is None:
            h, w = drawn.shape[:2]
            self.writer = cv2.VideoWriter(str(self.tmp), cv2.VideoWriter_fourcc(*"mp4v"),
                                          self.fps, (w, h))
            if not self.writer.isOpened():
                raise ConfigError(f"{self.out}: OpenCV cannot write an MP4 (mp4v) video "
                                  "there; expected a writable --out folder and an OpenCV "
                                  "build with an MPEG-4 encoder.")
        self.writer.write(drawn)

    def close(self, keep=True):
        if self.writer is not None:
            self.writer.release()
        try:
            if keep and self.tmp.exists():
                self.owned.publish(self.tmp, self.name)
        finally:
            if self.tmp.exists():
                os.remove(self.tmp)


def draw_faces(image, faces):
    """A BGR copy of `image` with each face's box and class drawn on it."""
    import cv2

    bgr = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.shape[-1] == 1 else \
        cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    scale = max(0.4, min(bgr.shape[:2]) / 500)
    for face in faces:
        x, y, w, h = face["box"]
        cv2.rectangle(bgr, (x, y), (x + w, y + h), (0, 255, 0), max(1, int(2 * scale)))
        cv2.putText(bgr, f"{face['class']} {face['score']:.2f}", (x, max(12, y - 4)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale, (0, 255, 0),
                    max(1, int(scale)), cv2.LINE_AA)
    return bgr
