"""The CAMnet thesis' tables and figures from an experiment's metrics.

Tables 6.3 (CAMnet34 per optimizer), 6.4 (no pretrained weights), 6.5 (the
ensemble's members: training and test accuracy), Sec. 6.2.2 (ensemble
without and with TTA) and 6.6 (the wider comparison), each of our figures
beside the thesis' same quantity: test accuracy beside its test accuracy,
training accuracy beside its training accuracy. A row the run did not train
prints "not run".
"""

import numpy as np

from fer_tf.evaluation.report import atomic_savefig, command_lines, comparison_table
from fer_tf.io import atomic_write_text
from fer_tf.models.camnet import presets


def run_key(model, optimizer):
    return f"{model}-{optimizer}"


def _with_ci(accuracy, ci):
    if accuracy is None:
        return "not run"
    low, high = ci
    return f"{100 * accuracy:.2f} [{100 * low:.1f}, {100 * high:.1f}]"


def _row(metrics, model, optimizer="radam"):
    return metrics["runs"].get(run_key(model, optimizer))


def _acc(row, field="test_accuracy"):
    if row is None:
        return "not run"
    if field == "test_accuracy":
        return _with_ci(row["test_accuracy"], row["test_accuracy_ci95"])
    return "-" if row.get(field) is None else f"{100 * row[field]:.2f}"


def table_6_3(metrics):
    rows = [{"name": name, "batch": (_row(metrics, "camnet34", name) or {}).get(
                 "batch_size", metrics["batch_size"]), "lr": f"{paper['learning_rate']:g}",
             "ours": _acc(_row(metrics, "camnet34", name)), "paper": paper["accuracy"]}
            for name, paper in presets.TABLE_6_3.items()]
    return comparison_table(rows, ("batch", "lr", "ours", "paper"),
                            ["optimizer (CAMnet34)", "batch", "learning rate",
                             "ours: test acc. % [95% CI]", "thesis: acc. %"])


def table_6_4(metrics):
    rows = [{"name": name, "ours": _acc(_row(metrics, name)), "paper": paper}
            for name, paper in presets.TABLE_6_4.items()]
    return comparison_table(rows, ("ours", "paper"),
                            ["architecture (NPW)", "ours: test acc. % [95% CI]",
                             "thesis: acc. %"])


def table_6_5(metrics):
    rows = []
    for name in presets.ENSEMBLE_MEMBERS:
        row = _row(metrics, name)
        rows.append({"name": name,
                     "train": _acc(row, "train_accuracy"),
                     "paper_train": presets.TABLE_6_5_TRAINING[name],
                     "test": _acc(row), "paper_test": presets.TABLE_6_5[name],
                     "tta": _acc(row, "test_accuracy_tta"),
                     "epochs": "-" if row is None else row["epochs_run"],
                     "paper_epochs": presets.TABLE_6_5_EPOCHS.get(name, 50),
                     "weights": "-" if row is None else ("WPW" if row["pretrained"] else "NPW"),
                     "paper_weights": "NPW" if name == "camnet34" else "WPW"})
    ensemble = metrics.get("ensemble")
    rows.append({"name": "ensemble", "train": "-", "paper_train": "-",
                 "test": "not run" if not ensemble else
                 _with_ci(ensemble["accuracy_tta"], ensemble["accuracy_tta_ci95"]),
                 "paper_test": presets.TABLE_6_5["ensemble"], "tta": "(TTA)"})
    columns = ("train", "paper_train", "test", "paper_test", "tta", "epochs",
               "paper_epochs", "weights", "paper_weights")
    return comparison_table(rows, columns, [
        "model", "ours: train acc. %", "thesis: train acc. %", "ours: test acc. % [95% CI]",
        "thesis: test acc. %", "ours: test acc. with TTA %", "ours: epochs",
        "thesis: epochs", "ours: weights", "thesis: weights"])


def ensemble_table(metrics):
    ensemble = metrics.get("ensemble")
    rows = [{"name": "ensemble without TTA",
             "ours": None if not ensemble else
             _with_ci(ensemble["accuracy"], ensemble["accuracy_ci95"]),
             "paper": presets.ENSEMBLE_TTA["without_tta"]},
            {"name": f"ensemble with TTA ({metrics['n_views']} views)",
             "ours": None if not ensemble else
             _with_ci(ensemble["accuracy_tta"], ensemble["accuracy_tta_ci95"]),
             "paper": presets.ENSEMBLE_TTA["with_tta"]}]
    return comparison_table(rows, ("ours", "paper"),
                            ["Sec. 6.2.2", "ours: test acc. % [95% CI]", "thesis: acc. %"])


