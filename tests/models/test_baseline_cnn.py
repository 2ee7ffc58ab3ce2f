import keras
import numpy as np

from fer_tf.models import registry
from fer_tf.models.baseline_cnn import baseline_cnn


def _expected_params(c_in=1, classes=7):
    conv = lambda k, i, o: k * k * i * o + o  # noqa: E731
    bn = lambda c: 4 * c  # noqa: E731
    total = conv(5, c_in, 64) + conv(5, 64, 64) + bn(64)
    total += conv(5, 64, 128) + conv(5, 128, 128) + bn(128)
    total += conv(3, 128, 256) + conv(3, 256, 256) + bn(256)
    return total + (12 * 12 * 256) * classes + classes


def test_architecture_of_sec_4_1():
    model = baseline_cnn()
    assert model.input_shape == (None, 48, 48, 1)
    assert model.output_shape == (None, 7)
    assert model.count_params() == _expected_params() == 1_863_879
    kernels = [layer.kernel_size for layer in model.layers
               if isinstance(layer, keras.layers.Conv2D)]
    assert kernels == [(5, 5)] * 4 + [(3, 3)] * 2
    assert model.get_layer("dropout").rate == 0.2


def test_registry_lists_baseline_with_true_params():
    spec = registry.get_spec("baseline_cnn")
    desc = registry.describe(spec)
    assert desc["params"] == _expected_params()
    assert desc["paper"] == "camnet" and desc["input_shape"] == [48, 48, 1]


def test_fit_step_and_keras_round_trip(tmp_path):
    model = baseline_cnn(input_shape=(16, 16, 1), num_classes=3)
    model.compile("adam", "sparse_categorical_crossentropy")
    x = np.random.default_rng(0).random((4, 16, 16, 1)).astype("float32")
    y = np.array([0, 1, 2, 0])
    loss = model.fit(x, y, epochs=1, verbose=0).history["loss"][0]
    assert np.isfinite(loss)
    path = tmp_path / "m.keras"
    model.save(path)
    np.testing.assert_allclose(keras.saving.load_model(path).predict(x, verbose=0),
                               model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
