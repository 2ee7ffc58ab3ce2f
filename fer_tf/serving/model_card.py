"""Ship a finished run as the package's default model, with its model card.

    fer-tf train vgg_lite --dataset fer2013 --data-dir DIR --out runs/default
    python experiments/ship_default_model.py runs/default --data-dir DIR

`ship_run` copies the run's best checkpoint into `fer_tf/serving/assets/default_model/`
without its optimizer state or compiled loss (so the file is small and any
Keras reloads it), adds the `ModelInfo` entry `fer_tf.serving.predict` reads, times
the shipped classifier on this machine and writes `MODEL_CARD.md`: data,
command, recipe, PrivateTest accuracy and per-class F1 (the figures
`fer-tf train` computed on the run's test split), speed and limitations.
Only the weights file and the card are written; the run is left as it is.
"""

import json
import os
import pathlib
import platform
import shutil
import tempfile
import time

import numpy as np

from fer_tf.errors import ConfigError
from fer_tf.io import atomic_write_text, file_sha256

#: Shipped files at most this large (issue 13).
MAX_BYTES = 10 * 1024 * 1024
LIMITATIONS = (
    "Input: one face crop, seen as 48x48 grayscale (colour is converted to luminance, "
    "other sizes are resized with antialiasing); faces far from frontal, very small or "
    "partly hidden were rare in training.",
    "FER2013 was labelled from web images by crowd workers: its labels are noisy (human "
    "agreement on it is estimated at about 65%), disgust has only 436 training faces, "
    "and its demographics (age, ethnicity, gender) are those of a 2013 web search, not "
    "balanced; accuracy will differ across groups and was not measured per group.",
    "Posed or exaggerated expressions are recognised best; an expression is not an "
    "emotion, and a face says little about what a person feels.",
    "Not for decisions about people (hiring, policing, credit, health, education): such "
    "uses are unreliable and, in several jurisdictions, restricted by law.",
)


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: missing; expected a finished fer-tf train run.") from None
    except ValueError as e:
        raise ConfigError(f"{path}: not valid JSON ({e}).") from None


def measure_speed(classifier, batch_sizes=(1, 256), repeats=3, seed=0):
    """Faces/s of `classifier.predict_faces` on pre-cropped faces of the
    model's size, best of `repeats` after a warm-up, per batch size."""
    rng = np.random.default_rng(seed)
    shape = classifier.input_shape
    out = {}
    for batch in batch_sizes:
        n = max(batch, 64) if batch == 1 else batch
        crops = list(rng.integers(0, 256, (n, *shape), dtype=np.uint8))
        classifier.predict_faces(crops[:batch], batch_size=batch)
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            classifier.predict_faces(crops, batch_size=batch)
            best = min(best, time.perf_counter() - start)
        out[batch] = n / best
    return out


def ship_run(run, dest=None, data_dir=None, command=None):
    """Copies `run`'s best model into `dest` (default: the package's default
    model folder) and writes its model card. Returns a summary dict."""
    import keras

    from fer_tf.serving import predict
    from fer_tf.evaluation.report import has_run_config

    run = pathlib.Path(run)
    if not has_run_config(run):
        raise ConfigError(f"{run}: not a fer_tf run folder (config.json with fer_tf_run).")
    config = _read_json(run / "config.json")
    metrics = _read_json(run / "metrics.json")
    best = _read_json(run / "checkpoints" / "best.json")
    source = run / "checkpoints" / "best.keras"
    if not source.is_file():
        raise ConfigError(f"{source}: missing; the run has no best checkpoint.")
    dest = pathlib.Path(dest or predict.DEFAULT_MODEL_DIR)
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / predict.DEFAULT_MODEL_PATH.name
    model = predict.load_keras_file(source)
    info = predict.info_for_keras_file(source, model)
    with tempfile.TemporaryDirectory(dir=dest) as tmp:
        staged = pathlib.Path(tmp) / target.name
        keras.saving.save_model(model, staged)
        predict.write_info_entry(staged, info)
        size = staged.stat().st_size
        if size > MAX_BYTES:
            raise ConfigError(f"{source}: {size / 2**20:.1f} MB once saved; the default "
                              f"model must stay under {MAX_BYTES / 2**20:.0f} MB.")
        os.replace(staged, target)
    classifier = predict.load_classifier(target)
    speed = measure_speed(classifier)
    summary = {
        "model_file": str(target), "bytes": target.stat().st_size,
        "sha256": file_sha256(target), "params": int(model.count_params()),
        "run": str(run), "model": config.get("model"), "dataset": config.get("dataset"),
        "splits": config.get("splits_used"), "split_sizes": config.get("split_sizes"),
        "recipe": config.get("recipe"), "train_seconds": config.get("train_seconds"),
        "selection": {"monitor": best.get("monitor"), "value": best.get("value"),
                      "epoch": best.get("epoch")},
        "test": {k: metrics[k] for k in ("accuracy", "macro_f1", "weighted_f1",
                                         "num_samples", "per_class")},
        "faces_per_s": {str(k): v for k, v in speed.items()},
        "precision": classifier.precision.precision if classifier.precision else "float32",
        "machine": f"{os.cpu_count()} CPU cores, {platform.machine()}, "
                   f"Python {platform.python_version()}",
        "data": _data_description(data_dir or config.get("data_dir")),
        "command": command or (f"fer-tf train {config.get('model')} --dataset "
                               f"{config.get('dataset')} --data-dir DIR --out RUN"),
        "info": info.to_dict(),
    }
    atomic_write_text(dest / "MODEL_CARD.md", render_model_card(summary))
    return summary


