"""The CAMnet experiment's parts: the planned runs, the model's input steps,
the ensemble rows from stored member outputs (a hand computation), the
Wilson interval, the Grad-CAM figure's layer and the report."""

import dataclasses

import keras
import numpy as np
import pytest

from fer_tf.errors import ConfigError
from fer_tf.papers.camnet import report
from fer_tf.papers.camnet.experiment import (SETTINGS, Settings, ensemble_results,
                                             pipeline_model, planned_runs)


def test_planned_runs_share_camnet_with_radam():
    runs = planned_runs(Settings(models=("camnet34", "resnet34", "densenet121"),
                                 optimizers=("sgd", "radam")))
    assert runs == [("camnet34", "sgd"), ("camnet34", "radam"), ("resnet34", "radam"),
                    ("densenet121", "radam")]
    full = planned_runs(SETTINGS["paper"])
    assert len(full) == len(set(full)) == 4 + 12 - 1  # 12 models, CAMnet34 x 4 optimizers
    assert ("residual_masking", "radam") in full and ("se_resnext101", "radam") in full
    with pytest.raises(ConfigError, match="Unknown CAMnet-thesis model"):
        planned_runs(Settings(models=("resnet18",)))
    with pytest.raises(ConfigError, match="Table 6.3 optimizer"):
        planned_runs(Settings(optimizers=("lamb",)))


def test_pipeline_model_resizes_augments_only_in_training_and_scales():
    model = pipeline_model("resnet34", (24, 24, 3), 32, 7, seed=0)
    names = [layer.name for layer in model.layers]
    assert names[:4] == ["pixels", "lanczos_resize", "augmentation", "normalization"]
    assert model.get_layer("normalization").scale == pytest.approx(1 / 255)
    x = np.random.default_rng(0).uniform(0, 255, (2, 24, 24, 3)).astype("float32")
    a, b = (keras.ops.convert_to_numpy(model(x, training=False)) for _ in range(2))
    np.testing.assert_allclose(a, b, atol=1e-6)  # no augmentation at inference
    assert a.shape == (2, 7)
    # keras.applications members scale inside: no extra scaling in front
    assert pipeline_model("vgg16", (32, 32, 3), 32, 7).get_layer("normalization").scale == 1.0


def _result(model, plain, tta):
    return {"model": model, "test_probabilities": plain, "test_probabilities_tta": tta}


def test_ensemble_rows_are_the_mean_of_the_members_softmax():
    labels = np.array([0, 1, 2])
    a = [[0.6, 0.3, 0.1], [0.5, 0.4, 0.1], [0.2, 0.2, 0.6]]   # right, wrong, right
    b = [[0.1, 0.8, 0.1], [0.1, 0.8, 0.1], [0.5, 0.1, 0.4]]   # wrong, right, wrong
    # mean: [.35,.55,.1] wrong, [.3,.6,.1] right, [.35,.15,.5] right -> 2/3
    # TTA outputs: a's, b's all-right -> mean right on all three
    right = np.eye(3).tolist()
    results = {"camnet34-radam": _result("camnet34", a, a),
               "se_resnet34-radam": _result("se_resnet34", b, right),
               "resnet34-radam": _result("resnet34", right, right)}  # not a member
    out = ensemble_results(results, labels)
    assert out["members"] == ["se_resnet34", "camnet34"]
    assert "cbam_resnet50" in out["missing"] and "resnet34" not in out["missing"]
    assert out["accuracy"] == pytest.approx(2 / 3)
    assert out["accuracy_tta"] == pytest.approx(1.0)
    assert np.trace(out["confusion_matrix"]) == 2
    assert ensemble_results({"resnet34-radam": results["resnet34-radam"]}, labels) is None


def test_gradcam_figure_explains_the_feature_map_or_stage_2_at_small_inputs(tmp_path,
                                                                            monkeypatch):
    import types

    from fer_tf.evaluation import gradcam as gc
    from fer_tf.evaluation.report import RunFolder
    from fer_tf.papers.camnet import experiment

    layers = []

    def spy(*args, **kwargs):
        result = gradcam(*args, **kwargs)
        layers.append(result["layer"])
        return result

    gradcam = gc.gradcam
    monkeypatch.setattr(gc, "gradcam", spy)
    images = np.random.default_rng(0).uniform(0, 255, (1, 48, 48, 3)).astype("float32")
    # CAMnet34's feature map is 1/32 of its input: 1 x 1 at 32 (stage 2's
    # last block, 4 x 4, explained instead), 4 x 4 at 128.
    for size in (32, 128):
        model = pipeline_model("camnet34", images.shape[1:], size, 7, augment=False)
        monkeypatch.setattr(experiment, "load_model", lambda path, model=model: model)
        run = RunFolder(str(tmp_path / str(size)), create=True)
        paths = experiment.gradcam_figure(run, types.SimpleNamespace(best_checkpoint=None),
                                          images, [str(c) for c in range(7)], count=1)
        assert paths == ["plots/gradcam_camnet34_0.png"]
    assert layers == ["camnet34/features/stage2_block4_out", "camnet34/features"]


