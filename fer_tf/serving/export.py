"""`fer-tf export`: a trained expression model as a file another program serves.

Every format carries its own preprocessing, so a caller feeds uint8 face
crops and nothing else (issue 13, item 4):

- ``savedmodel``: a SavedModel folder whose ``serving_default`` signature
  takes ``images``, uint8 (N, H, W, C) crops of ANY size with 1 or 3
  channels, and returns ``probabilities`` float32 (N, K), ``class_names``
  string (K,) and ``input_shape`` int32 (3,). The whole of
  `fer_tf.serving.predict.preprocess_faces` runs inside (channel conversion, the
  antialiased resize, CLAHE for models trained with it, normalisation), and
  ensemble members are averaged as `keras_classifier` does. TensorFlow
  Serving, `saved_model_cli` and `fer_tf.serving.predict.load_classifier` read it.
  A second signature, ``probabilities``, returns the probabilities alone,
  for callers that need every output batched (`PROBABILITIES_SIGNATURE`).
- ``tflite``: a flat buffer taking uint8 (N, H, W, C) crops of the model's
  own input size (N free), with normalisation (and CLAHE, when its ops
  convert to TFLite builtins) inside, returning the probabilities; float32,
  or float16 weights with ``float16=True``. Its class names and input shape
  lie beside it in ``<out>.json``; `load_tflite` runs it.
- ``keras``: a ``.keras`` file that a fresh process reloads with plain
  ``keras.saving.load_model(path)``, no custom_objects and no fer_tf. Its
  input is float32 (N, H, W, C) crops of the model's input size holding uint8
  values (0..255); the normalisation is built-in ``Rescaling`` layers inside,
  so the ``fer_tf_info.json`` entry it carries says normalization "none".
  Only models made of Keras' own layers export this way (the default model
  `vgg_lite` is one; `export_model` checks every other); a model with a
  fer_tf layer (PathNet, SplitAttention, CBAM, ...) is refused, because a
  process without fer_tf cannot rebuild it, and so is a CLAHE-trained model,
  since CLAHE is no Keras layer. Such models export as SavedModel.

Tolerances (`TOLERANCES`): the largest absolute difference between an
export's probabilities and the in-memory classifier's (`keras_classifier`)
on the same crops. Every export measures it on probe crops before it is
moved into place (`max_abs_diff` in the summary); tests/serving/test_export.py
checks it per format:

    savedmodel 1e-6 | keras 1e-6 | tflite float32 1e-5 | tflite float16 1e-2

(float32 kernels differ in summation order between TensorFlow, TFLite and
Keras' Rescaling, which multiplies by 1/255 where normalisation divides;
float16 weights round each weight to 11 significant bits.)

Precision (``precision=``, ``--precision``): a SavedModel's graph computes in
what `load_classifier` picks, by default bfloat16 where this CPU has
bfloat16 units and a measured batch runs faster there (the members rebuilt
under the mixed_bfloat16 policy, weights float32, softmax float32), else
float32; the summary records it ("precision", "precision_reason"). Its
tolerance above is against the in-memory classifier of the same precision;
a bfloat16 export also reports "max_abs_diff_float32" against the float32
classifier on the probe crops (random pixels: up to about 2e-2; the tests
hold synthetic faces to `BFLOAT16_TOLERANCE`). TFLite and .keras exports are
float32.

Writes are atomic: a temporary ``<out>.tmp-<pid>-XXXXXXXX`` folder (or
``.keras`` file) in the destination's folder is renamed at the end. One that
a killed export left behind (its process <pid> is gone) is deleted by the
next export to the same destination; nothing of another name, and no
temporary of a live process, is touched (`fer_tf.io.remove_abandoned_temps`).
An existing ``out`` is replaced only with ``overwrite=True`` and only when it
is an export of the same format (a SavedModel with the signature, a .tflite
with its .json, a .keras written here); nothing else is ever deleted.
"""

