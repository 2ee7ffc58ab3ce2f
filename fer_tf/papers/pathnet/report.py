"""A PathNet run's figures over seeds x folds, and its tables beside the paper.

Nguyen et al. 2018, Sec. IV-C2 reports, per iteration, the destination's
"performance (training accuracy and training loss)": 93.75% / 87.5% / 75% are
training accuracies (15, 14 and 12 correct out of a minibatch of 16), 0.16 /
0.45 / 0.59 training losses. The training table therefore sets our training
accuracy (the best path's fitness over its last T minibatches) and training
loss beside those numbers. Held-out accuracy, which the paper does not report,
goes in a table of its own, frame-level and video-level.

Every figure is the mean over the n = seeds x folds runs with its 95%
confidence interval (Student t, n - 1 degrees of freedom); transfer minus
scratch is paired run by run (same seed, fold and destination split).

Table I (Sec. IV-B) is the final TRAINING loss of fine-tuned CNNs and of
PathNet. Each of our rows states the budget that produced it, and the paper's
column holds the same quantity: beside our PathNet destination loss at
iteration 3 stands the paper's iteration-3 destination loss (Sec. IV-C2: 0.16
SAVEE, 0.45 eNTERFACE, 0.59 SAVEE->eNTERFACE, compared there with Table I).
Table I's own two PathNet rows (0.44 / 0.91 and 0.22 / 0.69) name neither an
experiment nor an iteration and match none of those figures, so they are
listed on their own, with no figure of ours beside them.
"""

import numpy as np

from fer_tf.evaluation.report import comparison_table
from fer_tf.papers.pathnet.baselines import TABLE_I_RECIPE
from fer_tf.models.pathnet.presets import PAPER
from fer_tf.models.pathnet.transfer import METRICS

#: Where the deviations of this package from the paper are listed.
DEVIATIONS_PAGE = "docs/papers/pathnet.md"

#: The destination figures the paper states (Sec. IV-C2, Figs. 3, 5, 7), per
#: experiment and 1-based iteration: training accuracy (%) and training loss.
#: Scratch losses are the transfer loss plus the stated gap (0.7, 0.48).
PAPER_RESULTS = {
    "savee_to_savee": {"figure": "Fig. 3", "iterations": {3: {
        "transfer_train_accuracy": 93.75, "scratch_train_accuracy": 87.5,
        "transfer_train_loss": 0.16, "scratch_train_loss": 0.86}}},
    "enterface_to_enterface": {"figure": "Fig. 5", "iterations": {3: {
        "transfer_train_accuracy": 87.5, "scratch_train_accuracy": 68.75,
        "transfer_train_loss": 0.45, "scratch_train_loss": 0.93}}},
    "savee_to_enterface": {"figure": "Fig. 7", "iterations": {
        1: {"transfer_train_accuracy": 5.0, "transfer_train_loss": 1.33},
        3: {"transfer_train_accuracy": 75.0, "transfer_train_loss": 0.59}}},
}

#: The iteration at which Sec. IV-C2 states its destination figures and sets
#: them beside Table I ("at iteration 3").
PAPER_ITERATION = 3

#: Table I training losses (SAVEE, eNTERFACE) of the fine-tuned baselines, by
#: the backbone standing for each row (`baselines.TABLE_I_ROWS`). The paper does
#: not state how many epochs they were fine-tuned for.
PAPER_TABLE_I = {
    "inception_v3": (1.777, None), "mobilenet": (1.791, None), "mobilenet_v2": (1.796, None),
    "resnet50": (1.812, None), "resnet101": (1.827, None), "resnet152": (1.886, None),
    "resnet50_v2": (1.787, None), "resnet101_v2": (1.772, None),
    "resnet152_v2": (1.813, None), "vgg19": (1.792, 1.56),
}

#: Table I's two "Our proposed system" rows (SAVEE, eNTERFACE), experiment and
#: iteration not stated (see the module docstring).
PAPER_TABLE_I_PATHNET = ((0.44, 0.91), (0.22, 0.69))

#: Transfer-minus-scratch differences reported (paired run by run).
DIFFERENCES = ("train_accuracy", "train_loss", "test_accuracy", "test_video_accuracy")


