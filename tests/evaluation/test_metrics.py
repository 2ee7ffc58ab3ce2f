import numpy as np
import pytest
from sklearn.metrics import f1_score, precision_recall_fscore_support

from fer_tf.evaluation import metrics


def test_metrics_match_sklearn():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 4, 200)
    y_pred = np.where(rng.random(200) < 0.6, y_true, rng.integers(0, 4, 200))
    names = ("anger", "fear", "happiness", "neutral")
    m = metrics.classification_metrics(y_true, y_pred, names)
    assert m["accuracy"] == pytest.approx(np.mean(y_true == y_pred))
    assert m["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro"))
    assert m["weighted_f1"] == pytest.approx(f1_score(y_true, y_pred, average="weighted"))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred)
    for i, name in enumerate(names):
        assert m["per_class"][name]["precision"] == pytest.approx(p[i])
        assert m["per_class"][name]["recall"] == pytest.approx(r[i])
        assert m["per_class"][name]["f1"] == pytest.approx(f[i])
        assert m["per_class"][name]["support"] == s[i]
    assert np.sum(m["confusion_matrix"]) == 200


def test_fold_confusion_matrices_are_summed():
    names = ("a", "b")
    folds = [([0, 0, 1], [0, 1, 1]), ([1, 1, 0, 0], [1, 1, 0, 1])]
    m = metrics.aggregate_folds(folds, names)
    assert m["confusion_matrix"] == [[2, 2], [0, 3]]
    assert m["accuracy"] == pytest.approx(5 / 7)
    assert m["fold_accuracies"] == pytest.approx([2 / 3, 3 / 4])
    assert m["fold_accuracy_mean"] == pytest.approx((2 / 3 + 3 / 4) / 2)


def test_absent_class_does_not_count_in_macro_average():
    m = metrics.classification_metrics([0, 0, 1], [0, 0, 1], ("a", "b", "c"))
    assert m["macro_f1"] == pytest.approx(1.0)
    assert m["per_class"]["c"]["support"] == 0


def test_wilson_interval():
    low, high = metrics.wilson_interval(0.5, 100)
    assert (low, high) == pytest.approx((0.4038, 0.5962), abs=1e-4)
    low, high = metrics.wilson_interval(1.0, 10)
    assert high == pytest.approx(1.0) and low == pytest.approx(0.7225, abs=1e-4)
    assert metrics.wilson_interval(0.5, 0) == (None, None)


def test_fold_mean_interval_is_a_student_t_interval_over_folds():
    from scipy import stats

    folds = [0.8, 0.6, 0.7]
    mean, low, high = metrics.fold_mean_interval(folds)
    half = stats.t.ppf(0.975, 2) * np.std(folds, ddof=1) / np.sqrt(3)
    assert mean == pytest.approx(0.7) and (low, high) == pytest.approx((0.7 - half, 0.7 + half))
    assert metrics.fold_mean_text(folds) == "45.2-94.8"
    # Clipped to [0, 1]; one fold has no interval; none has no mean.
    assert metrics.fold_mean_interval([1.0, 0.9])[2] == 1.0
    assert metrics.fold_mean_interval([0.4]) == (pytest.approx(0.4), None, None)
    assert metrics.fold_mean_interval([]) == (None, None, None)
    assert metrics.fold_mean_text([0.4]) == ""
    # Pooled and fold-mean accuracies differ when folds differ in size.
    pooled = metrics.aggregate_folds([([0] * 10, [0] * 8 + [1] * 2),
                                      ([0] * 30, [0] * 18 + [1] * 12)], ("a", "b"))
    assert pooled["accuracy"] == pytest.approx(26 / 40)
    assert pooled["fold_accuracy_mean"] == pytest.approx(0.7)


def test_wilson_interval_stays_inside_zero_one():
    low, high = metrics.wilson_interval(0.0, 23)
    assert low == 0.0 and str(100 * low) == "0.0" and 0 < high < 1
    assert metrics.wilson_interval(1.0, 23)[1] == 1.0
