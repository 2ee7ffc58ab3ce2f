"""PathNet evolution speed and memory (issue 4, Performance).

Runs `fer_tf.models.pathnet.evolve` with the paper's settings (PAPER: L=3,
M=20, U=20, N=5, population 20, T=50 minibatches of 16, SGD lr 0.02) on
random data of a face-crop-sized input (32x32 = 1024 features by default) and
prints:
- seconds per generation (one binary tournament = 2 paths x 50 minibatches),
  timed over generations 11..G (the first ones include compilation);
- the time of the bare compiled SGD steps of the same active-path network
  (a plain dense network with N*U units per layer, the same 2 x 50 steps in
  one compiled loop; the faster of the XLA / non-XLA versions, sampled during
  the evolution so that both see the same CPU load; before/after figures are
  printed too), and the ratio of the two;
- the process RSS (psutil) at generation 10 and at the last generation.

Then (issue 8) a reduced whole run of the three experiments on the embedded
synthetic videos (`experiment.run` with the paper's settings except
--run-generations and --run-iterations; one seed, fold 1) and prints its
generations per second, the number of traces of the path trainer, the RSS
growth from its first to its last task, and
  run_overhead = evolution time of the run / (generations x seconds_per_generation)
where seconds_per_generation is the steady-state figure measured above in the
same process: what building networks, compiling, evaluating and bookkeeping
add on top of the generations themselves (target <= 1.15). The evolution
time is the whole run less reading the videos (Viola-Jones) and drawing the
plots, which are printed apart, with run_overhead_total including them;
run_to_bare relates the evolution time to the bare SGD steps instead.

The last line is
  seconds_per_generation=<float> ratio_to_bare=<float> rss_growth_mb=<float>
  [run_overhead=<float> run_traces=<int> run_rss_growth_mb=<float>
   run_generations_per_second=<float>]   (one line; bracket = unless --no-run)
Targets (2 CPU cores): <= 0.02 s per generation, ratio <= 1.5, flat memory,
run_overhead <= 1.15, one trace, RSS growth across tasks < 50 MB.

Usage: python benchmarks/pathnet.py [--input-dim 1024] [--generations 1000]
       [--threads 2] [--no-xla] [--run-generations 300] [--run-iterations 1]
       [--no-run]   (KERAS_BACKEND=jax for the JAX backend)
"""

import argparse
import os
import time


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input-dim", type=int, default=1024, help="features per example")
    parser.add_argument("--examples", type=int, default=2000, help="random training examples")
    parser.add_argument("--classes", type=int, default=6)
    parser.add_argument("--generations", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for TensorFlow")
    parser.add_argument("--bare-repeats", type=int, default=200)
    parser.add_argument("--no-xla", action="store_true", help="TF backend without XLA")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--run-generations", type=int, default=300,
                        help="generations per task of the reduced whole run")
    parser.add_argument("--run-iterations", type=int, default=1,
                        help="iterations of the reduced whole run")
    parser.add_argument("--no-run", action="store_true", help="skip the whole run")
    return parser.parse_args()


def whole_run(args, config):
    """The reduced three-experiment run in a temporary folder -> timing.json."""
    import shutil
    import tempfile

    from fer_tf.papers.pathnet import experiment

    folder = tempfile.mkdtemp(prefix="pathnet-benchmark-")
    try:
        settings = experiment.Settings(
            pathnet=config.replace(generations=args.run_generations, eval_every=50),
            faces=experiment.FaceSettings(crop_size=int(round(args.input_dim ** 0.5))),
            iterations=args.run_iterations)
        metrics = experiment.run(settings, os.path.join(folder, "run"), seed=args.seed,
                                 progress=False, log=lambda line: None)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return metrics["timing"]


