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
import json
import os
import platform
import time

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


def choose_precision(requested="auto", gpu=None, gpu_precision="float16", measure=None,
                     key=None, bf16_units=None):
    """A `PrecisionChoice` for `requested` on this machine.

    Args:
        requested: str. "auto" (default), "float32", "bfloat16" or "float16".
        gpu: bool or None. whether a GPU is present (None: `gpu_available()`;
            tests pass it).
        gpu_precision: str. what "auto" picks on a GPU: the paper's own
            precision ("float16": automatic mixed precision).
        measure: callable(policy) -> seconds per training step of this
            model (`training_step_seconds`), or None not to measure.
        key: str. the model, input and batch, for the measurement's cache.
        bf16_units: list or None. the CPU's bfloat16 units (None:
            `cpu_bf16_units()`; tests pass them).

    "auto" gives `gpu_precision` on a GPU. On a CPU it never gives float16:
    with `measure` and bfloat16 units it gives whichever of float32 and
    bfloat16 trains this model faster here (`measured_cpu_precision`),
    else float32. An explicit precision is always kept, float16 on a CPU
    with a warning.
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
        units = cpu_bf16_units() if bf16_units is None else list(bf16_units)
        if measure is not None and units:
            picked, reason = measured_cpu_precision(key or "model", measure)
            return PrecisionChoice(requested, picked, reason, gpu)
        why = "no bfloat16 units" if not units else "not measured"
        return PrecisionChoice(requested, "float32",
                               f"auto: {device} found, float32 on a CPU ({why}; float16 is "
                               "emulated there)", gpu)
    warning = ""
    if requested == "float16" and not gpu:
        warning = f"warning: --precision float16 on a CPU: {_CPU_FLOAT16}; auto picks float32."
    return PrecisionChoice(requested, requested, f"requested; {device} found", gpu, warning)


#: "auto" measures float32 against bfloat16 (a few traced steps each, cached
#: per machine) only for runs of at least this many training steps: shorter
#: runs would spend more on the measurement than it could save.
MEASURE_MIN_STEPS = 2000


def choose_run_precision(requested, build_model, batch_size, steps, key,
                         gpu_precision="float16"):
    """`choose_precision` for one training run of `steps` steps of the model
    `build_model()` builds: "auto" on a CPU measures a few of its training
    steps in float32 and bfloat16 (`training_step_seconds`) when the run has
    at least `MEASURE_MIN_STEPS` steps. `key` names the model, input and
    batch in the measurement's cache."""
    measure = None
    if steps >= MEASURE_MIN_STEPS:
        measure = training_step_seconds(build_model, batch_size)
    return choose_precision(requested, gpu_precision=gpu_precision, measure=measure, key=key)


#: bfloat16 must beat float32 by this factor to be picked on a CPU: a tie is
#: not worth its coarser rounding.
BFLOAT16_MARGIN = 1.15


def cpu_bf16_units():
    """The bfloat16 matrix instructions /proc/cpuinfo lists (AMX-BF16,
    AVX512-BF16); empty where there are none or no /proc."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f
                          if line.startswith("flags")), [])
    except OSError:
        return []
    return sorted({"amx_bf16", "avx512_bf16"} & set(flags))


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            return next((line.split(":", 1)[1].strip() for line in f
                         if line.startswith("model name")), platform.processor())
    except OSError:
        return platform.processor() or "unknown CPU"


def cache_path():
    """Where measured choices are kept: $FER_TF_CACHE or ~/.cache/fer_tf."""
    folder = os.environ.get("FER_TF_CACHE") or os.path.join(os.path.expanduser("~"),
                                                            ".cache", "fer_tf")
    return os.path.join(folder, "precision.json")


def training_step_seconds(build_model, batch_size, steps=3):
    """A `measure(policy)`: the fastest of `steps` training steps (after one
    warm-up) of the model `build_model()` builds under `policy`, on a random
    batch of `batch_size` with targets shaped like its outputs."""
    import numpy as np

    def measure(policy):
        with dtype_policy(policy):
            model = build_model()
        rng = np.random.default_rng(0)
        shape = tuple(model.inputs[0].shape[1:])
        x = rng.uniform(0, 1, (batch_size, *shape)).astype("float32")
        targets = [rng.uniform(0, 1, (batch_size, int(o.shape[-1]))).astype("float32")
                   for o in model.outputs]
        optimizer = keras.optimizers.SGD(1e-3)
        if policy == POLICIES["float16"]:
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        model.compile(optimizer=optimizer, loss="mse")
        target = targets if len(targets) > 1 else targets[0]
        model.train_on_batch(x, target)
        times = []
        for _ in range(steps):
            start = time.perf_counter()
            model.train_on_batch(x, target)
            times.append(time.perf_counter() - start)
        return min(times)

    return measure


def measured_cpu_precision(key, measure, path=None):
    """("float32" or "bfloat16", reason) on a CPU with bfloat16 units: the
    faster of a few measured training steps of this model in each (`measure`:
    policy -> seconds), bfloat16 only when `BFLOAT16_MARGIN` times faster.
    Cached per machine and `key` (model, input, batch) in `cache_path()`."""
    from fer_tf.io import atomic_write_json

    path = path or cache_path()
    full_key = f"{_cpu_name()} | {key}"
    try:
        with open(path) as f:
            cache = json.load(f)
    except (OSError, ValueError):
        cache = {}
    seconds = cache.get(full_key)
    source = "cached"
    if not (isinstance(seconds, dict) and {"float32", "bfloat16"} <= set(seconds)):
        seconds = {name: float(measure(POLICIES[name])) for name in ("float32", "bfloat16")}
        source = "measured"
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            atomic_write_json(path, dict(cache, **{full_key: seconds}))
        except OSError:  # a read-only home: measure again next time
            pass
    ratio = seconds["float32"] / max(seconds["bfloat16"], 1e-12)
    picked = "bfloat16" if ratio >= BFLOAT16_MARGIN else "float32"
    return picked, (f"auto on a CPU: a training step {source} {ratio:.2f}x as fast in "
                    f"bfloat16 as in float32 ({picked} picked)")


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
