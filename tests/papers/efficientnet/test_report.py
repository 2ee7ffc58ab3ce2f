"""The EfficientNet report: the paper's figures beside ours on the same test set
(PublicTest + PrivateTest), PrivateTest alone in its own labelled rows, every
accuracy with n and its 95% Wilson interval."""

import numpy as np

from fer_tf.evaluation.metrics import classification_metrics, wilson_text
from fer_tf.models.efficientnet.presets import TABLE_III
from fer_tf.papers.efficientnet.report import accuracy_interval, paper_tables, paper_test_size


def test_accuracy_interval_line():
    metrics = {"accuracy": 0.5, "num_samples": 100,
               "per_class": {f"c{i}": {} for i in range(7)}}
    line = accuracy_interval(metrics)
    assert "50.00% on n = 100" in line and "40.4-59.6%" in line and "14.29% (7 classes)" in line


_CLASSES = list(TABLE_III)


def _metrics(split, n, correct, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 7, n)
    predictions = np.where(np.arange(n) < correct, labels, (labels + 1) % 7)
    metrics = classification_metrics(labels, predictions, _CLASSES)
    metrics["test_split"] = split
    return metrics


def test_the_paper_is_set_beside_public_plus_private_and_privatetest_stands_apart():
    pooled = _metrics("PublicTest + PrivateTest", 40, 23, 0)   # 57.50%
    private = _metrics("PrivateTest", 20, 9, 1)                # 45.00%
    text = paper_tables(pooled, private, "Ours: a test run.")
    lines = text.splitlines()
    # Table II's accuracy row: our pooled figure beside 72.08, nothing else.
    assert "| Accuracy | 57.50 | 72.08 |" in lines
    assert "| metric | ours, PublicTest + PrivateTest (%) | paper Table II (%) |" in lines
    assert f"| Macro-averaged F1 | {100 * pooled['macro_f1']:.2f} | 71.67 |" in lines
    # Every accuracy with its test set, n and Wilson interval; PrivateTest in its own row.
    assert paper_test_size() == 7178
    assert (f"| paper, Table II | PublicTest + PrivateTest | 7178 | 72.08 | "
            f"{wilson_text(0.7208, 7178)} |") in lines
    assert (f"| ours, beside the paper | PublicTest + PrivateTest | 40 | 57.50 | "
            f"{wilson_text(0.575, 40)} |") in lines
    assert (f"| ours, never used for selection (not in the paper) | PrivateTest | 20 | 45.00 | "
            f"{wilson_text(0.45, 20)} |") in lines
    private_part = text[text.index("## Ours on PrivateTest alone (not in the paper)"):]
    assert "| Accuracy | 45.00 |" in private_part and "72.08" not in private_part
    assert "Accuracy 45.00% on n = 20 test images" in private_part
    assert "## Table II: overall metrics on PublicTest + PrivateTest" in text
    assert "Deviations from the paper: docs/papers/efficientnet.md" in lines
    assert "stand in for" not in text


def test_the_synthetic_stand_in_is_labelled():
    text = paper_tables(_metrics("selection + test subjects", 14, 7, 2),
                        _metrics("held-out test subjects", 7, 3, 3),
                        selected_on="held-out training subjects")
    assert "| Accuracy | 50.00 | 72.08 |" in text
    assert ("Here selection + test subjects stand in for PublicTest + PrivateTest, and "
            "held-out test subjects for PrivateTest.") in text
    assert "| ours, never used for selection (not in the paper) | held-out test subjects | 7 |" \
        in text
