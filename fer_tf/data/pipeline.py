"""Records -> batched `tf.data.Dataset`, in big_vision's order.

    from_tensor_slices -> cache -> [class balancing] -> shuffle -> repeat
    -> map(channels -> resize -> crop -> augment -> landmark part -> normalise)
    -> batch -> prefetch

Caching the decoded uint8 tensors before the shuffle keeps every epoch's
shuffle fresh; augmentation runs after the cache so each epoch sees new
random views. Augmentations are Keras layers (`keras.ops`), so the very same
object can also sit inside a model and run under the JAX backend. They work
in pixel units ([0, 255]): normalisation comes after them, so a colour
jitter's brightness delta means the same thing whatever the model's scaling.

Train and eval geometry differ by recipe (`TransformConfig`): e.g. resize
256 + random crop 224 for training and resize 256 + centre crop 224 (or a
plain resize 224) for evaluation; the interpolation is an option (bilinear,
area, lanczos3/5, bicubic, nearest).
"""

import numpy as np
import tensorflow as tf

from fer_tf.data.augment import (AUGMENTATIONS, NORMALIZATIONS,  # noqa: F401
                                default_augmentation, make_augmentation,
                                normalization_scale, register_augmentation, scale_pixels)
from fer_tf.data.seeds import derive_seed
from fer_tf.errors import ConfigError


def normalize_image(image, mode):
    """uint8 [0, 255] -> float32 in [0, 1] ("unit"), [-1, 1] ("symmetric") or
    [0, 255] ("none", for models such as keras.applications that rescale inside)."""
    return scale_pixels(tf.cast(image, tf.float32), mode)


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


def _is_landmark_aware(augment):
    """An augmentation that moves landmark points with the pixels says so with
    a `moves_landmarks` attribute (`LandmarkAwareAugmentation`); the pipeline
    then passes it the points as well."""
    return bool(getattr(augment, "moves_landmarks", False))


