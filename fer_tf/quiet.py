"""Silences TensorFlow's start-up noise for the command line and the scripts.

Importing TensorFlow prints C++ log lines (oneDNN notices, CUDA probing,
"All log messages before absl::InitializeLog()") straight to file
descriptor 2, below Python's `sys.stderr`, so `TF_CPP_MIN_LOG_LEVEL` alone
does not hide them all. `quiet_tensorflow()` raises the log levels and
imports TensorFlow and Keras with descriptor 2 pointed at /dev/null, then
restores it; with `verbose=True` it changes nothing. `import fer_tf` imports
them the same way (`import_quietly`); FER_TF_VERBOSE=1 shows the lines.
"""

import contextlib
import logging
import os
import sys
import warnings


@contextlib.contextmanager
def _stderr_to_devnull():
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real descriptor 2 (some notebook kernels)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_quietly():
    """Imports TensorFlow (when installed) and Keras with descriptor 2 silenced,
    once: `import fer_tf` calls it, unless FER_TF_VERBOSE=1. Returns the
    tensorflow module or None."""
    if os.environ.get("FER_TF_VERBOSE") == "1":
        import keras  # noqa: F401
        return sys.modules.get("tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with _stderr_to_devnull():
        try:
            import tensorflow as tf
        except ImportError:  # the JAX-only path
            tf = None
        import keras  # noqa: F401
        if tf is not None:
            # Device discovery probes CUDA and logs its failure on CPU machines.
            tf.config.list_physical_devices()
    return tf


def quiet_tensorflow(verbose=False):
    """Imports TensorFlow (when installed) and Keras without start-up noise."""
    if verbose:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    warnings.filterwarnings("ignore", module="keras")
    tf = import_quietly()
    if tf is not None:
        tf.get_logger().setLevel(logging.ERROR)
    try:
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    except ImportError:
        pass
