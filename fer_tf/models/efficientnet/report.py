"""The EfficientNet-B0 FER paper's report (Tables II-III, Fig. 1-2) beside its numbers.

`paper_tables(metrics)` puts a run's test metrics (from
`fer_tf.evaluation.metrics.classification_metrics`) beside Table II
(accuracy, macro and weighted precision/recall/F1) and Table III (per-class
precision/recall/F1 with support); `write_report` writes them to
`results.md` with the loss/accuracy curves (Fig. 1) and the confusion
matrix (Fig. 2) under `plots/`.
"""

from fer_tf.evaluation.metrics import wilson_text
from fer_tf.evaluation.report import comparison_table, plot_confusion_matrix, plot_history
from fer_tf.io import atomic_write_text
from fer_tf.models.efficientnet.presets import FIG_1_EPOCHS, TABLE_II, TABLE_III

_TABLE_II_ROWS = (("Accuracy", "accuracy"),
                  ("Macro-averaged precision", "macro_precision"),
                  ("Macro-averaged recall", "macro_recall"),
                  ("Macro-averaged F1", "macro_f1"),
                  ("Weighted-averaged precision", "weighted_precision"),
                  ("Weighted-averaged recall", "weighted_recall"),
                  ("Weighted-averaged F1", "weighted_f1"))


def _percent(value):
    return None if value is None else 100.0 * float(value)


def table_ii(metrics):
    """Markdown: our overall test metrics beside Table II, in percent."""
    rows = [{"name": label, "ours": _percent(metrics[key]), "paper": _percent(TABLE_II[key])}
            for label, key in _TABLE_II_ROWS]
    return comparison_table(rows, headers=["metric", "ours (%)", "paper Table II (%)"])


def accuracy_interval(metrics):
    """One line: the accuracy's 95% Wilson interval over the n test images
    (one training run) and the chance level of its classes."""
    n, classes = int(metrics["num_samples"]), len(metrics["per_class"])
    return (f"Accuracy {100 * metrics['accuracy']:.2f}% on n = {n} test images, 95% "
            f"Wilson interval {wilson_text(metrics['accuracy'], n)}% (the test images' "
            f"sampling error; one training run). Chance: {100 / classes:.2f}% "
            f"({classes} classes).")


def table_iii(metrics):
    """Markdown: our per-class test metrics beside Table III (percent; support counts)."""
    columns = ("precision", "recall", "f1", "support", "paper_precision", "paper_recall",
               "paper_f1", "paper_support")
    rows = []
    for name, ours in metrics["per_class"].items():
        paper = TABLE_III.get(name, {})
        row = {"name": name, "support": ours["support"],
               "paper_support": paper.get("support")}
        for key in ("precision", "recall", "f1"):
            row[key] = _percent(ours[key])
            row[f"paper_{key}"] = _percent(paper.get(key))
        rows.append(row)
    headers = ["class", "P (%)", "R (%)", "F1 (%)", "support", "paper P (%)", "paper R (%)",
               "paper F1 (%)", "paper support"]
    return comparison_table(rows, columns=columns, headers=headers)


def paper_tables(metrics, setting="", both_test_sets=None):
    """Both tables as one Markdown text; `setting` says how the run differs.
    `both_test_sets`: metrics on PublicTest + PrivateTest, the set whose class
    counts are Table III's supports (`presets.TABLE_III_SPLITS`)."""
    lines = ["# EfficientNet-B0 on FER2013: ours beside the paper", ""]
    if setting:
        lines += [setting, ""]
    lines += ["## Table II: overall test metrics", "", table_ii(metrics),
              accuracy_interval(metrics), "",
              "## Table III: per-class test metrics", "", table_iii(metrics)]
    if both_test_sets is not None:
        lines += ["## On PublicTest + PrivateTest (the paper's supports)", "",
                  "Table III's supports add up to both test sets (7,178 images); these "
                  "figures include PublicTest, on which our checkpoint was selected.", "",
                  table_ii(both_test_sets), table_iii(both_test_sets)]
    return "\n".join(lines)


def write_report(run, metrics, history, setting="", title="EfficientNet-B0",
                 both_test_sets=None):
    """Writes `results.md`, `plots/learning_curves.png` (Fig. 1) and
    `plots/confusion_matrix.png` (Fig. 2) into `run` (a RunFolder); returns
    the Markdown."""
    epochs = len(history.get("epoch", []))
    plot_history(history, run.file("plots", "learning_curves.png"),
                 title=f"{title}: {epochs} epochs (paper Fig. 1: {FIG_1_EPOCHS})")
    plot_confusion_matrix(metrics["confusion_matrix"], metrics["class_names"],
                          run.file("plots", "confusion_matrix.png"),
                          title=f"{title} test accuracy {metrics['accuracy']:.1%} "
                                f"(paper {TABLE_II['accuracy']:.2%})")
    text = paper_tables(metrics, setting, both_test_sets)
    atomic_write_text(run.file("results.md"), text)
    return text
