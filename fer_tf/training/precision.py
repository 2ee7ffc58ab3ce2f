"""Which floating-point precision a training run computes in, and why.

A paper trained on a GPU with automatic mixed precision (float16 compute,
float32 weights, loss scaling) asks for `mixed_float16`; on a CPU that same
policy is emulated and a training step becomes far slower than in float32
(EfficientNet-B0, 96 x 96, batch 32, 2 cores: 2.0 images/s in float16,
23.8 in bfloat16, 48.9 in float32). `choose_precision("auto")` therefore
gives the paper's precision when a GPU is present and float32 otherwise;
an explicit request is kept, with a one-line warning for float16 on a CPU.

The choice names a Keras dtype policy (`PrecisionChoice.policy`):
`fit.train` applies `mixed_float16` with loss scaling when its recipe has
`mixed_precision=True` (`PrecisionChoice.loss_scaling`); bfloat16 keeps
float32's exponent range and needs no loss scaling, so building the model
inside `dtype_policy(choice.policy)` is all it takes.
"""

import contextlib
import dataclasses

import keras

from fer_tf.errors import ConfigError

#: What `--precision` accepts: "auto", or a compute precision.
PRECISIONS = ("auto", "float32", "bfloat16", "float16")

#: Compute precision -> Keras dtype policy (weights stay float32 in both mixed ones).
POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}

_CPU_FLOAT16 = ("float16 is emulated on CPUs: a training step runs about 25x slower than "
                "in float32 (EfficientNet-B0, 96 px, batch 32: 2.0 against 48.9 images/s)")


@dataclasses.dataclass(frozen=True)
class PrecisionChoice:
    """The precision a run uses.

    Args:
        requested: str. what was asked for (one of `PRECISIONS`).
        precision: str. what is used: "float32", "bfloat16" or "float16".
        reason: str. why, in one clause.
        gpu: bool. whether a GPU was found.
        warning: str. one line when the choice is known to be slow ("" if none).
    """

    requested: str
    precision: str
    reason: str
    gpu: bool
    warning: str = ""

    @property
    def policy(self):
        """The Keras dtype policy name ("float32", "mixed_bfloat16", "mixed_float16")."""
        return POLICIES[self.precision]

    @property
    def loss_scaling(self):
        """True for float16, whose small gradients underflow without loss scaling
        (`Recipe.mixed_precision` / `fit.train`)."""
        return self.precision == "float16"

    def describe(self):
        """One line for the start of a run: the policy and the reason."""
        return f"precision {self.policy} ({self.reason})"

    def to_dict(self):
        return dict(dataclasses.asdict(self), policy=self.policy)


def gpu_available():
    """True when the Keras backend sees a GPU (TensorFlow, JAX or PyTorch)."""
    backend = keras.backend.backend()
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            return bool(tf.config.list_physical_devices("GPU"))
        if backend == "jax":
            import jax

            return any(d.platform in ("gpu", "cuda", "rocm") for d in jax.devices())
        if backend == "torch":
            import torch

            return bool(torch.cuda.is_available())
    except (ImportError, RuntimeError):
        return False
    return False


def choose_precision(requested="auto", gpu=None, gpu_precision="float16"):
    """A `PrecisionChoice` for `requested` on this machine.

    Args:
        requested: str. "auto" (default), "float32", "bfloat16" or "float16".
        gpu: bool or None. whether a GPU is present (None: `gpu_available()`;
            tests pass it).
        gpu_precision: str. what "auto" picks on a GPU: the paper's own
            precision ("float16": automatic mixed precision).

    "auto" gives `gpu_precision` on a GPU and float32 on a CPU; an explicit
    precision is always kept, float16 on a CPU with a warning.
    """
    requested = "auto" if requested is None else str(requested).lower()
    if requested not in PRECISIONS:
        raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}; "
                          f"got {requested!r}.")
    if gpu_precision not in POLICIES:
        raise ConfigError(f"gpu_precision must be one of {', '.join(POLICIES)}; "
                          f"got {gpu_precision!r}.")
    gpu = gpu_available() if gpu is None else bool(gpu)
    device = "a GPU" if gpu else "no GPU"
    if requested == "auto":
        if gpu:
            return PrecisionChoice(requested, gpu_precision,
                                   f"auto: {device} found, the paper's precision", gpu)
        return PrecisionChoice(requested, "float32",
                               f"auto: {device} found, float32 on a CPU (float16 is emulated there)", gpu)
    warning = ""
    if requested == "float16" and not gpu:
        warning = f"warning: --precision float16 on a CPU: {_CPU_FLOAT16}; auto picks float32."
    return PrecisionChoice(requested, requested, f"requested; {device} found", gpu, warning)


@contextlib.contextmanager
def dtype_policy(policy):
    """Sets Keras' global dtype policy to `policy` (a name) for model
    construction, restoring the previous one after."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
