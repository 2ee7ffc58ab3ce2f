"""The CAMnet thesis zoo: registration, every trunk model's parameter count by
hand from its papers (pinned to torchvision's and timm's totals), every
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
def test_registered_trunk_models_build_at_224_with_their_hand_count(name):
    model = build_model(name, input_shape=(224, 224, 3), num_classes=7)
    assert model.output_shape == (None, 7)
    assert model.get_layer("features").output_shape[1:3] == (7, 7)
    assert _trainable(model) == trunk_params(7, **HAND_COUNTS[name])


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


# --- Parameter counts by hand, from each paper's definition -------------------
# Trainable parameters only: BN's gamma and beta (2 per channel); convolutions
# of the trunk have no bias; Dense maps and the attention modules' own
# convolutions have one.

def _bn(c):
    return 2 * c


def _se(c, r=16):
    """Hu et al. Fig. 3: dense C -> C/r -> C, with biases."""
    h = max(c // r, 1)
    return c * h + h + h * c + c


def _cbam(c, r=16, k=7):
    """Woo et al. Sec. 3: the shared MLP (as SE) and a k x k conv of 2 maps."""
    return _se(c, r) + k * k * 2 + 1


def _bam(c, r=16):
    """Park et al. Sec. 3: channel dense-BN-dense; spatial 1x1, two dilated
    3x3 (each with BN) and 1x1 to one map, convolutions with biases."""
    h = max(c // r, 1)
    channel = c * h + h + _bn(h) + h * c + c
    spatial = (c * h + h + _bn(h)) + 2 * (9 * h * h + h + _bn(h)) + h + 1
    return channel + spatial


def _residual_unit(i, f):
    return 9 * i * f + _bn(f) + 9 * f * f + _bn(f) + (i * f + _bn(f) if i != f else 0)


def _masking(c, depth):
    """Pham et al. Sec. 3.2 U-Net: encoder units C -> 2C -> ..., 2x2 stride-2
    transposed convolutions (with bias) up, units on [up, skip], a last unit."""
    widths = [c * 2 ** level for level in range(depth)]
    total = _residual_unit(c, c) + sum(_residual_unit(widths[l - 1], widths[l])
                                       for l in range(1, depth))
    for level in range(depth - 1):
        total += 4 * widths[level + 1] * widths[level] + widths[level]
        total += _residual_unit(2 * widths[level], widths[level])
    return total + _residual_unit(widths[0], c)


def _split_attention(i, f, radix=2, cardinality=1):
    """ResNeSt SplAtConv2d: grouped conv (R*K groups), BN, fc1 and fc2 grouped
    by K with biases, BN; inter = max(i * R // 4, 32); uneven groups dealt as
    np.array_split deals them."""
    deal = lambda n, g: [len(a) for a in np.array_split(np.arange(n), g)]  # noqa: E731
    inter = max(i * radix // 4, 32)
    sizes, inputs, inters = deal(f, cardinality), deal(i, radix * cardinality), \
        deal(inter, cardinality)
    conv = sum(9 * inputs[r * cardinality + k] * sizes[k]
               for r in range(radix) for k in range(cardinality))
    fc = sum(s * h + h * radix * s for s, h in zip(sizes, inters))
    return conv + _bn(f * radix) + fc + inter + _bn(inter) + f * radix


def trunk_params(num_classes, block="basic", depths=(3, 4, 6, 3), groups=(1, 1, 1, 1),
                 attention=None, stage_modules=(None,) * 4, masking_depths=(4, 3, 2, 1),
                 radix=None, head_units=(), base_width=64):
    total = 7 * 7 * 3 * 64 + _bn(64)
    inp = 64
    for s, (width, depth) in enumerate(zip((64, 128, 256, 512), depths)):
        out = width * (4 if block == "bottleneck" else 1)
        for b in range(depth):
            if block == "bottleneck":
                mid = int(width * base_width / 64) * groups[s]
                total += inp * mid + _bn(mid) + 9 * mid * mid // groups[s] + _bn(mid)
                total += mid * out + _bn(out)
            elif radix:
                total += _split_attention(inp, width, radix, groups[s])
                total += _split_attention(width, width, radix, groups[s]) + _bn(width)
            else:
                total += 9 * inp * width + _bn(width) + 9 * width * width + _bn(width)
            if inp != out:
                total += inp * out + _bn(out)
            total += {None: 0, "se": _se(out), "cbam": _cbam(out)}[attention]
            inp = out
        module = stage_modules[s]
        total += {None: 0, "bam": _bam(out) if module == "bam" else 0,
                  "masking": _masking(out, masking_depths[s]) if module == "masking" else 0
                  }[module]
    for units in head_units:
        total += inp * units + units
        inp = units
    return total + inp * num_classes + num_classes


#: Registered trunk models: their hand count (7 classes).
HAND_COUNTS = {
    "resnet34": dict(),
    "residual_masking": dict(stage_modules=("masking",) * 4),
    "se_resnet34": dict(attention="se"),
    "se_resnet50": dict(block="bottleneck", attention="se"),
    "se_resnext101": dict(block="bottleneck", depths=(3, 4, 23, 3), groups=(32,) * 4,
                          base_width=4, attention="se", head_units=(1024,)),
    "cbam_resnet50": dict(block="bottleneck", attention="cbam", head_units=(2048,)),
    "bam_resnet50": dict(block="bottleneck", stage_modules=("bam", "bam", "bam", None),
                         head_units=(2048,)),
    "camnet34": dict(radix=2, groups=(3, 4, 6, 3), stage_modules=("masking",) * 4),
}


def test_hand_counts_match_published_totals():
    # torchvision's resnet50 and timm's seresnet50 (1000 classes).
    assert trunk_params(1000, block="bottleneck") == 25_557_032
    assert trunk_params(1000, block="bottleneck", attention="se") == 28_088_024


def test_each_masked_stage_outputs_one_plus_mask_times_features():
    # Thesis Eq. 5.1: H = (1 + M(F)) * F after the stage's last block.
    model = resnet((16, 16, 3), 7, "basic", (1, 1, 1, 1), widths=(4, 4, 8, 8),
                   stage_modules="masking", masking_depths=(1, 1, 1, 1))
    features = model.get_layer("features")
    probe = keras.Model(features.inputs, [features.get_layer("stage4_block1_out").output,
                                          features.get_layer("stage4_masking").output,
                                          features.outputs[0]])
    x = np.random.default_rng(0).uniform(0, 1, (2, 16, 16, 3)).astype("float32")
    f, m, h = (keras.ops.convert_to_numpy(t) for t in probe([x], training=False))
    assert m.min() > 0
    np.testing.assert_allclose(h, (1 + m) * f, rtol=1e-5, atol=1e-6)


def test_se_resnet34_has_34_weight_layers_of_basic_blocks():
    # "34 layers" (Sec. 6.2.2) counts the stem, 32 block convolutions and the
    # classifier; bottleneck blocks in the same stages would give 50.
    model = build_model("se_resnet34", input_shape=(32, 32, 3), num_classes=7)
    layers = model.get_layer("features").layers
    convs = [l for l in layers if isinstance(l, keras.layers.Conv2D)
             and "_proj" not in l.name]
    assert len(convs) + 1 == 34
