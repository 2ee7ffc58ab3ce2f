"""Optimizers Keras 3 lacks; importing the package registers them for recipes."""

from fer_tf.optimizers.radam import RAdam
from fer_tf.training.recipes import register_optimizer


def _radam(config, learning_rate):
    """RAdam from a recipe's OptimizerConfig (CAMnet thesis Table 6.3)."""
    return RAdam(learning_rate, beta_1=config.beta_1, beta_2=config.beta_2,
                 epsilon=config.epsilon, weight_decay=config.weight_decay or None,
                 clipnorm=config.clipnorm)


register_optimizer("radam", _radam)

__all__ = ["RAdam"]
