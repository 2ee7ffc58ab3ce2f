"""The EfficientNet-B0 FER paper's report (Tables II-III, Fig. 1-2) beside its numbers.

The paper's Tables II-III are measured on FER2013's PublicTest and
PrivateTest together (Table III's supports add up to their 7,178 images;
`presets.TABLE_III_SPLITS`), so the figures set beside them are ours on
that same pool (`paper_set`). PrivateTest alone (`report_split`), the split
no checkpoint was selected on, is our own figure and is printed apart,
labelled, with nothing of the paper's beside it. Every accuracy carries its
n and 95% Wilson interval. Metrics dicts come from
`fer_tf.evaluation.metrics.classification_metrics` with a "test_split" name.

`write_report` writes `results.md` and the loss/accuracy curves (Fig. 1)
and the confusion matrix on the paper's test set (Fig. 2) under `plots/`.
"""

from fer_tf.evaluation.metrics import percent, wilson_text
from fer_tf.evaluation.report import comparison_table, plot_confusion_matrix, plot_history
from fer_tf.io import atomic_write_text
from fer_tf.models.efficientnet.presets import (FIG_1_EPOCHS, TABLE_II, TABLE_III,
                                                TABLE_III_SPLITS)

#: The page listing where fer_tf knowingly differs from the paper.
DEVIATIONS_PAGE = "docs/papers/efficientnet.md"

_TABLE_II_ROWS = (("Accuracy", "accuracy"),
                  ("Macro-averaged precision", "macro_precision"),
                  ("Macro-averaged recall", "macro_recall"),
                  ("Macro-averaged F1", "macro_f1"),
                  ("Weighted-averaged precision", "weighted_precision"),
                  ("Weighted-averaged recall", "weighted_recall"),
                  ("Weighted-averaged F1", "weighted_f1"))


def paper_test_size():
    """n of the paper's test set: the sum of Table III's supports (7,178)."""
    return sum(row["support"] for row in TABLE_III.values())


def table_ii(metrics):
    """Markdown: our overall metrics (on the paper's test set) beside Table II, in percent."""
    rows = [{"name": label, "ours": percent(metrics[key]), "paper": percent(TABLE_II[key])}
            for label, key in _TABLE_II_ROWS]
    split = metrics.get("test_split", "test")
    return comparison_table(rows, headers=["metric", f"ours, {split} (%)",
                                           "paper Table II (%)"])


def overall_table(metrics):
    """Markdown: our overall metrics alone (a set the paper does not report on)."""
    rows = [{"name": label, "ours": percent(metrics[key])} for label, key in _TABLE_II_ROWS]
    split = metrics.get("test_split", "test")
    return comparison_table(rows, columns=("ours",),
                            headers=["metric", f"ours, {split} (%)"])


def accuracy_interval(metrics):
    """One line: the accuracy's 95% Wilson interval over the n test images
    (one training run) and the chance level of its classes."""
    n, classes = int(metrics["num_samples"]), len(metrics["per_class"])
    return (f"Accuracy {100 * metrics['accuracy']:.2f}% on n = {n} test images, 95% "
            f"Wilson interval {wilson_text(metrics['accuracy'], n)}% (the test images' "
            f"sampling error; one training run). Chance: {100 / classes:.2f}% "
            f"({classes} classes).")


def accuracy_table(paper_set, report_split):
    """Markdown: every accuracy with its test set, n and 95% Wilson interval:
    the paper's (Table II), ours on the same pool, ours on the report split."""
    n = paper_test_size()
    rows = [("paper, Table II", " + ".join(TABLE_III_SPLITS), n, TABLE_II["accuracy"]),
            ("ours, beside the paper", paper_set["test_split"], paper_set["num_samples"],
             paper_set["accuracy"]),
            ("ours, never used for selection (not in the paper)",
             report_split["test_split"], report_split["num_samples"],
             report_split["accuracy"])]
    lines = ["| figure | test set | n | accuracy (%) | 95% Wilson interval (%) |",
             "|---|---|---|---|---|"]
    for name, split, count, accuracy in rows:
        lines.append(f"| {name} | {split} | {int(count)} | {100 * accuracy:.2f} | "
                     f"{wilson_text(accuracy, int(count))} |")
    return "\n".join(lines) + "\n"


