"""Records -> batched `tf.data.Dataset`, in big_vision's order.

    from_tensor_slices -> cache -> shuffle -> repeat -> map(preprocess, augment)
    -> batch -> prefetch

Caching the decoded uint8 tensors before the shuffle keeps every epoch's
shuffle fresh; augmentation runs after the cache so each epoch sees new
random views. Augmentations are Keras layers (`keras.ops`), so the very same
object can also sit inside a model and run under the JAX backend.
"""

import keras
import numpy as np
import tensorflow as tf

from fer_tf.errors import ConfigError

NORMALIZATIONS = ("unit", "symmetric", "none")


def normalize_image(image, mode):
    """uint8 [0, 255] -> float32 in [0, 1] ("unit"), [-1, 1] ("symmetric") or
    [0, 255] ("none", for models such as keras.applications that rescale inside)."""
    image = tf.cast(image, tf.float32)
    if mode == "unit":
        return image / 255.0
    if mode == "symmetric":
        return image / 127.5 - 1.0
    if mode == "none":
        return image
    raise ConfigError(f"Unknown normalization {mode!r}; expected one of {NORMALIZATIONS}.")


def match_channels(image, channels):
    """Repeats grayscale to 3 channels (landmark paper Sec. III-A) or averages
    colour to one; leaves the image alone when it already matches."""
    have = image.shape[-1]
    if channels is None or have == channels:
        return image
    if have == 1 and channels == 3:
        return tf.repeat(image, 3, axis=-1)
    if have == 3 and channels == 1:
        return tf.reduce_mean(image, axis=-1, keepdims=True)
    raise ConfigError(f"Cannot convert {have}-channel images to {channels} channels.")


def default_augmentation(rotation_degrees=10.0, shift=0.1, zoom=0.1, flip=True, seed=None):
    """Flip, rotation, translation and zoom as one Keras `Sequential` of core layers."""
    layers = []
    if flip:
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed))
    if rotation_degrees:
        layers.append(keras.layers.RandomRotation(rotation_degrees / 360.0,
                                                  fill_mode="nearest", seed=seed))
    if shift:
        layers.append(keras.layers.RandomTranslation(shift, shift, fill_mode="nearest",
                                                     seed=seed))
    if zoom:
        layers.append(keras.layers.RandomZoom(zoom, fill_mode="nearest", seed=seed))
    return keras.Sequential(layers, name="augmentation")


def make_dataset(records, batch_size=32, training=False, augment=None,
                 image_size=None, channels=None, normalization="unit",
                 one_hot=False, with_landmarks=False, shuffle_buffer=None,
                 repeat=False, cache=True, seed=0, drop_remainder=False):
    """Builds the input pipeline for `records`.

    Args:
        records: `fer_tf.data.Records`.
        batch_size: int. Examples per batch.
        training: bool. Shuffles and applies `augment` when True.
        augment: optional Keras layer/`Sequential` applied per example when
            training (a callable taking an image tensor and `training=`).
            With `with_landmarks`, it is called on {"images", "landmarks"}
            (pixel coordinates), e.g. a `LandmarkAwareAugmentation` built
            with `normalize_images=False, normalize_landmarks=False`.
        image_size: optional (height, width) to resize to (bilinear).
        channels: optional 1 or 3 to convert channels.
        normalization: "unit", "symmetric" or "none" (see `normalize_image`).
        one_hot: bool. Labels as one-hot float vectors (for label smoothing).
        with_landmarks: bool. Targets become {"labels", "landmarks"}; the
            landmarks are divided by the image size to lie in [0, 1].
        shuffle_buffer: shuffle buffer; defaults to the whole dataset.
        repeat: bool. Repeat indefinitely (use `steps_per_epoch`).
        cache: bool. Cache the raw tensors in memory.
        seed: int. Shuffle seed.
        drop_remainder: bool.

    Returns:
        A `tf.data.Dataset` of (image, label) or (image, {"labels", "landmarks"}).
    """
    if len(records) == 0:
        raise ConfigError(f"{records.name}: cannot build a pipeline from 0 images.")
    if with_landmarks and records.landmarks is None:
        raise ConfigError(f"{records.name} has no landmarks; with_landmarks=True "
                          "needs them.")
    num_classes = records.num_classes
    height, width = records.image_shape[:2]
    features = {"image": records.images, "label": records.labels.astype(np.int32)}
    if with_landmarks:
        features["landmarks"] = records.landmarks.astype(np.float32)

    def preprocess(ex):
        image = match_channels(ex["image"], channels)
        image = normalize_image(image, normalization)
        if image_size is not None and tuple(image_size) != (height, width):
            image = tf.image.resize(image, image_size, method="bilinear")
        landmarks = ex.get("landmarks")
        if landmarks is not None and image_size is not None:
            landmarks = landmarks * tf.constant(
                [image_size[1] / width, image_size[0] / height], tf.float32)
        if training and augment is not None:
            if with_landmarks:
                # One affine moves both (LandmarkAwareAugmentation with its
                # normalisation off: this pipeline scales both itself).
                moved = augment({"images": image, "landmarks": landmarks}, training=True)
                image, landmarks = moved["images"], moved["landmarks"]
            else:
                image = augment(image, training=True)
        label = ex["label"]
        if one_hot:
            label = tf.one_hot(label, num_classes)
        if not with_landmarks:
            return image, label
        out_h, out_w = image_size if image_size is not None else (height, width)
        scale = tf.constant([out_w, out_h], tf.float32)
        return image, {"labels": label, "landmarks": landmarks / scale}

    ds = tf.data.Dataset.from_tensor_slices(features)
    if cache:
        ds = ds.cache()
    if training:
        ds = ds.shuffle(shuffle_buffer or len(records), seed=seed,
                        reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.map(preprocess, num_parallel_calls=tf.data.AUTOTUNE,
                deterministic=not training)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    return ds.prefetch(tf.data.AUTOTUNE)
