import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from fer_tf.data import ibug68
from fer_tf.errors import ConfigError, DatasetError
from fer_tf.layers.landmark_augment import LandmarkAwareAugmentation
from tests.helpers.layer_test import run_layer_test

PERM = ibug68.FLIP_PERMUTATION
# Landmarks that get a dot: closed under the flip permutation (36<->45,
# 48<->54) plus two mid-line points (chin 8, nose 30).
DOTTED = (8, 30, 36, 45, 48, 54)
CODES = {k: 40.0 + 30.0 * i for i, k in enumerate(DOTTED)}
PIXELS = dict(normalize_images=False, normalize_landmarks=False)


def dot_batch(seed, batch=4, height=56, width=64):
    """Black 2-channel images with a 3x3 dot per DOTTED landmark.

    Channel 0 is 255 on every dot, channel 1 holds a code naming the
    landmark the dot was drawn for, so a test can tell which point it sees.
    Each dotted landmark sits at the centre (x + 0.5, y + 0.5) of its dot's
    middle pixel (row y, column x).
    """
    rng = np.random.default_rng(seed)
    images = np.zeros((batch, height, width, 2), "float32")
    points = np.zeros((batch, 68, 2), "float32")
    margin = 16
    for b in range(batch):
        points[b, :, 0] = rng.uniform(margin, width - 1 - margin, 68)
        points[b, :, 1] = rng.uniform(margin, height - 1 - margin, 68)
        placed = []
        for k in DOTTED:
            while True:
                x = int(rng.integers(margin, width - margin))
                y = int(rng.integers(margin, height - margin))
                if all(abs(x - px) > 5 or abs(y - py) > 5 for px, py in placed):
                    break
            placed.append((x, y))
            points[b, k] = (x + 0.5, y + 0.5)
            images[b, y - 1 : y + 2, x - 1 : x + 2, 0] = 255.0
            images[b, y - 1 : y + 2, x - 1 : x + 2, 1] = CODES[k]
    return images, points


def check_dots_follow_landmarks(layer, images, points):
    """Asserts every dot lies under its transformed landmark; returns flips."""
    out = layer({"images": images, "landmarks": points}, training=True)
    out_images = keras.ops.convert_to_numpy(out["images"])
    out_points = keras.ops.convert_to_numpy(out["landmarks"])
    height, width = images.shape[1:3]
    flips = []
    for b in range(len(images)):
        x, y = np.floor(out_points[b, 36]).astype(int)
        flipped = bool(np.isclose(out_images[b, y, x, 1], CODES[45]))
        flips.append(flipped)
        for j in DOTTED:
            x, y = np.floor(out_points[b, j]).astype(int)
            assert 0 <= x < width and 0 <= y < height
            source = PERM[j] if flipped else j
            np.testing.assert_allclose(out_images[b, y, x], [255.0, CODES[source]], atol=0.01)
        flip_only = ibug68.flip_landmarks(points[b], width) if flipped else points[b]
        assert np.abs(out_points[b] - flip_only).max() > 0.5  # not just the flip
    return flips


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dots_stay_under_transformed_landmarks(seed):
    layer = LandmarkAwareAugmentation(shear=0.2, zoom=0.1, seed=seed, **PIXELS)
    images, points = dot_batch(seed, batch=6)
    flips = check_dots_follow_landmarks(layer, images, points)
    flips += check_dots_follow_landmarks(layer, images, points)
    assert any(flips) and not all(flips)


def test_flip_alone_mirrors_columns_and_permutes_indices():
    layer = LandmarkAwareAugmentation(
        rotation=0, translation=0, shear=0, seed=5, **PIXELS
    )
    images, points = dot_batch(7, batch=8, height=40, width=64)
    out = layer({"images": images, "landmarks": points}, training=True)
    out_images = keras.ops.convert_to_numpy(out["images"])
    out_points = keras.ops.convert_to_numpy(out["landmarks"])
    flips = []
    for b in range(8):
        flipped = not np.array_equal(out_images[b], images[b])
        flips.append(flipped)
        if flipped:
            # Column j goes to W - 1 - j, continuous x to W - x (ibug68).
            np.testing.assert_allclose(out_images[b], images[b, :, ::-1], atol=1e-3)
            expected = ibug68.flip_landmarks(points[b], 64)
        else:
            expected = points[b]
        np.testing.assert_allclose(out_points[b], expected, atol=1e-4)
    assert any(flips) and not all(flips)


