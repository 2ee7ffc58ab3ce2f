"""ImageNet ``keras.applications`` backbones with a classifier head, for fine-tuning.

Every pretrained CNN the four papers fine-tune comes from here: EfficientNetB0
(the EfficientNet paper), VGG16/VGG19, ResNet50 and DenseNet121 (the CAMnet
thesis' comparison networks) and the PathNet paper's Table I baselines
(``papers/pathnet/baselines.py`` says which backbone stands for which row).

``BACKBONES`` holds one ``Backbone`` record per model: its constructor, the
ImageNet preprocessing its weights expect, its input sizes and the notop
weights file Keras publishes. ``build_classifier`` returns a functional model

    pixels [0, 255] -> "preprocess" -> "features" (the backbone, output the
    feature map) -> "pool" -> "dropout" -> "predictions" (float32 softmax)

whose backbone sub-model and head layers are separately named, so that
Grad-CAM reads the feature map and transfer learning freezes or retrains
parts by name: the backbone is named ``fer_tf.models.features.FEATURE_MAP``
as every model's feature map is, the head layers ``HEAD_LAYERS``.

Reproduction notes:

- ImageNet weights are found by ``fer_tf.weights.find_model_file``: the
  Keras cache first (the very file ``keras.utils.get_file`` stores), then the
  standard Keras download unless ``FER_TF_OFFLINE=1``/``offline=True``.
- The preprocessing is a layer of the model (``ImageNetInputPreprocessing``),
  identical to the backbone's ``keras.applications.<module>.preprocess_input``:
  "tf" scales to [-1, 1] (Inception, MobileNets, ResNet v2), "caffe" flips
  RGB to BGR and subtracts the ImageNet mean (VGG, ResNet v1), "torch" scales
  to [0, 1] and standardises with the ImageNet mean and deviation
  (DenseNet). EfficientNet rescales inside the network and takes [0, 255]
  as is ("none"). Grayscale faces are repeated to three channels.
- Backbones are built with random weights and the file loaded afterwards, as
  ``keras.applications`` does, so that a file that does not fit becomes a
  clear error. For EfficientNet Keras also inserts, only when asked for
  ``weights="imagenet"``, a rescaling that corrects its published
  normalisation statistics (the file stores the ImageNet standard deviation
  where a variance belongs, tensorflow/tensorflow#49930); loading the file
  here applies the same correction to the statistics, so the model equals
  Keras' own ImageNet EfficientNetB0.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
from collections.abc import Callable, Mapping

import keras
import numpy as np
from keras import ops

from fer_tf.errors import ConfigError
from fer_tf.models.features import FEATURE_MAP
from fer_tf.weights import find_model_file

#: The head layers after the backbone sub-model (named ``FEATURE_MAP``), in order.
HEAD_LAYERS = ("pool", "dropout", "predictions")

_KERAS_APPLICATIONS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/"
# EfficientNet's files live in a bucket folder of their own.
_EFFICIENTNET_URL = "https://storage.googleapis.com/keras-applications/"

# ImageNet channel statistics used by keras.applications.imagenet_utils.
_CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)
_TORCH_RGB_MEAN = (0.485, 0.456, 0.406)
_TORCH_RGB_STD = (0.229, 0.224, 0.225)

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
        preprocess_mode: str. what ``preprocess`` does, as an
            ``ImageNetInputPreprocessing`` mode: "tf", "caffe", "torch" or "none".
        default_size: int. the ImageNet input size (square).
        min_size: int. the smallest input side the constructor accepts.
        weights_file: str. the name ``keras.utils.get_file`` gives the ImageNet
            "notop" weights, with ``{alpha}`` and ``{rows}`` fields for the
            MobileNets whose file depends on width and input size.
        weights_folder_url: str. the folder of that file on Keras' server.
        imagenet_alphas: tuple of float. widths with ImageNet weights (MobileNets).
        weights_sizes: tuple of int. input sizes with their own weights file;
            any other size uses the ``default_size`` file, as Keras does.
        alpha_text: callable or None. how ``{alpha}`` is spelled in ``weights_file``.

    Example:
        >>> BACKBONES["vgg19"].notop_weights_file()
        'vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5'
    """

    name: str
    constructor: Callable[..., keras.Model]
    preprocess: Callable
    preprocess_mode: str
    default_size: int
    min_size: int
    weights_file: str
    weights_folder_url: str
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

    def notop_weights_url(self, alpha: float = 1.0, input_shape=None) -> str:
        """Where Keras itself downloads the notop weights from."""
        return self.weights_folder_url + self.notop_weights_file(alpha, input_shape)


