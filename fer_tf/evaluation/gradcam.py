"""Grad-CAM (Selvaraju et al. 2017) as the landmark paper uses it (Sec. IV-C,
Eq. 5-6, Fig. 11), for any model of the package.

For a class c with pre-softmax score y^c and the feature maps A^k of the
model's last spatial feature map:

    alpha_k^c = 1/Z sum_ij dy^c / dA_ij^k          (Eq. 5, gradients pooled)
    L^c       = ReLU(sum_k alpha_k^c A^k)          (Eq. 6)

That map is the one every model of the package names the same way
(`fer_tf.models.features.feature_map_layer`: the layer named `FEATURE_MAP`,
found through nested models such as the landmark sub-network's "extractor");
`layer=` explains another layer, given itself or by its name. Its
activations and the gradient reaching them are taken while the model
runs unchanged: for the duration of one forward pass the layer's `call`
returns `A + delta` with `delta = 0`, so dy^c/d(delta) = dy^c/dA whatever
sits between the layer and the output. The gradient is TensorFlow's
`GradientTape` or `jax.value_and_grad` (the two backends the package runs
on); the score y^c is taken before the softmax by running the output layer
with a linear activation during that pass.

An ensemble (`LandmarkPartEnsemble`) gets one heatmap per member and their
union, the pixel-wise maximum of the members' maps each scaled to [0, 1]
("the union of 5 heatmaps", Sec. IV-C). `plot_gradcam` draws the face, each
heatmap over it and the union (Fig. 11) as a matplotlib PNG.
"""

import contextlib

import keras
import numpy as np

from fer_tf.errors import ConfigError
from fer_tf.models.features import feature_map_layer, find_layer


def _children(layer):
    if isinstance(layer, keras.Model) and hasattr(layer, "members"):
        return list(layer.members)
    return list(getattr(layer, "layers", []) or [])


def explained_layer(model, layer=None):
    """The layer Grad-CAM explains: (layer, path), path the names of the
    models enclosing it, outermost first.

    `layer` None is the model's feature map
    (`fer_tf.models.features.feature_map_layer`); a name is the one layer of
    that name, through nested models (`find_layer`); a layer is taken as it
    is (its path is then the model's name only).
    """
    if layer is None:
        return feature_map_layer(model)
    if isinstance(layer, str):
        return find_layer(model, layer)
    return layer, (model.name,)


def _output_layer(model):
    """The layer whose softmax gives the class probabilities, or None."""
    layers = _children(model)
    for layer in reversed(layers):
        if isinstance(layer, keras.Model):
            inner = _output_layer(layer)
            if inner is not None:
                return inner
        activation = getattr(layer, "activation", None)
        if activation is not None and getattr(activation, "__name__", "") == "softmax":
            return layer
        if isinstance(layer, keras.layers.Softmax):
            return layer
        if layer.weights:
            return None
    return None


@contextlib.contextmanager
def _patched(target, output_layer, delta, store):
    """During the block `target` returns A + delta (A kept in `store`), and the
    output layer yields scores instead of softmax probabilities."""
    original_call = target.call

    def call(*args, **kwargs):
        activations = original_call(*args, **kwargs)
        store["A"] = activations
        # A mixed-precision model (mixed_bfloat16 / mixed_float16) computes A in
        # its compute dtype; delta stays float32, its gradient flows through the cast.
        return activations + keras.ops.cast(delta, activations.dtype)

    saved = None
    object.__setattr__(target, "call", call)
    if output_layer is not None:
        if isinstance(output_layer, keras.layers.Softmax):
            saved = ("call", output_layer.call)
            object.__setattr__(output_layer, "call", lambda x, *a, **k: x)
        else:
            saved = ("activation", output_layer.activation)
            object.__setattr__(output_layer, "activation", keras.activations.linear)
    try:
        yield
    finally:
        object.__delattr__(target, "call")
        if saved is not None:
            object.__setattr__(output_layer, saved[0], saved[1])
            if saved[0] == "call":
                object.__delattr__(output_layer, "call")


def _class_scores(outputs):
    if isinstance(outputs, dict):
        for key in ("labels", "probabilities"):
            if key in outputs:
                return outputs[key]
        raise ConfigError(f"Model outputs {sorted(outputs)} have no 'labels' output for "
                          "Grad-CAM.")
    if isinstance(outputs, (list, tuple)):
        return outputs[-1]
    return outputs


def _activation_shape(model, target, image):
    store = {}
    zero = np.zeros((), "float32")
    with _patched(target, None, zero, store):
        model(image, training=False)
    return tuple(store["A"].shape)