def table_iii(metrics, paper=True):
    """Markdown: our per-class metrics (percent; support counts), beside
    Table III when `paper`."""
    columns = ["precision", "recall", "f1", "support"]
    headers = ["class", "P (%)", "R (%)", "F1 (%)", "support"]
    if paper:
        columns += ["paper_precision", "paper_recall", "paper_f1", "paper_support"]
        headers += ["paper P (%)", "paper R (%)", "paper F1 (%)", "paper support"]
    rows = []
    for name, ours in metrics["per_class"].items():
        row = {"name": name, "support": ours["support"]}
        published = TABLE_III.get(name, {})
        row["paper_support"] = published.get("support")
        for key in ("precision", "recall", "f1"):
            row[key] = percent(ours[key])
            row[f"paper_{key}"] = percent(published.get(key))
        rows.append(row)
    return comparison_table(rows, columns=columns, headers=headers)


def paper_tables(paper_set, report_split, setting="", selected_on="PublicTest"):
    """The report as one Markdown text; `setting` says how the run differs.

    Args:
        paper_set: metrics on the paper's test set (PublicTest + PrivateTest,
            or the synthetic stand-in), set beside Tables II-III.
        report_split: metrics on PrivateTest alone, our own figure.
        selected_on: the split the checkpoint was selected on (inside `paper_set`).
    """
    pooled, own = paper_set["test_split"], report_split["test_split"]
    paper_pool = " + ".join(TABLE_III_SPLITS)
    stand_in = ("" if pooled == paper_pool else
                f" Here {pooled} stand in for {paper_pool}, and {own} for PrivateTest.")
    lines = ["# EfficientNet-B0 on FER2013: ours beside the paper", ""]
    if setting:
        lines += [setting, ""]
    lines += [f"Deviations from the paper: {DEVIATIONS_PAGE}", "",
              "## Accuracy", "", accuracy_table(paper_set, report_split),
              f"The paper's Tables II-III count PublicTest and PrivateTest together (Table "
              f"III's supports add up to {paper_test_size():,} images), so its figures are "
              f"set beside ours on {pooled}; that pool includes {selected_on}, on which "
              f"our checkpoint was selected. {own} alone is our own figure.{stand_in} "
              f"Chance: {100 / len(report_split['per_class']):.2f}% "
              f"({len(report_split['per_class'])} classes). Intervals: the test images' "
              "sampling error of one training run.", "",
              f"## Table II: overall metrics on {pooled}", "", table_ii(paper_set),
              accuracy_interval(paper_set), "",
              f"## Table III: per-class metrics on {pooled}", "", table_iii(paper_set), "",
              f"## Ours on {own} alone (not in the paper)", "", overall_table(report_split),
              accuracy_interval(report_split), "", table_iii(report_split, paper=False)]
    return "\n".join(lines)


def write_report(run, paper_set, report_split, history, setting="", title="EfficientNet-B0",
                 selected_on="PublicTest"):
    """Writes `results.md`, `plots/learning_curves.png` (Fig. 1) and
    `plots/confusion_matrix.png` (Fig. 2, on the paper's test set) into
    `run` (a RunFolder); returns the Markdown."""
    epochs = len(history.get("epoch", []))
    plot_history(history, run.file("plots", "learning_curves.png"),
                 title=f"{title}: {epochs} epochs (paper Fig. 1: {FIG_1_EPOCHS})")
    plot_confusion_matrix(paper_set["confusion_matrix"], paper_set["class_names"],
                          run.file("plots", "confusion_matrix.png"),
                          title=f"{title} on {paper_set['test_split']}: accuracy "
                                f"{paper_set['accuracy']:.1%} (paper "
                                f"{TABLE_II['accuracy']:.2%})")
    text = paper_tables(paper_set, report_split, setting, selected_on)
    atomic_write_text(run.file("results.md"), text)
    return text