def bare_tensorflow(x, y, config, num_classes, jit_compile, seed):
    """Seconds per call of 2*T plain SGD steps of the active-path network."""
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    width = config.max_active * config.units
    dims = [x.shape[1]] + [config.units] * (config.num_layers - 1)
    variables = []
    for dim in dims:
        variables.append(tf.Variable(rng.normal(0, 0.05, (dim, width)).astype("float32")))
        variables.append(tf.Variable(np.zeros(width, "float32")))
    readout = rng.normal(0, 0.05, (config.units, num_classes)).astype("float32")
    variables.append(tf.Variable(readout))
    variables.append(tf.Variable(np.zeros(num_classes, "float32")))
    x = tf.constant(x)
    y = tf.constant(y)
    steps = 2 * config.steps_per_path

    def program(indices):
        def body(t, accuracy):
            rows = indices[t]
            batch_x = tf.gather(x, rows)
            batch_y = tf.gather(y, rows)
            with tf.GradientTape() as tape:
                hidden = batch_x
                for layer in range(config.num_layers):
                    kernel, bias = variables[2 * layer], variables[2 * layer + 1]
                    hidden = tf.nn.relu(hidden @ kernel + bias)
                    hidden = tf.reduce_mean(
                        tf.reshape(hidden, (-1, config.max_active, config.units)), axis=1
                    )
                logits = hidden @ variables[-2] + variables[-1]
                loss = tf.reduce_mean(
                    tf.nn.sparse_softmax_cross_entropy_with_logits(batch_y, logits)
                )
            grads = tape.gradient(loss, variables)
            for variable, grad in zip(variables, grads):
                variable.assign_sub(config.learning_rate * grad)
            correct = tf.equal(tf.argmax(logits, -1, output_type=tf.int32), batch_y)
            return t + 1, accuracy.write(t, tf.reduce_mean(tf.cast(correct, tf.float32)))

        accuracy = tf.TensorArray(tf.float32, size=steps, element_shape=())
        _, accuracy = tf.while_loop(
            lambda t, _: t < steps, body, (tf.constant(0), accuracy), maximum_iterations=steps
        )
        return accuracy.stack()

    compiled = tf.function(program, jit_compile=jit_compile, autograph=False)

    def run(indices):
        compiled(indices).numpy()

    return run


