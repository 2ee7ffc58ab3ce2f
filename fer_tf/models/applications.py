"""Fine-tuned ImageNet CNNs: the baseline systems of the PathNet paper (Sec. IV-B, Table I).

Nguyen et al. fine-tune "off-the-shelf" pretrained CNNs on SAVEE and eNTERFACE
and report their TRAINING loss in Table I. The paper used TF-slim checkpoints;
this module rebuilds the baselines from ``keras.applications``:

====================  ==========================  ===============================
Table I row           ``BACKBONES`` name          keras.applications constructor
====================  ==========================  ===============================
Inception_v3 [28]     ``inception_v3``            ``InceptionV3``
Mobilenet_v1 [30]     ``mobilenet``               ``MobileNet``
Mobilenet_v2 [30]     ``mobilenet_v2``            ``MobileNetV2``
Resnet_v1_50 [31]     ``resnet50``                ``ResNet50``
Resnet_v1_101 [31]    ``resnet101``               ``ResNet101``
Resnet_v1_152 [31]    ``resnet152``               ``ResNet152``
Resnet_v2_50 [32]     ``resnet50_v2``             ``ResNet50V2``
Resnet_v2_101 [32]    ``resnet101_v2``            ``ResNet101V2``
Resnet_v2_152 [32]    ``resnet152_v2``            ``ResNet152V2``
Vgg_19 [33]           ``vgg19``                   ``VGG19``
====================  ==========================  ===============================

Rows with no ``keras.applications`` equivalent, hence not available here:

- Cifar [26]: TF-slim's small CIFAR-10 network; Keras ships no CIFAR model.
- Inception_v1 [27], Inception_v2 [28], Inception_v4 [29]: TF-slim only.
- Mobilenet_v3 and Mobilenet_v4: all four MobileNet rows cite the MobileNet v1
  paper [30], so the architecture behind "v3"/"v4" cannot be identified
  (MobileNetV4 was published years after the paper). Keras' MobileNetV3 is
  therefore NOT substituted for the "Mobilenet_v3" row.
- Resnet_v1_200 [31] and Resnet_v2_200 [32]: Keras has no 200-layer ResNet.

Reproduction notes:

- ImageNet weights are never downloaded. They are read from the Keras cache,
  the very file ``keras.utils.get_file`` would have stored
  (``$KERAS_HOME/models/<file>`` or ``~/.keras/models/<file>``); place the file
  there, pass the path of a weights file, or ask for ``"random"`` weights.
- The model takes RGB pixels in [0, 255]; each backbone's own ImageNet
  preprocessing (``preprocess_input`` of its keras module) is a layer inside
  the model, and grayscale input is repeated to three channels there too.
- The paper does not state the optimiser, learning rate or schedule of its
  baselines. ``TABLE_I_FINETUNE`` holds this project's choice: Adam at 1e-4,
  a small step that fine-tunes every layer without wiping out the ImageNet
  features, batches of 16 (the minibatch size of the paper's PathNet runs).
  SGD with momentum 0.9 at 1e-3 is the alternative.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import tempfile
from collections.abc import Callable, Mapping

import keras
import numpy as np
from keras import ops

from fer_tf.errors import ConfigError, DatasetError, MissingModelFileError

_WEIGHTS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/"

# Channel means (BGR order) that "caffe"-mode preprocess_input subtracts.
_CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)

# keras.applications.mobilenet spells alpha as two digits in its file names.
_MOBILENET_V1_ALPHA_TEXT = {1.0: "1_0", 0.75: "7_5", 0.5: "5_0", 0.25: "2_5"}


def _mobilenet_v1_alpha(alpha: float) -> str:
    return _MOBILENET_V1_ALPHA_TEXT[float(alpha)]


def _mobilenet_v2_alpha(alpha: float) -> str:
    return str(float(alpha))


@dataclasses.dataclass(frozen=True)
class Backbone:
    """One ``keras.applications`` backbone and the facts needed to fine-tune it.

    Args:
        name: str. our name, the key in ``BACKBONES``.
        constructor: callable. the ``keras.applications`` model function.
        preprocess: callable. ``keras.applications.<module>.preprocess_input``.
        preprocess_mode: str. ``"tf"`` (scale to [-1, 1]) or ``"caffe"``
            (RGB->BGR, subtract the ImageNet mean): what ``preprocess`` does,
            reproduced by the ``ImageNetInputPreprocessing`` layer.
        default_size: int. the ImageNet input size (square).
        min_size: int. the smallest input side the constructor accepts.
        weights_file: str. the name ``keras.utils.get_file`` gives the
            ImageNet "notop" weights, with ``{alpha}`` and ``{rows}`` fields
            for the MobileNets whose file depends on width and input size.
        weights_folder: str. the folder of that file on Keras' server.
        paper_rows: tuple of str. the Table I rows this backbone stands for.
        imagenet_alphas: tuple of float. widths with ImageNet weights (MobileNets).
        weights_sizes: tuple of int. input sizes with their own weights file;
            any other size uses the ``default_size`` file, as Keras does.
        alpha_text: callable or None. how ``{alpha}`` is spelled in ``weights_file``.

    Reference:
        Nguyen et al., "Meta Transfer Learning for Facial Emotion Recognition",
        Sec. IV-B and Table I.
    """

    name: str
    constructor: Callable[..., keras.Model]
    preprocess: Callable
    preprocess_mode: str
    default_size: int
    min_size: int
    weights_file: str
    weights_folder: str
    paper_rows: tuple[str, ...]
    imagenet_alphas: tuple[float, ...] = ()
    weights_sizes: tuple[int, ...] = ()
    alpha_text: Callable[[float], str] | None = None

    @property
    def has_alpha(self) -> bool:
        return bool(self.imagenet_alphas)

    def notop_weights_file(self, alpha: float = 1.0, input_shape=None) -> str:
        """The file name Keras uses for this backbone's ImageNet notop weights."""
        if not self.has_alpha:
            return self.weights_file
        _check_alpha(self, alpha)
        rows = self.default_size
        if input_shape is not None:
            height, width = int(input_shape[0]), int(input_shape[1])
            # Same rule as keras.applications: square inputs of a listed size
            # have their own file, every other shape loads the default one.
            if height == width and height in self.weights_sizes:
                rows = height
        return self.weights_file.format(alpha=self.alpha_text(alpha), rows=rows)

    def weights_url(self, alpha: float = 1.0, input_shape=None) -> str:
        """Where Keras itself would download the notop weights from."""
        file_name = self.notop_weights_file(alpha, input_shape)
        return f"{_WEIGHTS_URL}{self.weights_folder}/{file_name}"


