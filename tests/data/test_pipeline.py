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
    np.testing.assert_allclose(y["landmarks"].numpy(), r.landmarks[:4] / 16.0, rtol=1e-6)


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
    pts = y["landmarks"].numpy()[:, 30] * 64
    assert not np.allclose(pts, lm[:, 30] * 2), "the augmentation moved the points"
    for img, (px, py) in zip(x.numpy(), pts):
        assert img[int(round(py)), int(round(px)), 0] > 0.5
