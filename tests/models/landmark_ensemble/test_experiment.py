"""The landmark experiment's pieces: budgets, stage-2 freezing, Sec. V-B
errors and the fold/member summaries, on tiny inputs."""

import keras
import numpy as np
import pytest

from fer_tf.data.synthetic import make_synthetic
from fer_tf.errors import ConfigError
from fer_tf.evaluation.report import RunFolder
from fer_tf.models.landmark_ensemble import experiment as exp
from fer_tf.models.landmark_ensemble import landmark_subnetwork, presets
from fer_tf.models.landmark_ensemble.tables import paper_confusion
from fer_tf.training import fit

SIZE = 32


def test_member_recipes_scale_the_papers_budgets():
    budget = exp.Budget(input_size=SIZE, epochs_scale=0.05, class_balanced=True)
    el = exp.member_recipe("el", "ckplus", "mouth", budget)
    assert [(s.name, s.epochs) for s in el.stages] == [("landmarks", 5), ("head", 2),
                                                       ("finetune", 14)]
    assert el.landmark_part == "mouth" and el.class_balanced and el.epochs == 21
    assert el.stages[1].trainable == ("expression_head",)
    base = exp.member_recipe("baseline", "synthetic", None, exp.Budget(epochs_scale=0.0))
    assert base.epochs == 1 and not base.stages and base.landmark_part is None
    assert exp.member_names("el") == list(presets.EL_PARTS)
    assert exp.member_names("ftl")[-1] == "member_4"
    assert exp.default_budget("synthetic").input_size == exp.SYNTHETIC["input_size"]
    assert exp.default_budget("ckplus", input_size=96, epochs_scale=0.1) == exp.Budget(
        96, 0.1, False, 5)
    # The landmark stage's own budget is not scaled; the others still are.
    own = exp.member_recipe("ftl", "ckplus", "all",
                            exp.default_budget("synthetic", epochs_scale=0.2,
                                               landmark_epochs=200))
    assert [(s.name, s.epochs) for s in own.stages] == [("landmarks", 200), ("head", 6),
                                                        ("finetune", 54)]
    assert [s.patience for s in own.stages] == [0, None, None], "run in full"
    assert exp.default_budget("synthetic").landmark_epochs == exp.SYNTHETIC["landmark_epochs"]
    assert exp.default_budget("ckplus").landmark_epochs is None
    # The paper's training set by default; a validation split is asked for.
    assert exp.default_budget("jaffe").val_fraction == 0.0
    assert exp.default_budget("jaffe", val_fraction=0.2).val_fraction == 0.2
    # Sec. III-D3's one head + fine-tuning budget, split 10% / 90% by fer_tf.
    for dataset, paper in presets.PAPER_EPOCHS.items():
        epochs = presets.EPOCHS[dataset]
        assert epochs["head"] + epochs["finetune"] == paper["head_and_finetune"]
        assert epochs["head"] == round(presets.HEAD_SHARE * paper["head_and_finetune"])
    assert exp.member_recipe("baseline", "ckplus", None,
                             exp.Budget(epochs_scale=0.2, landmark_epochs=200)).epochs == 80


def test_stage_two_leaves_the_extractor_unchanged(tmp_path):
    """Sec. III-D2: the head stage trains the expression head alone."""
    records = make_synthetic(num_subjects=3, images_per_class=2, classes="seven", size=SIZE)
    recipe = exp.member_recipe("el", "jaffe", "nose", exp.Budget(SIZE, 0.0))
    recipe = recipe.replace(batch_size=8)
    train_ds, val_ds = exp._pipelines(recipe, records, records.subset(np.arange(8)),
                                      (SIZE, SIZE, 3), seed=0)
    run = RunFolder(str(tmp_path / "member"), create=True)
    fit.set_seed(0)
    final, _ = fit.train(lambda: landmark_subnetwork(7, "nose", (SIZE, SIZE, 3)),
                         train_ds, val_ds, run, recipe, verbose=0)

    def stage(k, name):
        path = run.file("stages", f"{k}-{name}", "checkpoints", "final.weights.h5")
        model = landmark_subnetwork(7, "nose", (SIZE, SIZE, 3))
        model.load_weights(path)
        return model

    landmarks, head = stage(1, "landmarks"), stage(2, "head")
    for a, b in zip(landmarks.get_layer("extractor").weights, head.get_layer("extractor").weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    for a, b in zip(landmarks.get_layer("landmark_head").weights,
                    head.get_layer("landmark_head").weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    changed = [not np.array_equal(a.numpy(), b.numpy()) for a, b in
               zip(landmarks.get_layer("expression_head").weights,
                   head.get_layer("expression_head").weights)]
    assert any(changed)
    # Stage 3 fine-tunes the extractor; the landmark head stays stage 1's (Sec. V-B).
    assert any(not np.array_equal(a.numpy(), b.numpy()) for a, b in
               zip(head.get_layer("extractor").trainable_weights,
                   final.get_layer("extractor").trainable_weights))
    for a, b in zip(landmarks.get_layer("landmark_head").weights,
                    final.get_layer("landmark_head").weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_summaries_by_hand():
    folds = [{"y_true": [0, 1, 2], "y_pred": [0, 1, 1],
              "member_pred": {"a": [0, 0, 2], "b": [1, 1, 1]}},
             {"y_true": [2, 2], "y_pred": [2, 0],
              "member_pred": {"a": [2, 2], "b": [0, 0]}}]
    out = exp.summarize_results(folds, ("x", "y", "z"))
    assert out["accuracy"] == pytest.approx(3 / 5)
    assert out["fold_accuracies"] == pytest.approx([2 / 3, 1 / 2])
    assert out["members"] == pytest.approx({"a": 4 / 5, "b": 1 / 5})
    # Table I's average: the mean over folds, beside the pooled 3/5.
    assert out["fold_accuracy_mean"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert out["member_fold_accuracies"]["a"] == pytest.approx([2 / 3, 1.0])
    assert np.asarray(out["confusion_matrix"]).tolist() == [[1, 0, 0], [0, 1, 0],
                                                            [1, 1, 1]]


def test_landmark_errors_per_part_by_hand():
    records = make_synthetic(num_subjects=1, images_per_class=1, classes="six", size=SIZE)
    images = exp._inputs(records, (SIZE, SIZE, 3))
    keras.utils.set_random_seed(0)
    model = landmark_subnetwork(6, "all", (SIZE, SIZE, 3))
    errors, before, after = exp.landmark_errors(model, model, images, records, "all")
    assert set(errors) == set(presets.EL_PARTS)
    np.testing.assert_allclose(before, after)
    pred = np.asarray(model.predict(images, verbose=0)["landmarks"]).reshape(-1, 68, 2)
    mouth = np.abs(pred[:, 48:68] - records.landmarks[:, 48:68] / SIZE).mean()
    assert errors["mouth"]["before"] == pytest.approx(mouth, rel=1e-5)
    assert before.shape == (len(records), 68, 2)


def test_folds_and_paper_matrices():
    records = make_synthetic(num_subjects=4, images_per_class=1, classes="ckplus8", size=SIZE)
    assert exp.fold_numbers(records, "synthetic", "all") == [1]
    with pytest.raises(ConfigError, match="1 folds"):
        exp.fold_numbers(records, "synthetic", [2])
    ours = paper_confusion("ckplus", records.class_names)
    assert ours.sum() == 1308 and ours[0, 0] == 326      # neutral first in fer_tf's order
    assert paper_confusion("synthetic", records.class_names) is None