def _resnet_entry(name: str, keras_name: str, constructor, module, row: str) -> Backbone:
    v2 = keras_name.endswith("v2")
    return Backbone(
        name=name,
        constructor=constructor,
        preprocess=module.preprocess_input,
        # ResNet v1 weights were converted from Caffe; ResNet v2 from TF-slim.
        preprocess_mode="tf" if v2 else "caffe",
        default_size=224,
        min_size=32,
        weights_file=f"{keras_name}_weights_tf_dim_ordering_tf_kernels_notop.h5",
        weights_folder="resnet",
        paper_rows=(row,),
    )


_apps = keras.applications

BACKBONES: Mapping[str, Backbone] = {
    "inception_v3": Backbone(
        name="inception_v3",
        constructor=_apps.InceptionV3,
        preprocess=_apps.inception_v3.preprocess_input,
        preprocess_mode="tf",
        default_size=299,
        min_size=75,
        weights_file="inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
        weights_folder="inception_v3",
        paper_rows=("Inception_v3",),
    ),
    "mobilenet": Backbone(
        name="mobilenet",
        constructor=_apps.MobileNet,
        preprocess=_apps.mobilenet.preprocess_input,
        preprocess_mode="tf",
        default_size=224,
        min_size=32,
        weights_file="mobilenet_{alpha}_{rows}_tf_no_top.h5",
        weights_folder="mobilenet",
        paper_rows=("Mobilenet_v1",),
        imagenet_alphas=(0.25, 0.5, 0.75, 1.0),
        weights_sizes=(128, 160, 192, 224),
        alpha_text=_mobilenet_v1_alpha,
    ),
    "mobilenet_v2": Backbone(
        name="mobilenet_v2",
        constructor=_apps.MobileNetV2,
        preprocess=_apps.mobilenet_v2.preprocess_input,
        preprocess_mode="tf",
        default_size=224,
        min_size=32,
        weights_file="mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{alpha}_{rows}_no_top.h5",
        weights_folder="mobilenet_v2",
        paper_rows=("Mobilenet_v2",),
        imagenet_alphas=(0.35, 0.5, 0.75, 1.0, 1.3, 1.4),
        weights_sizes=(96, 128, 160, 192, 224),
        alpha_text=_mobilenet_v2_alpha,
    ),
    "resnet50": _resnet_entry(
        "resnet50", "resnet50", _apps.ResNet50, _apps.resnet, "Resnet_v1_50"
    ),
    "resnet101": _resnet_entry(
        "resnet101", "resnet101", _apps.ResNet101, _apps.resnet, "Resnet_v1_101"
    ),
    "resnet152": _resnet_entry(
        "resnet152", "resnet152", _apps.ResNet152, _apps.resnet, "Resnet_v1_152"
    ),
    "resnet50_v2": _resnet_entry(
        "resnet50_v2", "resnet50v2", _apps.ResNet50V2, _apps.resnet_v2, "Resnet_v2_50"
    ),
    "resnet101_v2": _resnet_entry(
        "resnet101_v2", "resnet101v2", _apps.ResNet101V2, _apps.resnet_v2, "Resnet_v2_101"
    ),
    "resnet152_v2": _resnet_entry(
        "resnet152_v2", "resnet152v2", _apps.ResNet152V2, _apps.resnet_v2, "Resnet_v2_152"
    ),
    "vgg19": Backbone(
        name="vgg19",
        constructor=_apps.VGG19,
        preprocess=_apps.vgg19.preprocess_input,
        preprocess_mode="caffe",
        default_size=224,
        min_size=32,
        weights_file="vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
        weights_folder="vgg19",
        paper_rows=("Vgg_19",),
    ),
}

