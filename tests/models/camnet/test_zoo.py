"""The CAMnet thesis zoo: registration, the ResNet34 parameter count, every
model at 224x224 (registered widths) and 48x48, one training step, and
identical outputs after a .keras round trip.

Too heavy for CI at full width (21-80M parameters each, several minutes of
CPU for a training step and a .keras file of hundreds of MB): the training
step and round trip of the TRUNK models run on the same trunk arguments at
an eighth of the widths (`SMALL`), CAMnet34 and SE-ResNeXt101 also with
fewer blocks per stage (see `_small`); their registered full-width builders are
checked at 224x224 for output shape. The keras.applications members build at
48x48 and 224x224 here (output shape); their training step and .keras round
trip are `fer_tf.models.backbones.build_classifier`'s, tested in
tests/models/test_backbones.py (a DenseNet121 step here took 30 s of CI CPU).
"""

import os

import keras
import numpy as np
import pytest

from fer_tf.models.camnet.model import CAMNET34
from fer_tf.models.camnet.zoo import APPLICATIONS, TRUNKS
from fer_tf.models.registry import build_model, get_spec, list_models
from fer_tf.models.resnet import resnet
from fer_tf.optimizers import RAdam

SMALL = (8, 16, 32, 64)
ZOO = sorted(set(TRUNKS) | set(APPLICATIONS) | {"camnet34"})


def resnet34_standard_params(num_classes):
    """He et al. Table 1 ResNet34, counted by hand (no conv biases, BN's
    gamma and beta, a dense head): 21,797,672 with 1000 classes."""
    bn = lambda c: 2 * c  # noqa: E731
    total = 7 * 7 * 3 * 64 + bn(64)
    inp = 64
    for width, depth in zip((64, 128, 256, 512), (3, 4, 6, 3)):
        for b in range(depth):
            total += 9 * inp * width + bn(width) + 9 * width * width + bn(width)
            if inp != width:
                total += inp * width + bn(width)
            inp = width
    return total + 512 * num_classes + num_classes


def _trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def test_every_zoo_model_is_registered_for_the_camnet_paper():
    names = {spec.name for spec in list_models() if spec.paper == "camnet"}
    assert set(ZOO) | {"baseline_cnn"} <= names
    assert get_spec("camnet34").default_recipe().optimizer.name == "radam"


def test_resnet34_matches_the_standard_count():
    assert resnet34_standard_params(1000) == 21_797_672  # torchvision's resnet34
    model = build_model("resnet34", input_shape=(48, 48, 3), num_classes=7)
    assert _trainable(model) == resnet34_standard_params(7) == 21_288_263


@pytest.mark.parametrize("name", sorted(set(TRUNKS) | {"camnet34"}))
def test_registered_trunk_models_build_at_224(name):
    model = build_model(name, input_shape=(224, 224, 3), num_classes=7)
    assert model.output_shape == (None, 7)
    assert model.get_layer("features").output_shape[1:3] == (7, 7)


def _small(name):
    # CAMnet: one block per stage (its 16 blocks of eager split-attention ops
    # took 45 s), every stage's split attention and masking depth kept.
    arguments = dict(TRUNKS[name]) if name in TRUNKS else dict(
        block="basic", depths=(1, 1, 1, 1), groups=CAMNET34["groups"],
        split_attention_radix=CAMNET34["radix"], stage_modules="masking",
        masking_depths=CAMNET34["masking_depths"])
    arguments["head_units"] = tuple(u // 64 for u in arguments.get("head_units", ()))
    if arguments.get("groups") == 32:
        # 32 groups of 4 channels per 64 would round to nothing at 1/8 width;
        # 23 blocks in stage 3 only repeat the block the others test.
        arguments.update(groups=4, base_width=16, depths=(1, 1, 2, 1))
    return resnet((48, 48, 3), 7, widths=SMALL, dropout=0.5, name=name, **arguments)


def _train_and_round_trip(model, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (2, 48, 48, 3)).astype("float32")
    y = np.array([1, 5])
    # Eager under TensorFlow: tracing a 100-layer train step costs a minute of
    # CI CPU. Compiled under JAX: eager JAX compiles every op of every shape.
    model.compile(optimizer=RAdam(1e-3), loss="sparse_categorical_crossentropy",
                  run_eagerly=keras.backend.backend() != "jax")
    before = [w.numpy().copy() for w in model.trainable_weights[:3]]
    loss = model.train_on_batch(x, y)
    assert np.isfinite(loss)
    assert any(not np.allclose(a, w.numpy()) for a, w in zip(before, model.trainable_weights))
    expected = keras.ops.convert_to_numpy(model(x, training=False))
    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(reloaded(x, training=False)),
                               expected, atol=1e-6)
    assert expected.shape == (2, 7)


@pytest.mark.parametrize("name", sorted(set(TRUNKS) | {"camnet34"}))
def test_trunk_models_train_and_round_trip_at_48(name, tmp_path):
    _train_and_round_trip(_small(name), tmp_path)


@pytest.mark.parametrize("name", sorted(APPLICATIONS))
def test_application_models_build_at_48_and_224(name):
    for size in (48, 224):
        model = build_model(name, input_shape=(size, size, 3))
        assert model.output_shape == (None, 7)