def bare_jax(x, y, config, num_classes, seed):
    import jax
    import jax.numpy as jnp
    import numpy as np

    rng = np.random.default_rng(seed)
    width = config.max_active * config.units
    dims = [x.shape[1]] + [config.units] * (config.num_layers - 1)
    params = []
    for dim in dims:
        params += [jnp.asarray(rng.normal(0, 0.05, (dim, width)), jnp.float32), jnp.zeros(width)]
    params += [
        jnp.asarray(rng.normal(0, 0.05, (config.units, num_classes)), jnp.float32),
        jnp.zeros(num_classes),
    ]
    x = jnp.asarray(x)
    y = jnp.asarray(y)

    def loss_fn(params, batch_x, batch_y):
        hidden = batch_x
        for layer in range(config.num_layers):
            hidden = jax.nn.relu(hidden @ params[2 * layer] + params[2 * layer + 1])
            hidden = hidden.reshape(-1, config.max_active, config.units).mean(axis=1)
        logits = hidden @ params[-2] + params[-1]
        loss = -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), batch_y[:, None], 1))
        return loss, logits

    @jax.jit
    def program(params, indices):
        def step(params, rows):
            (loss, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(
                params, x[rows], y[rows]
            )
            params = [p - config.learning_rate * g for p, g in zip(params, grads)]
            return params, jnp.mean(jnp.argmax(logits, -1) == y[rows])

        return jax.lax.scan(step, params, indices)

    state = {"params": params}

    def run(indices):
        state["params"], accuracy = program(state["params"], indices)
        np.asarray(accuracy)

    return run


def time_bare(run, num_examples, config, repeats, seed):
    import numpy as np

    rng = np.random.default_rng(seed)
    shape = (2 * config.steps_per_path, config.batch_size)
    for _ in range(3):
        run(rng.integers(0, num_examples, shape).astype("int32"))
    started = time.perf_counter()
    for _ in range(repeats):
        run(rng.integers(0, num_examples, shape).astype("int32"))
    return (time.perf_counter() - started) / repeats


def main():
    args = parse_args()
    if args.generations < 20:
        raise SystemExit("--generations must be >= 20 (timing starts at generation 10)")
    import keras
    import numpy as np
    import psutil

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)

    from fer_tf.models.pathnet import PAPER, TaskData, build_pathnet, evolve

    config = PAPER.replace(
        generations=args.generations, eval_every=0, jit_compile=not args.no_xla
    )
    keras.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    x = rng.normal(size=(args.examples, args.input_dim)).astype("float32")
    y = rng.integers(0, args.classes, args.examples).astype("int32")
    task = TaskData(x, y, num_classes=args.classes, name="random")

    if backend == "tensorflow":
        bare_runs = {
            "bare tf.function": bare_tensorflow(x, y, config, args.classes, False, args.seed),
            "bare tf.function+XLA": bare_tensorflow(x, y, config, args.classes, True, args.seed),
        }
    else:
        bare_runs = {"bare jax.jit": bare_jax(x, y, config, args.classes, args.seed)}

    def measure_bare():
        return {
            name: time_bare(run, args.examples, config, args.bare_repeats, args.seed)
            for name, run in bare_runs.items()
        }

    bare_before = measure_bare()

    # The CPU may be shared: bare steps are also sampled DURING the evolution
    # (every 5th generation, alternating variants), so that both figures see
    # the same load. Time spent on those samples is excluded from the
    # generation timestamps.
    process = psutil.Process(os.getpid())
    stamps, rss, paused = {}, {}, [0.0]
    bare_samples = {name: [] for name in bare_runs}
    bare_names = list(bare_runs)
    sample_rng = np.random.default_rng(args.seed + 1)
    sample_shape = (2 * config.steps_per_path, config.batch_size)

    def on_generation(generation, outcome):
        now = time.perf_counter()
        stamps[generation] = now - paused[0]
        if generation == 10 or generation == args.generations:
            rss[generation] = process.memory_info().rss
        if generation >= 10 and generation % 5 == 0:
            name = bare_names[(generation // 5) % len(bare_names)]
            indices = sample_rng.integers(0, args.examples, sample_shape).astype("int32")
            started = time.perf_counter()
            bare_runs[name](indices)
            bare_samples[name].append(time.perf_counter() - started)
        paused[0] += time.perf_counter() - now

    net = build_pathnet(config, args.input_dim, seed=args.seed)
    result = evolve(task, net, config, rng, on_generation=on_generation)
    bare_after = measure_bare()

    first, last = 10, args.generations
    seconds_per_generation = (stamps[last] - stamps[first]) / (last - first)
    gaps = np.diff([stamps[g] for g in range(first, last + 1)])
    bare_during = {name: float(np.mean(v)) for name, v in bare_samples.items() if v}
    bare = min(bare_during.values())
    print(f"backend={backend} threads={args.threads} cpu_count={os.cpu_count()} "
          f"input_dim={args.input_dim} generations={args.generations} "
          f"xla={config.jit_compile}")
    print(f"PathNet: L={config.num_layers} M={config.num_modules} U={config.units} "
          f"N={config.max_active} T={config.steps_per_path} batch={config.batch_size}")
    for name in bare_before:
        print(f"{name} (2 x {config.steps_per_path} steps): {bare_during[name] * 1e3:.2f} ms "
              f"during the evolution, {bare_before[name] * 1e3:.2f} ms before, "
              f"{bare_after[name] * 1e3:.2f} ms after")
    print(f"reference bare time: {bare * 1e3:.2f} ms (fastest variant, sampled during)")
    print(f"generation: mean {seconds_per_generation * 1e3:.2f} ms, median "
          f"{np.median(gaps) * 1e3:.2f} ms, p90 {np.percentile(gaps, 90) * 1e3:.2f} ms "
          f"(generations {first + 1}..{last})")
    print(f"evolution total {result.seconds:.1f} s, best fitness {result.best_fitness}")
    print(f"RSS at generation {first}: {rss[first] / 2**20:.1f} MiB, at generation "
          f"{last}: {rss[last] / 2**20:.1f} MiB")
    ratio = seconds_per_generation / bare
    growth = (rss[last] - rss[first]) / 2**20
    last_line = (f"seconds_per_generation={seconds_per_generation:.5f} "
                 f"ratio_to_bare={ratio:.3f} rss_growth_mb={growth:.2f}")
    if not args.no_run:
        if args.input_dim != int(round(args.input_dim ** 0.5)) ** 2:
            raise SystemExit("the whole run needs a square --input-dim (crop side^2)")
        timing = whole_run(args, config)
        generations = timing["generations"]
        evolving = timing["evolution_seconds"]
        overhead = evolving / (generations * seconds_per_generation)
        total = timing["seconds"] / (generations * seconds_per_generation)
        print(f"whole run: 3 experiments x {args.run_iterations} iteration(s) x "
              f"{args.run_generations} generations = {timing['tasks']} tasks, "
              f"{generations} generations; {evolving:.1f} s evolving "
              f"({generations / evolving:.1f} generations/s), "
              f"{timing['faces_seconds']:.1f} s reading videos, "
              f"{timing['plots_seconds']:.1f} s plots, {timing['seconds']:.1f} s in all")
        print(f"whole run: {timing['traces']} trace(s) of the path trainer; RSS "
              f"{timing['rss_mb_after_first_task']:.1f} MiB after the first task, "
              f"{timing['rss_mb_after_last_task']:.1f} MiB after the last")
        print(f"whole run: run_overhead {overhead:.3f} (evolution time / generations x "
              f"{seconds_per_generation * 1e3:.2f} ms), run_overhead_total {total:.3f}, "
              f"run_to_bare {evolving / (generations * bare):.3f}")
        last_line += (f" run_overhead={overhead:.3f} run_traces={timing['traces']} "
                      f"run_rss_growth_mb={timing['rss_growth_mb']:.2f} "
                      f"run_generations_per_second={generations / evolving:.1f}")
    print(last_line)


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    main()