def _scores_and_gradients(model, target, output_layer, image, class_index):
    """(activations A, scores y, dy^c/dA) of one forward pass, as NumPy."""
    backend = keras.backend.backend()
    shape = _activation_shape(model, target, image)
    if backend == "tensorflow":
        import tensorflow as tf

        delta = tf.zeros(shape, tf.float32)
        store = {}
        with tf.GradientTape() as tape:
            tape.watch(delta)
            with _patched(target, output_layer, delta, store):
                scores = _class_scores(model(image, training=False))
            chosen = _pick(scores, class_index)
        grads = tape.gradient(chosen, delta)
        return tuple(np.asarray(a).astype(np.float32) for a in (store["A"], scores, grads))
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        def forward(delta):
            store = {}
            with _patched(target, output_layer, delta, store):
                scores = _class_scores(model(image, training=False))
            return jnp.sum(_pick(scores, class_index)), (store["A"], scores)

        (_, (activations, scores)), grads = jax.value_and_grad(forward, has_aux=True)(
            jnp.zeros(shape, jnp.float32))
        return tuple(np.asarray(a).astype(np.float32) for a in (activations, scores, grads))
    raise ConfigError(f"Grad-CAM runs under the TensorFlow or JAX backend, not {backend!r}.")


def _pick(scores, class_index):
    # One class per image: sum over the batch of y^c_b, whose gradient with
    # respect to each image's maps is that image's own dy^c/dA.
    scores = keras.ops.cast(scores, "float32")
    mask = keras.ops.one_hot(keras.ops.convert_to_tensor(class_index, "int32"),
                             scores.shape[-1])
    return keras.ops.sum(scores * mask)


def _resize(maps, size):
    """Bilinear resize of (B, h, w) maps to (B, H, W)."""
    import PIL.Image

    out = [np.asarray(PIL.Image.fromarray(np.ascontiguousarray(m, np.float32)).resize(
        (int(size[1]), int(size[0])), PIL.Image.BILINEAR)) for m in maps]
    return np.stack(out)


def gradcam(model, images, class_index=None, layer=None, normalize=True):
    """Grad-CAM heatmaps of `model` for `images` (Eq. 5-6).

    Args:
        model: a built keras.Model whose output (or its "labels" output) is
            class probabilities or scores; not a `LandmarkPartEnsemble`
            (use `ensemble_gradcam`).
        images: float array (B, H, W, C), already preprocessed as the model
            expects (e.g. [-1, 1] for the landmark networks).
        class_index: int or (B,) ints; None takes each image's predicted class.
        layer: the layer to explain, a layer or its name (searched through
            nested models); None is the model's feature map
            (`fer_tf.models.features.feature_map_layer`).
        normalize: scale each map to [0, 1] (by its maximum).

    Returns:
        dict: "heatmaps" (B, H, W) float32 at the input size, "maps" (B, h, w)
        at the layer's resolution, "class_index" (B,), "probabilities" (B, C)
        (softmax of the scores), "layer" (the path and name of the layer).
    """
    images = np.asarray(images, np.float32)
    if images.ndim == 3:
        images = images[None]
    target, path = explained_layer(model, layer)
    output_layer = _output_layer(model)
    if class_index is None:
        probs = _class_scores(model(images, training=False))
        class_index = np.argmax(np.asarray(probs), axis=-1)
    class_index = np.broadcast_to(np.asarray(class_index, np.int64), (len(images),))
    activations, scores, grads = _scores_and_gradients(model, target, output_layer, images,
                                                       class_index)
    if activations.ndim != 4:
        raise ConfigError(f"Grad-CAM needs 2-D feature maps; layer {target.name!r} of "
                          f"{model.name!r} gives shape {activations.shape}.")
    weights = grads.mean(axis=(1, 2))                                   # Eq. 5
    maps = np.maximum(np.einsum("bijk,bk->bij", activations, weights), 0.0)  # Eq. 6
    heatmaps = _resize(maps, images.shape[1:3])
    if normalize:
        maps = _unit(maps)
        heatmaps = _unit(heatmaps)
    if output_layer is None:
        probabilities = scores
    else:
        shifted = scores - scores.max(axis=-1, keepdims=True)
        probabilities = np.exp(shifted) / np.exp(shifted).sum(axis=-1, keepdims=True)
    return {"heatmaps": heatmaps.astype(np.float32), "maps": maps.astype(np.float32),
            "class_index": class_index, "probabilities": probabilities.astype(np.float32),
            "layer": "/".join(path[1:] + (target.name,))}


def _unit(maps):
    peak = maps.reshape(len(maps), -1).max(axis=1)
    return maps / np.where(peak > 0, peak, 1.0)[:, None, None]


def ensemble_members(model):
    """[(name, member)] of a LandmarkPartEnsemble, or [(model.name, model)]."""
    members = getattr(model, "members", None)
    if isinstance(model, keras.Model) and members:
        return [(m.name, m) for m in members]
    return [(model.name, model)]