def _data_description(data_dir):
    """The data copy the card names: its csv file, size and SHA-256."""
    from fer_tf.data.readers.fer2013 import find_csv

    path = find_csv(data_dir) if data_dir and os.path.exists(data_dir) else None
    if not path:
        return {"path": data_dir}
    return {"file": os.path.basename(path), "bytes": os.path.getsize(path),
            "sha256": file_sha256(path)}


def render_model_card(s):
    """MODEL_CARD.md text from a `ship_run` summary."""
    test, recipe = s["test"], s["recipe"] or {}
    opt = recipe.get("optimizer") or {}
    aug = (recipe.get("train_transform") or {})
    split = s.get("splits") or {}
    sizes = next(iter((s.get("split_sizes") or {}).values()), {})
    data = s["data"]
    rows = "\n".join(f"| {name} | {c['precision']:.3f} | {c['recall']:.3f} | {c['f1']:.3f} "
                     f"| {c['support']} |" for name, c in test["per_class"].items())
    data_line = (f"`{data['file']}` ({data['bytes']:,} bytes, SHA-256 `{data['sha256']}`)"
                 if "file" in data else f"`{data.get('path')}`")
    minutes = (s.get("train_seconds") or 0) / 60
    words = s["command"].split()
    run = words[words.index("--out") + 1] if "--out" in words[:-1] else "RUN"
    data_dir = words[words.index("--data-dir") + 1] if "--data-dir" in words[:-1] else "DIR"
    return f"""# Model card: fer_tf's default expression model

`{pathlib.Path(s['model_file']).name}`: `{s['model']}` (`fer_tf/models/default_model.py`),
{s['params']:,} parameters, {s['bytes'] / 2**20:.2f} MB, SHA-256 `{s['sha256']}`.
It is what `fer-tf predict` and `fer_tf.serving.predict.load_classifier()` use when no
model is named. Classes, in the order of its outputs: {", ".join(s['info']['class_names'])}.

## Data
FER2013 (Goodfellow et al., 2013) in the Kaggle csv layout: {data_line}, the
copy described in `shared/data/README.md` (rebuilt from public copies; its
Training images were resized back to 48x48 from a 224x224 upscale). Splits:
{split.get('train', 'Training')} to fit ({sizes.get('train', '?')} faces),
{split.get('select', 'PublicTest')} to select the epoch ({sizes.get('val', '?')}),
{split.get('report', 'PrivateTest')} to report ({sizes.get('test', '?')}). Only these
weights are derived from the data; nothing else of it ships.

## Command
    {s['command']}
    python experiments/ship_default_model.py {run} --data-dir {data_dir}

The first trains ({minutes:.0f} minutes on {s['machine']}); the second writes this
file and this card. The same commands retrain it; `--epochs`, `--batch-size`
and `--set` change the budget (README, "The default model").

## Recipe
`{recipe.get('name')}`: {recipe.get('epochs')} epochs, batch {recipe.get('batch_size')},
{opt.get('name')} (learning rate {opt.get('learning_rate')}, weight decay
{opt.get('weight_decay')}, {opt.get('schedule')} schedule {opt.get('schedule_kwargs')}),
label smoothing {recipe.get('label_smoothing')}, augmentation `{aug.get('augmentation')}`
{aug.get('augmentation_kwargs')}, normalisation `{recipe.get('normalization')}`.
Selected: epoch {s['selection']['epoch']} with {s['selection']['monitor']}
{s['selection']['value']:.4f} on {split.get('select', 'PublicTest')}.

## Results on {split.get('report', 'PrivateTest')} (n = {test['num_samples']})
Accuracy **{test['accuracy']:.4f}**, macro F1 **{test['macro_f1']:.4f}**, weighted F1
{test['weighted_f1']:.4f}. One training run (seed 0); no interval is given.

| class | precision | recall | F1 | support |
|---|---|---|---|---|
{rows}

## Speed
`Classifier.predict_faces` on pre-cropped 48x48 faces, preprocessing included,
on {s['machine']}: {s['faces_per_s']['1']:.0f} faces/s at batch 1,
{s['faces_per_s']['256']:.0f} faces/s at batch 256, computing in
{s.get('precision', 'float32')} (measured when the card was written; `benchmarks/peer_fer.py`
compares it with the `fer` package's model and float32 with bfloat16).

## Limitations
""" + "\n".join(f"- {line}" for line in LIMITATIONS) + "\n"


def copy_figures(run, out_dir):
    """The run's learning curves and confusion matrix into `out_dir` (figures
    may be committed; the run itself may not)."""
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    copied = []
    for name in ("learning_curves.png", "confusion_matrix.png"):
        src = pathlib.Path(run) / "plots" / name
        if src.is_file():
            fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=".tmp-")
            os.close(fd)
            shutil.copyfile(src, tmp)
            os.replace(tmp, out_dir / name)
            copied.append(str(out_dir / name))
    return copied
