"""The experiment's data and budgets: FER2013's splits as it loads them
(train Training, select PublicTest, report PrivateTest) and each `SETTINGS`
budget's Table I recipe."""

import numpy as np

from fer_tf.models.efficientnet.presets import FER2013_SPLITS


def test_fer2013_csv_layout_gives_training_publictest_privatetest(tmp_path):
    from fer_tf.cli import main
    from fer_tf.papers.efficientnet.experiment import load_splits

    folder = tmp_path / "fer"
    main(["data", "synth", "--layout", "fer2013", "--out", str(folder)])
    train, val, test = load_splits("fer2013", str(folder), progress=False)
    # the synthetic layout writes 6 / 2 / 2 images per class and split
    assert (len(train), len(val), len(test)) == (42, 14, 14)
    assert set(train.split) == {FER2013_SPLITS["train"]}
    assert set(val.split) == {"PublicTest"} and set(test.split) == {"PrivateTest"}
    assert train.image_shape == (48, 48, 1)
    small, _, _ = load_splits("fer2013", str(folder), max_train_images=21, progress=False)
    assert len(small) == 21 and np.all(np.bincount(small.labels) == 3)


def test_each_budget_reaches_the_recipe():
    from fer_tf.papers.efficientnet.experiment import SETTINGS, settings_recipe
    from fer_tf.training.precision import choose_precision

    on_gpu, on_cpu = choose_precision(gpu=True), choose_precision(gpu=False)
    assert {s.precision for s in SETTINGS.values()} == {"auto"}
    paper = settings_recipe(SETTINGS["paper"], precision=on_gpu)
    assert (paper.epochs, paper.batch_size, paper.patience, paper.mixed_precision,
            paper.precise_bn_batches) == (60, 128, 10, True, 0)
    # Table I's mixed precision only where there is a GPU: float32 on a CPU.
    assert settings_recipe(SETTINGS["paper"], precision=on_cpu).mixed_precision is False
    # The synthetic CPU run from random weights: Table I's 60 epochs at 48 px,
    # precise BN and no early stopping (stated in its report).
    synthetic = settings_recipe(SETTINGS["cpu"], precision=on_cpu)
    assert (synthetic.epochs, synthetic.batch_size, synthetic.patience,
            synthetic.mixed_precision, synthetic.precise_bn_batches) == (60, 16, None, False, 8)
    assert synthetic.train_transform.resize == (55, 55), "256 : 224 of 48"
    assert synthetic.label_smoothing == 0.1 and synthetic.optimizer.name == "adamw"
    # Zero-init only where the weights are random; Table I's own recipe keeps Keras' init.
    assert synthetic.model_kwargs == {"weights": "random", "zero_init": True}
    assert settings_recipe(SETTINGS["cpu"], "imagenet").model_kwargs == {
        "weights": "imagenet"}
    assert paper.model_kwargs == {"weights": "random"}
