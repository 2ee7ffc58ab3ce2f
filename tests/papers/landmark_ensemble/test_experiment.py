"""The landmark experiment's pieces: budgets, stage-2 freezing, Sec. V-B
errors and the fold/member summaries, on tiny inputs."""

import dataclasses

import keras
import numpy as np
import pytest

from fer_tf.data.synthetic import make_synthetic
from fer_tf.errors import ConfigError
from fer_tf.evaluation.report import RunFolder
from fer_tf.papers.landmark_ensemble import experiment as exp
from fer_tf.models.landmark_ensemble import landmark_subnetwork, presets
from fer_tf.models.landmark_ensemble.model import landmark_network
from fer_tf.papers.landmark_ensemble.report import paper_confusion
from fer_tf.training import fit

SIZE = 32


def test_member_recipes_scale_the_papers_budgets():
    settings = exp.Settings(input_size=SIZE, epochs_scale=0.05, class_balanced=True)
    el = exp.member_recipe("el", "ckplus", "mouth", settings)
    assert [(s.name, s.epochs) for s in el.stages] == [("landmarks", 5), ("head", 2),
                                                       ("finetune", 14)]
    assert el.landmark_part == "mouth" and el.class_balanced and el.epochs == 21
    assert el.stages[1].trainable == ("expression_head",)
    base = exp.member_recipe("baseline", "synthetic", None, exp.Settings(epochs_scale=0.0))
    assert base.epochs == 1 and not base.stages and base.landmark_part is None
    assert exp.member_names("el") == list(presets.EL_PARTS)
    assert exp.member_names("ftl")[-1] == "member_4"
    assert exp.settings_for("synthetic") == exp.SETTINGS["cpu"]
    assert exp.settings_for("synthetic", smoke=True) == exp.SETTINGS["smoke"]
    assert exp.settings_for("synthetic").input_size == 48
    assert {s.precision for s in exp.SETTINGS.values()} == {"auto"}
    assert exp.settings_for("jaffe", precision="bfloat16").precision == "bfloat16"
    assert exp.settings_for("ckplus", input_size=96, epochs_scale=0.1) == exp.Settings(
        96, 0.1, False, 5)
    # The landmark stage's own budget is not scaled; the others still are.
    own = exp.member_recipe("ftl", "ckplus", "all",
                            exp.settings_for("synthetic", epochs_scale=0.2,
                                               landmark_epochs=200))
    assert [(s.name, s.epochs) for s in own.stages] == [("landmarks", 200), ("head", 6),
                                                        ("finetune", 54)]
    assert [s.patience for s in own.stages] == [0, None, None], "run in full"
    assert exp.settings_for("synthetic").landmark_epochs == 60
    assert exp.settings_for("ckplus").landmark_epochs is None
    # The paper's training set by default; a validation split is asked for.
    assert exp.settings_for("jaffe").val_fraction == 0.0
    assert exp.settings_for("jaffe", val_fraction=0.2).val_fraction == 0.2
    # Sec. III-D3's one head + fine-tuning budget, split 10% / 90% by fer_tf.
    for dataset, paper in presets.PAPER_EPOCHS.items():
        epochs = presets.EPOCHS[dataset]
        assert epochs["head"] + epochs["finetune"] == paper["head_and_finetune"]
        assert epochs["head"] == round(presets.HEAD_SHARE * paper["head_and_finetune"])
    assert exp.member_recipe("baseline", "ckplus", None,
                             exp.Settings(epochs_scale=0.2, landmark_epochs=200)).epochs == 80


def test_stage_two_leaves_the_extractor_unchanged(tmp_path):
    """Sec. III-D2: the head stage trains the expression head alone."""
    records = make_synthetic(num_subjects=3, images_per_class=2, classes="seven", size=SIZE)
    recipe = exp.member_recipe("el", "jaffe", "nose", exp.Settings(SIZE, 0.0))
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


