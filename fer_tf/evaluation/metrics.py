"""Classification metrics as the papers report them.

Accuracy, per-class precision/recall/F1 with support, macro and weighted
averages, and the confusion matrix. For k-fold protocols (CK+ 10-fold, JAFFE
leave-one-subject-out, SAVEE/eNTERFACE 6-fold) the per-fold confusion
matrices are summed and every figure is derived from the sum, with the
per-fold accuracies kept for mean/std. Papers that report "the average
performance across the ten models" (landmark paper Sec. II) are compared by
the mean over folds, `fold_mean_interval`; the pooled accuracy is a
different average whenever folds differ in size.
"""

import numpy as np


def confusion_matrix(y_true, y_pred, num_classes):
    """Rows are true classes, columns predicted ones."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)
    return matrix


def metrics_from_confusion(matrix, class_names):
    """All reported figures from one (possibly fold-summed) confusion matrix."""
    matrix = np.asarray(matrix, dtype=np.int64)
    tp = np.diag(matrix).astype(float)
    support = matrix.sum(axis=1).astype(float)
    predicted = matrix.sum(axis=0).astype(float)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    total = support.sum()
    present = support > 0
    weights = support / total if total else np.zeros_like(support)

    def macro(v):
        return float(v[present].mean()) if present.any() else 0.0

    return {
        "accuracy": float(tp.sum() / total) if total else 0.0,
        "num_samples": int(total),
        "macro_precision": macro(precision),
        "macro_recall": macro(recall),
        "macro_f1": macro(f1),
        "weighted_precision": float((precision * weights).sum()),
        "weighted_recall": float((recall * weights).sum()),
        "weighted_f1": float((f1 * weights).sum()),
        "per_class": {
            name: {"precision": float(precision[i]), "recall": float(recall[i]),
                   "f1": float(f1[i]), "support": int(support[i])}
            for i, name in enumerate(class_names)},
        "class_names": list(class_names),
        "confusion_matrix": matrix.tolist(),
    }


def classification_metrics(y_true, y_pred, class_names):
    """Metrics of one test set."""
    return metrics_from_confusion(
        confusion_matrix(y_true, y_pred, len(class_names)), class_names)


def aggregate_folds(fold_results, class_names):
    """Sums the folds' confusion matrices; keeps per-fold accuracy mean/std.

    Args:
        fold_results: list of (y_true, y_pred) pairs, one per fold.
    """
    matrices = [confusion_matrix(t, p, len(class_names)) for t, p in fold_results]
    out = metrics_from_confusion(np.sum(matrices, axis=0), class_names)
    accs = [float(np.mean(np.asarray(t) == np.asarray(p))) for t, p in fold_results]
    out["fold_accuracies"] = accs
    out["fold_accuracy_mean"] = float(np.mean(accs))
    out["fold_accuracy_std"] = float(np.std(accs))
    return out


def percent(fraction):
    """A fraction as a percentage (None stays None): the package's one."""
    return None if fraction is None else 100.0 * float(fraction)


def wilson_interval(accuracy, n, z=1.96):
    """95% Wilson score interval (lower, upper) of an accuracy measured on n
    test images: the test set's sampling error. One training run per
    figure, so the run-to-run spread is not in it."""
    if not n:
        return (None, None)
    p = float(accuracy)
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    # Clipped: rounding leaves 0 - tiny at accuracy 0, printed as "-0.0".
    return (float(max(0.0, centre - half)), float(min(1.0, centre + half)))


def wilson_text(accuracy, n):
    """`wilson_interval` in percent as "low-high" ("" without test images)."""
    low, high = wilson_interval(accuracy, n)
    return "" if low is None else f"{100 * low:.1f}-{100 * high:.1f}"


def fold_mean_interval(fold_accuracies, confidence=0.95):
    """(mean, lower, upper): the mean of per-fold accuracies and its Student-t
    interval over the folds (n - 1 degrees of freedom, sample standard
    deviation), clipped to [0, 1]; the bounds are None for fewer than two
    folds.

    The folds are the sampling units: this interval covers how the figure
    varies from fold to fold (test subjects and the model trained without
    them), which `wilson_interval` on the pooled test images does not.
    """
    values = np.asarray(list(fold_accuracies), dtype=np.float64)
    if values.size == 0:
        return (None, None, None)
    mean = float(values.mean())
    if values.size < 2:
        return (mean, None, None)
    from scipy import stats

    half = (stats.t.ppf(0.5 + confidence / 2, values.size - 1) * values.std(ddof=1)
            / np.sqrt(values.size))
    return (mean, float(max(0.0, mean - half)), float(min(1.0, mean + half)))


def fold_mean_text(fold_accuracies):
    """`fold_mean_interval`'s bounds in percent as "low-high" ("" under two folds)."""
    _, low, high = fold_mean_interval(fold_accuracies)
    return "" if low is None else f"{100 * low:.1f}-{100 * high:.1f}"