import hashlib
import json
import os
import pathlib
import shutil
import tempfile
import uuid
import warnings
import zipfile

import numpy as np

from fer_tf.errors import ConfigError
from fer_tf.io import current_umask, pid_temp_name, remove_abandoned_temps

FORMATS = ("savedmodel", "tflite", "keras")
#: Max abs difference of probabilities vs the in-memory classifier.
TOLERANCES = {"savedmodel": 1e-6, "tflite": 1e-5, "tflite-float16": 1e-2, "keras": 1e-6}
#: The name of the Keras model `export_model` writes; with the info entry it
#: marks a .keras file as an export (a training checkpoint is never replaced).
KERAS_EXPORT_NAME = "fer_tf_export"
#: The SavedModel's second signature: the probabilities alone, batched along
#: N like its input, which TensorFlow Serving's REST row format ("instances")
#: and its server-side batching require of every output.
PROBABILITIES_SIGNATURE = "probabilities"


def export_model(spec, fmt, out, float16=False, overwrite=False, precision="auto"):
    """Exports the classifier `spec` names and returns a JSON-able summary.

    Args:
        spec: what `fer_tf.serving.predict.load_classifier` accepts except a
            SavedModel: None (the default model), a run folder, a .keras/.h5.
        fmt: "savedmodel", "tflite" or "keras" (module docstring).
        out: destination: a folder (savedmodel), a .tflite or a .keras file.
        float16: bool. TFLite only: store the weights as float16.
        overwrite: bool. replace an earlier export of the same format at `out`.
        precision: str. savedmodel only: "auto" (default), "float32" or
            "bfloat16", what its graph computes in (`load_classifier`'s
            choice: bfloat16 where this CPU has bfloat16 units and it is
            measured faster); the probabilities stay float32. TFLite and
            .keras exports are float32 ("auto" gives float32 there).

    Returns:
        {"format", "source", "out", "input_signature", "class_names", "input_shape",
        "normalization", "clahe", "members", "float16", "precision",
        "precision_reason", "size_bytes", "max_abs_diff", "tolerance",
        "within_tolerance", "probe_crops"}; a bfloat16 SavedModel also has
        "max_abs_diff_float32", its largest difference from the float32
        classifier on the probe crops.
    """
    from fer_tf.serving.predict import _load_saved_model, check_serving_precision

    if fmt not in FORMATS:
        raise ConfigError(f"Unknown export format {fmt!r}; expected one of {FORMATS}.")
    if float16 and fmt != "tflite":
        raise ConfigError(f"float16 weights are a TFLite option; the {fmt} export is "
                          "float32.")
    precision = check_serving_precision(precision)
    if precision == "bfloat16" and fmt != "savedmodel":
        raise ConfigError(f"precision bfloat16 is a savedmodel option; the {fmt} export "
                          "is float32.")
    out = pathlib.Path(out).expanduser()
    suffix = {"tflite": ".tflite", "keras": ".keras"}.get(fmt)
    if suffix and out.suffix != suffix:
        raise ConfigError(f"{out}: a {fmt} export is a {suffix} file; name one.")
    _check_destination(out, fmt, overwrite)
    remove_abandoned_temps(out.parent, out.name)
    classifier = _load_exportable(spec, precision if fmt == "savedmodel" else "float32")
    models, info = classifier.models, classifier.info
    if fmt == "savedmodel":
        summary = _export_saved_model(classifier, out)
        if classifier.precision.precision != "float32":
            reference = _load_exportable(spec, "float32")
            summary["max_abs_diff_float32"], _ = _max_diff(
                reference, _batch_fn(_load_saved_model(out)), _probe_crops(info, True))
    elif fmt == "tflite":
        summary = _export_tflite(classifier, out, float16)
    else:
        summary = _export_keras(classifier, out)
    key = "tflite-float16" if fmt == "tflite" and float16 else fmt
    summary.update({
        "format": fmt, "source": info.source, "out": str(out),
        "class_names": list(info.class_names), "input_shape": list(info.input_shape),
        "normalization": info.normalization, "clahe": bool(info.clahe),
        "members": len(models), "float16": bool(float16),
        "precision": classifier.precision.precision,
        "precision_reason": classifier.precision.reason, "size_bytes": _size(out),
        "tolerance": TOLERANCES[key]})
    summary["within_tolerance"] = bool(summary["max_abs_diff"] <= summary["tolerance"])
    return summary