def test_tables_print_every_thesis_row_and_mark_rows_not_run():
    row = {"test_accuracy": 0.5, "test_accuracy_ci95": (0.4, 0.6), "train_accuracy": 0.75,
           "test_accuracy_tta": 0.55, "epochs_run": 3, "pretrained": False}
    metrics = {"runs": {"camnet34-radam": row}, "n_views": 5, "batch_size": 32,
               "ensemble": {"accuracy": 0.5, "accuracy_ci95": (0.4, 0.6),
                            "accuracy_tta": 0.55, "accuracy_tta_ci95": (0.45, 0.65)}}
    t63 = report.table_6_3(metrics)
    assert "| radam | 32 | 0.0001 | 50.00 [40.0, 60.0] | 70.65 |" in t63
    assert "| adadelta | 32 | 1 | not run | 61.71 |" in t63
    t65 = report.table_6_5(metrics)
    assert "| camnet34 | 75.00 | 88.77 | 50.00 [40.0, 60.0] | 70.65 | 55.00 | 3 | 50 | NPW" in t65
    assert "| se_resnext101 | not run | 92.92 |" in t65 and "| 43 |" in t65
    assert "| ensemble with TTA (5 views) | 55.00 [45.0, 65.0] | 76.12 |" in \
        report.ensemble_table(metrics)
    assert "| Pham et al. [43] (Residual Masking Network, 7 models) | (published) | 76.82 |" \
        in report.table_6_6(metrics)
    assert "| residual_masking | not run | 68.18 |" in report.table_6_4(metrics)


def test_smoke_settings_are_a_reduced_synthetic_budget():
    smoke = SETTINGS["smoke"]
    assert smoke.run_eagerly and smoke.epochs == 1 and smoke.synthetic
    assert dataclasses.replace(smoke, epochs=2).epochs == 2


def test_paper_test_set_pools_publictest_and_privatetest_by_hand():
    from fer_tf.papers.camnet.experiment import paper_test_set

    rng = np.random.default_rng(1)
    select, test = rng.integers(0, 3, 5), rng.integers(0, 3, 4)
    results = {k: {f"{split}_probabilities{s}": rng.dirichlet(np.ones(3), n).tolist()
                   for split, n in (("select", 5), ("test", 4)) for s in ("", "_tta")}
               for k in ("a-radam", "b-radam")}
    one = paper_test_set(results, select, test, ["a-radam"])
    labels = np.concatenate([select, test])
    a = np.concatenate([results["a-radam"]["select_probabilities"],
                        results["a-radam"]["test_probabilities"]])
    assert one["num_samples"] == 9 and one["split"] == "PublicTest + PrivateTest"
    assert one["accuracy"] == pytest.approx(np.mean(a.argmax(-1) == labels))
    both = paper_test_set(results, select, test, ["a-radam", "b-radam"])
    mean_tta = np.mean([np.concatenate([results[k]["select_probabilities_tta"],
                                        results[k]["test_probabilities_tta"]])
                        for k in ("a-radam", "b-radam")], axis=0)
    assert both["accuracy_tta"] == pytest.approx(np.mean(mean_tta.argmax(-1) == labels))
    low, high = both["accuracy_tta_ci95"]
    assert low <= both["accuracy_tta"] <= high


def test_report_sets_public_plus_private_beside_the_thesis():
    pooled = {"split": "PublicTest + PrivateTest", "num_samples": 7178, "accuracy": 0.5,
              "accuracy_ci95": [0.49, 0.51], "accuracy_tta": 0.52,
              "accuracy_tta_ci95": [0.51, 0.53]}
    metrics = {"runs": {"resnet34-radam": {"model": "resnet34", "optimizer": "radam",
                                           "paper_test_set": pooled}},
               "ensemble": None}
    table = report.paper_test_set_table(metrics)
    assert "| resnet34-radam | 7,178 | 50.00 [49.0, 51.0] | 52.00 [51.0, 53.0] | 66.70 |" \
        in table
    assert report.paper_test_set_table({"runs": {"x": {"model": "resnet34"}}}) == ""


def test_report_states_a_run_without_table_6_1_augmentation(tmp_path):
    from fer_tf.evaluation.report import RunFolder

    row = {"model": "resnet34", "optimizer": "radam", "test_accuracy": 0.5,
           "test_accuracy_ci95": (0.4, 0.6), "train_accuracy": 0.75, "test_accuracy_tta": 0.55,
           "epochs_run": 3, "pretrained": False,
           "precision": {"policy": "float32", "reason": "requested"}}
    metrics = {"runs": {"resnet34-radam": row}, "n_views": 5, "num_test": 10,
               "test_split": "PrivateTest", "ensemble": None}
    run = RunFolder(str(tmp_path / "run"), create=True)
    for augment, said in ((False, True), (True, False)):
        config = {"dataset": "fer2013", "weights": "random", "backend": "tensorflow",
                  "split_sizes": {"train": 20, "val": 10, "test": 10},
                  "settings": dataclasses.asdict(Settings(input_size=48, epochs=6,
                                                          augment=augment))}
        report.write_report(run, metrics, config)
        text = (tmp_path / "run" / "results.md").read_text()
        assert ("no Table 6.1 training augmentation (budget cut" in text) is said
        assert "resnet34-radam: float32 (requested)" in text