def _crop(image, landmarks, size, training, seed):
    """Random (training) or centred (evaluation) crop to (height, width)."""
    height, width = int(image.shape[0]), int(image.shape[1])
    ch, cw = size
    if (ch, cw) == (height, width):
        return image, landmarks
    if ch > height or cw > width:
        raise ConfigError(f"Cannot crop {ch}x{cw} from {height}x{width} images; resize "
                          "them to at least the crop size first.")
    if training:
        top = tf.random.uniform([], 0, height - ch + 1, tf.int32,
                                seed=derive_seed(seed, "crop_y"))
        left = tf.random.uniform([], 0, width - cw + 1, tf.int32,
                                 seed=derive_seed(seed, "crop_x"))
    else:
        top, left = tf.constant((height - ch) // 2), tf.constant((width - cw) // 2)
    image = tf.image.crop_to_bounding_box(image, top, left, ch, cw)
    if landmarks is not None:
        landmarks = landmarks - tf.cast(tf.stack([left, top]), tf.float32)
    return image, landmarks


def _balanced(ds, labels, num_classes, seed):
    """Every class equally often (landmark paper's class-balanced batches):
    one repeated, shuffled stream per class, sampled uniformly, as many
    examples per epoch as the dataset has."""
    present = [k for k in range(num_classes) if np.any(labels == k)]
    streams = [ds.filter(lambda ex, k=k: tf.equal(ex["label"], k))
               .shuffle(int(np.sum(labels == k)), seed=derive_seed(seed, f"class{k}"),
                        reshuffle_each_iteration=True).repeat() for k in present]
    mixed = tf.data.Dataset.sample_from_datasets(
        streams, weights=[1.0 / len(present)] * len(present),
        seed=derive_seed(seed, "balance"))
    # filter() hides the length; state it so schedules can count the steps.
    return mixed.take(len(labels)).apply(tf.data.experimental.assert_cardinality(len(labels)))


def make_dataset(records, batch_size=32, training=False, augment=None,
                 image_size=None, channels=None, normalization="unit",
                 one_hot=False, with_landmarks=False, shuffle_buffer=None,
                 repeat=False, cache=True, seed=0, drop_remainder=False,
                 transform=None, class_balanced=False, landmark_part=None,
                 deterministic=False):
    """Builds the input pipeline for `records`.

    Args:
        records: `fer_tf.data.Records`.
        batch_size: int. Examples per batch.
        training: bool. Shuffles, crops at random and applies `augment`.
        augment: optional Keras layer applied per example when training, in
            pixel units (before normalisation). With `with_landmarks`, it is
            called on {"images", "landmarks"} (pixel coordinates), e.g.
            `fer_tf.layers.landmark_augment.landmark_augmentation()`. Default:
            what `transform` names.
        image_size: optional (height, width) the images are resized to
            (the model's input size) when `transform` sets no resize.
        channels: optional 1 or 3 to convert channels.
        normalization: "unit", "symmetric" or "none" (see `normalize_image`).
        one_hot: bool. Labels as one-hot float vectors.
        with_landmarks: bool. Targets become {"labels", "landmarks"}; the
            landmarks are divided by the image size to lie in [0, 1] and
            flattened to (2k,) as x0, y0, x1, y1, ...
        shuffle_buffer: shuffle buffer; defaults to the whole dataset.
        repeat: bool. Repeat indefinitely (use `steps_per_epoch`).
        cache: bool. Cache the raw tensors in memory.
        seed: int. Seed of the shuffle and of every random op, each op with
            its own derived seed.
        drop_remainder: bool.
        transform: a `fer_tf.training.recipes.TransformConfig` (resize,
            crop, interpolation, named augmentation) or None.
        class_balanced: bool. Training batches draw every class equally often.
        landmark_part: an `fer_tf.data.ibug68` part name; the landmark target
            keeps that part's points, taken after augmentation (so after a
            flip's left/right permutation).
        deterministic: bool. Training batches identical from run to run with
            the same seed: the random augmentation draws its numbers in one
            thread, in the shuffled order. Otherwise training examples are
            augmented in parallel threads, whose order (and so which example
            gets which random draw) varies from run to run.

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
    resize = tuple(transform.resize) if transform is not None and transform.resize else (
        tuple(image_size) if image_size is not None else None)
    crop = tuple(transform.crop) if transform is not None and transform.crop else None
    interpolation = transform.interpolation if transform is not None else "bilinear"
    if augment is None and training:
        augment = make_augmentation(transform, seed)
    landmark_aware = _is_landmark_aware(augment)
    part = None
    if landmark_part is not None:
        from fer_tf.data import ibug68

        part = ibug68.part_indices(landmark_part)
    features = {"image": records.images, "label": records.labels.astype(np.int32)}
    if with_landmarks:
        features["landmarks"] = records.landmarks.astype(np.float32)

    def preprocess(ex):
        image = tf.cast(match_channels(ex["image"], channels), tf.float32)
        landmarks = ex.get("landmarks")
        size = (height, width)
        if resize is not None and resize != size:
            method = "lanczos3" if interpolation == "lanczos" else interpolation
            image = tf.image.resize(image, resize, method=method, antialias=False)
            if method not in ("bilinear", "nearest"):
                image = tf.clip_by_value(image, 0.0, 255.0)  # lanczos/bicubic overshoot
            if landmarks is not None:
                landmarks = landmarks * tf.constant(
                    [resize[1] / width, resize[0] / height], tf.float32)
            size = resize
        if crop is not None:
            image, landmarks = _crop(image, landmarks, crop, training, seed)
            size = crop
        if training and augment is not None:
            if landmark_aware and not with_landmarks:
                # The same affine as for landmark targets, on the image alone.
                image = augment({"images": image, "landmarks": tf.zeros((68, 2))},
                                training=True)["images"]
            elif with_landmarks:
                # One affine moves both (see fer_tf.data.ibug68 for the convention).
                moved = augment({"images": image, "landmarks": landmarks}, training=True)
                image, landmarks = moved["images"], moved["landmarks"]
            else:
                image = augment(image, training=True)
        image = normalize_image(image, normalization)
        label = ex["label"]
        if one_hot:
            label = tf.one_hot(label, num_classes)
        if not with_landmarks:
            return image, label
        if part is not None:
            landmarks = tf.gather(landmarks, part, axis=0)
        scale = tf.constant([size[1], size[0]], tf.float32)
        return image, {"labels": label, "landmarks": tf.reshape(landmarks / scale, [-1])}

    ds = tf.data.Dataset.from_tensor_slices(features)
    if cache:
        ds = ds.cache()
    if training and class_balanced:
        ds = _balanced(ds, records.labels, num_classes, seed)
    elif training:
        ds = ds.shuffle(shuffle_buffer or len(records), seed=seed,
                        reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    parallel = not (training and deterministic)
    ds = ds.map(preprocess, num_parallel_calls=tf.data.AUTOTUNE if parallel else None,
                deterministic=not training or bool(deterministic))
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    return ds.prefetch(tf.data.AUTOTUNE)