# Table I rows that keras.applications cannot provide (see the module docstring).
UNAVAILABLE_PAPER_ROWS = (
    "Cifar",
    "Inception_v1",
    "Inception_v2",
    "Inception_v4",
    "Mobilenet_v3",
    "Mobilenet_v4",
    "Resnet_v1_200",
    "Resnet_v2_200",
)


@dataclasses.dataclass(frozen=True)
class FinetuneRecipe:
    """Training settings of the Table I baselines (Sec. IV-B); see the module notes.

    Args:
        epochs: int. passes over the training set.
        batch_size: int. images per step.
        optimizer: str. ``"adam"`` or ``"sgd"`` (momentum 0.9).
        learning_rates: mapping. the default step size of each optimiser.
        momentum: float. SGD momentum.
        dropout: float. dropout rate before the classifier.
    """

    epochs: int = 10
    batch_size: int = 16
    optimizer: str = "adam"
    learning_rates: Mapping[str, float] = dataclasses.field(
        default_factory=lambda: {"adam": 1e-4, "sgd": 1e-3}
    )
    momentum: float = 0.9
    dropout: float = 0.2


TABLE_I_FINETUNE = FinetuneRecipe()


def get_backbone(name: str) -> Backbone:
    """The ``BACKBONES`` entry for ``name``; ``ConfigError`` listing the names otherwise."""
    key = str(name).strip().lower()
    if key not in BACKBONES:
        raise ConfigError(
            f"Unknown backbone {name!r}. Available keras.applications backbones: "
            f"{', '.join(BACKBONES)}. Table I rows without a Keras model: "
            f"{', '.join(UNAVAILABLE_PAPER_ROWS)}."
        )
    return BACKBONES[key]


