"""The paper's figures for one transfer experiment, as PNGs.

- `<name>_accuracy_loss.png`: destination training accuracy, training loss
  and held-out video accuracy per iteration, transfer vs scratch, with 95%
  intervals (Figs. 3, 5, 7).
- `<name>_learning_curves.png`: training accuracy and loss over generations
  per iteration, transfer vs scratch (Figs. 4, 6, 8).
- `<name>_best_paths.png`: each task's best path as an L x M grid, frozen
  modules marked (Fig. 1's pathway picture).
- `<name>_fitness.png`: the population's fitness over generations.
"""

import numpy as np

from fer_tf.evaluation.report import atomic_savefig


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_accuracy_loss(summary, name, path):
    """Figs. 3, 5, 7: per iteration, transfer vs scratch means with their 95%
    intervals (error bars) over the run's seeds x folds."""
    plt = _plt()
    figures = summary["figures"]
    its = np.arange(1, len(figures["transfer_train_accuracy"]["mean"]) + 1)
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.6))
    width = 0.38
    panels = (("train_accuracy", 100, "destination training accuracy (%)"),
              ("train_loss", 1, "destination training loss"),
              ("test_video_accuracy", 100, "held-out video accuracy (%)"))
    for ax, (metric, scale, label) in zip(axes, panels):
        for offset, role, text in ((-width / 2, "transfer", "transfer (PathNet)"),
                                   (width / 2, "scratch", "from scratch")):
            stat = figures[f"{role}_{metric}"]
            if not stat["mean"] or stat["mean"][0] is None:
                continue
            errors = [0.0 if e is None else scale * e for e in stat["ci95"]]
            ax.bar(its + offset, scale * np.asarray(stat["mean"], dtype=float), width,
                   yerr=errors, capsize=3, label=text)
        ax.set_xticks(its, [f"it. {i}" for i in its])
        ax.set_ylabel(label)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8)
    n = figures["transfer_train_accuracy"]["n"][0]
    fig.suptitle(f"{name}: transfer vs scratch per iteration (mean, 95% interval, n = {n})")
    atomic_savefig(fig, path)
    plt.close(fig)


def plot_learning_curves(result, name, path):
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for it, curve in enumerate(result["curves"]["transfer"]):
        c = colors[it % len(colors)]
        axes[0].plot(curve["generation"], _smooth(curve["train_accuracy"]), color=c,
                     label=f"it. {it + 1} transfer")
        axes[1].plot(curve["generation"], _smooth(curve["train_loss"]), color=c)
        if result["curves"].get("scratch"):
            s = result["curves"]["scratch"][it]
            axes[0].plot(s["generation"], _smooth(s["train_accuracy"]), color=c, ls="--",
                         label=f"it. {it + 1} scratch")
            axes[1].plot(s["generation"], _smooth(s["train_loss"]), color=c, ls="--")
    for ax, label in zip(axes, ("training accuracy (fitness)", "training loss")):
        ax.set_xlabel("generation")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, ncol=2)
    fig.suptitle(f"{name}: learning curves on the destination task")
    atomic_savefig(fig, path)
    plt.close(fig)


def _smooth(values, window=25):
    values = np.asarray(values, dtype=float)
    if len(values) < window:
        return values
    kernel = np.ones(window) / window
    padded = np.concatenate([np.full(window - 1, values[0]), values])
    return np.convolve(padded, kernel, mode="valid")


def plot_best_paths(result, name, path):
    plt = _plt()
    cfg = result["config"]
    layers, modules = cfg["num_layers"], cfg["num_modules"]
    iterations = len(result["best_paths"]["transfer"])
    fig, axes = plt.subplots(iterations, 2, figsize=(8, 1.4 + 1.3 * iterations * layers / 3),
                             squeeze=False)
    for it in range(iterations):
        frozen = np.zeros((layers, modules), bool)
        for layer, mods in enumerate(result["frozen_modules"][it]):
            frozen[layer, mods] = True
        for col, role in enumerate(("source", "transfer")):
            grid = np.zeros((layers, modules))
            grid[frozen] = 0.35
            for layer, genes in enumerate(result["best_paths"][role][it]):
                grid[layer, list(set(genes))] = 1.0
            ax = axes[it, col]
            ax.imshow(grid, cmap="Greys", vmin=0, vmax=1, aspect="auto")
            ax.set_xticks(np.arange(-0.5, modules), minor=True)
            ax.set_yticks(np.arange(-0.5, layers), minor=True)
            ax.grid(which="minor", color="tab:blue", lw=0.5)
            ax.set_xticks([])
            ax.set_yticks(range(layers), [f"L{i + 1}" for i in range(layers)])
            task = result["task_names"]["source" if role == "source" else "destination"]
            ax.set_title(f"it. {it + 1} {role} ({task}) best path", fontsize=8)
    fig.suptitle(f"{name}: best paths (black = on path, grey = frozen)", fontsize=9)
    fig.tight_layout()
    atomic_savefig(fig, path)
    plt.close(fig)


def plot_fitness(result, name, path):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 3.4))
    for role, style in (("source", ":"), ("transfer", "-"), ("scratch", "--")):
        for it, hist in enumerate(result["fitness_histories"].get(role, [])):
            if it == len(result["fitness_histories"][role]) - 1 or role == "transfer":
                ax.plot(_smooth(hist["mean"]), ls=style, label=f"{role} it. {it + 1}")
    ax.set_xlabel("generation")
    ax.set_ylabel("population mean fitness")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=3)
    ax.set_title(f"{name}: population fitness over generations")
    atomic_savefig(fig, path)
    plt.close(fig)


def plot_experiment(result, summary, name, folder):
    """Writes the four figures of one experiment into `folder`: the
    per-iteration bars from `summary` (the run's aggregated figures), the
    curves and paths from `result` (one seed and fold)."""
    import os

    plot_accuracy_loss(summary, name, os.path.join(folder, f"{name}_accuracy_loss.png"))
    plot_learning_curves(result, name, os.path.join(folder, f"{name}_learning_curves.png"))
    plot_best_paths(result, name, os.path.join(folder, f"{name}_best_paths.png"))
    plot_fitness(result, name, os.path.join(folder, f"{name}_fitness.png"))
