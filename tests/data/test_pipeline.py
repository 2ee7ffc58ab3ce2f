import numpy as np
import pytest
import tensorflow as tf

from fer_tf.data.pipeline import (default_augmentation, make_dataset, match_channels,
                                  normalize_image)
from fer_tf.errors import ConfigError
from tests.helpers.fake_data import tiny_records


@pytest.mark.parametrize("mode, lo, hi", [("unit", 0.0, 1.0), ("symmetric", -1.0, 1.0),
                                          ("none", 0.0, 255.0)])
def test_normalize_eager_and_in_tf_data_agree(mode, lo, hi):
    image = np.array([[[0], [255]]], np.uint8)
    eager = normalize_image(tf.constant(image), mode).numpy()
    graph = next(iter(tf.data.Dataset.from_tensors(image).map(
        lambda x: normalize_image(x, mode)))).numpy()
    np.testing.assert_allclose(eager, graph)
    assert eager.min() == pytest.approx(lo) and eager.max() == pytest.approx(hi)
    with pytest.raises(ConfigError):
        normalize_image(tf.constant(image), "zscore")


def test_match_channels_eager_and_in_tf_data():
    gray = np.arange(4, dtype=np.float32).reshape(2, 2, 1)
    rgb = match_channels(tf.constant(gray), 3).numpy()
    assert rgb.shape == (2, 2, 3) and np.all(rgb[..., 0] == rgb[..., 2])
    back = next(iter(tf.data.Dataset.from_tensors(rgb).map(lambda x: match_channels(x, 1))))
    np.testing.assert_allclose(back.numpy(), gray)


def test_pipeline_shapes_labels_and_order():
    r = tiny_records()
    ds = make_dataset(r, batch_size=5, image_size=(24, 24), channels=3)
    images, labels = [], []
    for x, y in ds:
        images.append(x.numpy())
        labels.append(y.numpy())
    x = np.concatenate(images)
    assert x.shape == (len(r), 24, 24, 3) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    np.testing.assert_array_equal(np.concatenate(labels), r.labels)


def test_pipeline_with_landmarks_scales_them_to_unit_range():
    r = tiny_records(size=16)
    x, y = next(iter(make_dataset(r, batch_size=4, with_landmarks=True, one_hot=True)))
    assert set(y) == {"labels", "landmarks"}
    assert y["labels"].shape == (4, 3)
    np.testing.assert_allclose(y["landmarks"].numpy().reshape(4, 68, 2),
                               r.landmarks[:4] / 16.0, rtol=1e-6)


def test_training_pipeline_shuffles_repeats_and_augments():
    r = tiny_records()
    aug = default_augmentation(seed=1)
    ds = make_dataset(r, batch_size=len(r), training=True, augment=aug, repeat=True, seed=0)
    it = iter(ds)
    x1, y1 = next(it)
    x2, y2 = next(it)
    assert sorted(y1.numpy()) == sorted(r.labels)
    assert not np.array_equal(y1.numpy(), r.labels)  # shuffled
    assert not np.allclose(x1.numpy(), x2.numpy())  # fresh augmentation each epoch
    plain = next(iter(make_dataset(r, batch_size=len(r))))[0].numpy()
    order = np.argsort(y1.numpy(), kind="stable")
    assert not np.allclose(np.sort(x1.numpy().ravel()), np.sort(plain.ravel()))
    assert order.shape == (len(r),)


def test_empty_records_and_missing_landmarks_are_clear_errors():
    r = tiny_records(landmarks=False)
    with pytest.raises(ConfigError, match="no landmarks"):
        make_dataset(r, with_landmarks=True)
    with pytest.raises(ConfigError, match="0 images"):
        make_dataset(r.subset(np.array([], int)))