def ensemble_gradcam(models, images, class_index=None):
    """Per-member heatmaps and their union (Sec. IV-C, Fig. 11).

    Args:
        models: a `LandmarkPartEnsemble`, one model, or a list of
            (name, model) pairs (e.g. the members of a run).
        images: (B, H, W, C) preprocessed images.
        class_index: None explains the ENSEMBLE's prediction (Eq. 4: argmax
            of the summed member probabilities) in every member.

    Returns:
        dict: "members" {name: gradcam() result}, "union" (B, H, W), the
        pixel-wise maximum of the members' [0, 1] heatmaps, "class_index",
        "probabilities" (B, C) of the ensemble (mean of the members').
    """
    pairs = models if isinstance(models, (list, tuple)) else ensemble_members(models)
    images = np.asarray(images, np.float32)
    if images.ndim == 3:
        images = images[None]
    if class_index is None:
        summed = sum(np.asarray(_class_scores(m(images, training=False)), np.float64)
                     for _, m in pairs)
        class_index = summed.argmax(-1)
    members = {name: gradcam(m, images, class_index) for name, m in pairs}
    union = np.max(np.stack([r["heatmaps"] for r in members.values()]), axis=0)
    probabilities = np.mean([r["probabilities"] for r in members.values()], axis=0)
    return {"members": members, "union": union, "class_index": np.asarray(class_index),
            "probabilities": probabilities}


def display_image(image):
    """A preprocessed image ([-1, 1], [0, 1] or [0, 255]) as [0, 1] grey or RGB."""
    image = np.asarray(image, np.float32)
    low, high = float(image.min()), float(image.max())
    if low < 0.0:
        image = (image + 1.0) / 2.0
    elif high > 1.0:
        image = image / 255.0
    image = np.clip(image, 0.0, 1.0)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    return image


def plot_gradcam(image, heatmaps, path, title=None, class_name=None, alpha=0.45,
                 owned=None):
    """Fig. 11: the face, then each heatmap over it (overlap maps).

    Args:
        image: one (H, W, C) image (any of the package's normalisations).
        heatmaps: {panel name: (H, W) map in [0, 1]}, e.g. the members and
            "union".
        path: the PNG to write (atomically).
        owned: optional `fer_tf.io.OwnedOutputs` of path's folder: the PNG
            then replaces no file fer_tf did not write, and is listed as
            fer_tf's (`fer-tf gradcam --out`).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fer_tf.evaluation.report import atomic_savefig

    face = display_image(image)
    panels = list(heatmaps.items())
    fig, axes = plt.subplots(2, len(panels) + 1, figsize=(2.2 * (len(panels) + 1), 4.6))
    axes = np.asarray(axes).reshape(2, -1)
    cmap = "gray" if face.ndim == 2 else None
    for row in range(2):
        axes[row, 0].imshow(face, cmap=cmap, vmin=0, vmax=1)
        axes[row, 0].set_title("face" if row == 0 else (class_name or ""), fontsize=9)
    for j, (name, heat) in enumerate(panels, start=1):
        axes[0, j].imshow(heat, cmap="jet", vmin=0, vmax=1)
        axes[0, j].set_title(str(name), fontsize=9)
        axes[1, j].imshow(face, cmap=cmap, vmin=0, vmax=1)
        axes[1, j].imshow(heat, cmap="jet", vmin=0, vmax=1, alpha=alpha)
    for ax in axes.ravel():
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    if owned is None:
        atomic_savefig(fig, path)
    else:
        import io
        import pathlib

        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
        owned.write_bytes(pathlib.Path(path).name, buf.getvalue())
    plt.close(fig)
    return path


def _config_above(path, levels=4):
    import json
    import os

    folder = os.path.abspath(path if os.path.isdir(path) else os.path.dirname(path))
    for _ in range(levels):
        candidate = os.path.join(folder, "config.json")
        if os.path.exists(candidate):
            with open(candidate) as f:
                return json.load(f)
        folder = os.path.dirname(folder)
    return {}


def _checkpoints(folder):
    """The models a run folder holds: an ensemble file, one best checkpoint,
    its members' checkpoints, or those of its first fold."""
    import glob
    import os

    for name in ("ensemble.keras", os.path.join("checkpoints", "best.keras")):
        if os.path.exists(os.path.join(folder, name)):
            return [os.path.join(folder, name)]
    members = sorted(glob.glob(os.path.join(folder, "members", "*", "checkpoints",
                                            "best.keras")))
    if members:
        return members
    folds = sorted(glob.glob(os.path.join(folder, "folds", "*")))
    for fold in folds:
        found = _checkpoints(fold)
        if found:
            return found
    # A landmark experiment: <network>/folds/<k>/ensemble.keras, EL first.
    for network in ("el", "ftl", "baseline"):
        found = sorted(glob.glob(os.path.join(folder, network, "folds", "*", "ensemble.keras")))
        if found:
            return found[:1]
    return []


