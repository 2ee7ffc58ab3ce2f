"""Parameters, FLOPs, storage and measured latency of any built Keras model.

FLOPs follow Wadhawan & Gandhi (IEEE TAI 2022), Sec. III-E:
    convolution      2 * Ci * k^2 * Co * W * H        (Eq. 7)
    fully connected  2 * I * O                        (Eq. 8)
    max-pooling      (W / stride) * (H / stride) * Co (Eq. 9)
with batch normalisation folded into the adjacent convolution (it is an
affine map, so it costs nothing after folding) and activations and global
average pooling neglected, as the paper does; every other layer costs 0 in
this count. FLOPs are per image (batch 1); bias additions are not counted.

Reading of Eq. 7: it counts one k x k x Ci dot product (k^2 * Ci
multiply-adds = 2 * k^2 * Ci FLOPs) for each of the Co output channels at
each of W * H positions. The paper defines W, H as the input map's size,
which for its stride-1 "same" convolutions IS the output map's size; for a
strided or "valid" convolution only the output positions are computed, so
the counter uses the output size there (a 7x7 stride-2 stem on 64 x 64 costs
a quarter of the input-size figure). A transposed convolution applies its
kernel at every INPUT position, so it uses the input size, literally as the
paper writes it. A grouped convolution sees Ci / groups channels per filter;
a depthwise one Ci * depth_multiplier filters of one channel; a separable
one is its depthwise part plus a 1x1 convolution. Eq. 9 likewise counts one
operation per output element, which is W/stride x H/stride for "same"
pooling. With these readings the authors' sub-network at 160 x 160 costs
0.671 GFLOPs (0.335 G multiply-adds), not the 0.555 the paper prints; see
README, "Efficiency".

`all_ops=True` adds what the paper neglects: bias additions and fused
activations of conv/dense layers, one operation per element of every
activation layer, kernel-area operations per output of every pooling
(max, average; global pooling: one per input element), 2 per element for
batch normalisation (scale and shift) and 4 for layer/group normalisation,
2 for rescaling/normalisation layers, and one per output element for each
extra operand of an add/subtract/multiply/average/maximum/minimum layer or
functional-graph keras.ops node (this is where attention multiplications
appear), 2 * K per output element of a graph matmul.

How the walk works: the model is called once, eagerly, on one all-zero
example while every `keras.Operation.__call__` is recorded, so nested
models, shared layers (counted per call) and subclassed models are counted
from the shapes that actually flow. Layers of known types are counted by the
formulas above; anything else is opened and its sub-layers are counted; an
unknown layer whose computation cannot be seen (no recorded sub-layers) is
reported in `uncounted_layers`.

The hook protocol, for custom layers:
    def count_flops(self, input_shape, all_ops=False, **call_arguments) -> int
If a layer defines `count_flops`, the counter calls it instead of opening the
layer, once per call of the layer, with `input_shape` the shape of its first
call argument without the batch axis (a list of shapes if that argument is a
list), `all_ops` as above, and every other argument of that call by name
(concrete values, e.g. PathNetLayer's `path`). It returns FLOPs per example
and must accept unknown keyword arguments (`**kwargs`). Nothing inside a
hooked layer is counted again. PathNetLayer uses it so only a path's active
modules count.

A model whose call needs arguments besides its input receives them through
`call_kwargs`, by default from the model's `default_call_kwargs()` hook:
PathNet's, whose call needs a path, is a path of N distinct modules in every
layer, the largest path the paper allows.
"""

import contextlib
import inspect
import os
import statistics
import tempfile
import time

import keras
import numpy as np

from fer_tf.errors import ConfigError

#: Layers that compute nothing at inference (or only move data).
_ZERO_COST = {
    "InputLayer", "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
    "AlphaDropout", "GaussianDropout", "GaussianNoise", "Flatten", "Reshape", "Permute",
    "RepeatVector", "Cropping1D", "Cropping2D", "Cropping3D", "ZeroPadding1D",
    "ZeroPadding2D", "ZeroPadding3D", "UpSampling1D", "UpSampling2D", "UpSampling3D",
    "Concatenate", "Identity", "Embedding", "ActivityRegularization", "Masking",
}
_ACTIVATIONS = {"ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax", "Activation"}
_ELEMENTWISE_OPS = {"Add", "Subtract", "Multiply", "Divide", "TrueDivide", "Maximum",
                    "Minimum", "Power", "Relu", "Relu6", "Sigmoid", "Tanh", "Softmax",
                    "Silu", "Swish", "Gelu", "Exp", "Sqrt", "Square", "Negative"}


