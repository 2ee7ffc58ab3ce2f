"""One shared test for every custom Keras layer of fer_tf (keras-hub style).

`run_layer_test` checks, for one layer configuration, what every layer of the
package promises (STYLE.md): it builds and calls symbolically and eagerly,
counts its weights, round-trips `get_config`/`from_config` and a `.keras`
file (without custom_objects), trains one step, gives the same output
under the JAX backend, and computes in bfloat16 under its own
mixed_bfloat16 policy (as `fer_tf.serving.predict.with_policy` sets it on
each layer, while the global policy stays float32). A layer's own test adds only what is specific to it.

Example:
```python
def test_layer_basics():
    run_layer_test(
        SqueezeExcite,
        init_kwargs={"ratio": 0.25},
        input_shape=(2, 8, 8, 16),
        expected_output_shape=(2, 8, 8, 16),
        expected_num_trainable_weights=4,
    )
```

Run as a script (`python -m tests.helpers.layer_test PAYLOAD OUT`) it is the
JAX side of the comparison; `run_layer_test` starts it with KERAS_BACKEND=jax.
"""

import importlib
import inspect
import json
import os
import pathlib
import pickle
import subprocess
import sys
import tempfile
import warnings

import keras
import numpy as np

_REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]


def run_layer_test(
    layer_cls,
    init_kwargs,
    input_data=None,
    expected_output_shape=None,
    *,
    input_shape=None,
    call_kwargs=None,
    expected_num_trainable_weights=None,
    expected_num_non_trainable_weights=None,
    symbolic=True,
    fit=True,
    jax=True,
    bfloat16=True,
    atol=1e-5,
    jax_atol=1e-4,
):
    """Runs the checks every custom layer must pass; returns what it built.

    Outputs are always compared in inference mode (`training=False` when the
    layer's `call` takes `training`), so random augmentation layers are
    compared on their deterministic path; their training-mode output is only
    checked for its shape (and driven once by the fit step).

    Args:
        layer_cls: class. the layer, registered with
            `keras.saving.register_keras_serializable`.
        init_kwargs: dict. constructor arguments; every key must come back
            from `get_config()`.
        input_data: array or dict of arrays. the batched input (a dict for
            layers such as `LandmarkAwareAugmentation` that take
            {"images", "landmarks"}). Give this or `input_shape`.
        expected_output_shape: tuple or dict of tuples. the full output
            shape(s), batch included, for `input_data`; the symbolic call
            must give the same with a None batch.
        input_shape: tuple or dict of tuples. instead of `input_data`: float32
            standard-normal data of this (batched) shape, drawn from a fixed
            seed.
        call_kwargs: dict. constant extra arguments of `call` that are not
            model inputs, e.g. `{"path": np.array([0, 3])}` for
            `PathNetLayer`; they are stored in the model's config.
        expected_num_trainable_weights: int or None. `len(trainable_weights)`
            after building; None skips the check.
        expected_num_non_trainable_weights: int or None. likewise for
            `non_trainable_weights` (a SeedGenerator's state is not counted).
        symbolic: bool. call the layer on `keras.Input`s and use a functional
            model for the `.keras` round trip and the fit step. False uses a
            one-layer subclassed model instead, for a layer Keras cannot call
            symbolically; say why at the call site.
        fit: bool. train the reloaded model one SGD step on an MSE loss;
            weights that are trainable must change.
        jax: bool. rebuild the layer from its config under the JAX backend in
            a subprocess, load the same weights, and compare its
            inference output with TensorFlow's.
        atol: float. tolerance of same-backend comparisons (clone, reload).
        jax_atol: float. tolerance of the TensorFlow/JAX comparison (both
            absolute and relative).
        bfloat16: bool. rebuild the layer from its config with
            dtype="mixed_bfloat16" (the global policy float32), load the
            same weights: its floating outputs must be bfloat16 and within
            5% of the output's range of the float32 ones, so every inner
            layer follows the layer's own policy.

    Returns:
        dict with "layer" (the built layer, weights untouched by the fit
        step), "outputs" (its inference output on `input_data`, as numpy)
        and "input_data".
    """
    if (input_data is None) == (input_shape is None):
        raise ValueError("run_layer_test needs exactly one of input_data, input_shape")
    if input_data is None:
        rng = np.random.default_rng(0)
        input_data = _map(lambda s: rng.standard_normal(s).astype("float32"), input_shape)
    input_data = _map(np.asarray, input_data)
    call_kwargs = dict(call_kwargs or {})
    layer = layer_cls(**init_kwargs)
    takes_training = "training" in inspect.signature(layer.call).parameters

    def infer(target, data):
        extra = {"training": False} if takes_training else {}
        return _map(keras.ops.convert_to_numpy, target(data, **call_kwargs, **extra))

    if symbolic:
        symbolic_inputs = _symbolic_inputs(input_data)
        symbolic_outputs = layer(symbolic_inputs, **call_kwargs)
        _check_shapes(symbolic_outputs, expected_output_shape, batch=None,
                      what=f"{layer_cls.__name__} on keras.Input")

    if takes_training:
        # Before the reference output: a training call moves batch-norm statistics.
        trained = layer(input_data, training=True, **call_kwargs)
        _check_shapes(trained, expected_output_shape,
                      what=f"{layer_cls.__name__} with training=True")
    outputs = infer(layer, input_data)
    _check_shapes(outputs, expected_output_shape, what=f"{layer_cls.__name__} eagerly")

    if expected_num_trainable_weights is not None:
        assert len(layer.trainable_weights) == expected_num_trainable_weights, (
            [w.path for w in layer.trainable_weights])
    if expected_num_non_trainable_weights is not None:
        assert len(layer.non_trainable_weights) == expected_num_non_trainable_weights, (
            [w.path for w in layer.non_trainable_weights])

    config = layer.get_config()
    missing = sorted(set(init_kwargs) - set(config))
    assert not missing, f"get_config() lacks constructor arguments {missing}"
    json.dumps(keras.saving.serialize_keras_object(layer))  # must be JSON
    clone = layer_cls.from_config(config)
    assert clone.get_config() == config
    infer(clone, input_data)  # builds the clone
    clone.set_weights(layer.get_weights())
    _assert_close(infer(clone, input_data), outputs, atol, "from_config clone")

    model = (keras.Model(symbolic_inputs, symbolic_outputs) if symbolic
             else SingleLayerModel(layer, call_kwargs))
    model_outputs = _map(keras.ops.convert_to_numpy, model(input_data, training=False))
    _assert_close(model_outputs, outputs, atol, "model around the layer")
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "layer.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
    loaded_layers = [x for x in _all_layers(loaded) if isinstance(x, layer_cls)]
    assert len(loaded_layers) == 1, loaded.layers
    reloaded = _map(keras.ops.convert_to_numpy, loaded(input_data, training=False))
    _assert_close(reloaded, outputs, atol, ".keras round trip")

    if jax:
        _assert_close(_jax_outputs(layer, input_data, call_kwargs, takes_training),
                      outputs, jax_atol, "JAX backend", rtol=jax_atol)
    if bfloat16:
        _check_bfloat16(layer_cls, config, layer.get_weights(), input_data, outputs, infer)
    if fit:  # on the reloaded copy, so `layer` keeps the weights compared above
        _fit_one_step(loaded, loaded_layers[0], input_data, outputs)
    return {"layer": layer, "outputs": outputs, "input_data": input_data}


