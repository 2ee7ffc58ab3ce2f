"""Geometric augmentation that moves a face image and its landmarks together.

Wadhawan & Gandhi, "Landmark-Aware and Part-based Ensemble Transfer Learning
Network for Facial Expression Recognition from Static Images", Sec. III-D:
images are flipped, rotated, sheared and translated, "the landmark
coordinates undergo the same transformations as their corresponding images",
then landmarks are normalised to [0, 1] and images to [-1, 1].

Landmarks follow the package's continuous pixel convention
(`fer_tf.data.ibug68`): the centre of pixel (row i, column j) is
(j + 0.5, i + 0.5), a horizontal flip maps x to W - x, and transforms are
taken about the image centre (W / 2, H / 2).
"""

import math

import keras
from keras import ops

from fer_tf.data import ibug68
from fer_tf.data.augment import register_augmentation
from fer_tf.data.pixels import scale_pixels
from fer_tf.data.seeds import derive_seed
from fer_tf.errors import ConfigError, DatasetError

_INTERPOLATIONS = ("bilinear", "nearest")
_FILL_MODES = ("constant", "nearest", "wrap", "reflect")


@keras.saving.register_keras_serializable(package="fer_tf")
class LandmarkAwareAugmentation(keras.layers.Layer):
    """Random flip/rotation/shear/shift/zoom applied to images and landmarks.

    One affine matrix per sample moves the image (through
    `keras.ops.image.affine_transform`) and its landmark points, so a point
    drawn at a landmark stays under the transformed landmark. A horizontal
    flip also swaps left/right iBUG-68 indices (`ibug68.FLIP_PERMUTATION`),
    so index 36 stays the outer corner of the eye on the image's left.
    Outside training the layer only normalises. Defaults are the authors'
    notebook augmentation (rotation 15, shift 0.05, shear 0.05, flip; fill
    mode "nearest" as in Keras' `ImageDataGenerator`). Reproduction note:
    `ImageDataGenerator` read `shear_range=0.05` as an angle in degrees (a
    shear of at most 0.05 degrees, i.e. none in effect); here `shear` is a
    shear factor as in Keras 3's `RandomShear` (x += k * y, |k| <= 0.05), so
    the shear the paper's Sec. III-D names actually happens.

    Args:
        rotation: float. maximum rotation in degrees; angle ~ U[-r, r].
        translation: float. maximum shift as a fraction of width (x) and
            height (y), drawn independently.
        shear: float. maximum horizontal shear factor k ~ U[-s, s].
        zoom: float. isotropic scale ~ U[1 - z, 1 + z] (1 = no zoom; > 1
            magnifies the face). The paper uses none (0).
        horizontal_flip: bool. flip half of the samples left-right.
        normalize_images: bool. map [0, 255] pixels to [-1, 1] after the
            transform (paper Sec. III-D); False keeps the input scale.
        normalize_landmarks: bool. divide x by W and y by H after the
            transform (the notebook's division by the 160 crop size); False
            returns pixel coordinates.
        interpolation: str. "bilinear" or "nearest".
        fill_mode: str. "nearest", "constant", "reflect" or "wrap".
        fill_value: float. pixel value for `fill_mode="constant"`, in the
            input scale (0 = black before normalisation).
        seed: int or None. seed of the layer's `SeedGenerator`.

    Inputs and outputs are dicts: "images" (B, H, W, C) (or (H, W, C)) in
    [0, 255], any real or integer dtype, and "landmarks" (B, K, 2) (or
    (K, 2)) float (x, y) in continuous pixel coordinates (`ibug68`); K must
    be 68 when `horizontal_flip` is on.
    Other keys pass through unchanged. Outputs are in the compute dtype;
    landmarks pushed off the frame by a transform are not clipped, so
    normalised landmarks can leave [0, 1] slightly near the border.

    Example:
    ```python
    augment = LandmarkAwareAugmentation(seed=41)
    ds = ds.map(lambda d: augment(d, training=True))  # images + landmarks
    out = augment({"images": x, "landmarks": pts}, training=False)  # scale
    ```

    Reference:
        Wadhawan & Gandhi, 2021 (arXiv:2104.11274), Sec. III-D.
    """

    #: The tf.data pipeline passes images and points to a layer that moves
    #: both (`fer_tf.data.pipeline`).
    moves_landmarks = True


    def __init__(
        self,
        rotation=15.0,
        translation=0.05,
        shear=0.05,
        zoom=0.0,
        horizontal_flip=True,
        normalize_images=True,
        normalize_landmarks=True,
        interpolation="bilinear",
        fill_mode="nearest",
        fill_value=0.0,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.rotation = _non_negative("rotation", rotation, upper=180.0)
        self.translation = _non_negative("translation", translation, upper=1.0)
        self.shear = _non_negative("shear", shear, upper=1.0)
        # A zoom of 1 would allow a zero scale, i.e. a singular matrix.
        self.zoom = _non_negative("zoom", zoom, upper=0.99)
        self.horizontal_flip = bool(horizontal_flip)
        self.normalize_images = bool(normalize_images)
        self.normalize_landmarks = bool(normalize_landmarks)
        if interpolation not in _INTERPOLATIONS:
            raise ConfigError(
                f"LandmarkAwareAugmentation: interpolation must be one of "
                f"{_INTERPOLATIONS}, got {interpolation!r}"
            )
        if fill_mode not in _FILL_MODES:
            raise ConfigError(
                f"LandmarkAwareAugmentation: fill_mode must be one of "
                f"{_FILL_MODES}, got {fill_mode!r}"
            )
        self.interpolation = interpolation
        self.fill_mode = fill_mode
        self.fill_value = float(fill_value)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        images, landmarks = self._check_inputs(inputs)
        unbatched = len(images.shape) == 3
        if unbatched:
            images = ops.expand_dims(images, 0)
            landmarks = ops.expand_dims(landmarks, 0)
        images = ops.cast(images, self.compute_dtype)
        landmarks = ops.cast(landmarks, self.compute_dtype)
        shape = ops.shape(images)
        height = ops.cast(shape[1], "float32")
        width = ops.cast(shape[2], "float32")

        if training:
            images, landmarks = self._augment(images, landmarks, height, width)

        if self.normalize_images:
            images = scale_pixels(images, "symmetric")
        if self.normalize_landmarks:
            size = ops.cast(ops.stack([width, height]), self.compute_dtype)
            landmarks = landmarks / size
        if unbatched:
            images = ops.squeeze(images, 0)
            landmarks = ops.squeeze(landmarks, 0)
        outputs = dict(inputs)
        outputs["images"] = images
        outputs["landmarks"] = landmarks
        return outputs

    def _augment(self, images, landmarks, height, width):
        batch = ops.shape(images)[0]
        # One draw per sample for: angle, shear, shift x, shift y, zoom, flip.
        u = keras.random.uniform(
            (batch, 6), minval=-1.0, maxval=1.0, seed=self.seed_generator
        )
        angle = u[:, 0] * (self.rotation * math.pi / 180.0)
        shear = u[:, 1] * self.shear
        shift_x = u[:, 2] * self.translation * width
        shift_y = u[:, 3] * self.translation * height
        scale = 1.0 + u[:, 4] * self.zoom
        if self.horizontal_flip:
            flip = u[:, 5] < 0.0
        else:
            flip = ops.zeros_like(u[:, 5], dtype="bool")
        sign = ops.where(flip, -1.0, 1.0)

        # Forward map (input point -> output point), about the centre c:
        #   q = R(angle) @ Shear(k) @ scale @ Flip @ (p - c) + c + t
        # written out for the 2x2 part A = [[a, b], [d, e]]. It is applied in
        # the pixel-index space of `affine_transform` (pixel centres at
        # integers, c = ((W - 1) / 2, (H - 1) / 2)); continuous landmarks are
        # index + 0.5, so they move there and back. The flip then sends
        # column j to W - 1 - j, i.e. continuous x to W - x.
        cos, sin = ops.cos(angle), ops.sin(angle)
        a = cos * scale * sign
        b = scale * (cos * shear - sin)
        d = sin * scale * sign
        e = scale * (sin * shear + cos)
        centre_x = (width - 1.0) / 2.0
        centre_y = (height - 1.0) / 2.0

        to_x = centre_x + shift_x
        to_y = centre_y + shift_y

        dx = ops.cast(landmarks[..., 0], "float32") - 0.5 - centre_x
        dy = ops.cast(landmarks[..., 1], "float32") - 0.5 - centre_y
        new_x = a[:, None] * dx + b[:, None] * dy + (to_x + 0.5)[:, None]
        new_y = d[:, None] * dx + e[:, None] * dy + (to_y + 0.5)[:, None]
        moved = ops.stack([new_x, new_y], axis=-1)
        if self.horizontal_flip:
            mirrored = ops.take(moved, ibug68.FLIP_PERMUTATION, axis=1)
            moved = ops.where(flip[:, None, None], mirrored, moved)

        # affine_transform maps each OUTPUT pixel to the INPUT point it
        # samples, so the image needs the inverse: p = A^-1 (q - c - t) + c.
        # det(A) = scale^2 * sign, never 0 because zoom < 1.
        det = scale * scale * sign
        ia, ib = e / det, -b / det
        id_, ie = -d / det, a / det
        off_x = centre_x - ia * to_x - ib * to_y
        off_y = centre_y - id_ * to_x - ie * to_y
        zeros = ops.zeros_like(ia)
        matrix = ops.stack([ia, ib, off_x, id_, ie, off_y, zeros, zeros], 1)
        images = ops.image.affine_transform(
            images,
            matrix,
            interpolation=self.interpolation,
            fill_mode=self.fill_mode,
            fill_value=self.fill_value,
            data_format="channels_last",
        )
        return images, ops.cast(moved, self.compute_dtype)

    def _check_inputs(self, inputs):
        if not isinstance(inputs, dict) or not {"images", "landmarks"} <= set(
            inputs
        ):
            got = sorted(inputs) if isinstance(inputs, dict) else type(inputs)
            raise DatasetError(
                "LandmarkAwareAugmentation expects a dict with keys 'images' "
                f"and 'landmarks', got {got}"
            )
        images, landmarks = inputs["images"], inputs["landmarks"]
        image_rank, point_rank = len(images.shape), len(landmarks.shape)
        if image_rank not in (3, 4) or point_rank != image_rank - 1:
            raise DatasetError(
                "LandmarkAwareAugmentation expects images (B, H, W, C) with "
                "landmarks (B, K, 2), or (H, W, C) with (K, 2); got images "
                f"{tuple(images.shape)} and landmarks {tuple(landmarks.shape)}"
            )
        if landmarks.shape[-1] != 2:
            raise DatasetError(
                "LandmarkAwareAugmentation expects (x, y) landmarks with a "
                f"last axis of 2, got landmarks {tuple(landmarks.shape)}"
            )
        if self.horizontal_flip and landmarks.shape[-2] != 68:
            raise DatasetError(
                "LandmarkAwareAugmentation with horizontal_flip=True needs "
                "all 68 iBUG points (to swap left and right indices), got "
                f"landmarks {tuple(landmarks.shape)}"
            )
        return images, landmarks

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "rotation": self.rotation,
                "translation": self.translation,
                "shear": self.shear,
                "zoom": self.zoom,
                "horizontal_flip": self.horizontal_flip,
                "normalize_images": self.normalize_images,
                "normalize_landmarks": self.normalize_landmarks,
                "interpolation": self.interpolation,
                "fill_mode": self.fill_mode,
                "fill_value": self.fill_value,
                "seed": self.seed,
            }
        )
        return config


def _non_negative(name, value, upper):
    value = float(value)
    if not 0.0 <= value <= upper:
        raise ConfigError(
            f"LandmarkAwareAugmentation: {name} must be in [0, {upper}], "
            f"got {value}"
        )
    return value


def landmark_augmentation(seed=None, **kwargs):
    """`LandmarkAwareAugmentation` in pixel units (the pipeline scales both):
    the recipes' "landmark" augmentation (landmark paper, REFERENCE_NOTES 2)."""
    kwargs.setdefault("normalize_images", False)
    kwargs.setdefault("normalize_landmarks", False)
    return LandmarkAwareAugmentation(seed=derive_seed(seed, "landmark_augment"), **kwargs)


register_augmentation("landmark", landmark_augmentation)
