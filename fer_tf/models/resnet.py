"""One ResNet trunk with pluggable blocks, the CAMnet thesis' model zoo's base.

He et al., "Deep Residual Learning for Image Recognition" (CVPR 2016),
Table 1: a 7x7/2 stem and 3x3/2 max-pool, four stages of basic (two 3x3) or
bottleneck (1x1, 3x3, 1x1 x4) blocks at 64, 128, 256, 512 base channels, the
first block of stages 2-4 striding by 2 with a 1x1 projection shortcut. The
same trunk gives, by its arguments only:
- ResNeXt (Xie et al. CVPR 2017): bottleneck width `base_width * groups`
  with a grouped 3x3 (`groups`, `base_width`);
- ResNeSt/CAMnet (Zhang et al. 2020; thesis Ch. 5): `split_attention`
  replaces every 3x3 convolution of a basic block by a `SplitAttention` unit
  with radix R and the stage's cardinality;
- SE/CBAM (`block_attention`): the module on each block's residual branch
  before the addition (Hu et al. Fig. 3, Woo et al. Fig. 3);
- BAM / masking (`stage_modules`): after a stage, BAM's F * (1 + A(F)) (Park
  et al. Fig. 1: after stages 1-3) or the masking block as
  x * (1 + M(x)) (thesis Eq. 5.1, `fer_tf.layers.masking.apply_mask`).

The model is `features` (a nested model: stem and stages, output the last
feature map; its name is `fer_tf.models.features.FEATURE_MAP`, for Grad-CAM
and transfer learning) followed by the head:
global average pooling "avg_pool", optional dense "head_dense<i>" layers,
"dropout" and a float32 softmax "predictions". Pixels arrive already scaled
by the pipeline's normalisation ("unit" for the thesis' rescale 1/255).
"""

import keras

from fer_tf.errors import ConfigError
from fer_tf.layers.attention import BAM, CBAM, SqueezeExcite
from fer_tf.layers.masking import MaskingBlock, apply_mask
from fer_tf.layers.split_attention import SplitAttention
from fer_tf.models.features import FEATURE_MAP

BLOCK_ATTENTION = {"se": SqueezeExcite, "cbam": CBAM}
WIDTHS = (64, 128, 256, 512)


def _per_stage(value, stages, what):
    values = tuple(value) if isinstance(value, (tuple, list)) else (value,) * stages
    if len(values) != stages:
        raise ConfigError(f"{what} needs one value per stage ({stages}), got {value!r}.")
    return values


def _conv_bn(x, filters, kernel, strides=1, groups=1, relu=True, name=""):
    x = keras.layers.Conv2D(filters, kernel, strides=strides, padding="same", groups=groups,
                            use_bias=False, name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x) if relu else x


def _shortcut(x, filters, strides, name):
    if strides == 1 and int(x.shape[-1]) == filters:
        return x
    return _conv_bn(x, filters, 1, strides, relu=False, name=f"{name}_proj")


def _finish(x, residual, attention, name):
    if attention is not None:
        x = BLOCK_ATTENTION[attention](name=f"{name}_{attention}")(x)
    x = keras.layers.Add(name=f"{name}_add")([x, residual])
    return keras.layers.ReLU(name=f"{name}_out")(x)


def basic_block(x, filters, strides, name, groups=1, attention=None, radix=None, **_):
    """Two 3x3 convolutions (or two split-attention units when `radix`)."""
    residual = _shortcut(x, filters, strides, name)
    if radix:
        # The unit has its own BN + ReLU before the attention-weighted sum.
        y = SplitAttention(filters, 3, strides, radix=radix, cardinality=groups,
                           name=f"{name}_cau1")(x)
        y = SplitAttention(filters, 3, 1, radix=radix, cardinality=groups,
                           name=f"{name}_cau2")(y)
        y = keras.layers.BatchNormalization(name=f"{name}_cau2_bn")(y)
    else:
        y = _conv_bn(x, filters, 3, strides, groups=groups, name=f"{name}_1")
        y = _conv_bn(y, filters, 3, groups=groups, relu=False, name=f"{name}_2")
    return _finish(y, residual, attention, name)