@pytest.mark.parametrize("training", [False, None])
def test_inference_only_normalises(training):
    images, points = dot_batch(3)
    raw = LandmarkAwareAugmentation(**PIXELS)
    out = raw({"images": images, "landmarks": points}, training=training)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(out["images"]), images)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(out["landmarks"]), points)

    scaled = LandmarkAwareAugmentation()
    out = scaled({"images": images.astype("uint8"), "landmarks": points}, training=training)
    assert out["images"].shape == (4, 56, 64, 2) and out["images"].dtype == "float32"
    assert out["landmarks"].shape == (4, 68, 2) and out["landmarks"].dtype == "float32"
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(out["images"]), images / 127.5 - 1.0, atol=1e-6
    )
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(out["landmarks"]), points / [64.0, 56.0], atol=1e-6
    )


def test_normalised_training_output_ranges():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (4, 64, 64, 3)).astype("uint8")
    points = rng.uniform(16, 47, (4, 68, 2)).astype("float32")
    layer = LandmarkAwareAugmentation(seed=1)
    out = layer({"images": images, "landmarks": points}, training=True)
    out_images = keras.ops.convert_to_numpy(out["images"])
    out_points = keras.ops.convert_to_numpy(out["landmarks"])
    assert out_images.dtype == np.float32 and out_images.shape == (4, 64, 64, 3)
    assert -1.0 <= out_images.min() < -0.9 and 0.9 < out_images.max() <= 1.0
    assert 0.0 <= out_points.min() and out_points.max() <= 1.0
    assert not np.allclose(out_points, points / 64.0)


def test_seeded_layers_repeat_and_successive_calls_differ():
    images, points = dot_batch(4)
    inputs = {"images": images, "landmarks": points}
    first = LandmarkAwareAugmentation(seed=11)(inputs, training=True)
    again = LandmarkAwareAugmentation(seed=11)
    second = again(inputs, training=True)
    third = again(inputs, training=True)
    np.testing.assert_array_equal(first["landmarks"], second["landmarks"])
    assert not np.allclose(second["landmarks"], third["landmarks"])


def test_other_keys_pass_through_and_unbatched_inputs():
    images, points = dot_batch(5, batch=1)
    layer = LandmarkAwareAugmentation(seed=2, **PIXELS)
    out = layer(
        {"images": images[0], "landmarks": points[0], "label": np.int32(3)},
        training=True,
    )
    assert out["images"].shape == (56, 64, 2) and out["landmarks"].shape == (68, 2)
    assert int(out["label"]) == 3


def test_inside_tf_data_batched_and_unbatched():
    import tensorflow as tf

    images, points = dot_batch(8, batch=8)
    labels = np.arange(8, dtype="int32")
    layer = LandmarkAwareAugmentation(shear=0.2, seed=3, **PIXELS)
    data = {"images": images, "landmarks": points, "label": labels}

    per_image = (
        tf.data.Dataset.from_tensor_slices(data)
        .map(lambda d: layer(d, training=True))
        .batch(8)
    )
    per_batch = tf.data.Dataset.from_tensor_slices(data).batch(4).map(
        lambda d: layer(d, training=True)
    )
    for dataset in (per_image, per_batch):
        got = {k: [] for k in data}
        for element in dataset:
            for key, value in element.items():
                got[key].append(value.numpy())
        got = {k: np.concatenate(v) for k, v in got.items()}
        np.testing.assert_array_equal(got["label"], labels)
        assert got["images"].shape == images.shape and got["images"].dtype == np.float32
        replay = _Replay(got)
        flips = check_dots_follow_landmarks(replay, images, points)
        assert any(flips)


class _Replay:
    """Stands in for the layer: returns outputs tf.data already computed."""

    def __init__(self, outputs):
        self.outputs = outputs

    def __call__(self, inputs, training):
        return self.outputs


def test_layer_contract():
    # Build, symbolic/eager calls, config and .keras round trips, one fit
    # step (the random path inside a compiled train step) and the JAX
    # backend, compared in inference mode, where the layer only rescales.
    images, points = dot_batch(6)
    result = run_layer_test(
        LandmarkAwareAugmentation,
        init_kwargs=dict(
            rotation=10, translation=0.1, shear=0.2, zoom=0.1, interpolation="nearest",
            fill_mode="constant", fill_value=3.0, seed=9, name="aug",
        ),
        input_data={"images": images, "landmarks": points},
        expected_output_shape={"images": (4, 56, 64, 2), "landmarks": (4, 68, 2)},
        expected_num_trainable_weights=0,
        expected_num_non_trainable_weights=0,
    )
    assert result["layer"].get_config()["zoom"] == 0.1
    np.testing.assert_allclose(result["outputs"]["landmarks"], points / [64.0, 56.0],
                               atol=1e-6)
    np.testing.assert_allclose(result["outputs"]["images"], images / 127.5 - 1.0,
                               atol=1e-6)


