import keras
import numpy as np
import pytest

from fer_tf.data import ibug68
from fer_tf.errors import ConfigError
from fer_tf.models import registry
from fer_tf.models.landmark_ensemble import (
    EL_PARTS,
    NETWORKS,
    LandmarkPartEnsemble,
    baseline_ensemble,
    el_ensemble,
    expression_head,
    expression_network,
    feature_extractor,
    ftl_ensemble,
    landmark_head,
    landmark_network,
    landmark_subnetwork,
    num_part_points,
)


def _conv(k, cin, cout):
    return k * k * cin * cout + cout


def _extractor_params():
    """Sec. III-C1 by hand: 8 convs 3x3 with bias, 8 BNs of 4 C values each."""
    total, cin = 0, 3
    for filters in (16, 32, 64, 128):
        for _ in range(2):
            total += _conv(3, cin, filters) + 4 * filters
            cin = filters
    return total


def test_extractor_is_the_authors_architecture():
    extractor = feature_extractor()
    assert extractor.input_shape == (None, 160, 160, 3)
    assert extractor.output_shape == (None, 128)
    assert extractor.count_params() == _extractor_params() == 295_440  # "about 0.29 M"
    convs = [layer for layer in extractor.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [16, 16, 32, 32, 64, 64, 128, 128]
    assert all(c.padding == "same" and c.kernel_size == (3, 3) for c in convs)
    assert all(isinstance(c.kernel_initializer, keras.initializers.HeUniform) for c in convs)
    pools = [layer for layer in extractor.layers if isinstance(layer, keras.layers.MaxPooling2D)]
    assert [(p.pool_size, p.strides, p.padding) for p in pools] == [((3, 3), (2, 2), "same")] * 4
    # Conv -> BN -> ReLU order inside each block.
    names = [layer.name for layer in extractor.layers][1:4]
    assert names == ["block1_conv1", "block1_bn1", "block1_relu1"]


@pytest.mark.parametrize("num_classes, params", [(7, 329_367), (8, 329_496)])
def test_member_parameters_match_the_paper(num_classes, params):
    member = expression_network(landmark_subnetwork(num_classes, part="nose"))
    assert member.count_params() == params


def test_heads_shapes_and_sizes():
    nose = landmark_head(num_part_points("nose"))
    assert nose.output_shape == (None, 18)
    assert nose.count_params() == 128 * 128 + 128 + 128 * 18 + 18  # "0.019M"
    head = expression_head(8)
    assert head.output_shape == (None, 8)
    assert head.count_params() == 2 * (128 * 128 + 128) + 128 * 8 + 8  # "0.035M"
    assert head.layers[-1].dtype_policy.compute_dtype == "float32"
    probabilities = head(np.random.default_rng(0).normal(size=(3, 128)).astype("float32"))
    np.testing.assert_allclose(np.sum(np.asarray(probabilities), axis=-1), 1.0, rtol=1e-5)


def test_part_sizes_follow_ibug68():
    assert {p: num_part_points(p) for p in EL_PARTS} == {
        "eyebrows": 10, "eyes": 12, "nose": 9, "mouth": 20, "jaw": 17}
    assert num_part_points("all") == 68
    assert set(EL_PARTS) == set(ibug68.PART_NAMES)
    assert NETWORKS["el"] == EL_PARTS and NETWORKS["ftl"] == ("all",) * 5


def test_subnetwork_outputs_and_named_parts():
    subnet = landmark_subnetwork(7, part="mouth", input_shape=(32, 32, 3))
    out = subnet(np.zeros((2, 32, 32, 3), "float32"))
    assert set(out) == {"landmarks", "labels"}
    assert out["landmarks"].shape == (2, 40) and out["labels"].shape == (2, 7)
    for part in ("extractor", "landmark_head", "expression_head"):
        assert isinstance(subnet.get_layer(part), keras.Model)
    # Stage 2 of Sec. III-D2 freezes the extractor by name.
    subnet.get_layer("extractor").trainable = False
    assert subnet.count_params() - sum(int(np.prod(w.shape)) for w in subnet.trainable_weights) \
        == _extractor_params()
    assert landmark_network(subnet).output_shape == (None, 40)
    baseline = landmark_subnetwork(7, part=None, input_shape=(32, 32, 3))
    assert list(baseline.output) == ["labels"]
    with pytest.raises(ConfigError, match="no landmark head"):
        landmark_network(baseline)
    with pytest.raises(ConfigError, match="Unknown landmark part"):
        landmark_subnetwork(7, part="ears")


def test_ensemble_policy_is_the_sum_of_softmax(tmp_path):
    ensemble = el_ensemble(num_classes=7, input_shape=(32, 32, 3))
    assert [m.name for m in ensemble.members] == [f"el_{p}" for p in EL_PARTS]
    x = np.random.default_rng(1).random((3, 32, 32, 3)).astype("float32") * 2 - 1
    out = ensemble(x)
    members = np.stack([np.asarray(m(x)) for m in ensemble.members], axis=1)
    np.testing.assert_allclose(np.asarray(out["members"]), members, rtol=1e-5, atol=1e-6)
    # Eq. 4: argmax of the expression-wise sum; returned divided by M.
    np.testing.assert_allclose(np.asarray(out["probabilities"]), members.sum(axis=1) / 5,
                               rtol=1e-5, atol=1e-6)
    path = tmp_path / "ensemble.keras"
    ensemble.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, LandmarkPartEnsemble)
    np.testing.assert_allclose(np.asarray(loaded(x)["probabilities"]),
                               np.asarray(out["probabilities"]), rtol=1e-5, atol=1e-6)