def mean_ci(values, confidence=0.95):
    """(mean, half-width of the `confidence` t-interval, n) of the values that
    are not None; the half-width is None for n < 2, everything None for n = 0."""
    values = np.asarray([v for v in values if v is not None], dtype=np.float64)
    n = int(values.size)
    if n == 0:
        return None, None, 0
    mean = float(values.mean())
    if n < 2:
        return mean, None, n
    from scipy import stats

    half = stats.t.ppf(0.5 + confidence / 2, n - 1) * values.std(ddof=1) / np.sqrt(n)
    return mean, float(half), n


def _stat(per_cell):
    """per_cell: one per-iteration list per run -> mean/ci95/n per iteration."""
    iterations = len(per_cell[0]) if per_cell else 0
    out = {"mean": [], "ci95": [], "n": [], "values": []}
    for it in range(iterations):
        column = [cell[it] if it < len(cell) else None for cell in per_cell]
        mean, half, n = mean_ci(column)
        out["mean"].append(mean)
        out["ci95"].append(half)
        out["n"].append(n)
        out["values"].append(column)
    return out


def aggregate(cells):
    """Per-iteration mean, 95% CI, n and values of every figure of the
    per-run results `cells` (dicts from `run_transfer_experiment`), plus the
    paired transfer - scratch differences ("diff_<metric>")."""
    out = {}
    for role in ("source", "transfer", "scratch"):
        for metric in METRICS:
            key = f"{role}_{metric}"
            out[key] = _stat([cell.get(key, []) for cell in cells])
    for metric in DIFFERENCES:
        per_cell = []
        for cell in cells:
            transfer, scratch = cell[f"transfer_{metric}"], cell.get(f"scratch_{metric}", [])
            per_cell.append([None if t is None or s is None else t - s
                             for t, s in zip(transfer, scratch)])
        out[f"diff_{metric}"] = _stat(per_cell)
    return out


def _fmt(stat, it, scale=1.0, digits=1):
    if stat is None or it >= len(stat["mean"]) or stat["mean"][it] is None:
        return None
    text = f"{scale * stat['mean'][it]:.{digits}f}"
    if stat["ci95"][it] is not None:
        text += f" ± {scale * stat['ci95'][it]:.{digits}f}"
    return text


def _fmt_diff(stat, it, scale, digits):
    text = _fmt(stat, it, scale, digits)
    if text is None or stat["ci95"][it] is None:
        return text
    low = stat["mean"][it] - stat["ci95"][it]
    high = stat["mean"][it] + stat["ci95"][it]
    # An interval that excludes 0 marks a difference the runs resolve.
    return text + (" *" if low > 0 or high < 0 else "")


def _paper(name, it, key, digits=2):
    value = PAPER_RESULTS.get(name, {}).get("iterations", {}).get(it + 1, {}).get(key)
    return None if value is None else f"{value:.{digits}f}"


def _rows(summary, build, paper_iterations=False):
    """One row per experiment and iteration run; with `paper_iterations`,
    also the iterations the paper reports but the run did not reach."""
    rows = []
    for name, experiment in summary["experiments"].items():
        figure = PAPER_RESULTS.get(name, {}).get("figure")
        iterations = set(range(summary["iterations"]))
        if paper_iterations:
            iterations |= {it - 1 for it in PAPER_RESULTS.get(name, {}).get("iterations", {})}
        for it in sorted(iterations):
            row = {"name": f"{name} ({figure})" if figure else name, "it": it + 1}
            row.update(build(name, experiment["figures"], it))
            rows.append(row)
    return rows


def training_table(summary):
    """Markdown: destination training accuracy / loss, ours beside the paper's."""

    def build(name, f, it):
        return {
            "t_acc": _fmt(f["transfer_train_accuracy"], it, 100),
            "s_acc": _fmt(f["scratch_train_accuracy"], it, 100),
            "p_t_acc": _paper(name, it, "transfer_train_accuracy"),
            "p_s_acc": _paper(name, it, "scratch_train_accuracy"),
            "t_loss": _fmt(f["transfer_train_loss"], it, 1, 3),
            "s_loss": _fmt(f["scratch_train_loss"], it, 1, 3),
            "p_t_loss": _paper(name, it, "transfer_train_loss"),
            "p_s_loss": _paper(name, it, "scratch_train_loss"),
        }

    return comparison_table(
        _rows(summary, build, paper_iterations=True),
        columns=("it", "t_acc", "s_acc", "p_t_acc", "p_s_acc", "t_loss", "s_loss",
                 "p_t_loss", "p_s_loss"),
        headers=["experiment", "it.", "transfer train acc. %", "scratch train acc. %",
                 "paper transfer", "paper scratch", "transfer train loss",
                 "scratch train loss", "paper transfer", "paper scratch"])