def test_seeded_clone_from_config_repeats_the_augmentation():
    layer = LandmarkAwareAugmentation(shear=0.2, horizontal_flip=False, seed=9)
    clone = LandmarkAwareAugmentation.from_config(layer.get_config())
    images, points = dot_batch(1)
    inputs = {"images": images, "landmarks": points}
    augmented = layer(inputs, training=True)["landmarks"]
    np.testing.assert_array_equal(augmented, clone(inputs, training=True)["landmarks"])
    assert not np.allclose(augmented, points / [64.0, 56.0])


def test_bad_arguments_and_inputs_raise_clear_errors():
    with pytest.raises(ConfigError, match="rotation"):
        LandmarkAwareAugmentation(rotation=-1)
    with pytest.raises(ConfigError, match="zoom"):
        LandmarkAwareAugmentation(zoom=1.0)
    with pytest.raises(ConfigError, match="fill_mode"):
        LandmarkAwareAugmentation(fill_mode="mirror")
    layer = LandmarkAwareAugmentation()
    images, points = dot_batch(0, batch=1)
    with pytest.raises(DatasetError, match="'landmarks'"):
        layer({"images": images})
    with pytest.raises(DatasetError, match="68 iBUG"):
        layer({"images": images, "landmarks": points[:, :5]})
    with pytest.raises(DatasetError, match="last axis of 2"):
        layer({"images": images, "landmarks": points[..., :1]})
    with pytest.raises(DatasetError, match=r"\(B, H, W, C\)"):
        layer({"images": images, "landmarks": points[0]})
    no_flip = LandmarkAwareAugmentation(horizontal_flip=False, seed=0)
    out = no_flip({"images": images, "landmarks": points[:, :5]}, training=True)
    assert out["landmarks"].shape == (1, 5, 2)