@keras.saving.register_keras_serializable(package="fer_tf_tests")
class SingleLayerModel(keras.Model):
    """A model that calls one layer with constant extra call arguments."""

    def __init__(self, layer, call_kwargs=None, **kwargs):
        super().__init__(**kwargs)
        self.inner = layer
        self.call_kwargs = dict(call_kwargs or {})

    def call(self, inputs, training=None):
        extra = {}
        if "training" in inspect.signature(self.inner.call).parameters:
            extra["training"] = training
        return self.inner(inputs, **self.call_kwargs, **extra)

    def get_config(self):
        return {
            "name": self.name,
            "layer": keras.saving.serialize_keras_object(self.inner),
            "call_kwargs": keras.saving.serialize_keras_object(self.call_kwargs),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["layer"] = keras.saving.deserialize_keras_object(config["layer"])
        config["call_kwargs"] = keras.saving.deserialize_keras_object(config["call_kwargs"])
        return cls(**config)


def _map(fn, tree):
    if isinstance(tree, dict):
        return {k: _map(fn, v) for k, v in tree.items()}
    return fn(tree)


def _symbolic_inputs(data):
    if isinstance(data, dict):
        return {k: keras.Input(v.shape[1:], dtype=str(v.dtype), name=k) for k, v in data.items()}
    return keras.Input(data.shape[1:], dtype=str(data.dtype))


def _check_shapes(outputs, expected, what, batch="data"):
    if isinstance(expected, dict):
        assert isinstance(outputs, dict), f"{what}: expected a dict, got {type(outputs)}"
        for key, shape in expected.items():
            _check_shapes(outputs[key], shape, f"{what} [{key!r}]", batch)
        return
    expected = tuple(expected)
    if batch is None:
        expected = (None,) + expected[1:]
    assert tuple(outputs.shape) == expected, f"{what}: shape {tuple(outputs.shape)} != {expected}"


def _assert_close(got, expected, atol, what, rtol=1e-6):
    if isinstance(expected, dict):
        assert set(got) == set(expected), f"{what}: keys {sorted(got)} != {sorted(expected)}"
        for key in expected:
            _assert_close(got[key], expected[key], atol, f"{what} [{key!r}]", rtol)
        return
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), atol=atol, rtol=rtol,
                               err_msg=what)


