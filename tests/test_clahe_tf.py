import cv2
import numpy as np
import pytest
import tensorflow as tf

from fer_tf.errors import ConfigError
from fer_tf.preprocess import image_ops
from fer_tf.preprocess.clahe_tf import clahe_tf


def _random(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _gradient(shape):
    """A smooth diagonal ramp with a little noise: the case CLAHE is for."""
    n, h, w, c = shape
    rows, cols = np.mgrid[0:h, 0:w]
    noise = np.random.default_rng(1).normal(0, 1.5, shape)
    ramp = 90 + 60 * (rows / max(h - 1, 1) + cols / max(w - 1, 1)) / 2
    images = ramp[None, :, :, None] + noise + 10 * np.arange(n)[:, None, None, None]
    return np.clip(np.rint(images), 0, 255).astype(np.uint8)


def _opencv(images, clip_limit=2.0, tile_grid=(8, 8)):
    """Per image, per channel cv2 CLAHE; tile_grid is (rows, columns)."""
    op = cv2.createCLAHE(clipLimit=clip_limit, tileGridSize=(tile_grid[1], tile_grid[0]))
    return np.stack([np.stack([op.apply(np.ascontiguousarray(image[..., c]))
                               for c in range(image.shape[-1])], axis=-1)
                     for image in images])


@pytest.mark.parametrize("make", [_random, _gradient])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [(48, 48), (37, 53), (160, 160)])
def test_matches_image_ops_clahe_exactly(size, channels, make):
    images = make((2, *size, channels))
    expected = np.stack([image_ops.clahe(image) for image in images])
    out = clahe_tf(tf.constant(images))
    assert out.dtype == tf.uint8 and out.shape == images.shape
    # Measured: max abs difference 0 (OpenCV 4.14); the brief allows 1.
    np.testing.assert_array_equal(out.numpy(), expected)
    assert not np.array_equal(out.numpy(), images)


def test_traces_once_for_dynamic_shapes_and_runs_in_tf_data():
    serve = tf.function(clahe_tf, input_signature=[
        tf.TensorSpec([None, None, None, None], tf.uint8)])
    for shape in [(2, 37, 53, 1), (1, 48, 40, 3)]:
        images = _gradient(shape)
        np.testing.assert_array_equal(serve(images).numpy(), _opencv(images))
    assert serve.experimental_get_tracing_count() == 1

    images = _random((3, 24, 20, 1), seed=2)
    ds = tf.data.Dataset.from_tensor_slices(images).batch(2).map(clahe_tf)
    np.testing.assert_array_equal(np.concatenate(list(ds.as_numpy_iterator())),
                                  _opencv(images))


@pytest.mark.parametrize("value", [0, 7, 128, 255])
def test_constant_image_stays_constant_as_in_opencv(value):
    images = np.full((2, 37, 53, 1), value, np.uint8)
    out = clahe_tf(images).numpy()
    np.testing.assert_array_equal(out, _opencv(images))
    assert len(np.unique(out)) == 1


@pytest.mark.parametrize("clip_limit, tile_grid", [(0.0, (8, 8)), (3.7, (3, 5)),
                                                   (40.0, (2, 4)), (1.5, (8, 8))])
def test_other_clip_limits_and_non_square_grids_match_opencv(clip_limit, tile_grid):
    images = _gradient((2, 30, 41, 1))
    images[1] = _random((30, 41, 1), seed=3)
    np.testing.assert_array_equal(clahe_tf(images, clip_limit, tile_grid).numpy(),
                                  _opencv(images, clip_limit, tile_grid))


@pytest.mark.parametrize("size", [(1, 1), (3, 5), (8, 8), (16, 9)])
def test_images_smaller_than_the_padding_reflect_like_opencv(size):
    images = _random((2, *size, 1), seed=4)
    np.testing.assert_array_equal(clahe_tf(images).numpy(), _opencv(images))


def test_float_images_holding_integers_give_the_uint8_result():
    images = _random((2, 37, 53, 3), seed=5)
    np.testing.assert_array_equal(clahe_tf(images.astype(np.float32)).numpy(),
                                  clahe_tf(images).numpy())


@pytest.mark.filterwarnings("ignore:.*tf.lite.Interpreter is deprecated")
def test_converts_to_tflite_builtins_with_dynamic_shape():
    serve = tf.function(clahe_tf, input_signature=[
        tf.TensorSpec([None, None, None, 1], tf.uint8)])
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [serve.get_concrete_function()], serve)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    interpreter = tf.lite.Interpreter(model_content=converter.convert())
    images = _gradient((2, 37, 53, 1))
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, images.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(index, images)
    interpreter.invoke()
    out = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_array_equal(out, _opencv(images))


def test_rejects_wrong_rank_and_bad_grid():
    with pytest.raises(ConfigError, match="N, H, W, C"):
        clahe_tf(np.zeros((8, 8, 1), np.uint8))
    with pytest.raises(ConfigError, match="tile_grid"):
        clahe_tf(np.zeros((1, 8, 8, 1), np.uint8), tile_grid=(0, 8))
    with pytest.raises(ConfigError, match="tile_grid"):
        clahe_tf(np.zeros((1, 8, 8, 1), np.uint8), tile_grid=8)


def test_image_ops_clahe_reads_the_grid_as_rows_and_columns_too():
    image = np.random.default_rng(3).integers(0, 256, (30, 41), dtype=np.uint8)
    np.testing.assert_array_equal(image_ops.clahe(image, 2.0, (3, 5)),
                                  clahe_tf(image[None, ..., None], 2.0, (3, 5)).numpy()[0, ..., 0])