def _sorted_images(batches):
    """Every image of a dataset's batches, in an order that does not depend
    on the shuffle (by per-image sums)."""
    images = np.concatenate([np.asarray(x) for x, _ in batches])
    return images[np.argsort(images.reshape(len(images), -1).sum(axis=1))]


def test_train_and_eval_paths_feed_the_same_pixels():
    """Issue 24b: the evaluation inputs (validation pipeline and `_inputs`,
    which the test set and the Sec. V-B study use) are the training
    pipeline's pixels, in [-1, 1], once the augmentation draws nothing."""
    records = make_synthetic(num_subjects=2, images_per_class=2, classes="seven", size=SIZE)
    shape = (SIZE, SIZE, 3)
    recipe = exp.member_recipe("ftl", "jaffe", "all", exp.Settings(SIZE, 0.0))
    nothing = {"rotation": 0.0, "translation": 0.0, "shear": 0.0, "horizontal_flip": False}
    still = recipe.replace(train_transform=dataclasses.replace(
        recipe.train_transform, augmentation_kwargs=nothing))
    train_ds, val_ds = exp._pipelines(still, records, records, shape, seed=0)
    trained, evaluated = _sorted_images(train_ds), _sorted_images(val_ds)
    direct = exp._inputs(records, shape)
    direct = direct[np.argsort(direct.reshape(len(direct), -1).sum(axis=1))]
    np.testing.assert_allclose(trained, evaluated, atol=1e-4)
    np.testing.assert_allclose(evaluated, direct, atol=1e-5)
    assert evaluated.min() >= -1.0 and evaluated.max() <= 1.0 and evaluated.max() > 0.5
    # With the paper's augmentation the training pixels keep that range.
    augmented, _ = exp._pipelines(recipe, records, None, shape, seed=0)
    pixels = _sorted_images(augmented)
    assert pixels.min() >= -1.0 and pixels.max() <= 1.0
    assert abs(pixels.mean() - evaluated.mean()) < 0.1


def test_batch_norm_statistics_fit_the_data_at_the_end_of_each_stage(tmp_path):
    """Issue 24b/a: with 6 batches an epoch and Keras' momentum 0.99, a short
    landmark stage ended with moving statistics still near their initial
    (0, 1): inference-mode points 7 crop widths off where the training-mode
    ones were 0.08 off, and a head stage trained on those features. The
    recipes recompute them (precise BN) before each stage's weights are kept."""
    records = make_synthetic(num_subjects=3, images_per_class=2, classes="seven", size=SIZE)
    shape = (SIZE, SIZE, 3)
    images = exp._inputs(records, shape)
    gaps = {}
    for precise in (0, presets.PRECISE_BN_BATCHES):
        recipe = exp.member_recipe("ftl", "jaffe", "all", exp.Settings(SIZE, 0.0))
        assert recipe.precise_bn_batches == presets.PRECISE_BN_BATCHES
        recipe = recipe.replace(batch_size=8, precise_bn_batches=precise,
                                stages=recipe.stages[:1], epochs=recipe.stages[0].epochs)
        train_ds, _ = exp._pipelines(recipe, records, None, shape, seed=0)
        fit.set_seed(0)
        run = RunFolder(tmp_path / f"bn{precise}", create=True)
        fit.train(lambda: landmark_subnetwork(7, "all", shape), train_ds, None, run, recipe,
                  verbose=0)
        kept = keras.saving.load_model(run.best_checkpoint, compile=False)
        net = landmark_network(kept)
        gaps[precise] = float(np.mean(np.abs(np.asarray(net(images, training=False))
                                             - np.asarray(net(images, training=True)))))
    # Not 0: the statistics are averaged over augmented batches of 8, the
    # comparison is one batch of every plain image.
    assert gaps[presets.PRECISE_BN_BATCHES] < 0.25, gaps
    assert gaps[0] > 50 * gaps[presets.PRECISE_BN_BATCHES], gaps