def _check_alpha(backbone: Backbone, alpha: float) -> None:
    if float(alpha) not in backbone.imagenet_alphas:
        raise ConfigError(
            f"Backbone {backbone.name!r} has ImageNet weights only for alpha in "
            f"{list(backbone.imagenet_alphas)}, got alpha={alpha}; use one of them "
            "or weights='random'."
        )


def keras_cache_dirs() -> list[pathlib.Path]:
    """Folders where ``keras.utils.get_file(..., cache_subdir="models")`` keeps files.

    Read at call time: ``$KERAS_HOME`` if set, else ``~/.keras`` (``/tmp/.keras``
    when the home folder is read-only), as in ``keras.config``. ``get_file``
    itself falls back to ``/tmp/.keras`` when that folder is not writable, so
    that folder is searched second in that case.
    """
    base = os.environ.get("KERAS_HOME")
    if not base:
        home = os.path.expanduser("~")
        base = os.path.join(home if os.access(home, os.W_OK) else "/tmp", ".keras")
    base = os.path.expanduser(base)
    dirs = [pathlib.Path(base) / "models"]
    if not os.access(base, os.W_OK):
        tmp_root = "/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir()
        fallback = pathlib.Path(tmp_root) / ".keras" / "models"
        if fallback not in dirs:
            dirs.append(fallback)
    return dirs


def imagenet_weights_path(name: str, *, alpha: float = 1.0, input_shape=None) -> pathlib.Path:
    """The path where the ImageNet notop weights of ``name`` are expected (first cache folder)."""
    backbone = get_backbone(name)
    return keras_cache_dirs()[0] / backbone.notop_weights_file(alpha, input_shape)


def resolve_imagenet_weights(
    name: str, weights=None, *, alpha: float = 1.0, input_shape=None
) -> str | None:
    """The weights file to load into backbone ``name``, or ``None`` for random init.

    Args:
        name: str. a ``BACKBONES`` key.
        weights: ``None`` or ``"imagenet"`` (the Keras-cache ImageNet file, never
            downloaded), ``"random"``/``"none"`` (random initialisation), or
            the path of a weights file (``.h5``, ``.weights.h5`` or ``.keras``).
        alpha: float. width multiplier (MobileNets only; selects the file).
        input_shape: tuple or None. model input shape (MobileNets: selects the file).

    Raises:
        MissingModelFileError: the ImageNet file or the given file is absent.
        ConfigError: unknown backbone, alpha without ImageNet weights, or a file
            of a kind Keras cannot load.
    """
    backbone = get_backbone(name)
    if isinstance(weights, str) and weights.strip().lower() in ("random", "none"):
        return None
    if weights is None or (isinstance(weights, str) and weights.strip().lower() == "imagenet"):
        file_name = backbone.notop_weights_file(alpha, input_shape)
        searched = [folder / file_name for folder in keras_cache_dirs()]
        for candidate in searched:
            if candidate.is_file():
                return str(candidate)
        others = "".join(f"\n  also searched: {path}" for path in searched[1:])
        raise MissingModelFileError(
            f"ImageNet weights of backbone {backbone.name!r} not found: expected the file "
            f"{searched[0]}{others}\n"
            "This project never downloads at run time. Either place that file there "
            f"(Keras publishes it at {backbone.weights_url(alpha, input_shape)}), "
            "or pass --weights PATH with the path of a weights file, "
            "or pass --weights random to train from random initialisation."
        )
    path = pathlib.Path(os.fspath(weights)).expanduser()
    if not path.is_file():
        raise MissingModelFileError(
            f"Weights file {path} for backbone {backbone.name!r} does not exist; expected a "
            "Keras weights file (.h5, .weights.h5 or .keras), or pass 'imagenet' or 'random'."
        )
    if not path.name.endswith((".h5", ".hdf5", ".keras")):
        raise ConfigError(
            f"Weights file {path} for backbone {backbone.name!r} is not a Keras weights file: "
            "expected a name ending in .h5, .weights.h5, .hdf5 or .keras."
        )
    return str(path)