def _entry(name, constructor, module, mode, weights_file, folder_url, default_size=224,
           min_size=32, **alpha_fields) -> Backbone:
    return Backbone(name=name, constructor=constructor, preprocess=module.preprocess_input,
                    preprocess_mode=mode, default_size=default_size, min_size=min_size,
                    weights_file=weights_file, weights_folder_url=folder_url, **alpha_fields)


def _resnet(name: str, keras_name: str, constructor, module) -> Backbone:
    # ResNet v1 weights were converted from Caffe, ResNet v2 from TF-slim.
    mode = "tf" if keras_name.endswith("v2") else "caffe"
    return _entry(name, constructor, module, mode,
                  f"{keras_name}_weights_tf_dim_ordering_tf_kernels_notop.h5",
                  _KERAS_APPLICATIONS_URL + "resnet/")


def _vgg(name: str, constructor, module) -> Backbone:
    return _entry(name, constructor, module, "caffe",
                  f"{name}_weights_tf_dim_ordering_tf_kernels_notop.h5",
                  _KERAS_APPLICATIONS_URL + f"{name}/")


_apps = keras.applications

BACKBONES: Mapping[str, Backbone] = {
    "efficientnet_b0": _entry("efficientnet_b0", _apps.EfficientNetB0, _apps.efficientnet,
                              "none", "efficientnetb0_notop.h5", _EFFICIENTNET_URL),
    "densenet121": _entry("densenet121", _apps.DenseNet121, _apps.densenet, "torch",
                          "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5",
                          _KERAS_APPLICATIONS_URL + "densenet/"),
    "inception_v3": _entry("inception_v3", _apps.InceptionV3, _apps.inception_v3, "tf",
                           "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
                           _KERAS_APPLICATIONS_URL + "inception_v3/",
                           default_size=299, min_size=75),
    "mobilenet": _entry("mobilenet", _apps.MobileNet, _apps.mobilenet, "tf",
                        "mobilenet_{alpha}_{rows}_tf_no_top.h5",
                        _KERAS_APPLICATIONS_URL + "mobilenet/",
                        imagenet_alphas=(0.25, 0.5, 0.75, 1.0),
                        weights_sizes=(128, 160, 192, 224), alpha_text=_mobilenet_v1_alpha),
    "mobilenet_v2": _entry("mobilenet_v2", _apps.MobileNetV2, _apps.mobilenet_v2, "tf",
                           "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{alpha}_{rows}"
                           "_no_top.h5",
                           _KERAS_APPLICATIONS_URL + "mobilenet_v2/",
                           imagenet_alphas=(0.35, 0.5, 0.75, 1.0, 1.3, 1.4),
                           weights_sizes=(96, 128, 160, 192, 224),
                           alpha_text=_mobilenet_v2_alpha),
    "resnet50": _resnet("resnet50", "resnet50", _apps.ResNet50, _apps.resnet),
    "resnet101": _resnet("resnet101", "resnet101", _apps.ResNet101, _apps.resnet),
    "resnet152": _resnet("resnet152", "resnet152", _apps.ResNet152, _apps.resnet),
    "resnet50_v2": _resnet("resnet50_v2", "resnet50v2", _apps.ResNet50V2, _apps.resnet_v2),
    "resnet101_v2": _resnet("resnet101_v2", "resnet101v2", _apps.ResNet101V2, _apps.resnet_v2),
    "resnet152_v2": _resnet("resnet152_v2", "resnet152v2", _apps.ResNet152V2, _apps.resnet_v2),
    "vgg16": _vgg("vgg16", _apps.VGG16, _apps.vgg16),
    "vgg19": _vgg("vgg19", _apps.VGG19, _apps.vgg19),
}


def get_backbone(name: str) -> Backbone:
    """The ``BACKBONES`` entry for ``name``; ``ConfigError`` listing the names otherwise."""
    key = str(name).strip().lower()
    if key not in BACKBONES:
        raise ConfigError(
            f"Unknown backbone {name!r}; available keras.applications backbones: "
            f"{', '.join(BACKBONES)}."
        )
    return BACKBONES[key]


def _check_alpha(backbone: Backbone, alpha: float) -> None:
    if float(alpha) not in backbone.imagenet_alphas:
        raise ConfigError(
            f"Backbone {backbone.name!r} has ImageNet weights only for alpha in "
            f"{list(backbone.imagenet_alphas)}, got alpha={alpha}; use one of them "
            "or weights='random'."
        )


def is_random_weights(weights) -> bool:
    """True for "random" / "none" (train from scratch); None is ImageNet."""
    return isinstance(weights, str) and weights.strip().lower() in ("random", "none")


