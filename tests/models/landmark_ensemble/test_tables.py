import pytest

from fer_tf.evaluation.metrics import wilson_interval
from fer_tf.models.landmark_ensemble import tables


def test_table_i_gives_each_accuracy_its_interval_over_the_test_faces():
    # Two folds of 10 faces each: the interval is over all 20.
    matrix = [[6, 4], [2, 8]]
    metrics = {"networks": {
        "ftl": {"accuracy": 0.7, "confusion_matrix": matrix, "fold_accuracies": [0.6, 0.8],
                "members": {"member_0": 0.5, "member_1": 0.6}},
        "el": {"accuracy": 0.75, "confusion_matrix": matrix, "fold_accuracies": [0.7, 0.8],
               "members": {"mouth": 0.65}}}}
    table = tables.table_i(metrics, {"el": 97.31, "mouth": 90.0})
    low, high = wilson_interval(0.7, 20)
    assert low == pytest.approx(0.4810, abs=1e-3) and high == pytest.approx(0.8545, abs=1e-3)
    rows = {line.split(" | ")[0].strip("| "): line for line in table.splitlines()[2:]}
    assert f"| 70.00 | {100 * low:.1f}-{100 * high:.1f} | 20 |" in rows["FTL"]
    assert "| 97.31 |" in rows["EL"] and "60.0 80.0" not in rows["EL"]
    assert "| 65.00 |" in rows["EL mouth alone"] and "| 90.00 |" in rows["EL mouth alone"]
    assert "| 55.00 |" in rows["FTL members alone (mean)"]