@keras.saving.register_keras_serializable(package="fer_tf")
class ImageNetInputPreprocessing(keras.layers.Layer):
    """A backbone's ImageNet input preprocessing as a layer (Table I baselines, Sec. IV-B).

    Takes pixels in [0, 255]. A one-channel (grayscale) input is first repeated
    to three channels. ``mode="tf"`` scales to [-1, 1]; ``mode="caffe"`` flips
    RGB to BGR and subtracts the ImageNet channel means, exactly as the
    matching ``keras.applications.<module>.preprocess_input``.

    Args:
        mode: str. ``"tf"`` or ``"caffe"``.

    Example:
        >>> layer = ImageNetInputPreprocessing("tf")
        >>> tuple(layer(np.full((1, 4, 4, 1), 255.0, "float32")).shape)
        (1, 4, 4, 3)

    Reference:
        Nguyen et al., "Meta Transfer Learning for Facial Emotion Recognition", Sec. IV-B.
    """

    MODES = ("tf", "caffe")

    def __init__(self, mode: str = "tf", **kwargs):
        super().__init__(**kwargs)
        if mode not in self.MODES:
            raise ConfigError(f"Unknown preprocessing mode {mode!r}; expected one of {self.MODES}.")
        self.mode = mode

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels not in (1, 3):
            raise ConfigError(
                f"ImageNet backbones take RGB (3 channels) or grayscale (1 channel) images, "
                f"got input shape {tuple(input_shape)}."
            )
        super().build(input_shape)

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        if x.shape[-1] == 1:
            x = ops.repeat(x, 3, axis=-1)
        if self.mode == "tf":
            return x / 127.5 - 1.0
        bgr = ops.flip(x, axis=-1)
        return bgr - ops.convert_to_tensor(_CAFFE_BGR_MEAN, dtype=self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 3)

    def get_config(self):
        config = super().get_config()
        config.update({"mode": self.mode})
        return config


def _input_shape(backbone: Backbone, input_shape) -> tuple[int, int, int]:
    if input_shape is None:
        return (backbone.default_size, backbone.default_size, 3)
    shape = tuple(int(v) for v in input_shape)
    if len(shape) != 3 or shape[2] not in (1, 3):
        raise ConfigError(
            f"input_shape for backbone {backbone.name!r} must be (height, width, 1 or 3), "
            f"got {input_shape}."
        )
    if min(shape[:2]) < backbone.min_size:
        raise ConfigError(
            f"Backbone {backbone.name!r} needs images of at least {backbone.min_size}x"
            f"{backbone.min_size} pixels, got input_shape {shape}; resize the faces first."
        )
    return shape