def test_landmark_augmentation_inside_the_pipeline_moves_points_with_pixels():
    from fer_tf.layers.landmark_augment import LandmarkAwareAugmentation

    rng = np.random.default_rng(0)
    size = 32
    lm = rng.uniform(8, size - 8, (4, 68, 2)).astype(np.float32)
    images = np.zeros((4, size, size, 1), np.uint8)
    # One bright dot under landmark 30 (nose tip) of each image.
    for i in range(4):
        x, y = np.round(lm[i, 30]).astype(int)
        images[i, y - 1:y + 2, x - 1:x + 2] = 255
        lm[i, 30] = [x, y]
    from fer_tf.data.records import Records

    r = Records(images, [0, 1, 0, 1], ("anger", "fear"), landmarks=lm)
    aug = LandmarkAwareAugmentation(rotation=20, translation=0.05, shear=0.0,
                                    horizontal_flip=False, normalize_images=False,
                                    normalize_landmarks=False, seed=3)
    x, y = next(iter(make_dataset(r, batch_size=4, training=True, augment=aug,
                                  with_landmarks=True, image_size=(64, 64))))
    pts = y["landmarks"].numpy().reshape(4, 68, 2)[:, 30] * 64
    assert not np.allclose(pts, lm[:, 30] * 2), "the augmentation moved the points"
    for img, (px, py) in zip(x.numpy(), pts):
        assert img[int(round(py)), int(round(px)), 0] > 0.5


def _dot_images(n, size=32, row=6, col=20):
    images = np.zeros((n, size, size, 1), np.uint8)
    images[:, row - 1:row + 2, col - 1:col + 2] = 255
    return images


def test_each_random_layer_gets_its_own_seed_so_flip_and_rotation_are_independent():
    """Regression: one shared seed coupled flip and rotation (200 of 200 flipped
    images rotated the same way)."""
    size, n = 32, 200
    aug = default_augmentation(rotation_degrees=40, shift=0, zoom=0, seed=7)
    seeds = [layer.seed for layer in aug.layers]
    assert len(set(seeds)) == len(seeds)
    out = aug(tf.constant(_dot_images(n, size), tf.float32), training=True).numpy()[..., 0]
    ys, xs = np.mgrid[0:size, 0:size] + 0.5
    mass = out.sum(axis=(1, 2))
    cx = (out * xs).sum(axis=(1, 2)) / mass - size / 2
    cy = (out * ys).sum(axis=(1, 2)) / mass - size / 2
    flipped = cx < 0
    angle = np.degrees(np.arctan2(cy, np.abs(cx)))  # un-mirrored angle of the dot
    reference = np.degrees(np.arctan2(6.5 - size / 2, 20.5 - size / 2))
    turned = np.sign(np.where(flipped, -1, 1) * (angle - reference))
    both = [(f, t) for f, t in zip(flipped, turned) if t != 0]
    combos = {(bool(f), int(t)) for f, t in both}
    assert combos == {(True, 1), (True, -1), (False, 1), (False, -1)}, combos


def test_normalisation_comes_after_augmentation_in_pixel_units():
    r = tiny_records(size=8)

    import keras

    class Brighten(keras.layers.Layer):
        def call(self, x, training=None):
            return x + 10.0

    plain = next(iter(make_dataset(r, batch_size=4, normalization="unit")))[0].numpy()
    bright = next(iter(make_dataset(r, batch_size=4, training=True, augment=Brighten(),
                                    normalization="unit", shuffle_buffer=1)))[0].numpy()
    np.testing.assert_allclose(bright, plain + 10.0 / 255.0, atol=1e-6)


def test_train_and_eval_transforms_random_and_centre_crop_with_interpolation():
    from fer_tf.training.recipes import TransformConfig

    r = tiny_records(size=16)
    train_t = TransformConfig(resize=(20, 20), crop=(16, 16), interpolation="area")
    eval_t = TransformConfig(resize=(20, 20), crop=(16, 16), interpolation="area")
    ev = [next(iter(make_dataset(r, batch_size=len(r), transform=eval_t)))[0].numpy()
          for _ in range(2)]
    np.testing.assert_array_equal(ev[0], ev[1])
    big = tf.image.resize(tf.cast(r.images, tf.float32), (20, 20), method="area") / 255.0
    np.testing.assert_allclose(ev[0], big.numpy()[:, 2:18, 2:18], atol=1e-6)
    tr = make_dataset(r, batch_size=len(r), training=True, transform=train_t, repeat=True)
    it = iter(tr)
    a, b = next(it)[0].numpy(), next(it)[0].numpy()
    assert a.shape == (len(r), 16, 16, 1)
    assert not np.allclose(np.sort(a.ravel()), np.sort(b.ravel())), "random crops differ"
    lanczos = next(iter(make_dataset(r, batch_size=2, transform=TransformConfig(
        resize=(48, 48), interpolation="lanczos3"))))[0].numpy()
    assert lanczos.shape == (2, 48, 48, 1) and 0.0 <= lanczos.min() and lanczos.max() <= 1.0