def test_ensemble_policy_on_hand_made_members():
    constant = [np.array([0.6, 0.3, 0.1]), np.array([0.1, 0.5, 0.4]), np.array([0.1, 0.5, 0.4])]
    members = []
    for probabilities in constant:
        inputs = keras.Input(shape=(2,))
        logits = keras.layers.Dense(3, kernel_initializer="zeros",
                                    bias_initializer=keras.initializers.Constant(
                                        np.log(probabilities)))(inputs)
        members.append(keras.Model(inputs, keras.layers.Softmax()(logits)))
    out = LandmarkPartEnsemble(members)(np.zeros((1, 2), "float32"))
    np.testing.assert_allclose(np.asarray(out["probabilities"])[0], [0.8 / 3, 1.3 / 3, 0.9 / 3],
                               rtol=1e-5)
    # Sum rule picks class 1 although member 0 is the most confident single vote.
    assert int(np.argmax(out["probabilities"])) == 1


def test_networks_and_registry():
    assert baseline_ensemble(7, (32, 32, 3)).count_params() == \
        ftl_ensemble(7, (32, 32, 3)).count_params() == 5 * 329_367
    ensemble = registry.build_model("landmark_ensemble", num_classes=8)
    assert ensemble.count_params() == 5 * 329_496
    spec = registry.get_spec("landmark_subnet")
    assert spec.input_shape == (160, 160, 3) and spec.normalization == "symmetric"
    subnet = registry.build_model("landmark_subnet", input_shape=(32, 32, 3), part="eyes")
    assert subnet.output["landmarks"].shape == (None, 24)
    with pytest.raises(ConfigError, match="Unknown network"):
        registry.build_model("landmark_ensemble", network="vgg")


def test_fit_step_on_both_outputs():
    subnet = landmark_subnetwork(3, part="nose", input_shape=(32, 32, 3))
    subnet.compile(keras.optimizers.Adam(1e-2),
                   loss={"landmarks": "mae", "labels": "categorical_crossentropy"})
    rng = np.random.default_rng(0)
    x = rng.random((4, 32, 32, 3)).astype("float32")
    y = {"landmarks": rng.random((4, 18)).astype("float32"),
         "labels": np.eye(3, dtype="float32")[[0, 1, 2, 0]]}
    assert np.isfinite(subnet.fit(x, y, epochs=1, verbose=0).history["loss"][0])