def bottleneck_block(x, filters, strides, name, groups=1, base_width=64, attention=None,
                     **_):
    """1x1 reduce, 3x3 (grouped: ResNeXt width), 1x1 to 4 x filters."""
    width = int(filters * base_width / 64) * groups
    residual = _shortcut(x, filters * 4, strides, name)
    y = _conv_bn(x, width, 1, name=f"{name}_1")
    y = _conv_bn(y, width, 3, strides, groups=groups, name=f"{name}_2")
    y = _conv_bn(y, filters * 4, 1, relu=False, name=f"{name}_3")
    return _finish(y, residual, attention, name)


BLOCKS = {"basic": basic_block, "bottleneck": bottleneck_block}


def resnet(input_shape, num_classes, block="basic", depths=(3, 4, 6, 3), widths=WIDTHS,
           groups=1, base_width=64, split_attention_radix=None, block_attention=None,
           stage_modules=None, masking_depths=(4, 3, 2, 1), head_units=(), dropout=0.0,
           name="resnet"):
    """Builds the trunk and head; see the module docstring.

    Args:
        input_shape: (height, width, channels).
        num_classes: int. classifier width.
        block: "basic" or "bottleneck".
        depths: blocks per stage.
        widths: base channels per stage.
        groups: int or per-stage tuple. grouped-convolution / cardinality.
        base_width: int. ResNeXt width per group (64: plain ResNet).
        split_attention_radix: int or None. split-attention units (basic only).
        block_attention: None, "se" or "cbam" on every block.
        stage_modules: None or per-stage tuple of None, "bam", "masking".
        masking_depths: per-stage depths of "masking" modules (thesis 4, 3, 2, 1).
        head_units: dense ReLU layers between pooling and dropout.
        dropout: float. dropout before the classifier (thesis Sec. 6.2.1: 0.5).
        name: str. the model's name.
    """
    if block not in BLOCKS:
        raise ConfigError(f"Unknown ResNet block {block!r}; expected one of "
                          f"{', '.join(BLOCKS)}.")
    if block_attention not in (None, *BLOCK_ATTENTION):
        raise ConfigError(f"Unknown block attention {block_attention!r}; expected None, "
                          f"{', '.join(BLOCK_ATTENTION)}.")
    if split_attention_radix and block != "basic":
        raise ConfigError("split_attention_radix applies to basic blocks (CAMnet34).")
    stages = len(depths)
    groups = _per_stage(groups, stages, "groups")
    widths = _per_stage(widths, stages, "widths")
    modules = _per_stage(stage_modules, stages, "stage_modules")
    masking_depths = _per_stage(masking_depths, stages, "masking_depths")
    for module in modules:
        if module not in (None, "bam", "masking"):
            raise ConfigError(f"Unknown stage module {module!r}; expected None, 'bam' or "
                              "'masking'.")

    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = _conv_bn(inputs, 64, 7, 2, name="stem")
    x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)
    build_block = BLOCKS[block]
    for s, (depth, width) in enumerate(zip(depths, widths), start=1):
        for b in range(depth):
            x = build_block(x, width, 2 if (b == 0 and s > 1) else 1, f"stage{s}_block{b + 1}",
                            groups=groups[s - 1], base_width=base_width,
                            attention=block_attention, radix=split_attention_radix)
        module = modules[s - 1]
        if module == "bam":
            x = BAM(name=f"stage{s}_bam")(x)
        elif module == "masking":
            mask = MaskingBlock(masking_depths[s - 1], name=f"stage{s}_masking")(x)
            x = apply_mask(x, mask)
    features = keras.Model(inputs, x, name=FEATURE_MAP)

    head_in = keras.Input(shape=tuple(input_shape), name="pixels")
    y = features(head_in)
    y = keras.layers.GlobalAveragePooling2D(name="avg_pool")(y)
    for i, units in enumerate(head_units, start=1):
        y = keras.layers.Dense(units, activation="relu", name=f"head_dense{i}")(y)
    y = keras.layers.Dropout(float(dropout), name="dropout")(y)
    outputs = keras.layers.Dense(int(num_classes), activation="softmax", dtype="float32",
                                 name="predictions")(y)
    return keras.Model(head_in, outputs, name=name)
