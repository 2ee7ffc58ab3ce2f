from fer_tf.models.efficientnet.report import accuracy_interval


def test_accuracy_interval_line():
    metrics = {"accuracy": 0.5, "num_samples": 100,
               "per_class": {f"c{i}": {} for i in range(7)}}
    line = accuracy_interval(metrics)
    assert "50.00% on n = 100" in line and "40.4-59.6%" in line and "14.29% (7 classes)" in line
