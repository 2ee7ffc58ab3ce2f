import pytest

from fer_tf.evaluation.metrics import fold_mean_interval, wilson_interval
from fer_tf.papers.landmark_ensemble import report


def _rows(table):
    return {line.split(" | ")[0].strip("| "): line for line in table.splitlines()[2:]}


def test_table_i_sets_the_mean_over_folds_beside_the_paper_and_pooled_apart():
    """The paper's Table I averages folds (Sec. II). Three folds of 10, 30
    and 10 faces at 80%, 60% and 70%: the mean over folds is 70.00% and the
    pooled (summed-confusion) accuracy 33/50 = 66.00%."""
    matrix = [[17, 8], [9, 16]]
    folds = [0.8, 0.6, 0.7]
    metrics = {"networks": {
        "ftl": {"accuracy": 0.66, "confusion_matrix": matrix, "fold_accuracies": folds,
                "members": {"member_0": 0.5, "member_1": 0.6},
                "member_fold_accuracies": {"member_0": [0.5, 0.5, 0.6],
                                           "member_1": [0.7, 0.5, 0.6]}},
        "el": {"accuracy": 0.66, "confusion_matrix": matrix, "fold_accuracies": folds,
               "members": {"mouth": 0.64},
               "member_fold_accuracies": {"mouth": [0.9, 0.5, 0.8]}}}}
    table = report.table_i(metrics, {"el": 97.31, "mouth": 90.0})
    rows = _rows(table)
    mean, low, high = fold_mean_interval(folds)
    assert mean == pytest.approx(0.70) and (low, high) == pytest.approx((0.4516, 0.9484),
                                                                        abs=1e-4)
    w_low, w_high = wilson_interval(0.66, 50)
    t_ci = f"{100 * low:.1f}-{100 * high:.1f}"
    assert t_ci == "45.2-94.8"
    assert (f"| 70.00 | {t_ci} | - | 66.00 | {100 * w_low:.1f}-{100 * w_high:.1f} | 50 | "
            "80.0 60.0 70.0 |") in rows["FTL"]
    # The paper's figure sits beside the mean over folds, not beside the pooled one.
    assert f"| 70.00 | {t_ci} | 97.31 | 66.00 |" in rows["EL"]
    assert "| 73.33 |" in rows["EL mouth alone"] and "| 90.00 | 64.00 |" in rows["EL mouth alone"]
    assert rows["FTL members alone (mean)"].startswith("| FTL members alone (mean) | 56.67 |")
    assert "| 55.00 |" in rows["FTL members alone (mean)"]
    assert "paper (mean over folds)" in table.splitlines()[0]
    assert "pooled % (summed confusion)" in table.splitlines()[0]


def test_face_detection_sentence_never_contradicts_its_counts():
    """Issue 24c: "213 of 213 detected, 0 missed (whole image used)"."""
    every = report.faces_text({"images": 213, "detected": 213, "missed": 0,
                               "detector": "dlib_hog"})
    assert every == "Faces: the detector (dlib_hog) found a face in all 213 images."
    assert "whole" not in every and "missed" not in every
    some = report.faces_text({"images": 213, "detected": 210, "missed": 3})
    assert some == ("Faces: the detector found a face in 210 of 213 images; the other 3 "
                    "were used whole (listed in config.json).")
    with pytest.raises(ValueError, match="disagree"):
        report.faces_text({"images": 213, "detected": 213, "missed": 2})
