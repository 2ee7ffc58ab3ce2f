"""The CAMnet thesis' model zoo (Ch. 4, Table 6.5-6.6), each a few lines.

ResNet34 and the attention ResNets are `fer_tf.models.resnet.resnet` with
different blocks; DenseNet121, VGG16/19 and ResNet50 are keras.applications
through `fer_tf.models.backbones.build_classifier` (their ImageNet weights
by `weights="imagenet"`, which their recipe asks for; the builders' own
default is "random" so listing and counting never needs a file). The trunk
models have no ImageNet weights in Keras, so they train from scratch here,
where the thesis fine-tuned PyTorch ImageNet weights (WPW in Table 6.5).

Reproduction notes: thesis Sec. 6.2.2 puts extra dense layers before the
classifier of some members (SE-ResNeXt101: 1024; BAM/CBAM: 2048); they are
kept (`head_units`). Attention placement follows each module's paper: SE and
CBAM on every block's residual branch, BAM after stages 1-3. Members have no
dropout: the thesis gives its 50% for CAMnet only (Sec. 6.2.1).

SE-ResNet34 uses basic blocks although Sec. 6.2.2 says it "uses bottleneck
block": 34 weight layers are [3, 4, 6, 3] basic blocks (33 convolutions and
the classifier); the same stages of bottleneck blocks have 50 (SE-ResNet50,
a zoo member of its own), and the ImageNet SE-ResNet34 the thesis fine-tuned
is a basic-block network (docs/papers/camnet.md, deviations).
"""

from fer_tf.models.backbones import build_classifier
from fer_tf.models.camnet.presets import IMAGE_SIZE, member_recipe
from fer_tf.models.registry import register_model
from fer_tf.models.resnet import resnet

_SHAPE = (*IMAGE_SIZE, 3)

#: name -> trunk arguments (He et al. Table 1 depths; ResNeXt 32x4d).
TRUNKS = {
    "resnet34": dict(block="basic", depths=(3, 4, 6, 3)),
    # Residual Masking Network (Pham et al. 2020; Table 6.4): ResNet34 with a
    # masking block after each stage, CAMnet without the split attention.
    "residual_masking": dict(block="basic", depths=(3, 4, 6, 3), stage_modules="masking",
                             masking_depths=(4, 3, 2, 1)),
    "se_resnet34": dict(block="basic", depths=(3, 4, 6, 3), block_attention="se"),
    "se_resnet50": dict(block="bottleneck", depths=(3, 4, 6, 3), block_attention="se"),
    "se_resnext101": dict(block="bottleneck", depths=(3, 4, 23, 3), groups=32, base_width=4,
                          block_attention="se", head_units=(1024,)),
    "cbam_resnet50": dict(block="bottleneck", depths=(3, 4, 6, 3), block_attention="cbam",
                          head_units=(2048,)),
    "bam_resnet50": dict(block="bottleneck", depths=(3, 4, 6, 3),
                         stage_modules=("bam", "bam", "bam", None), head_units=(2048,)),
}
#: registry name -> keras.applications backbone of `fer_tf.models.backbones`.
APPLICATIONS = {"densenet121": "densenet121", "vgg16": "vgg16", "vgg19": "vgg19",
                "resnet50": "resnet50"}


def _register_trunk(name, arguments):
    @register_model(name, paper="camnet", input_shape=_SHAPE, num_classes=7,
                    recipe=member_recipe(name),
                    description=f"CAMnet thesis zoo: {name} on the shared ResNet trunk")
    def build(input_shape=_SHAPE, num_classes=7, dropout=0.0):
        return resnet(input_shape, num_classes, dropout=dropout, name=name, **arguments)

    build.__name__ = name
    return build


def _register_application(name, backbone):
    @register_model(name, paper="camnet", input_shape=_SHAPE, num_classes=7,
                    normalization="none", recipe=member_recipe(name, weights="imagenet"),
                    description=f"CAMnet thesis zoo: keras.applications {backbone}, "
                                "ImageNet weights by its recipe")
    def build(input_shape=_SHAPE, num_classes=7, weights="random", dropout=0.0,
              offline=None):
        return build_classifier(backbone, num_classes, input_shape, weights=weights,
                                dropout=dropout, offline=offline)

    build.__name__ = name
    return build


BUILDERS = {name: _register_trunk(name, arguments) for name, arguments in TRUNKS.items()}
BUILDERS.update({name: _register_application(name, backbone)
                 for name, backbone in APPLICATIONS.items()})