def test_class_balanced_batches_draw_every_class_equally_often():
    from fer_tf.data.records import concatenate

    r = tiny_records(per_class=2)
    heavy = concatenate([r] + [r.subset(np.flatnonzero(r.labels == 0))] * 8)
    counts = np.bincount(heavy.labels)
    assert counts[0] > 4 * counts[1]
    ds = make_dataset(heavy, batch_size=32, training=True, class_balanced=True, seed=0)
    assert int(ds.cardinality()) == -(-len(heavy) // 32), "a cosine schedule can count steps"
    drawn = np.concatenate([np.concatenate([y.numpy() for _, y in ds]) for _ in range(3)])
    assert len(drawn) == 3 * len(heavy)
    share = np.bincount(drawn, minlength=3) / len(drawn)
    np.testing.assert_allclose(share, 1 / 3, atol=0.05)


def test_landmark_part_is_taken_after_the_flip_permutation():
    from fer_tf.data import ibug68
    from fer_tf.data.records import Records
    from fer_tf.layers.landmark_augment import LandmarkAwareAugmentation

    size, n = 32, 16
    lm = np.random.default_rng(1).uniform(4, 28, (n, 68, 2)).astype(np.float32)
    r = Records(np.zeros((n, size, size, 1), np.uint8), np.arange(n) % 2, ("anger", "fear"),
                landmarks=lm)
    flip_only = LandmarkAwareAugmentation(rotation=0, translation=0, shear=0,
                                          horizontal_flip=True, normalize_images=False,
                                          normalize_landmarks=False, seed=0)
    x, y = next(iter(make_dataset(r, batch_size=n, training=True, augment=flip_only,
                                  with_landmarks=True, landmark_part="eyes",
                                  shuffle_buffer=1)))
    got = y["landmarks"].numpy().reshape(n, 12, 2) * size
    eyes = ibug68.part_indices("eyes")
    kept = np.isclose(got, lm[:, eyes], atol=1e-3).all(axis=(1, 2))
    flipped = np.isclose(got, ibug68.flip_landmarks(lm, size)[:, eyes], atol=1e-3).all(axis=(1, 2))
    assert np.all(kept | flipped) and flipped.any() and kept.any()


def test_landmark_augmentation_also_serves_a_pipeline_without_landmark_targets():
    """The landmark paper's Baseline trains with the same affine augmentation."""
    from fer_tf.layers.landmark_augment import landmark_augmentation

    r = tiny_records(size=16)
    aug = landmark_augmentation(seed=1, rotation=15.0, translation=0.05, shear=0.05)
    x, y = next(iter(make_dataset(r, batch_size=len(r), training=True, augment=aug,
                                  shuffle_buffer=1)))
    plain = next(iter(make_dataset(r, batch_size=len(r))))[0].numpy()
    assert x.shape == plain.shape and y.shape == (len(r),)
    assert not np.allclose(x.numpy(), plain)


def test_deterministic_training_batches_repeat_from_run_to_run():
    """Issue 24: random augmentation drawn in parallel threads gives examples
    different draws from run to run; `deterministic` draws them in order."""
    from fer_tf.layers.landmark_augment import landmark_augmentation

    r = tiny_records()

    def batches():
        aug = landmark_augmentation(seed=3, rotation=15.0, translation=0.05, shear=0.05)
        ds = make_dataset(r, batch_size=8, training=True, seed=3, augment=aug,
                          with_landmarks=True, deterministic=True)
        return [np.asarray(x) for x, _ in ds]

    first, second = batches(), batches()
    assert len(first) == len(second) > 1
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
