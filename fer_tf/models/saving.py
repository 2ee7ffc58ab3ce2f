"""The package's one reader of Keras model files (`.keras`, `.h5`).

Every class fer_tf writes is registered by `import fer_tf`, so no
custom_objects are needed. A file that cannot be read is one ConfigError
line naming it and why: missing, not a Keras file, or a model saved before
a fix that changed what its weights mean (e.g. `SplitAttention`'s layout).
"""

import os

from fer_tf.errors import ConfigError, FerTfError

#: Suffixes of the Keras model files this module reads.
KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")


def load_model(path, compile=False, hint=""):
    """The Keras model saved at `path`.

    Args:
        path: str or path-like. a `.keras` or `.h5` file.
        compile: bool. restore the training configuration too (`fer-tf
            evaluate` does not need it; resuming training does).
        hint: str. appended to the error line (e.g. "was the run trained to
            the end?").
    """
    import keras

    path = os.fspath(path)
    suffix = f"; {hint}" if hint else ""
    if not os.path.isfile(path):
        raise ConfigError(f"{path}: no such model file{suffix}.")
    try:
        return keras.saving.load_model(path, compile=compile)
    except FerTfError as e:  # the package's own refusal, already one line
        raise ConfigError(f"{path}: {e}") from None
    except Exception as e:  # Keras raises many kinds for a foreign file
        reason = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise ConfigError(f"{path}: not a Keras model file fer_tf can load ({reason})"
                          f"{suffix}.") from None