def held_out_table(summary):
    """Markdown: held-out destination accuracy, frame-level and video-level."""

    def build(name, f, it):
        return {
            "t_frame": _fmt(f["transfer_test_accuracy"], it, 100),
            "s_frame": _fmt(f["scratch_test_accuracy"], it, 100),
            "t_video": _fmt(f["transfer_test_video_accuracy"], it, 100),
            "s_video": _fmt(f["scratch_test_video_accuracy"], it, 100),
        }

    return comparison_table(
        _rows(summary, build), columns=("it", "t_frame", "s_frame", "t_video", "s_video"),
        headers=["experiment", "it.", "transfer held-out frame acc. %",
                 "scratch held-out frame acc. %", "transfer held-out video acc. %",
                 "scratch held-out video acc. %"])


def difference_table(summary):
    """Markdown: transfer minus scratch, paired run by run."""

    def build(name, f, it):
        return {
            "train": _fmt_diff(f["diff_train_accuracy"], it, 100, 1),
            "loss": _fmt_diff(f["diff_train_loss"], it, 1, 3),
            "frame": _fmt_diff(f["diff_test_accuracy"], it, 100, 1),
            "video": _fmt_diff(f["diff_test_video_accuracy"], it, 100, 1),
        }

    return comparison_table(
        _rows(summary, build), columns=("it", "train", "loss", "frame", "video"),
        headers=["experiment", "it.", "train acc. (points)", "train loss",
                 "held-out frame acc. (points)", "held-out video acc. (points)"])


def _plural(count, word):
    return f"{count} {word}{'' if count == 1 else 's'}"


def evaluation_budget(generations, steps_per_path, batch_size, epochs_per_path=None):
    """'G generations/task x 2 paths x T minibatches of B', the budget of one task."""
    if epochs_per_path is None:
        per_path = f"{steps_per_path} minibatches of {batch_size}"
    else:
        per_path = f"{_plural(epochs_per_path, 'epoch')} in minibatches of {batch_size}"
    return f"{generations} generations/task x 2 paths x {per_path}"