def _all_layers(model):
    found = []
    for layer in model.layers:
        found.append(layer)
        if hasattr(layer, "layers"):
            found.extend(_all_layers(layer))
    return found


def _check_bfloat16(layer_cls, config, weights, input_data, outputs, infer):
    mixed = layer_cls.from_config(dict(config, dtype="mixed_bfloat16"))
    assert keras.config.dtype_policy().name == "float32"
    infer(mixed, input_data)  # builds the weights
    mixed.set_weights(weights)
    got = infer(mixed, input_data)
    for key, array in (got.items() if isinstance(got, dict) else [(None, got)]):
        if "float" in str(array.dtype):
            assert "bfloat16" in str(array.dtype), (
                f"{layer_cls.__name__}[{key}] under mixed_bfloat16 gives {array.dtype}")
    for key, expected in (outputs.items() if isinstance(outputs, dict)
                          else [(None, outputs)]):
        value = got[key] if key is not None else got
        if np.issubdtype(np.asarray(expected).dtype, np.floating):
            scale = float(np.ptp(expected)) or 1.0
            np.testing.assert_allclose(np.asarray(value, np.float32), expected,
                                       atol=0.05 * scale, rtol=0,
                                       err_msg=f"{layer_cls.__name__}[{key}] in bfloat16")


def _fit_one_step(model, layer, input_data, outputs):
    before = [keras.ops.convert_to_numpy(w).copy() for w in layer.trainable_weights]
    # Targets away from the current output, so the loss has a gradient.
    targets = _map(lambda y: (y + 1.0).astype("float32"), outputs)
    loss = {k: "mse" for k in targets} if isinstance(targets, dict) else "mse"
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss=loss)
    batch = len(next(iter(input_data.values())) if isinstance(input_data, dict) else input_data)
    with warnings.catch_warnings():
        # A layer without weights (an augmentation) still has to run in fit.
        warnings.filterwarnings("ignore", "The model does not have any trainable weights")
        history = model.fit(input_data, targets, batch_size=batch, epochs=1, verbose=0,
                            shuffle=False)
    assert np.isfinite(history.history["loss"][-1])
    if before:
        after = [keras.ops.convert_to_numpy(w) for w in layer.trainable_weights]
        assert any(not np.allclose(a, b) for a, b in zip(after, before)), (
            "one fit step changed no trainable weight")


def _jax_outputs(layer, input_data, call_kwargs, takes_training):
    payload = {
        "module": type(layer).__module__,
        "class": type(layer).__qualname__,
        "config": layer.get_config(),
        "weights": layer.get_weights(),
        "inputs": input_data,
        "call_kwargs": call_kwargs,
        "takes_training": takes_training,
    }
    with tempfile.TemporaryDirectory() as folder:
        source = os.path.join(folder, "payload.pkl")
        target = os.path.join(folder, "outputs.pkl")
        with open(source, "wb") as f:
            pickle.dump(payload, f)
        env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu",
                   TF_CPP_MIN_LOG_LEVEL="3",
                   PYTHONPATH=os.pathsep.join([str(_REPO_ROOT)] + sys.path))
        result = subprocess.run(
            [sys.executable, "-m", "tests.helpers.layer_test", source, target],
            env=env, cwd=str(_REPO_ROOT), capture_output=True, text=True, timeout=300,
        )
        assert result.returncode == 0, f"JAX run failed:\n{result.stderr[-4000:]}"
        with open(target, "rb") as f:
            return pickle.load(f)


def _run_under_jax(source, target):
    assert keras.backend.backend() == "jax", keras.backend.backend()
    with open(source, "rb") as f:
        payload = pickle.load(f)
    layer_cls = getattr(importlib.import_module(payload["module"]), payload["class"])
    layer = layer_cls.from_config(payload["config"])
    extra = {"training": False} if payload["takes_training"] else {}

    def infer():
        out = layer(payload["inputs"], **payload["call_kwargs"], **extra)
        return _map(lambda t: np.asarray(keras.ops.convert_to_numpy(t)), out)

    infer()  # builds the weights
    layer.set_weights(payload["weights"])
    with open(target, "wb") as f:
        pickle.dump(infer(), f)


if __name__ == "__main__":
    _run_under_jax(sys.argv[1], sys.argv[2])
