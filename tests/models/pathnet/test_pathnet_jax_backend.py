"""The PathNet layer, trainer and evolution under KERAS_BACKEND=jax (subprocess)."""

import json
import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import json
    import keras
    import numpy as np
    from fer_tf.models.pathnet import PathTrainer, build_pathnet, evolve, TaskData
    from fer_tf.models.pathnet.presets import SMOKE

    assert keras.backend.backend() == "jax"
    config = SMOKE.replace(num_modules=5, units=4, max_active=3, population_size=4,
                           generations=3, steps_per_path=3, batch_size=4, eval_every=0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 16)).astype("float32")
    y = rng.integers(0, 3, 40)
    net = build_pathnet(config, 16, task_classes=[3], seed=1)

    layer = net.pathnet_layers[0]
    kernel = np.asarray(layer.kernel.value)
    bias = np.asarray(layer.bias.value)
    out = np.asarray(layer(x[:4], np.array([4, 0, 4])))
    ref = np.mean([np.maximum(x[:4] @ kernel[m] + bias[m], 0) for m in (4, 0)], axis=0)
    layer_error = float(np.abs(out - ref).max())

    net.freeze_path([[0], [1], [2]])
    before = [np.asarray(v.value).copy() for v in net.weights]
    trainer = PathTrainer(0.1).bind(net, 0, x, y)
    paths = np.array([[[0, 1, 1], [1, 2, 3], [2, 4, 0]], [[3, 4, 0], [0, 1, 2], [1, 2, 3]]])
    trainer.train(paths, rng.integers(0, 40, (2, 3, 4)))
    trainer.train(paths[::-1], rng.integers(0, 40, (2, 3, 4)))
    after = [np.asarray(v.value) for v in net.weights]
    changed = {}
    for variable, old, new in zip(net.weights, before, after):
        if old.ndim >= 2 and old.shape[0] == 5:
            changed[variable.path] = [m for m in range(5) if not np.array_equal(old[m], new[m])]

    result = evolve(TaskData(x, y, x, y), net, config, np.random.default_rng(2))
    print(json.dumps({"layer_error": layer_error, "trace_count": trainer.trace_count,
                      "changed": changed, "frozen_after_evolve": [
                          np.array_equal(np.asarray(l.kernel.value)[0 + i], before[3 * i][i])
                          for i, l in enumerate(net.pathnet_layers)],
                      "best_path": result.best_path.tolist(),
                      "winner": result.fitness_history["winner"]}))
    """
)


def test_pathnet_under_jax_backend():
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["layer_error"] < 1e-5
    assert report["trace_count"] == 1
    # Frozen: layer 0 module 0, layer 1 module 1, layer 2 module 2.
    expected = {0: [1, 3, 4], 1: [0, 2, 3], 2: [0, 1, 3, 4]}
    for path, modules in report["changed"].items():
        layer = int(path.split("pathnet_layer_")[1].split("/")[0])
        assert modules == expected[layer], path
    assert report["frozen_after_evolve"] == [True, True, True]
    assert len(report["winner"]) == 3
    assert all(0 <= m < 5 for row in report["best_path"] for m in row)