def load_models(model_or_run):
    """What `fer-tf gradcam` explains: a `.keras` file, a run folder (its
    ensemble, best checkpoint, members, or first fold) or a registered model
    name (random weights: the heatmaps then show the architecture only).

    Returns dict: "members" [(name, model)], "normalization", "class_names"
    (None when unknown), "input_shape" (H, W, C), "source".
    """
    import os

    from fer_tf.errors import MissingModelFileError

    from fer_tf.models import registry
    from fer_tf.models.saving import load_model
    if os.path.exists(model_or_run):
        files = [model_or_run] if os.path.isfile(model_or_run) else _checkpoints(model_or_run)
        if not files:
            raise MissingModelFileError(
                f"{model_or_run}: no ensemble.keras, checkpoints/best.keras or "
                "members/<m>/checkpoints/best.keras found; expected a run folder or a "
                ".keras file.")
        pairs = []
        for path in files:
            model = load_model(path)
            named = ensemble_members(model)
            if len(files) > 1 and len(named) == 1:
                named = [(os.path.basename(os.path.dirname(os.path.dirname(path))), model)]
            pairs.extend(named)
        config = _config_above(model_or_run)
        recipe = config.get("recipe") or {}
        return {"members": pairs, "normalization": recipe.get("normalization",
                                                              config.get("normalization",
                                                                         "symmetric")),
                "class_names": config.get("class_names"),
                "input_shape": tuple(pairs[0][1].input_shape[1:]), "source": model_or_run}
    spec = registry.get_spec(model_or_run)
    model = registry.build_model(model_or_run)
    return {"members": ensemble_members(model), "normalization": spec.normalization,
            "class_names": None, "input_shape": tuple(spec.input_shape),
            "source": f"{model_or_run} (registered, random weights)"}


def read_face(image_path, input_shape, detector="haar", clahe=False):
    """One face as the landmark pipeline prepares it (Sec. III-A/B): grey,
    repeated to the model's channels, detected (the whole image when the
    detector finds none), CLAHE, resized. Returns (uint8 crop, whether a
    face was found; None without a detector)."""
    from fer_tf.preprocess.face_records import FaceCropper
    from fer_tf.preprocess.image_ops import to_gray
    from fer_tf.preprocess.photos import read_image

    grey = to_gray(read_image(image_path))  # upright, 16-bit and float scaled
    cropper = FaceCropper(tuple(input_shape[:2]), detector=detector, clahe=clahe,
                          interpolation="bilinear")
    crop, _ = cropper(grey[..., None], source=image_path)
    channels = int(input_shape[-1])
    if crop.shape[-1] != channels:
        crop = np.repeat(crop[..., :1], channels, axis=-1)
    detected = cropper.stats()["detected"]
    return crop, None if detected is None else detected > 0


def explain_image(model_or_run, image_path, out, detector="haar", clahe=False,
                  class_name=None):
    """`fer-tf gradcam`: heatmaps of every member and their union for one
    face, drawn as in Fig. 11 into `out`, a .png path. `out` never replaces
    a file fer_tf did not write: an existing file is refused unless the
    folder's `.fer-tf-outputs` lists it as an earlier fer-tf output
    (`fer_tf.io.OwnedOutputs`). Returns a JSON-able summary."""
    from fer_tf.io import check_output_file

    owned = check_output_file(out, ".png")
    loaded = load_models(model_or_run)
    crop, detected = read_face(image_path, loaded["input_shape"], detector, clahe)
    from fer_tf.data.pipeline import normalize_image

    image = np.asarray(normalize_image(crop, loaded["normalization"]))[None]
    names = loaded["class_names"]
    target = None
    if class_name is not None:
        if names is None or class_name not in names:
            raise ConfigError(f"--class {class_name!r} is not one of the model's classes "
                              f"{names or '(unknown: this model has no run config.json naming them)'}.")
        target = [names.index(class_name)]
    result = ensemble_gradcam(loaded["members"], image, target)
    index = int(result["class_index"][0])
    label = names[index] if names else f"class {index}"
    panels = {name: r["heatmaps"][0] for name, r in result["members"].items()}
    if len(panels) > 1:
        panels["union"] = result["union"][0]
    plot_gradcam(image[0], panels, out, class_name=label,
                 title=f"Grad-CAM of {label} (p = {result['probabilities'][0][index]:.2f})",
                 owned=owned)
    return {"out": out, "class": label, "class_index": index, "face_detected": detected,
            "probability": float(result["probabilities"][0][index]),
            "layers": {n: r["layer"] for n, r in result["members"].items()},
            "source": loaded["source"]}
