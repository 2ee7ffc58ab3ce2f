"""Every model family fer_tf writes reloads in a fresh process after only
`import fer_tf`: through `keras.saving.load_model`, `load_classifier` and the
command line (`fer-tf evaluate`, `predict`, `export`) on a run folder whose
checkpoint is made of the package's own layers."""

import json
import shutil

import keras
import numpy as np
import pytest
from PIL import Image

from fer_tf.models.registry import build_model
from fer_tf.models.resnet import resnet
from tests.helpers.scripts import run_script

#: Name -> builder of one small model per family: the ResNet trunk with every
#: fer_tf block (split attention, SE, BAM, masking; CBAM on bottlenecks),
#: keras.applications behind fer_tf's preprocessing, EfficientNet-B0, the
#: landmark ensemble and sub-network, PathNet, the baseline CNN, vgg_lite.
FAMILIES = {
    "trunk_split_attention_se_bam_masking": lambda: resnet(
        (32, 32, 3), 7, "basic", (1, 1, 1, 1), widths=(8, 8, 16, 16), groups=(2, 2, 3, 3),
        split_attention_radix=2, block_attention="se",
        stage_modules=("masking", "bam", "masking", None), masking_depths=(2, 1, 1, 1)),
    "trunk_cbam_bottleneck": lambda: resnet((32, 32, 3), 7, "bottleneck", (1, 1, 1, 1),
                                            widths=(4, 4, 8, 8), block_attention="cbam"),
    "efficientnet_b0": lambda: build_model("efficientnet_b0", input_shape=(32, 32, 3)),
    "densenet121": lambda: build_model("densenet121", input_shape=(32, 32, 3)),
    "landmark_ensemble": lambda: build_model("landmark_ensemble", input_shape=(32, 32, 3)),
    "landmark_subnet": lambda: build_model("landmark_subnet", input_shape=(32, 32, 3)),
    "pathnet": lambda: build_model("pathnet"),
    "baseline_cnn": lambda: build_model("baseline_cnn"),
    "vgg_lite": lambda: build_model("vgg_lite"),
}
#: Families that are one image classifier, so `load_classifier` takes them.
CLASSIFIERS = ("trunk_split_attention_se_bam_masking", "trunk_cbam_bottleneck",
               "efficientnet_b0", "densenet121", "baseline_cnn", "vgg_lite")

_RELOAD = """
import json, sys
import numpy as np
import fer_tf, keras
from fer_tf.serving.predict import load_classifier

folder, names, classifiers = sys.argv[1], sys.argv[2].split(","), sys.argv[3].split(",")
for name in names:
    data = np.load(f"{folder}/{name}.npz")
    model = keras.saving.load_model(f"{folder}/{name}.keras")
    weights = model.get_weights()
    ok = len(weights) == int(data["n_weights"]) and all(
        np.array_equal(w, data[f"w{i}"]) for i, w in enumerate(weights))
    if "x" in data:
        got = keras.tree.flatten(model(data["x"], training=False))
        ok = ok and all(np.allclose(keras.ops.convert_to_numpy(g), data[f"y{i}"], atol=1e-5)
                        for i, g in enumerate(got))
    print("loaded", name, "same outputs" if ok else "DIFFERENT outputs", flush=True)
    if name in classifiers:
        load_classifier(f"{folder}/{name}.keras")
        print("classifier", name, flush=True)
"""


def test_every_family_reloads_in_a_fresh_process(tmp_path):
    rng = np.random.default_rng(0)
    for name, build in FAMILIES.items():
        model = build()
        arrays = {}
        if name != "pathnet":  # PathNet is called with a path too; its weights suffice
            shape = (32, 32, 3) if name.startswith(("trunk", "landmark")) else \
                tuple(model.input_shape[1:])
            arrays["x"] = rng.uniform(0, 1, (2, *shape)).astype("float32")
            outputs = keras.tree.flatten(model(arrays["x"], training=False))
            arrays.update({f"y{i}": keras.ops.convert_to_numpy(y)
                           for i, y in enumerate(outputs)})
        weights = model.get_weights()
        arrays.update({f"w{i}": w for i, w in enumerate(weights)}, n_weights=len(weights))
        np.savez(tmp_path / f"{name}.npz", **arrays)
        model.save(tmp_path / f"{name}.keras")
    proc = run_script(["-c", _RELOAD, str(tmp_path), ",".join(FAMILIES),
                       ",".join(CLASSIFIERS)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert [f"loaded {name} same outputs" for name in FAMILIES] == \
        [line for line in lines if line.startswith("loaded")]
    assert [f"classifier {name}" for name in CLASSIFIERS] == \
        [line for line in lines if line.startswith("classifier")]


@pytest.mark.slow
def test_cli_evaluates_predicts_and_exports_a_run_of_fer_tf_layers(tmp_path):
    # A run folder from `fer-tf train`, whose checkpoint is then a model of the
    # package's own layers (CAMnet34's blocks at a tiny width, same input).
    run = tmp_path / "run"
    proc = run_script(["-m", "fer_tf", "train", "baseline_cnn", "--out", str(run),
                       "--epochs", "1", "--synthetic-subjects", "8",
                       "--synthetic-per-class", "1", "--seed", "1"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    model = resnet((48, 48, 1), 7, "basic", (1, 1, 1, 1), widths=(8, 8, 16, 16),
                   groups=(2, 2, 3, 3), split_attention_radix=2, stage_modules="masking",
                   masking_depths=(2, 1, 1, 1))
    best = run / "checkpoints" / "best.keras"
    model.save(tmp_path / "custom.keras")
    shutil.copyfile(tmp_path / "custom.keras", best)
    face = np.random.default_rng(2).integers(0, 256, (48, 48), dtype=np.uint8)
    Image.fromarray(face).save(tmp_path / "face.png")

    evaluated = run_script(["-m", "fer_tf", "evaluate", str(run), "--json"])
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    assert np.sum(json.loads(evaluated.stdout)["confusion_matrix"]) == 14
    predicted = run_script(["-m", "fer_tf", "predict", str(run), str(tmp_path / "face.png"),
                            "--detector", "none", "--json"])
    assert predicted.returncode == 0, predicted.stderr[-3000:]
    assert "happiness" in predicted.stdout
    exported = run_script(["-m", "fer_tf", "export", str(run), "--format", "savedmodel",
                           "--out", str(tmp_path / "export"), "--json"])
    assert exported.returncode == 0, exported.stderr[-3000:]
    assert (tmp_path / "export" / "saved_model.pb").is_file()


def test_the_one_loader_names_the_file_in_one_line(tmp_path):
    from fer_tf.errors import ConfigError
    from fer_tf.models.saving import load_model

    with pytest.raises(ConfigError, match="missing.keras: no such model file; run x"):
        load_model(tmp_path / "missing.keras", hint="run x")
    (tmp_path / "notes.keras").write_text("not a zip")
    with pytest.raises(ConfigError, match="notes.keras: not a Keras model file") as caught:
        load_model(tmp_path / "notes.keras")
    assert "\n" not in str(caught.value)