def build_finetune_model(
    name: str,
    num_classes: int,
    input_shape=None,
    weights=None,
    dropout: float = TABLE_I_FINETUNE.dropout,
    train_backbone: bool = True,
    *,
    alpha: float = 1.0,
) -> keras.Model:
    """Pretrained backbone + dropout + softmax classifier: a Table I baseline (Sec. IV-B).

    Args:
        name: str. a ``BACKBONES`` key.
        num_classes: int. output classes (6 basic emotions in the paper).
        input_shape: tuple or None. (height, width, channels) of [0, 255]
            pixels; channels 1 is repeated to RGB in the model. ``None``: the
            backbone's ImageNet size, RGB.
        weights: see ``resolve_imagenet_weights`` (default: ImageNet from the cache).
        dropout: float. dropout rate before the classifier.
        train_backbone: bool. ``False`` freezes the backbone (its batch norm then
            runs in inference mode) so that only the classifier learns.
        alpha: float. width multiplier of ``mobilenet``/``mobilenet_v2``.

    The backbone is the layer named ``"backbone"`` (for feature extraction).
    """
    backbone_spec = get_backbone(name)
    if int(num_classes) < 2:
        raise ConfigError(f"num_classes must be at least 2, got {num_classes}.")
    if not 0.0 <= float(dropout) < 1.0:
        raise ConfigError(f"dropout must be in [0, 1), got {dropout}.")
    shape = _input_shape(backbone_spec, input_shape)
    rgb_shape = (shape[0], shape[1], 3)
    if not backbone_spec.has_alpha and float(alpha) != 1.0:
        raise ConfigError(f"Backbone {backbone_spec.name!r} has no width multiplier alpha.")
    weights_path = resolve_imagenet_weights(name, weights, alpha=alpha, input_shape=rgb_shape)

    extra = {"alpha": float(alpha)} if backbone_spec.has_alpha else {}
    # Built with random weights and loaded below, as keras.applications does,
    # so that a file that does not fit becomes a clear error.
    backbone = backbone_spec.constructor(
        include_top=False,
        weights=None,
        input_shape=rgb_shape,
        pooling="avg",
        name="backbone",
        **extra,
    )
    if weights_path is not None:
        try:
            backbone.load_weights(weights_path)
        except (ValueError, OSError, KeyError) as error:
            raise ConfigError(
                f"Weights file {weights_path} does not fit backbone {backbone_spec.name!r}"
                f"{f' (alpha={alpha})' if extra else ''}: {error}"
            ) from error
    backbone.trainable = bool(train_backbone)

    inputs = keras.Input(shape=shape, name="pixels")
    x = ImageNetInputPreprocessing(backbone_spec.preprocess_mode, name="preprocess")(inputs)
    # A frozen backbone keeps its ImageNet batch-norm statistics (training=False).
    x = backbone(x, training=False) if not train_backbone else backbone(x)
    x = keras.layers.Dropout(float(dropout), name="dropout")(x)
    # float32 softmax keeps the loss stable under mixed precision.
    outputs = keras.layers.Dense(
        int(num_classes), activation="softmax", dtype="float32", name="predictions"
    )(x)
    return keras.Model(inputs, outputs, name=f"finetune_{backbone_spec.name}")


def _make_optimizer(optimizer: str, learning_rate: float | None, recipe: FinetuneRecipe):
    key = str(optimizer).strip().lower()
    if key not in recipe.learning_rates:
        raise ConfigError(
            f"Unknown optimizer {optimizer!r}; expected one of {sorted(recipe.learning_rates)}."
        )
    rate = recipe.learning_rates[key] if learning_rate is None else float(learning_rate)
    if not rate > 0:
        raise ConfigError(f"learning_rate must be positive, got {learning_rate}.")
    if key == "sgd":
        return keras.optimizers.SGD(learning_rate=rate, momentum=recipe.momentum)
    return keras.optimizers.Adam(learning_rate=rate)


def _check_arrays(x, y, what: str, input_shape) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim != 4:
        raise DatasetError(
            f"{what} images must be an array (N, height, width, channels), got shape {x.shape}."
        )
    if y.ndim != 1 or len(y) != len(x):
        raise DatasetError(
            f"{what} labels must be a 1-D array of {len(x)} integer class indices, "
            f"got shape {y.shape}."
        )
    if len(x) == 0:
        raise DatasetError(f"{what} set is empty.")
    if not np.issubdtype(y.dtype, np.integer):
        raise DatasetError(f"{what} labels must be integer class indices, got dtype {y.dtype}.")
    if input_shape is not None and tuple(x.shape[1:]) != tuple(input_shape):
        raise DatasetError(
            f"{what} images have shape {x.shape[1:]} but the model expects {tuple(input_shape)}; "
            "resize the faces first."
        )
    return x, y


def _as_pixels(images: np.ndarray) -> np.ndarray:
    # uint8 stays uint8 (a quarter of the memory); the model casts each batch.
    return images if images.dtype == np.uint8 else images.astype("float32", copy=False)