def _is_imagenet(weights) -> bool:
    return weights is None or (isinstance(weights, str) and weights.strip().lower() == "imagenet")


def resolve_imagenet_weights(name: str, weights=None, *, alpha: float = 1.0, input_shape=None,
                             offline=None) -> str | None:
    """The weights file to load into backbone ``name``, or ``None`` for random init.

    Args:
        name: str. a ``BACKBONES`` key.
        weights: ``None`` or ``"imagenet"`` (the published ImageNet notop file,
            found or fetched by ``fer_tf.weights.find_model_file``), ``"random"``
            (random initialisation), or the path of a weights file (``.h5``,
            ``.weights.h5`` or ``.keras``).
        alpha: float. width multiplier (MobileNets only; selects the file).
        input_shape: tuple or None. model input shape (MobileNets: selects the file).
        offline: bool or None. never download; ``None`` reads ``FER_TF_OFFLINE``.

    Raises:
        MissingModelFileError: the ImageNet file is absent (and not fetched), or
            the given file does not exist.
        ConfigError: unknown backbone, alpha without ImageNet weights, or a file
            of a kind Keras cannot load.
    """
    backbone = get_backbone(name)
    if is_random_weights(weights):
        return None
    what = f"ImageNet weights of backbone {backbone.name!r}"
    how = "Or pass --weights random (weights='random') to train from random initialisation."
    if _is_imagenet(weights):
        path = find_model_file(
            what, backbone.notop_weights_file(alpha, input_shape), keras_cache=True,
            url=backbone.notop_weights_url(alpha, input_shape), how_to_get=how,
            offline=offline)
        return str(path)
    path = find_model_file(f"Weights file for backbone {backbone.name!r}",
                           pathlib.Path(os.fspath(weights)).name, user_path=weights,
                           how_to_get="Expected a Keras weights file (.h5, .weights.h5 or "
                                      ".keras), or pass 'imagenet' or 'random'.")
    if not path.name.endswith((".h5", ".hdf5", ".keras")):
        raise ConfigError(
            f"Weights file {path} for backbone {backbone.name!r} is not a Keras weights file: "
            "expected a name ending in .h5, .weights.h5, .hdf5 or .keras."
        )
    return str(path)


@keras.saving.register_keras_serializable(package="fer_tf")
class ImageNetInputPreprocessing(keras.layers.Layer):
    """A backbone's ImageNet input preprocessing as a layer (``keras.applications`` modes).

    Takes pixels in [0, 255]; a one-channel (grayscale) input is first repeated
    to three channels. The modes are those of
    ``keras.applications.imagenet_utils.preprocess_input``: ``"tf"`` scales to
    [-1, 1]; ``"caffe"`` flips RGB to BGR and subtracts the ImageNet channel
    means; ``"torch"`` scales to [0, 1], subtracts the ImageNet mean and divides
    by its standard deviation; ``"none"`` passes pixels on unchanged
    (EfficientNet normalises inside the network).

    Args:
        mode: str. ``"tf"``, ``"caffe"``, ``"torch"`` or ``"none"``.

    Example:
        >>> layer = ImageNetInputPreprocessing("tf")
        >>> tuple(layer(np.full((1, 4, 4, 1), 255.0, "float32")).shape)
        (1, 4, 4, 3)

    Reference:
        The preprocessing of each ``keras.applications`` model's published
        ImageNet weights (``preprocess_input`` of its module).
    """

    MODES = ("tf", "caffe", "torch", "none")

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
        if self.mode == "caffe":
            bgr = ops.flip(x, axis=-1)
            return bgr - ops.convert_to_tensor(_CAFFE_BGR_MEAN, dtype=self.compute_dtype)
        if self.mode == "torch":
            mean = ops.convert_to_tensor(_TORCH_RGB_MEAN, dtype=self.compute_dtype)
            std = ops.convert_to_tensor(_TORCH_RGB_STD, dtype=self.compute_dtype)
            return (x / 255.0 - mean) / std
        return x

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