def test_dots_follow_landmarks_under_jax_backend():
    script = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "import keras; assert keras.backend.backend() == 'jax'\n"
        "import test_landmark_augment as t\n"
        "flips = []\n"
        "for seed in (0, 1):\n"
        "    layer = t.LandmarkAwareAugmentation(shear=0.2, seed=seed, **t.PIXELS)\n"
        "    flips += t.check_dots_follow_landmarks(layer, *t.dot_batch(seed, batch=6))\n"
        "assert any(flips) and not all(flips)\n"
        "print('jax ok')\n"
    )
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    result = subprocess.run(
        [sys.executable, "-c", script, os.path.dirname(__file__)],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "jax ok" in result.stdout


def _affine_fit(source, target):
    """Largest residual and 2x2 part (x' = A @ x + t) of the least-squares
    affine map from `source` to `target` points."""
    design = np.c_[source, np.ones(len(source))]
    matrix = np.linalg.lstsq(design, target, rcond=None)[0]
    return np.abs(design @ matrix - target).max(), matrix[:2].T


def test_eyes_of_synthetic_faces_stay_under_transformed_eye_landmarks():
    from fer_tf.data.synthetic import make_synthetic

    faces = make_synthetic(
        num_subjects=2, images_per_class=1, size=64, channels=1, seed=0, occlusion_rate=0.0
    )
    layer = LandmarkAwareAugmentation(seed=8, **PIXELS)
    flips = []
    for _ in range(2):
        out = layer({"images": faces.images, "landmarks": faces.landmarks}, training=True)
        images = keras.ops.convert_to_numpy(out["images"])[..., 0]
        points = keras.ops.convert_to_numpy(out["landmarks"])
        for image, pts, before in zip(images, points, faces.landmarks):
            # The points are an exact affine image of the input points: of the
            # original order with det > 0, or of the mirrored order with det < 0.
            plain, plain_matrix = _affine_fit(before, pts)
            mirrored, mirrored_matrix = _affine_fit(before[PERM], pts)
            plain_det = np.linalg.det(plain_matrix)
            mirrored_det = np.linalg.det(mirrored_matrix)
            assert min(plain, mirrored) < 0.01 < max(plain, mirrored)
            flips.append(mirrored < plain)
            assert (mirrored_det if flips[-1] else -plain_det) < 0
            # Index 36-41 is still the eye on the image's left.
            assert pts[36:42, 0].mean() < pts[42:48, 0].mean()
            # The eye centre is darker than the face box around the points.
            x0, y0 = np.floor(pts.min(0)).astype(int)
            x1, y1 = np.ceil(pts.max(0)).astype(int)
            face_mean = image[y0 : y1 + 1, x0 : x1 + 1].mean()
            for eye in (slice(36, 42), slice(42, 48)):
                x, y = np.floor(pts[eye].mean(0)).astype(int)
                assert image[y - 1 : y + 2, x - 1 : x + 2].mean() < 0.85 * face_mean
    assert any(flips) and not all(flips)


def blob_batch(seed, batch=6, height=40, width=48, sigma=1.3):
    """One Gaussian blob per DOTTED landmark, each in its own channel, with
    the landmark at the centre (j + 0.5, i + 0.5) of the blob's peak pixel."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:height, 0:width]
    images = np.zeros((batch, height, width, len(DOTTED)), "float32")
    points = rng.uniform(12, 28, (batch, 68, 2)).astype("float32")
    for b in range(batch):
        for c, k in enumerate(DOTTED):
            i, j = int(rng.integers(12, height - 12)), int(rng.integers(12, width - 12))
            images[b, ..., c] = 255.0 * np.exp(
                -((rows - i) ** 2 + (cols - j) ** 2) / (2 * sigma**2)
            )
            points[b, k] = (j + 0.5, i + 0.5)
    return images, points


def centroids(images):
    """Intensity-weighted centre, in continuous (x, y), of each channel."""
    height, width = images.shape[1:3]
    ys, xs = np.mgrid[0:height, 0:width] + 0.5
    mass = images.sum(axis=(1, 2))
    x = np.einsum("bhwc,hw->bc", images, xs) / mass
    y = np.einsum("bhwc,hw->bc", images, ys) / mass
    return np.stack([x, y], axis=-1)  # (B, C, 2)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(rotation=0.0, translation=0.0, shear=0.0),
        dict(rotation=30.0, translation=0.0, shear=0.0, horizontal_flip=False),
        dict(rotation=0.0, translation=0.15, shear=0.0, horizontal_flip=False),
        dict(rotation=20.0, translation=0.1, shear=0.15, zoom=0.1),
    ],
    ids=["flip", "rotation", "shift", "all"],
)
def test_landmarks_land_on_the_moved_dot_centroid(kwargs):
    # The continuous convention of fer_tf.data.ibug68 checked on pixels: a
    # W - 1 - x flip, or a transform about (W - 1) / 2 applied to continuous
    # points, misses the moved blob by half a pixel or more.
    images, points = blob_batch(3, batch=8)
    layer = LandmarkAwareAugmentation(fill_mode="constant", seed=12, **kwargs, **PIXELS)
    out = layer({"images": images, "landmarks": points}, training=True)
    moved = centroids(keras.ops.convert_to_numpy(out["images"]))
    out_points = keras.ops.convert_to_numpy(out["landmarks"])
    flips = []
    for b in range(len(images)):
        # Channel c holds the blob of landmark DOTTED[c]; after a flip that
        # point is listed at its mirror index PERM[DOTTED[c]].
        plain = np.abs(out_points[b, list(DOTTED)] - moved[b]).max()
        mirrored = np.abs(out_points[b, PERM[list(DOTTED)]] - moved[b]).max()
        flips.append(mirrored < plain)
        assert min(plain, mirrored) < 0.08, (b, plain, mirrored)
    if kwargs.get("horizontal_flip", True):
        assert any(flips) and not all(flips)
    else:
        assert not any(flips)


def test_flip_and_rotation_are_drawn_independently():
    # Issue 7 item 3: one seed shared by a flip and a rotation layer makes
    # every flipped image rotate one way. Inside this layer each transform
    # gets its own draw, so over 200 samples the four (flip, sign of the
    # angle) cells are all about 50.
    rng = np.random.default_rng(0)
    points = rng.uniform(2, 14, (200, 68, 2)).astype("float32")
    images = np.zeros((200, 16, 16, 1), "float32")
    layer = LandmarkAwareAugmentation(
        rotation=15.0, translation=0.0, shear=0.0, seed=21, **PIXELS
    )
    out = keras.ops.convert_to_numpy(
        layer({"images": images, "landmarks": points}, training=True)["landmarks"]
    )
    counts = np.zeros((2, 2), int)
    for before, after in zip(points, out):
        plain, plain_matrix = _affine_fit(before, after)
        mirrored, mirrored_matrix = _affine_fit(before[PERM], after)
        flip = mirrored < plain
        matrix = mirrored_matrix if flip else plain_matrix
        assert min(plain, mirrored) < 1e-3
        # A = R(angle) @ diag(+-1, 1): A[0, 1] = -sin(angle) either way.
        counts[int(flip), int(matrix[0, 1] < 0)] += 1
    assert counts.sum() == 200 and counts.min() >= 30, counts