def finetune(
    name: str,
    x_train,
    y_train,
    x_val=None,
    y_val=None,
    epochs: int = TABLE_I_FINETUNE.epochs,
    batch_size: int = TABLE_I_FINETUNE.batch_size,
    learning_rate: float | None = None,
    weights=None,
    input_shape=None,
    *,
    num_classes: int | None = None,
    optimizer: str = TABLE_I_FINETUNE.optimizer,
    dropout: float = TABLE_I_FINETUNE.dropout,
    train_backbone: bool = True,
    alpha: float = 1.0,
    seed: int | None = None,
    verbose="auto",
) -> dict:
    """Fine-tune backbone ``name`` on face crops and report its training loss (Table I).

    Args:
        name: str. a ``BACKBONES`` key.
        x_train, y_train: arrays. images (N, H, W, C) in [0, 255] and integer labels.
        x_val, y_val: arrays or None. a held-out set, evaluated after training.
        epochs, batch_size: int. see ``TABLE_I_FINETUNE``.
        learning_rate: float or None. ``None``: the recipe's rate for ``optimizer``.
        weights: see ``resolve_imagenet_weights``.
        input_shape: tuple or None. defaults to the images' shape.
        num_classes: int or None. defaults to the largest label + 1.
        optimizer: str. ``"adam"`` (default) or ``"sgd"`` with momentum 0.9.
        dropout, train_backbone, alpha: see ``build_finetune_model``.
        seed: int or None. seeds Python, NumPy and the backend for a repeatable run.
        verbose: passed to ``keras.Model.fit``.

    Returns:
        dict with ``history`` (per-epoch metrics), ``final_train_loss`` (the
        last epoch's mean training loss, what Table I reports),
        ``final_train_accuracy``, ``val_loss``/``val_accuracy`` (``None``
        without a validation set) and the trained ``model``.
    """
    if (x_val is None) != (y_val is None):
        raise ConfigError("Pass both x_val and y_val, or neither.")
    if int(epochs) < 1 or int(batch_size) < 1:
        raise ConfigError(f"epochs and batch_size must be positive, got {epochs} and {batch_size}.")
    x_train, y_train = _check_arrays(x_train, y_train, "Training", input_shape)
    shape = tuple(x_train.shape[1:]) if input_shape is None else tuple(input_shape)
    if x_val is not None:
        x_val, y_val = _check_arrays(x_val, y_val, "Validation", shape)
    labels = y_train if y_val is None else np.concatenate([y_train, y_val])
    classes = int(labels.max()) + 1 if num_classes is None else int(num_classes)
    if labels.min() < 0 or labels.max() >= classes:
        raise DatasetError(
            f"Labels must lie in [0, {classes - 1}], got values from {labels.min()} "
            f"to {labels.max()}."
        )
    optimizer_instance = _make_optimizer(optimizer, learning_rate, TABLE_I_FINETUNE)
    if seed is not None:
        keras.utils.set_random_seed(int(seed))

    model = build_finetune_model(
        name,
        classes,
        input_shape=shape,
        weights=weights,
        dropout=dropout,
        train_backbone=train_backbone,
        alpha=alpha,
    )
    model.compile(
        optimizer=optimizer_instance,
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        _as_pixels(x_train),
        y_train.astype("int32"),
        epochs=int(epochs),
        batch_size=int(batch_size),
        shuffle=True,
        verbose=verbose,
    )
    result = {
        "history": {key: [float(v) for v in values] for key, values in history.history.items()},
        "final_train_loss": float(history.history["loss"][-1]),
        "final_train_accuracy": float(history.history["accuracy"][-1]),
        "val_loss": None,
        "val_accuracy": None,
        "model": model,
    }
    if x_val is not None:
        val_loss, val_accuracy = model.evaluate(
            _as_pixels(x_val),
            y_val.astype("int32"),
            batch_size=int(batch_size),
            verbose=0,
        )
        result["val_loss"] = float(val_loss)
        result["val_accuracy"] = float(val_accuracy)
    return result