def _load_exportable(spec, precision="float32"):
    import keras

    from fer_tf.serving.predict import load_classifier

    if keras.backend.backend() != "tensorflow":
        raise ConfigError(f"fer-tf export runs under the TensorFlow backend; "
                          f"KERAS_BACKEND is {keras.backend.backend()!r}.")
    if spec is not None:
        path = pathlib.Path(spec).expanduser()
        if path.is_dir() and (path / "saved_model.pb").is_file():
            raise ConfigError(f"{path}: a SavedModel is already an export; name the run "
                              "folder or .keras file it was exported from.")
    classifier = load_classifier(spec, precision=precision)
    if not classifier.models:
        raise ConfigError(f"{classifier.info.source}: no Keras model behind this "
                          "classifier to export.")
    return classifier


# ----------------------------------------------------------------------------- graphs

def _probe_crops(info, any_size):
    """Deterministic uint8 probe batches: crops of the model's size, and for a
    graph that takes any size also larger colour and smaller grey crops."""
    height, width, channels = info.input_shape
    rng = np.random.default_rng(13)
    batches = [rng.integers(0, 256, (3, height, width, channels), dtype=np.uint8)]
    if any_size:
        batches.append(rng.integers(0, 256, (2, height + 9, width + 5, 3), dtype=np.uint8))
        batches.append(rng.integers(0, 256, (2, max(1, height // 2), max(1, width // 2 + 1),
                                             1), dtype=np.uint8))
    return batches


def _batch_fn(classifier):
    return lambda batch: classifier.predict_faces(list(batch))


def _max_diff(classifier, predict, batches):
    diffs = [np.max(np.abs(np.asarray(predict(b), np.float64)
                           - classifier.predict_faces(list(b)).astype(np.float64)))
             for b in batches]
    return float(max(diffs)), int(sum(len(b) for b in batches))


# ----------------------------------------------------------------------------- savedmodel

def _export_saved_model(classifier, out):
    """The serving graph through Keras 3's `ExportArchive`: the members are
    tracked (their variables become the SavedModel's) and one endpoint runs
    `preprocess_faces` and the member average."""
    import keras
    import tensorflow as tf

    from fer_tf.serving.predict import (SIGNATURE, _load_saved_model, combined_probabilities,
                                preprocess_faces)

    models, info = classifier.models, classifier.info

    def probabilities(images):
        x = preprocess_faces(images, info)
        return {"probabilities": combined_probabilities(models, info, x)}

    def serve(images):
        return {**probabilities(images),
                "class_names": tf.constant(list(info.class_names), tf.string),
                "input_shape": tf.constant(list(info.input_shape), tf.int32)}

    # No `archive.track(model)`: the endpoints capture the variables by
    # themselves, and tracking them too stores every weight twice (keras-team/
    # keras#23553: twice the size on disk and in a server's memory).
    archive = keras.export.ExportArchive()
    images = tf.TensorSpec([None, None, None, None], tf.uint8, name="images")
    archive.add_endpoint(SIGNATURE, serve, input_signature=[images])
    archive.add_endpoint(PROBABILITIES_SIGNATURE, probabilities, input_signature=[images])
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = pathlib.Path(tempfile.mkdtemp(dir=out.parent, prefix=pid_temp_name(out.name)))
    try:
        archive.write_out(str(tmp), verbose=False)
        exported = _load_saved_model(tmp)
        diff, probes = _max_diff(classifier, _batch_fn(exported), _probe_crops(info, True))
        _readable(tmp)
        _replace_folder(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return {"input_signature": {"images": {"dtype": "uint8",
                                           "shape": [None, None, None, None]}},
            "outputs": {"probabilities": "float32 (N, K)", "class_names": "string (K,)",
                        "input_shape": "int32 (3,)"},
            "signature": SIGNATURE, "signatures": [SIGNATURE, PROBABILITIES_SIGNATURE],
            "max_abs_diff": diff, "probe_crops": probes}


def _replace_folder(tmp, out):
    """Moves the finished folder `tmp` to `out`; an earlier export there (already
    checked to be one) is moved aside first and removed only once the new one
    is in place."""
    old = None
    if out.exists():
        old = out.with_name(f"{out.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(out, old)
    try:
        os.replace(tmp, out)
    except BaseException:
        if old is not None:
            os.replace(old, out)
        raise
    if old is not None:
        shutil.rmtree(old)


# ----------------------------------------------------------------------------- tflite

def tflite_sidecar(path):
    """The `<out>.json` beside a .tflite export: class names, input shape."""
    path = pathlib.Path(path)
    return path.with_name(path.name + ".json")


def _export_tflite(classifier, out, float16):
    """A TFLite flat buffer of fixed (H, W, C) input: at the model's own size
    `preprocess_faces`' channel conversion, resize and rounding are the
    identity, so the graph keeps the steps that change pixels (CLAHE,
    normalisation) and stays within TFLite's builtin ops."""
    import keras
    import tensorflow as tf

    from fer_tf.data.pipeline import normalize_image
    from fer_tf.io import atomic_write_bytes, atomic_write_json
    from fer_tf.serving.predict import combined_probabilities

    models, info = classifier.models, classifier.info

    def serve(images):
        if info.clahe:
            from fer_tf.preprocess.clahe_tf import clahe_tf

            images = clahe_tf(images)
        x = normalize_image(tf.cast(images, tf.float32), info.normalization)
        return combined_probabilities(models, info, x)

    # The archive tracks the members' variables, which the converter freezes.
    archive = keras.export.ExportArchive()
    for m in models:
        archive.track(m)
    fn = archive.add_endpoint("serve", serve, input_signature=[
        tf.TensorSpec([None, *info.input_shape], tf.uint8, name="images")])
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [fn.get_concrete_function()], archive)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if float16:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    try:
        content = converter.convert()
    except Exception as e:  # the converter raises ConverterError and others
        reason = " ".join(str(e).split())[:200]
        what = " with CLAHE" if info.clahe else ""
        raise ConfigError(f"{info.source}: this model{what} does not convert to TFLite "
                          f"builtin ops ({reason}); export it as savedmodel.") from None
    model = TFLiteModel(content, info.input_shape, info.class_names, str(out))
    diff, probes = _max_diff(classifier, model.predict, _probe_crops(info, False))
    atomic_write_bytes(out, content)
    _readable(out)
    atomic_write_json(tflite_sidecar(out), {
        "format": "tflite", "class_names": list(info.class_names),
        "input_shape": list(info.input_shape), "input_dtype": "uint8",
        "float16_weights": bool(float16), "clahe": bool(info.clahe),
        "preprocessing": f"{info.normalization} normalization"
                         f"{' after CLAHE' if info.clahe else ''}, inside the model",
        "sha256": hashlib.sha256(content).hexdigest()})
    _readable(tflite_sidecar(out))
    return {"input_signature": {"images": {"dtype": "uint8",
                                           "shape": [None, *info.input_shape]}},
            "outputs": {"probabilities": "float32 (N, K)"}, "sidecar": str(tflite_sidecar(out)),
            "max_abs_diff": diff, "probe_crops": probes}


class TFLiteModel:
    """A TFLite export: `predict(uint8 (N, H, W, C)) -> (N, K)` probabilities.

    Runs on `ai_edge_litert`'s interpreter where that is installed, else
    `tf.lite.Interpreter`; the input tensor is resized to each batch.

    Args:
        content: bytes. the flat buffer.
        input_shape: (height, width, channels) it takes.
        class_names: names of its output columns.
        source: where it came from (for messages).
    """

    def __init__(self, content, input_shape, class_names, source=""):
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            import tensorflow as tf

            Interpreter = getattr(tf.lite, "Interpreter", None)
            if Interpreter is None:
                raise ConfigError(f"{source}: this TensorFlow has no tf.lite.Interpreter; "
                                  "pip install ai-edge-litert to run a .tflite file.") \
                    from None
        with warnings.catch_warnings():
            # tf.lite.Interpreter announces its move to ai_edge_litert, which
            # is taken above whenever it is installed.
            warnings.simplefilter("ignore", UserWarning)
            self.interpreter = Interpreter(model_content=content)
        self.input_shape = tuple(int(v) for v in input_shape)
        self.class_names = tuple(class_names)
        self.source = source
        self._input = self.interpreter.get_input_details()[0]["index"]
        self._output = self.interpreter.get_output_details()[0]["index"]
        self._batch = None

    def predict(self, batch):
        batch = np.asarray(batch)
        if batch.ndim == 3:
            batch = batch[None]
        if batch.dtype != np.uint8 or batch.shape[1:] != self.input_shape:
            raise ConfigError(f"{self.source}: expected uint8 crops of shape (N, "
                              f"{', '.join(map(str, self.input_shape))}); got "
                              f"{batch.dtype} {batch.shape}.")
        if batch.shape[0] != self._batch:
            self.interpreter.resize_tensor_input(self._input, list(batch.shape))
            self.interpreter.allocate_tensors()
            self._batch = batch.shape[0]
        self.interpreter.set_tensor(self._input, batch)
        self.interpreter.invoke()
        return np.array(self.interpreter.get_tensor(self._output), np.float32)


def load_tflite(path):
    """A `TFLiteModel` for a .tflite export and its `<path>.json`; one
    ConfigError line when either is missing or they do not belong together."""
    path = pathlib.Path(path).expanduser()
    meta = _read_sidecar(path)
    if meta is None:
        raise ConfigError(f"{path}: expected a .tflite file written by fer-tf export with "
                          f"its {tflite_sidecar(path).name} beside it.")
    content = path.read_bytes()
    if hashlib.sha256(content).hexdigest() != meta.get("sha256"):
        raise ConfigError(f"{tflite_sidecar(path)}: describes another .tflite than "
                          f"{path} (checksum differs); export again.")
    return TFLiteModel(content, meta["input_shape"], meta["class_names"], str(path))


def _read_sidecar(path):
    sidecar = tflite_sidecar(path)
    if not (path.is_file() and sidecar.is_file()):
        return None
    try:
        with open(sidecar, encoding="utf-8") as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return None
    keys = {"format", "class_names", "input_shape", "sha256"}
    if not isinstance(meta, dict) or not keys <= set(meta) or meta["format"] != "tflite":
        return None
    return meta


# ----------------------------------------------------------------------------- keras

def _export_keras(classifier, out):
    """One functional model of Keras' own layers: Rescaling (the
    normalisation), the member model(s), their average."""
    import keras

    from fer_tf.serving.predict import ModelInfo, _expression_output, load_classifier, \
        write_info_entry

    models, info = classifier.models, classifier.info
    if info.clahe:
        raise ConfigError(f"{info.source}: trained on CLAHE-enhanced faces, which no "
                          "built-in Keras layer computes; export it as savedmodel.")
    inputs = keras.Input(shape=tuple(info.input_shape), dtype="float32", name="image")
    scale = {"unit": (1.0 / 255.0, 0.0), "symmetric": (1.0 / 127.5, -1.0)}
    if info.normalization in scale:
        x = keras.layers.Rescaling(*scale[info.normalization], name="normalization")(inputs)
    elif info.normalization == "none":
        x = inputs
    else:
        raise ConfigError(f"{info.source}: unknown normalization {info.normalization!r}.")
    names = [m.name for m in models]
    outputs = []
    for i, m in enumerate(models):
        if names.count(m.name) > 1:  # layer names must be unique in one model
            m.name = f"member{i}_{m.name}"
        outputs.append(_expression_output(m, info, info.source, m(x)))
    y = outputs[0] if len(outputs) == 1 else keras.layers.Average(name="members")(outputs)
    export = keras.Model(inputs, y, name=KERAS_EXPORT_NAME)
    custom = _custom_objects(keras.saving.serialize_keras_object(export))
    if custom:
        raise ConfigError(f"{info.source}: uses {', '.join(sorted(custom))}, which a "
                          "process without fer_tf cannot rebuild from a .keras file; "
                          "export it as savedmodel.")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=pid_temp_name(out.name),
                               suffix=".keras")
    os.close(fd)
    tmp = pathlib.Path(tmp)
    try:
        export.save(tmp)
        write_info_entry(tmp, ModelInfo(info.input_shape, info.class_names, "none", False))
        _fsync(tmp)
        reloaded = load_classifier(tmp)
        diff, probes = _max_diff(classifier, _batch_fn(reloaded), _probe_crops(info, False))
        _readable(tmp)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()
    return {"input_signature": {"image": {"dtype": "float32 (uint8 values 0..255)",
                                          "shape": [None, *info.input_shape]}},
            "outputs": {"probabilities": "float32 (N, K)"}, "max_abs_diff": diff,
            "probe_crops": probes}


def _custom_objects(config):
    """Class names in a serialised Keras config that come from outside Keras."""
    found = set()
    if isinstance(config, dict):
        module = config.get("module")
        if isinstance(module, str) and "class_name" in config \
                and not module.startswith("keras"):
            found.add(f"{module}.{config['class_name']}")
        for v in config.values():
            found |= _custom_objects(v)
    elif isinstance(config, (list, tuple)):
        for v in config:
            found |= _custom_objects(v)
    return found


def _readable(path):
    """The mode a plain write would give (temporary files and folders are
    private), so that a model server running as another user can read it."""
    umask = current_umask()
    for p in [path, *(path.rglob("*") if path.is_dir() else [])]:
        os.chmod(p, (0o777 if p.is_dir() else 0o666) & ~umask)


def _fsync(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ----------------------------------------------------------------------------- destinations

def _check_destination(out, fmt, overwrite):
    """Refuses an existing `out` unless `overwrite` and it is an export of `fmt`."""
    taken = [p for p in ([out, tflite_sidecar(out)] if fmt == "tflite" else [out])
             if p.exists() or p.is_symlink()]
    if not taken:
        return
    if not overwrite:
        raise ConfigError(f"{taken[0]}: already exists; pass overwrite=True (--overwrite) to "
                          "replace an earlier export.")
    if not _is_export(out, fmt):
        raise ConfigError(f"{out}: exists and is not a {fmt} export written by fer-tf "
                          "export; refusing to replace it.")


def _is_export(out, fmt):
    from fer_tf.serving.predict import _load_saved_model, read_info_entry

    if out.is_symlink():
        return False
    if fmt == "savedmodel":
        if not (out.is_dir() and (out / "saved_model.pb").is_file()):
            return False
        try:
            _load_saved_model(out)
        except ConfigError:
            return False
        return True
    if fmt == "tflite":
        return _read_sidecar(out) is not None
    if not out.is_file() or read_info_entry(out) is None:
        return False
    try:
        with zipfile.ZipFile(out) as z:
            config = json.loads(z.read("config.json").decode("utf-8"))
    except (zipfile.BadZipFile, KeyError, OSError, ValueError):
        return False
    return (config.get("config") or {}).get("name") == KERAS_EXPORT_NAME


def _size(out):
    if out.is_dir():
        return sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    return out.stat().st_size
