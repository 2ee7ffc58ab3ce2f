"""fer_tf: Keras 3 reference implementations of four facial-expression papers.

Importing the package registers everything it can write to a `.keras` file:
every layer (`fer_tf.layers`), the optimizers Keras lacks (`fer_tf.optimizers`),
the losses of the recipes and every registered model's own classes (the
registry's model modules). So `import fer_tf; keras.saving.load_model(path)`
reloads any model fer_tf trained, with no custom_objects.
"""

__version__ = "0.1.0"


def _register_everything():
    from fer_tf.quiet import import_quietly

    import_quietly()  # TensorFlow's C++ start-up lines; FER_TF_VERBOSE=1 shows them
    from fer_tf import layers, optimizers  # noqa: F401
    from fer_tf.models import registry

    registry.load_all()


_register_everything()