def paper_test_set_table(metrics):
    """Each run and the ensemble on FER2013's PublicTest + PrivateTest (the
    thesis says only "test set"; PrivateTest alone is in the tables above).
    PublicTest also chose each run's best epoch, so these figures lean
    slightly optimistic; the thesis' figures sit beside them as in 6.4-6.5."""
    rows = []
    for key, row in metrics["runs"].items():
        pooled = row.get("paper_test_set")
        if pooled:
            paper = (presets.TABLE_6_3.get(row["optimizer"], {}).get("accuracy")
                     if row["model"] == "camnet34" else
                     presets.TABLE_6_5.get(row["model"], presets.TABLE_6_4.get(row["model"])))
            rows.append({"name": key, "n": f"{pooled['num_samples']:,}",
                         "ours": _with_ci(pooled["accuracy"], pooled["accuracy_ci95"]),
                         "tta": _with_ci(pooled["accuracy_tta"], pooled["accuracy_tta_ci95"]),
                         "paper": "-" if paper is None else paper})
    pooled = (metrics.get("ensemble") or {}).get("paper_test_set")
    if pooled:
        rows.append({"name": "ensemble", "n": f"{pooled['num_samples']:,}",
                     "ours": _with_ci(pooled["accuracy"], pooled["accuracy_ci95"]),
                     "tta": _with_ci(pooled["accuracy_tta"], pooled["accuracy_tta_ci95"]),
                     "paper": presets.ENSEMBLE_TTA["with_tta"]})
    if not rows:
        return ""
    return comparison_table(rows, ("n", "ours", "tta", "paper"),
                            ["run (PublicTest + PrivateTest)", "n",
                             "ours: acc. % [95% CI]", "ours: with TTA % [95% CI]",
                             "thesis: test acc. %"])


def table_6_6(metrics):
    rows = [{"name": name, "ours": _acc(_row(metrics, name)), "paper": paper}
            for name, paper in presets.TABLE_6_6.items() if name != "ensemble"]
    ensemble = metrics.get("ensemble")
    rows.append({"name": "CAMnet + ensemble (TTA)",
                 "ours": "not run" if not ensemble else
                 _with_ci(ensemble["accuracy_tta"], ensemble["accuracy_tta_ci95"]),
                 "paper": presets.TABLE_6_6["ensemble"]})
    rows += [{"name": name, "ours": "(published)", "paper": paper}
             for name, paper in presets.TABLE_6_6_PUBLISHED.items()]
    return comparison_table(rows, ("ours", "paper"),
                            ["architecture", "ours: test acc. % [95% CI]", "thesis: acc. %"])


def _grid(panels, path, title):
    """Row-normalised confusion matrices side by side (Fig. 6.3-6.8)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(3, len(panels))
    rows = int(np.ceil(len(panels) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.9 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (name, matrix, class_names) in zip(axes.ravel(), panels):
        matrix = np.asarray(matrix, float)
        norm = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
        ax.axis("on")
        ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
        for i in range(len(class_names)):
            for j in range(len(class_names)):
                ax.text(j, i, f"{norm[i, j]:.0%}", ha="center", va="center", fontsize=6,
                        color="white" if norm[i, j] > 0.5 else "black")
        short = [c[:4] for c in class_names]
        ax.set_xticks(range(len(short)), short, fontsize=7, rotation=45)
        ax.set_yticks(range(len(short)), short, fontsize=7)
        ax.set_title(name, fontsize=9)
    fig.suptitle(title)
    fig.tight_layout()
    atomic_savefig(fig, path)
    plt.close(fig)


def _curves(runs, path):
    """Validation accuracy per epoch of every run (Fig. 6.2 for all)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for key, curve in runs:
        ax.plot(np.arange(1, len(curve) + 1), curve, marker="o", ms=3, label=key)
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title("Validation accuracy of every run")
    atomic_savefig(fig, path)
    plt.close(fig)


