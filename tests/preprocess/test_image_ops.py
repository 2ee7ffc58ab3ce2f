import numpy as np
import pytest

from fer_tf.errors import ConfigError
from fer_tf.preprocess import image_ops


def _low_contrast(shape, seed=0):
    rng = np.random.default_rng(seed)
    ramp = np.linspace(100, 140, shape[1])[None, :] + rng.normal(0, 2, shape[:2])
    ramp = np.clip(ramp, 0, 255).astype(np.uint8)
    return ramp if len(shape) == 2 else np.repeat(ramp[..., None], shape[2], axis=-1)


@pytest.mark.parametrize("shape", [(64, 64), (64, 64, 1), (64, 64, 3)])
def test_clahe_raises_contrast_and_keeps_shape_and_dtype(shape):
    image = _low_contrast(shape)
    out = image_ops.clahe(image)
    assert out.shape == image.shape and out.dtype == np.uint8
    assert out.std() > 1.3 * image.std()
    assert np.ptp(out) > np.ptp(image)


def test_clahe_works_on_each_channel_separately():
    image = np.stack([_low_contrast((64, 64), seed=s) for s in range(3)], axis=-1)
    image[..., 2] = 7  # a flat channel must stay flat, whatever the others do
    out = image_ops.clahe(image, clip_limit=2.0, tile_grid=(8, 8))
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], image_ops.clahe(image[..., c]))
    assert len(np.unique(out[..., 2])) == 1
    assert not np.array_equal(out[..., 0], out[..., 1])


def test_clahe_rejects_float_images():
    with pytest.raises(ConfigError, match="uint8"):
        image_ops.clahe(np.zeros((8, 8), np.float32))


def test_gray_to_rgb_repeats_luminance():
    rgb = np.zeros((4, 5, 3), np.uint8)
    rgb[..., 0] = 200
    out = image_ops.gray_to_rgb(rgb)
    assert out.shape == (4, 5, 3)
    assert np.all(out == out[..., :1])
    assert abs(int(out[0, 0, 0]) - round(0.299 * 200)) <= 1
    np.testing.assert_array_equal(image_ops.gray_to_rgb(np.full((2, 2), 9, np.uint8)),
                                  np.full((2, 2, 3), 9, np.uint8))


def test_sizes_are_height_width():
    assert image_ops.as_size(7) == (7, 7)
    assert image_ops.as_size((3, 5)) == (3, 5)
    image = np.zeros((10, 20, 3), np.uint8)
    assert image_ops.resize_image(image, (3, 5)).shape == (3, 5, 3)
    assert image_ops.resize_image(image[..., :1], (6, 4), "area").shape == (6, 4, 1)
    with pytest.raises(ConfigError, match=r"\(height, width\)"):
        image_ops.as_size("big")


def test_resize_moves_landmarks_with_the_pixels_in_continuous_coordinates():
    # A 4x4 bright block covering x in [20, 24), y in [8, 12): centre (22, 10)
    # in the continuous convention of fer_tf.data.ibug68.
    image = np.zeros((32, 48), np.uint8)
    image[8:12, 20:24] = 255
    corners = [[22.0, 10.0], [0.0, 0.0], [48.0, 32.0]]
    out, points = image_ops.resize_image(image, (8, 12), "area", landmarks=corners)
    assert out.shape == (8, 12)
    (row,), (col,) = np.nonzero(out == 255)
    assert (row, col) == (2, 5)
    # The block's centre lands on the centre of the one bright pixel, and the
    # image corners on the new corners: x scales by W'/W, y by H'/H.
    np.testing.assert_allclose(points, [[col + 0.5, row + 0.5], [0, 0], [12, 8]])
    np.testing.assert_allclose(
        image_ops.scale_landmarks([[24.0, 16.0]], (32, 48), (64, 24)), [[12.0, 32.0]])


@pytest.mark.parametrize("interpolation", sorted(image_ops.INTERPOLATIONS))
def test_resize_interpolations_keep_channels(interpolation):
    image = _low_contrast((48, 48, 1))
    out = image_ops.resize_image(image, 224, interpolation)
    assert out.shape == (224, 224, 1) and out.dtype == np.uint8


def test_lanczos_differs_from_bilinear_when_upscaling():
    image = _low_contrast((48, 48))
    lanczos = image_ops.resize_image(image, 224, "lanczos").astype(int)
    bilinear = image_ops.resize_image(image, 224, "bilinear").astype(int)
    assert np.abs(lanczos - bilinear).max() > 0


def test_resize_rejects_bad_arguments():
    with pytest.raises(ConfigError, match="interpolation"):
        image_ops.resize_image(np.zeros((4, 4), np.uint8), 8, "cubic-ish")
    with pytest.raises(ConfigError, match="positive"):
        image_ops.resize_image(np.zeros((4, 4), np.uint8), (0, 8))
    with pytest.raises(ConfigError, match="shape"):
        image_ops.resize_image(np.zeros((4, 4, 2), np.uint8), 8)


def test_ops_inside_tf_data_match_eager():
    import tensorflow as tf

    images = np.stack([_low_contrast((32, 32, 3), seed=s) for s in range(3)])
    gray = images[..., 0]
    ds = tf.data.Dataset.from_tensor_slices((images, gray)).map(
        lambda x, g: (image_ops.as_tf_op(image_ops.clahe)(x),
                      image_ops.as_tf_op(image_ops.gray_to_rgb, output_rank=3)(g),
                      image_ops.as_tf_op(image_ops.resize_image, size=16,
                                         interpolation="bilinear")(x)))
    for i, (c, g3, small) in enumerate(ds):
        assert c.shape.rank == 3 and g3.shape.rank == 3
        np.testing.assert_array_equal(c.numpy(), image_ops.clahe(images[i]))
        np.testing.assert_array_equal(g3.numpy(), image_ops.gray_to_rgb(gray[i]))
        np.testing.assert_array_equal(small.numpy(),
                                      image_ops.resize_image(images[i], 16, "bilinear"))