def _correct_efficientnet_statistics(model: keras.Model) -> None:
    """Keras' ``weights="imagenet"`` EfficientNet divides by the standard deviation
    that its file stores as a variance; squaring that "variance" does the same."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.Normalization):
            variance = keras.ops.convert_to_numpy(layer.adapt_variance)
            if np.allclose(variance, _TORCH_RGB_STD, atol=1e-6):
                layer.adapt_variance.assign(np.square(variance))
                # The layer normalises with constants derived from its weights.
                layer.finalize_state()
            return


def build_backbone(name: str, input_shape, weights=None, *, alpha: float = 1.0,
                   offline=None) -> keras.Model:
    """The ``keras.applications`` feature extractor ``name`` (no top, no pooling),
    named ``FEATURE_MAP`` (its output is the feature map), with its weights loaded.

    Args:
        name: str. a ``BACKBONES`` key.
        input_shape: tuple. (height, width, 3) of preprocessed images.
        weights: see ``resolve_imagenet_weights``.
        alpha: float. width multiplier of ``mobilenet``/``mobilenet_v2``.
        offline: bool or None. see ``resolve_imagenet_weights``.
    """
    spec = get_backbone(name)
    if not spec.has_alpha and float(alpha) != 1.0:
        raise ConfigError(f"Backbone {spec.name!r} has no width multiplier alpha.")
    weights_path = resolve_imagenet_weights(name, weights, alpha=alpha, input_shape=input_shape,
                                            offline=offline)
    extra = {"alpha": float(alpha)} if spec.has_alpha else {}
    model = spec.constructor(include_top=False, weights=None, input_shape=tuple(input_shape),
                             pooling=None, name=FEATURE_MAP, **extra)
    if weights_path is not None:
        try:
            model.load_weights(weights_path)
        except (ValueError, OSError, KeyError) as error:
            raise ConfigError(
                f"Weights file {weights_path} does not fit backbone {spec.name!r}"
                f"{f' (alpha={alpha})' if extra else ''}: {' '.join(str(error).split())}"
            ) from error
        if spec.preprocess_mode == "none":
            _correct_efficientnet_statistics(model)
    return model


def build_classifier(
    name: str,
    num_classes: int,
    input_shape=None,
    weights=None,
    dropout: float = 0.0,
    train_backbone: bool = True,
    *,
    alpha: float = 1.0,
    offline=None,
    zero_head: bool = False,
) -> keras.Model:
    """ImageNet backbone + global average pooling + dropout + softmax classifier.

    Args:
        name: str. a ``BACKBONES`` key.
        num_classes: int. output classes.
        input_shape: tuple or None. (height, width, channels) of [0, 255]
            pixels; channels 1 is repeated to RGB in the model. ``None``: the
            backbone's ImageNet size, RGB.
        weights: ``None``/``"imagenet"`` (default), ``"random"`` or a file;
            see ``resolve_imagenet_weights``.
        dropout: float. dropout rate before the classifier.
        train_backbone: bool. ``False`` freezes the backbone (its batch norm then
            runs in inference mode) so that only the classifier learns.
        alpha: float. width multiplier of ``mobilenet``/``mobilenet_v2``.
        offline: bool or None. never download; ``None`` reads ``FER_TF_OFFLINE``.
        zero_head: bool. start the classifier's kernel at zero, so that the
            untrained model predicts the uniform distribution (big_vision's
            ``head_zeroinit``); ``False``: Keras' Glorot-uniform default.

    Returns:
        A functional ``keras.Model`` named ``<name>_classifier``: layers
        ``"pixels"`` (input), ``"preprocess"``, ``FEATURE_MAP`` (the
        backbone sub-model, output the last feature map) and ``HEAD_LAYERS``;
        the softmax is float32 under mixed precision.

    Example:
        >>> model = build_classifier("mobilenet", 7, (32, 32, 1), weights="random", alpha=0.25)
        >>> model.output_shape
        (None, 7)
    """
    spec = get_backbone(name)
    if int(num_classes) < 2:
        raise ConfigError(f"num_classes must be at least 2, got {num_classes}.")
    if not 0.0 <= float(dropout) < 1.0:
        raise ConfigError(f"dropout must be in [0, 1), got {dropout}.")
    shape = _input_shape(spec, input_shape)
    backbone = build_backbone(name, (shape[0], shape[1], 3), weights, alpha=alpha,
                              offline=offline)
    backbone.trainable = bool(train_backbone)

    inputs = keras.Input(shape=shape, name="pixels")
    x = ImageNetInputPreprocessing(spec.preprocess_mode, name="preprocess")(inputs)
    # A frozen backbone keeps its ImageNet batch-norm statistics (training=False).
    x = backbone(x, training=False) if not train_backbone else backbone(x)
    pool, drop, predictions = HEAD_LAYERS
    x = keras.layers.GlobalAveragePooling2D(name=pool)(x)
    x = keras.layers.Dropout(float(dropout), name=drop)(x)
    # float32 softmax keeps the loss stable under mixed precision.
    outputs = keras.layers.Dense(int(num_classes), activation="softmax", dtype="float32",
                                 kernel_initializer="zeros" if zero_head else "glorot_uniform",
                                 name=predictions)(x)
    return keras.Model(inputs, outputs, name=f"{spec.name}_classifier")