def _size(shape):
    return int(np.prod([int(d) for d in shape])) if len(shape) else 1


def _shape_of(value):
    """Shape(s) of a call argument or result without the batch axis."""
    if isinstance(value, dict):
        return {k: _shape_of(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_shape_of(v) for v in value]
    shape = getattr(value, "shape", None)
    if shape is None:
        return None
    return tuple(int(d) for d in tuple(shape)[1:])


def _first_shape(shapes):
    while isinstance(shapes, list):
        shapes = shapes[0]
    if isinstance(shapes, dict):
        shapes = next(iter(shapes.values()))
    return shapes


def _channel_split(shape, data_format):
    """(spatial dims, channels) of a batch-less feature-map shape."""
    if data_format == "channels_first":
        return shape[1:], shape[0]
    return shape[:-1], shape[-1]


def _extra_ops(layer, out_elems):
    """Bias and fused activation of a conv/dense layer (all-ops count only)."""
    extra = out_elems if getattr(layer, "use_bias", False) else 0
    activation = getattr(layer, "activation", None)
    if activation is not None and getattr(activation, "__name__", "") != "linear":
        extra += out_elems
    return extra


def _conv_flops(layer, in_shape, out_shape):
    """Eq. 7 for every Keras convolution (see the module docstring)."""
    fmt = getattr(layer, "data_format", "channels_last")
    in_spatial, ci = _channel_split(in_shape, fmt)
    out_spatial, co = _channel_split(out_shape, fmt)
    kernel = _size(layer.kernel_size)
    if isinstance(layer, (keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose,
                          keras.layers.Conv3DTranspose)):
        macs = _size(in_spatial) * ci * kernel * co
    elif isinstance(layer, (keras.layers.SeparableConv1D, keras.layers.SeparableConv2D)):
        mid = ci * layer.depth_multiplier
        macs = _size(out_spatial) * (mid * kernel + mid * co)
    elif isinstance(layer, (keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D)):
        macs = _size(out_spatial) * ci * layer.depth_multiplier * kernel
    else:
        macs = _size(out_spatial) * co * (ci // getattr(layer, "groups", 1)) * kernel
    return 2 * macs


_CONVOLUTIONS = (
    keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D,
    keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose, keras.layers.Conv3DTranspose,
    keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D,
    keras.layers.SeparableConv1D, keras.layers.SeparableConv2D,
)
_MAX_POOLS = (keras.layers.MaxPooling1D, keras.layers.MaxPooling2D, keras.layers.MaxPooling3D)
_AVERAGE_POOLS = (keras.layers.AveragePooling1D, keras.layers.AveragePooling2D,
                  keras.layers.AveragePooling3D)
_GLOBAL_POOLS = (keras.layers.GlobalAveragePooling1D, keras.layers.GlobalAveragePooling2D,
                 keras.layers.GlobalAveragePooling3D, keras.layers.GlobalMaxPooling1D,
                 keras.layers.GlobalMaxPooling2D, keras.layers.GlobalMaxPooling3D)


_MERGES = (keras.layers.Add, keras.layers.Subtract, keras.layers.Multiply,
           keras.layers.Average, keras.layers.Maximum, keras.layers.Minimum)
_NORMALIZATIONS = (keras.layers.LayerNormalization, keras.layers.GroupNormalization,
                   keras.layers.UnitNormalization)
_SCALINGS = (keras.layers.Rescaling, keras.layers.Normalization)
_KNOWN_TYPES = (_CONVOLUTIONS + _MAX_POOLS + _AVERAGE_POOLS + _GLOBAL_POOLS + _MERGES
                + _NORMALIZATIONS + _SCALINGS
                + (keras.layers.Dense, keras.layers.BatchNormalization))


def _known_flops(layer, in_shapes, out_shapes):
    """(kind, Eq. 7-9 FLOPs, all-ops FLOPs) of a layer for which `_is_known`."""
    name = type(layer).__name__
    in_shape, out_shape = _first_shape(in_shapes), _first_shape(out_shapes)
    out_elems = _size(out_shape) if out_shape is not None else 0
    if isinstance(layer, _CONVOLUTIONS):
        flops = _conv_flops(layer, in_shape, out_shape)
        return "conv", flops, flops + _extra_ops(layer, out_elems)
    if isinstance(layer, keras.layers.Dense):
        flops = 2 * _size(in_shape) * int(layer.units)
        return "dense", flops, flops + _extra_ops(layer, out_elems)
    if isinstance(layer, _MAX_POOLS):
        return "max_pool", out_elems, out_elems * _size(layer.pool_size)
    if isinstance(layer, _AVERAGE_POOLS):
        return "pool", 0, out_elems * _size(layer.pool_size)
    if isinstance(layer, _GLOBAL_POOLS):
        return "pool", 0, _size(in_shape)
    if isinstance(layer, keras.layers.BatchNormalization):
        return "norm", 0, 2 * out_elems
    if isinstance(layer, _NORMALIZATIONS):
        return "norm", 0, 4 * out_elems
    if isinstance(layer, _SCALINGS):
        return "norm", 0, 2 * out_elems
    if name in _ACTIVATIONS:
        return "activation", 0, out_elems
    if isinstance(layer, _MERGES):
        operands = len(in_shapes) if isinstance(in_shapes, list) else 2
        return "merge", 0, (operands - 1) * out_elems
    return "none", 0, 0


def _is_known(layer):
    """True for the layer types `_known_flops` counts."""
    name = type(layer).__name__
    return (isinstance(layer, _KNOWN_TYPES) or name in _ACTIVATIONS or name in _ZERO_COST
            or name.startswith("Random"))


def _op_node_flops(op, in_shapes, out_shapes):
    """All-ops FLOPs of a keras.ops node of a functional graph (not a Layer)."""
    name = type(op).__name__
    out_shape = _first_shape(out_shapes)
    if out_shape is None:
        return 0
    if name == "Matmul":
        return 2 * int(_first_shape(in_shapes)[-1]) * _size(out_shape)
    if name in _ELEMENTWISE_OPS:
        return _size(out_shape)
    return 0


class _Recorder:
    """Intercepts Operation.__call__ during one forward pass (module docstring)."""

    def __init__(self):
        self.rows = []
        self.children = {}
        self._stack = []
        self._opaque = 0

    def _name(self, op):
        return "/".join(self._stack[1:] + [op.name])

    def _row(self, op, kind, in_shapes, out_shapes, flops, all_ops, uncounted=False):
        self.rows.append({
            "name": self._name(op), "class": type(op).__name__, "kind": kind,
            "input_shape": in_shapes, "output_shape": out_shapes,
            "params": int(op.count_params()) if isinstance(op, keras.Layer) and op.built else 0,
            "flops": int(flops), "flops_all_ops": int(all_ops), "uncounted": uncounted,
        })

    def call(self, original, op, args, kwargs):
        if self._opaque:
            return original(op, *args, **kwargs)
        if len(self._stack) == 1:
            self.children.setdefault(op.name, op)
        is_layer = isinstance(op, keras.Layer)
        hook = getattr(op, "count_flops", None) if is_layer else None
        if hook is not None or not is_layer or _is_known(op):
            self._opaque += 1
            try:
                outputs = original(op, *args, **kwargs)
            finally:
                self._opaque -= 1
            in_shapes, out_shapes = _shape_of(args[0]) if args else None, _shape_of(outputs)
            if hook is not None:
                others = _other_arguments(op, args, kwargs)
                flops = hook(in_shapes, all_ops=False, **others)
                self._row(op, "hook", in_shapes, out_shapes, flops,
                          hook(in_shapes, all_ops=True, **others))
            elif not is_layer:
                all_ops = _op_node_flops(op, in_shapes, out_shapes)
                if all_ops:
                    self._row(op, "op", in_shapes, out_shapes, 0, all_ops)
            else:
                kind, flops, all_ops = _known_flops(op, in_shapes, out_shapes)
                self._row(op, kind, in_shapes, out_shapes, flops, all_ops)
            return outputs
        before = len(self.rows)
        self._stack.append(op.name)
        try:
            outputs = original(op, *args, **kwargs)
        finally:
            self._stack.pop()
        if len(self.rows) == before and self._stack:
            self._row(op, "uncounted", _shape_of(args[0]) if args else None,
                      _shape_of(outputs), 0, 0, uncounted=True)
        return outputs


def _other_arguments(layer, args, kwargs):
    """Every argument of a layer call but the first, by name (the hook protocol)."""
    try:
        bound = inspect.signature(layer.call).bind_partial(*args, **kwargs)
    except TypeError:
        return dict(kwargs)
    names = list(bound.arguments)
    return {k: bound.arguments[k] for k in names[1:]}


@contextlib.contextmanager
def _recording(recorder):
    original = keras.Operation.__call__

    def recorded_call(op, *args, **kwargs):
        return recorder.call(original, op, args, kwargs)

    keras.Operation.__call__ = recorded_call
    try:
        yield
    finally:
        keras.Operation.__call__ = original


def _model_input_shape(model, input_shape):
    if input_shape is not None:
        if input_shape and isinstance(input_shape[0], (list, tuple)):
            return [tuple(int(d) for d in s) for s in input_shape]
        return tuple(int(d) for d in input_shape)
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        inputs = None
    if inputs:
        shapes = [tuple(t.shape[1:]) for t in inputs]
    else:
        build = getattr(model, "_build_shapes_dict", None) or {}
        shapes = [tuple(s[1:]) for s in build.values()][:1]
    if not shapes or any(d is None for s in shapes for d in s):
        raise ConfigError(f"model {model.name!r} has no fixed input shape; pass input_shape "
                          f"(height, width, channels)")
    return shapes[0] if len(shapes) == 1 else shapes


def default_call_kwargs(model):
    """Arguments besides the input that `model`'s call needs (module docstring):
    the model's own `default_call_kwargs()` hook, so that this module imports
    no paper's model (PathNet's gives a path)."""
    hook = getattr(model, "default_call_kwargs", None)
    return dict(hook()) if callable(hook) else {}


def _example(input_shape, batch_size=1, seed=None):
    def one(shape):
        if seed is None:
            return np.zeros((batch_size,) + tuple(shape), "float32")
        rng = np.random.default_rng(seed)
        return rng.standard_normal((batch_size,) + tuple(shape)).astype("float32")

    if isinstance(input_shape, list):
        return [one(s) for s in input_shape]
    return one(input_shape)


def layer_flops(model, input_shape=None, call_kwargs=None):
    """Per-layer rows of one forward pass (name, class, kind, shapes, params,
    flops by Eq. 7-9, flops_all_ops, uncounted) and the model's direct
    children by name."""
    shape = _model_input_shape(model, input_shape)
    kwargs = default_call_kwargs(model) if call_kwargs is None else dict(call_kwargs)
    recorder = _Recorder()
    with _recording(recorder):
        model(_example(shape), training=False, **kwargs)
    return recorder.rows, recorder.children


def count_flops(model, input_shape=None, all_ops=False, call_kwargs=None):
    """FLOPs per example of `model` by Eq. 7-9 (or every operation with
    `all_ops`); see the module docstring."""
    rows, _ = layer_flops(model, input_shape, call_kwargs)
    return sum(r["flops_all_ops" if all_ops else "flops"] for r in rows)


def param_counts(model):
    """Parameters, trainable and non-trainable (each variable counted once)."""
    trainable = sum(_size(w.shape) for w in model.trainable_weights)
    non_trainable = sum(_size(w.shape) for w in model.non_trainable_weights)
    return {"params": trainable + non_trainable, "trainable_params": trainable,
            "non_trainable_params": non_trainable}


def storage_bytes(model, keras_file=True):
    """Bytes of every weight at float32 and float16 (Sec. III-E multiplies by
    4) and the size of the model saved as a .keras file."""
    params = param_counts(model)["params"]
    sizes = {"float32": 4 * params, "float16": 2 * params}
    if keras_file:
        with tempfile.TemporaryDirectory(prefix="fer_tf_size_") as folder:
            path = os.path.join(folder, "model.keras")
            model.save(path)
            sizes["keras_file"] = os.path.getsize(path)
    return sizes


def _compiled(model, call_kwargs):
    """A compiled batch -> numpy forward function of the current backend."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        forward = tf.function(lambda x: model(x, training=False, **call_kwargs))
        return lambda x: keras.tree.map_structure(np.asarray, forward(x))
    if backend == "jax":
        import jax

        trainable = [v.value for v in model.trainable_variables]
        non_trainable = [v.value for v in model.non_trainable_variables]

        @jax.jit
        def forward(x):
            return model.stateless_call(trainable, non_trainable, x, training=False,
                                        **call_kwargs)[0]

        return lambda x: jax.block_until_ready(forward(x))
    return lambda x: keras.tree.map_structure(keras.ops.convert_to_numpy,
                                              model(x, training=False, **call_kwargs))


def _seconds(function, argument, repeats, warmup=2):
    for _ in range(warmup):
        function(argument)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function(argument)
        times.append(time.perf_counter() - start)
    return times


def matmul_gflops(size=2048, repeats=10, dtype="float32"):
    """Matrix-multiply throughput (GFLOP/s) of this machine and backend in
    `dtype` ("float32", "bfloat16" or "float16"): the fastest of `repeats`
    compiled size x size products (2 * size^3 FLOPs each). The fastest, not
    the median, because it stands for the peak: on a shared machine a median
    catches other jobs and would flatter `peak_fraction`. A peak fraction is
    only meaningful against the peak of its own dtype."""
    rng = np.random.default_rng(0)
    a = keras.ops.cast(rng.standard_normal((size, size)).astype("float32"), dtype)
    product = keras.ops.cast(rng.standard_normal((size, size)).astype("float32"), dtype)
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        compiled = tf.function(lambda x: tf.matmul(x, product))
        function = lambda x: compiled(x).numpy()  # noqa: E731
    elif backend == "jax":
        import jax

        compiled = jax.jit(lambda x: x @ product)
        function = lambda x: jax.block_until_ready(compiled(x))  # noqa: E731
    else:
        function = lambda x: keras.ops.convert_to_numpy(keras.ops.matmul(x, product))  # noqa: E731
    seconds = min(_seconds(function, a, repeats))
    return 2.0 * size ** 3 / seconds / 1e9


def measure_latency(model, input_shape=None, flops=None, batch_sizes=(1, 64), repeats=5,
                    call_kwargs=None, matmul_size=2048):
    """Median seconds per image at each batch size, with the machine's matmul
    GFLOP/s measured in this process in the model's compute dtype ("peak_dtype":
    float32, or bfloat16 / float16 for a mixed-precision model, whose peak
    differs) and each batch's achieved GFLOP/s (`flops` per image, default
    Eq. 7-9) as `peak_fraction` of it."""
    shape = _model_input_shape(model, input_shape)
    kwargs = default_call_kwargs(model) if call_kwargs is None else dict(call_kwargs)
    if flops is None:
        flops = count_flops(model, shape, call_kwargs=kwargs)
    forward = _compiled(model, kwargs)
    peak_dtype = _compute_dtype(model)
    before = matmul_gflops(matmul_size, dtype=peak_dtype)
    timed = {batch: statistics.median(_seconds(forward, _example(shape, batch, seed=0), repeats))
             for batch in batch_sizes}
    # Measured before and after the model, the better of the two: on a
    # shared machine one of them may coincide with someone else's job.
    peak = max(before, matmul_gflops(matmul_size, dtype=peak_dtype))
    result = {"backend": keras.backend.backend(), "matmul_gflops": peak,
              "peak_dtype": peak_dtype, "batches": {}}
    for batch, seconds in timed.items():
        achieved = flops * batch / seconds / 1e9
        result["batches"][str(batch)] = {
            "seconds_per_image": seconds / batch, "images_per_second": batch / seconds,
            "achieved_gflops": achieved, "peak_fraction": achieved / peak}
    return result


def _compute_dtype(model):
    """The dtype a model's matmuls run in: its policy's compute dtype
    ("float32" when it has none, or one that is no float)."""
    policy = getattr(model, "dtype_policy", None)
    dtype = getattr(policy, "compute_dtype", None) or "float32"
    return dtype if dtype in ("float32", "bfloat16", "float16") else "float32"


def _components(rows, children):
    totals = {}
    for row in rows:
        top = row["name"].split("/")[0]
        entry = totals.setdefault(top, {"name": top, "flops": 0, "flops_all_ops": 0})
        entry["flops"] += row["flops"]
        entry["flops_all_ops"] += row["flops_all_ops"]
    for name, entry in totals.items():
        child = children.get(name)
        entry["class"] = type(child).__name__ if child is not None else None
        entry["params"] = int(child.count_params()) if isinstance(child, keras.Layer) else 0
    return list(totals.values())


def summarize(model, input_shape=None, name=None, latency=False, call_kwargs=None,
              keras_file=True, **latency_options):
    """Every efficiency figure of `model` as a JSON-ready dict: model, params,
    trainable_params, flops (Eq. 7-9), flops_all_ops, flops_by_kind, storage_bytes,
    components (direct children), uncounted_layers, layers (per-layer rows)
    and, with `latency`, the measured latency (`measure_latency`)."""
    shape = _model_input_shape(model, input_shape)
    kwargs = default_call_kwargs(model) if call_kwargs is None else dict(call_kwargs)
    rows, children = layer_flops(model, shape, kwargs)
    flops = sum(r["flops"] for r in rows)
    by_kind = {}
    for row in rows:
        if row["flops"]:
            by_kind[row["kind"]] = by_kind.get(row["kind"], 0) + row["flops"]
    summary = {
        "model": name or model.name,
        "class": type(model).__name__,
        "input_shape": list(shape) if not isinstance(shape, list) else [list(s) for s in shape],
        **param_counts(model),
        "flops": flops,
        "gflops": flops / 1e9,
        "flops_all_ops": sum(r["flops_all_ops"] for r in rows),
        "flops_by_kind": by_kind,
        "conv_flops_share": by_kind.get("conv", 0) / flops if flops else 0.0,
        "storage_bytes": storage_bytes(model, keras_file=keras_file),
        "components": _components(rows, children),
        "uncounted_layers": [r["name"] for r in rows if r["uncounted"]],
        "layers": rows,
    }
    if latency:
        summary["latency"] = measure_latency(model, shape, flops=flops, call_kwargs=kwargs,
                                             **latency_options)
    return summary


def summarize_registered(name, input_size=None, num_classes=None, latency=False,
                         **latency_options):
    """`summarize` of a registered model built at its defaults, or at
    `input_size` (height, width) and `num_classes`."""
    from fer_tf.models import registry

    spec = registry.get_spec(name)
    input_shape = tuple(spec.input_shape)
    if input_size is not None:
        if len(input_shape) != 3:
            raise ConfigError(f"model {name!r} takes {input_shape} inputs, not images; an "
                              f"input size (height, width) applies to image models only")
        input_shape = (int(input_size[0]), int(input_size[1]), input_shape[2])
    model = registry.build_model(name, input_shape=input_shape, num_classes=num_classes)
    summary = summarize(model, input_shape, name=name, latency=latency, **latency_options)
    summary.update({"paper": spec.paper, "num_classes": num_classes or spec.num_classes})
    return summary


def summarize_zoo(input_size=None, num_classes=None, latency=False, **latency_options):
    """`summarize_registered` of every registered model; `input_size` applies
    to the image models only."""
    from fer_tf.models import registry

    return [summarize_registered(spec.name,
                                 input_size=input_size if len(spec.input_shape) == 3 else None,
                                 num_classes=num_classes, latency=latency, **latency_options)
            for spec in registry.list_models()]


def format_summary(summary):
    """A few human-readable lines of one `summarize` dict."""
    storage = summary["storage_bytes"]
    lines = [f"{summary['model']}  ({summary['class']}, input "
             f"{tuple(summary['input_shape'])})",
             f"  params         {summary['params']:,} ({summary['trainable_params']:,} trainable)",
             f"  FLOPs Eq. 7-9  {summary['flops']:,} ({summary['flops'] / 1e9:.3f} G)",
             f"  FLOPs all ops  {summary['flops_all_ops']:,}",
             f"  storage        fp32 {_megabytes(storage['float32'])} MB, fp16 "
             f"{_megabytes(storage['float16'])} MB, "
             f".keras {_megabytes(storage.get('keras_file'))} MB"]
    for c in summary["components"]:
        lines.append(f"    {c['name']:<24} params {c['params']:>11,}  FLOPs {c['flops']:>15,}")
    if summary["uncounted_layers"]:
        lines.append("  uncounted      " + ", ".join(summary["uncounted_layers"]))
    latency = summary.get("latency")
    if latency:
        dtype = latency.get("peak_dtype", "float32")
        lines.append(f"  {dtype + ' matmul':<14} {latency['matmul_gflops']:.1f} GFLOP/s "
                     f"({latency['backend']})")
        for batch, b in latency["batches"].items():
            lines.append(f"  batch {batch:<8} {1e3 * b['seconds_per_image']:.3f} ms/image, "
                         f"{b['achieved_gflops']:.1f} GFLOP/s, peak_fraction "
                         f"{b['peak_fraction']:.2f}")
    return "\n".join(lines)


def _megabytes(value):
    return f"{value / 1e6:.2f}" if value is not None else "-"


def markdown_table(summaries):
    """The zoo's efficiency table (GitHub markdown) from `summarize` dicts."""
    with_latency = any("latency" in s for s in summaries)
    header = ["Model", "Input", "Classes", "Params", "GFLOPs (Eq. 7-9)",
              "GFLOPs (all ops)", "fp32 MB", "fp16 MB", ".keras MB"]
    if with_latency:
        header += ["ms/image b1", "ms/image b64", "peak fraction b64", "matmul GFLOP/s"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for s in summaries:
        shape = s["input_shape"]
        shape = "x".join(str(d) for d in (shape[0] if shape and isinstance(shape[0], list)
                                          else shape))
        storage = s["storage_bytes"]
        cells = [s["model"], shape, str(s.get("num_classes", "-")), f"{s['params']:,}",
                 f"{s['flops'] / 1e9:.4g}", f"{s['flops_all_ops'] / 1e9:.4g}",
                 _megabytes(storage["float32"]), _megabytes(storage["float16"]),
                 _megabytes(storage.get("keras_file"))]
        if with_latency:
            lat = s.get("latency")
            batches = lat["batches"] if lat else {}

            def ms(batch):
                return f"{1e3 * batches[batch]['seconds_per_image']:.3g}" if batch in batches \
                    else "-"

            cells += [ms("1"), ms("64"),
                      f"{batches['64']['peak_fraction']:.2f}" if "64" in batches else "-",
                      f"{lat['matmul_gflops']:.1f}" if lat else "-"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def profiler_flops(model, input_shape=None, op_types=("Conv2D", "DepthwiseConv2dNative",
                                                      "MatMul"), call_kwargs=None):
    """TensorFlow's own float-op count (tf.compat.v1.profiler, float_operation)
    of the op types `op_types` in the model's batch-1 inference graph: an
    independent check of the Eq. 7-8 count (TensorFlow backend only)."""
    if keras.backend.backend() != "tensorflow":
        raise ConfigError("profiler_flops needs the TensorFlow backend (KERAS_BACKEND)")
    import tensorflow as tf

    shape = _model_input_shape(model, input_shape)
    kwargs = default_call_kwargs(model) if call_kwargs is None else dict(call_kwargs)
    forward = tf.function(lambda x: model(x, training=False, **kwargs))
    graph = forward.get_concrete_function(
        tf.TensorSpec((1,) + tuple(shape), tf.float32)).graph
    builder = tf.compat.v1.profiler.ProfileOptionBuilder
    options = builder(builder.float_operation()).with_empty_output().build()
    options["account_type_regexes"] = [f"^{t}$" for t in op_types]
    return int(tf.compat.v1.profiler.profile(graph, options=options).total_float_ops)