def pathnet_budget(budget, iteration, dataset=None):
    """Our PathNet budget as Table I's budget column states it: the iteration, the
    evolution budget and, given the destination, its equivalent in epochs of the
    destination's training frames (every path evaluation's minibatches counted)."""
    text = (f"it. {iteration} of {budget['iterations']}; "
            + evaluation_budget(budget["generations"], budget["steps_per_path"],
                                budget["batch_size"], budget.get("epochs_per_path")))
    frames = budget.get("train_frames", {}).get(dataset)
    if frames:
        batch = budget["batch_size"]
        steps = budget["steps_per_path"]
        if budget.get("epochs_per_path") is not None:
            steps = budget["epochs_per_path"] * -(-frames // batch)
        epochs = budget["generations"] * 2 * steps * batch / frames
        text += f" (= {epochs:.0f} epochs of its {frames} training frames)"
    return text


#: The paper's PathNet budget (Sec. IV-C1), as Table I's "paper's budget" says it.
PAPER_BUDGET = evaluation_budget(PAPER.generations, PAPER.steps_per_path, PAPER.batch_size)


def table_i(summary):
    """Markdown Table I: final training loss of the fine-tuned CNNs and of PathNet,
    each beside the paper's same quantity, with both budgets stated."""
    budget = summary["budget"]
    epochs = budget["baseline_epochs"]
    rows = []
    for name, losses in summary["table_i"].items():
        paper = PAPER_TABLE_I.get(name, (None, None))
        rows.append({"name": name, "ours": _plural(epochs, "epoch"),
                     "savee": losses.get("savee"), "p_savee": paper[0],
                     "enterface": losses.get("enterface"), "p_enterface": paper[1],
                     "paper": "epochs not stated"})
    iteration = min(PAPER_ITERATION, summary["iterations"])
    for name, experiment in summary["experiments"].items():
        destination = experiment["destination"]
        paper = PAPER_RESULTS.get(name, {})
        value = paper.get("iterations", {}).get(iteration, {}).get("transfer_train_loss")
        rows.append({
            "name": f"pathnet {name} (destination)",
            "ours": pathnet_budget(budget, iteration, destination),
            destination: _fmt(experiment["figures"]["transfer_train_loss"], iteration - 1,
                              1, 3),
            f"p_{destination}": value,
            "paper": (f"it. {iteration} of {PAPER.iterations}; {PAPER_BUDGET} "
                      f"({paper.get('figure')}, Sec. IV-C2)" if value is not None
                      else f"no figure at it. {iteration}")})
    for number, (savee, enterface) in enumerate(PAPER_TABLE_I_PATHNET, 1):
        rows.append({"name": f"pathnet, Table I's own row {number} (paper only)",
                     "p_savee": savee, "p_enterface": enterface,
                     "paper": "experiment and iteration not stated"})
    recipe = TABLE_I_RECIPE
    lines = [
        "Final training loss, the quantity Table I reports, with the budget behind each "
        "figure.",
        f"Baselines: `TABLE_I_RECIPE` ({recipe.optimizer.name} "
        f"{recipe.optimizer.learning_rate:g}, batch {recipe.batch_size}) for "
        f"{_plural(epochs, 'epoch')}"
        + ("" if epochs == recipe.epochs else
           f" (the recipe's budget is {recipe.epochs}; this run overrides it)")
        + f", fold {budget['baseline_fold']} of seed {budget['baseline_seed']}; the paper "
        "does not state its baselines' epochs.",
        f"PathNet: the destination's best path, its mean loss over its last T training "
        f"minibatches at iteration {iteration}, beside the paper's figure at the same "
        "iteration (Sec. IV-C2 states its figures at iteration 3 and sets them beside "
        "Table I).",
        "Table I's own PathNet rows name no experiment or iteration and match none of "
        "Sec. IV-C2's per-iteration figures, so no figure of ours stands beside them.\n",
    ]
    return "\n".join(lines) + "\n" + comparison_table(
        rows, columns=("ours", "savee", "p_savee", "enterface", "p_enterface", "paper"),
        headers=["model", "our budget", "loss SAVEE", "paper", "loss eNTERFACE", "paper",
                 "paper's budget"],
        digits=3)


def describe(summary):
    """The lines that say what the tables' n, intervals, budget and scratch runs are."""
    seeds, folds = summary["seeds"], [f + 1 for f in summary["folds"]]
    lines = [
        f"n = {summary['n']} runs per figure (seeds {seeds} x folds {folds} of 6); "
        "a ± b is the mean and the half-width of its 95% t-interval over the n runs "
        "(no interval for n = 1)."
    ]
    budget = summary.get("budget")
    if budget:
        lines.append(
            f"Budget: {summary['iterations']} iterations, "
            + evaluation_budget(budget["generations"], budget["steps_per_path"],
                                budget["batch_size"], budget.get("epochs_per_path"))
            + f", population {budget['population_size']} (the paper: {PAPER.iterations} "
            f"iterations, {PAPER_BUDGET}, population {PAPER.population_size}).")
    for destination, names in summary["scratch_shared"].items():
        lines.append(
            f"Scratch on {destination}: one run per seed and fold, shared by "
            f"{', '.join(names)}" + (" (the same numbers in each row)."
                                     if len(names) > 1 else "."))
    return "\n".join(lines) + "\n"


def report(summary):
    """results.md: the three tables with what they mean, Table I when the
    baselines ran, and where the deviations from the paper are listed."""
    return "\n".join([
        "## PathNet transfer: destination training accuracy and loss (the paper's "
        "quantity, Sec. IV-C2)\n",
        "Training accuracy = the best path's fitness (correct rate over its last T "
        "training minibatches); training loss = its mean loss over them.\n",
        training_table(summary),
        "## Held-out destination accuracy (not reported by the paper)\n",
        "The best path of the destination population on the held-out fold: per frame, "
        "and per video (majority vote over a video's frames).\n",
        held_out_table(summary),
        "## Transfer minus scratch (paired run by run)\n",
        "* = the 95% interval excludes 0.\n",
        difference_table(summary),
        describe(summary),
    ] + ([f"## Table I: training loss (Sec. IV-B)\n\n{table_i(summary)}"]
         if summary.get("table_i") else []) + [
        f"Deviations from the paper: {DEVIATIONS_PAGE}\n",
    ])
