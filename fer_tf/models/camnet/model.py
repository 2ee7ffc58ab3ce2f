"""CAMnet34, the thesis' Convolutional Attentional Masking Network (Ch. 5).

ResNet34's trunk (basic blocks 3, 4, 6, 3) whose 3x3 convolutions are
split-attention units (Sec. 5.1.1: radix 2, groups 3, 4, 6, 3 per stage),
with a masking block after each stage (Sec. 5.1.2: depths 4, 3, 2, 1)
applied as (1 + M(x)) * x (Eq. 5.1), average pooling, dropout 0.5 and a
7-way classifier (Sec. 6.2.1). Trained from scratch (NPW) by `CAMNET_RECIPE`.

Reproduction notes: the thesis' groups 3 and 6 do not divide 64, 256 and
512 channels, which a PyTorch or Keras grouped convolution refuses; the
units deal channels into near-equal groups instead, each cardinal group on
the same channels in every split, in the pooling and in the attention
(`fer_tf.layers.split_attention`'s module docstring). The thesis does not say whether
the CAU's output has a batch norm before the residual addition; here the
second unit is followed by one, as every residual branch of ResNet is.
"""

from fer_tf.data.augment import default_augmentation, register_augmentation
from fer_tf.models.camnet.presets import CAMNET_DROPOUT, CAMNET_RECIPE, IMAGE_SIZE, TABLE_6_1
from fer_tf.models.registry import register_model
from fer_tf.models.resnet import resnet


#: Sec. 5.1 hyper-parameters.
CAMNET34 = {"depths": (3, 4, 6, 3), "radix": 2, "groups": (3, 4, 6, 3),
            "masking_depths": (4, 3, 2, 1)}


def table_6_1_augmentation(seed=None, **kwargs):
    """Table 6.1's augmentation as a pipeline layer (pixel units)."""
    return default_augmentation(**{**TABLE_6_1, **kwargs}, seed=seed)


register_augmentation("camnet_table_6_1", table_6_1_augmentation)


@register_model("camnet34", paper="camnet", input_shape=(*IMAGE_SIZE, 3), num_classes=7,
                recipe=CAMNET_RECIPE,
                description="CAMnet thesis Ch. 5: ResNet34 with split-attention units "
                            "(radix 2, groups 3-4-6-3) and masking blocks (depth 4-3-2-1)")
def camnet34(input_shape=(*IMAGE_SIZE, 3), num_classes=7, dropout=CAMNET_DROPOUT):
    """Builds CAMnet34: nested `features` model, then the pooled head."""
    return resnet(input_shape, num_classes, "basic", CAMNET34["depths"],
                  groups=CAMNET34["groups"], split_attention_radix=CAMNET34["radix"],
                  stage_modules="masking", masking_depths=CAMNET34["masking_depths"],
                  dropout=dropout, name="camnet34")
