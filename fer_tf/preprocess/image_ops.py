"""Small pure image operations shared by the papers' preprocessing.

Each op takes and returns NumPy arrays, so it runs eagerly, inside a
`tf.data` pipeline through `as_tf_op`, and in the one-off dataset
preprocessing that `fer_tf.preprocess.cache` stores on disk.
Images are uint8 (H, W), (H, W, 1) or (H, W, 3) RGB. Sizes are (height,
width), as everywhere in fer_tf; landmarks are (..., 2) float (x, y) in the
continuous pixel convention stated in `fer_tf.data.ibug68`.
"""

import cv2
import numpy as np

from fer_tf.errors import ConfigError

INTERPOLATIONS = {
    "nearest": cv2.INTER_NEAREST,
    "bilinear": cv2.INTER_LINEAR,  # landmark paper, Sec. III-A
    "bicubic": cv2.INTER_CUBIC,
    "area": cv2.INTER_AREA,
    "lanczos": cv2.INTER_LANCZOS4,  # CAMnet thesis, 48 -> 224 upscaling
}


def check_image(image):
    """Returns `image` as an array after checking it is (H, W[, 1 or 3])."""
    image = np.asarray(image)
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[-1] not in (1, 3)):
        raise ConfigError(f"Expected an image of shape (H, W), (H, W, 1) or "
                          f"(H, W, 3); got {image.shape}.")
    return image


def to_gray(image):
    """Returns a uint8 (H, W) luminance image (ITU-R BT.601, as OpenCV)."""
    image = check_image(image)
    if image.ndim == 2:
        return image
    if image.shape[-1] == 1:
        return image[..., 0]
    return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)


def gray_to_rgb(image):
    """Repeats the grayscale channel three times (landmark paper, Sec. III-A)."""
    gray = to_gray(image)
    return np.repeat(gray[..., None], 3, axis=-1)


def clahe(image, clip_limit=2.0, tile_grid=(8, 8)):
    """Contrast Limited Adaptive Histogram Equalization on every channel.

    The landmark paper (Sec. III-B) enhances contrast with CLAHE before face
    detection; its notebook uses clip 2.0 and 8x8 tiles on each channel.
    Keeps the input's shape and dtype (uint8).
    """
    image = check_image(image)
    if image.dtype != np.uint8:
        raise ConfigError(f"clahe expects a uint8 image, got {image.dtype}.")
    # `tile_grid` is (rows, columns) as every size in the package; OpenCV's
    # tileGridSize is (columns, rows).
    rows, cols = (int(v) for v in tile_grid)
    op = cv2.createCLAHE(clipLimit=float(clip_limit), tileGridSize=(cols, rows))
    if image.ndim == 2:
        return op.apply(np.ascontiguousarray(image))
    channels = [op.apply(np.ascontiguousarray(image[..., c]))
                for c in range(image.shape[-1])]
    return np.stack(channels, axis=-1)


def as_size(size):
    """(height, width) from an int (square) or a pair; both must be >= 1."""
    if isinstance(size, (int, np.integer)):
        size = (int(size), int(size))
    try:
        size = (int(size[0]), int(size[1]))
    except (TypeError, IndexError, ValueError) as e:
        raise ConfigError(f"Image size must be an int or (height, width), got "
                          f"{size!r}.") from e
    if min(size) < 1:
        raise ConfigError(f"Image size must be positive, got {size}.")
    return size


def scale_landmarks(landmarks, from_size, to_size):
    """Maps (x, y) points of an image of `from_size` = (height, width) to one
    of `to_size`.

    In the continuous convention (`fer_tf.data.ibug68`) the image spans
    [0, W] x [0, H], so a resize scales x by W'/W and y by H'/H with no
    offset; this is also where `cv2.resize` puts each pixel centre.
    """
    landmarks = np.asarray(landmarks, np.float32)
    scale = np.array([to_size[1] / from_size[1], to_size[0] / from_size[0]], np.float32)
    return (landmarks * scale).astype(np.float32)


def resize_image(image, size, interpolation="bilinear", landmarks=None):
    """Resizes to `size` = (height, width); scales `landmarks` with the image.

    Args:
        image: uint8 (H, W[, C]) array.
        size: (height, width) or an int for a square.
        interpolation: one of INTERPOLATIONS ("bilinear" for the landmark
            paper, "lanczos" for the CAMnet thesis's 48 -> 224 upscaling).
        landmarks: optional (..., 2) array of (x, y) continuous pixel
            coordinates.

    Returns:
        The resized image (same number of dimensions), or (image, landmarks)
        when `landmarks` is given.
    """
    image = check_image(image)
    if interpolation not in INTERPOLATIONS:
        raise ConfigError(f"Unknown interpolation {interpolation!r}; choose one "
                          f"of {sorted(INTERPOLATIONS)}.")
    size = as_size(size)
    # OpenCV takes dsize as (width, height).
    out = cv2.resize(np.ascontiguousarray(image), (size[1], size[0]),
                     interpolation=INTERPOLATIONS[interpolation])
    if image.ndim == 3 and out.ndim == 2:
        out = out[..., None]
    if landmarks is None:
        return out
    return out, scale_landmarks(landmarks, image.shape[:2], size)


def as_tf_op(fn, dtype="uint8", output_rank="same", **kwargs):
    """Wraps a NumPy image op for `tf.data.Dataset.map` (via tf.numpy_function).

    Args:
        fn: a NumPy op of this module (or any array -> array function).
        dtype: output dtype.
        output_rank: rank of the output: "same" as the input (CLAHE,
            resize), an int (3 for `gray_to_rgb` of an (H, W) image), or None
            for unknown.
        **kwargs: passed to `fn`.

    Example:
        ds = ds.map(lambda x, y: (as_tf_op(clahe)(x), y))
    """
    import tensorflow as tf  # only pipelines that use TF pay for the import

    def apply(image):
        image = tf.convert_to_tensor(image)
        out = tf.numpy_function(lambda a: np.asarray(fn(a, **kwargs), dtype=dtype),
                                [image], tf.as_dtype(dtype))
        rank = image.shape.rank if output_rank == "same" else output_rank
        if rank is not None:
            out.set_shape([None] * rank)
        return out

    return apply