def write_figures(run, metrics, class_names, histories):
    """plots/confusion_matrices.png (each run and the ensemble) and
    plots/validation_accuracy.png (every run's curve)."""
    panels = [(key, row["confusion_matrix"], class_names)
              for key, row in metrics["runs"].items()]
    if metrics.get("ensemble"):
        panels.append(("ensemble (mean, no TTA)", metrics["ensemble"]["confusion_matrix"],
                       class_names))
    _grid(panels, run.file("plots", "confusion_matrices.png"),
          f"Test confusion matrices ({metrics['test_split']})")
    curves = [(key, h["val_accuracy"]) for key, h in histories.items()
              if h.get("val_accuracy")]
    if curves:
        _curves(curves, run.file("plots", "validation_accuracy.png"))


def write_report(run, metrics, config):
    """results.md: the setting, Tables 6.3-6.6 and the figures."""
    settings = config["settings"]
    weights = config["weights"]
    setting = (
        f"Ours: {config['dataset']}, {config['split_sizes']['train']} training images "
        f"(select on {config['split_sizes']['val']}, test on {metrics['num_test']}: "
        f"{metrics['test_split']}), {settings['input_size']} x {settings['input_size']} "
        f"input, {settings['epochs'] or 'the thesis per model'} epochs, batch "
        f"{settings['batch_size'] or 'the thesis per model'}, "
        f"{settings['n_views']} TTA views, "
        + ("" if settings.get("augment", True) else
           "no Table 6.1 training augmentation (budget cut; TTA still uses it), ")
        + f"keras.applications weights {weights} "
        f"(trunk models always from scratch), {config['backend']} backend, one run per row. "
        "Thesis: FER2013, 224 x 224, 50 epochs (SE-ResNeXt101 43), batch 32 (SE-ResNet34 "
        "and SE-ResNeXt101 48), dropout 0.5 for CAMnet only, ImageNet weights for every "
        "member but CAMnet (WPW). Deviations from the thesis: docs/papers/camnet.md "
        "(its last table).")
    precisions = sorted({f"{key}: {row['precision']['policy']} ({row['precision']['reason']})"
                         for key, row in metrics["runs"].items() if row.get("precision")})
    if precisions:
        setting += " Precision per run: " + "; ".join(precisions) + "."
    ensemble = metrics.get("ensemble")
    members = ("not run" if not ensemble else
               f"{len(ensemble['members'])} of 6 members ({', '.join(ensemble['members'])})"
               + (f"; not trained in this run: {', '.join(ensemble['missing'])}"
                  if ensemble["missing"] else ""))
    lines = [
        "# CAMnet thesis (Ch. 6): ours beside the thesis", "",
        *command_lines(config, "finished runs, their softmax outputs included"),
        setting, "",
        "Brackets: the 95% Wilson interval of the test accuracy over the test images; "
        "one training run per row, so the spread between runs is not in it.",
        "Training accuracy: the fit accuracy on augmented batches at the selected epoch, "
        "as a training log reports it.", "",
        "## Table 6.3: CAMnet34 per optimizer", "", table_6_3(dict(metrics, **{
            "batch_size": settings["batch_size"]})),
        "## Table 6.4: no pretrained weights", "", table_6_4(metrics),
        "## Table 6.5: the ensemble's members", "", table_6_5(metrics),
        "## Sec. 6.2.2: ensemble and test-time augmentation", "",
        f"Members: {members}. Policy: mean of the members' softmax, each averaged over "
        f"{settings['n_views']} Table 6.1 views (TTA).", "", ensemble_table(metrics),
        "## Table 6.6: comparison", "", table_6_6(metrics),
    ]
    pooled = paper_test_set_table(metrics)
    if pooled:
        lines += [
            "## FER2013 PublicTest + PrivateTest", "",
            "The tables above test on PrivateTest alone. The same runs on both test splits "
            "pooled (n = 7,178), the test set of the FER2013 papers that name one; "
            "PublicTest also chose each run's best epoch, so these lean optimistic.", "",
            pooled]
    lines += [
        "## Figures", "",
        "- `plots/confusion_matrices.png`: every run's test confusion matrix and the "
        "ensemble's (Fig. 6.3-6.8)",
        "- `plots/validation_accuracy.png`; each run's `members/<run>/plots/` "
        "(learning curves, Fig. 6.2; confusion matrix)",
    ]
    lines += [f"- `{p}`: Grad-CAM of CAMnet34" for p in metrics.get("gradcam", [])]
    atomic_write_text(run.file("results.md"), "\n".join(lines) + "\n")
