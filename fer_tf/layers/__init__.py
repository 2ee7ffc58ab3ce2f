"""The package's Keras layers, one idea per file; importing this package
registers every one of them for `.keras` files (`import fer_tf` does)."""

from fer_tf.layers.attention import BAM, CBAM, SqueezeExcite
from fer_tf.layers.color_jitter import ColorJitter
from fer_tf.layers.landmark_augment import LandmarkAwareAugmentation
from fer_tf.layers.masking import MaskingBlock, ResidualUnit
from fer_tf.layers.pathnet import PathNetLayer
from fer_tf.layers.random_crop import PerImageRandomCrop
from fer_tf.layers.random_erasing import RandomErasing
from fer_tf.layers.split_attention import SplitAttention

__all__ = ["BAM", "CBAM", "ColorJitter", "LandmarkAwareAugmentation", "MaskingBlock",
           "PathNetLayer", "PerImageRandomCrop", "RandomErasing", "ResidualUnit",
           "SplitAttention", "SqueezeExcite"]
