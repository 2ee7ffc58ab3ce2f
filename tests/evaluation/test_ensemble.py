"""Ensemble + TTA (thesis Sec. 6.2.2) against a hand computation on fixed
member outputs."""

import keras
import numpy as np
import pytest

from fer_tf.errors import ConfigError
from fer_tf.evaluation.ensemble import (Member, combine, ensemble_predict,
                                        evaluate_ensemble, tta_views)


class ShiftViews:
    """A deterministic 'augmentation': the k-th draw adds 10 * k to every pixel."""

    def __init__(self):
        self.calls = 0

    def __call__(self, images, training=False):
        assert training
        self.calls += 1
        return images + 10.0 * self.calls


def _member(table, calls):
    """Softmax looked up from the view's pixel offset (0, 10, 20, ...), per image row."""

    def predict(batch):
        calls.append(len(batch))
        offsets = np.round(batch[:, 0, 0, 0] % 1000 / 10).astype(int)
        rows = np.round(batch[:, 0, 0, 0] // 1000).astype(int)
        return table[offsets, rows]

    return predict


def _fixture():
    rng = np.random.default_rng(0)
    # 2 members; softmax by view offset (0-60) and image; 4 images, 3 classes.
    tables = [rng.dirichlet(np.ones(3), size=(7, 4)) for _ in range(2)]
    images = np.zeros((4, 2, 2, 1), "float32") + 1000.0 * np.arange(4)[:, None, None, None]
    return tables, images


def test_mean_over_views_then_members_matches_by_hand():
    tables, images = _fixture()
    calls = []
    members = [Member(_member(t, calls), "none", f"m{i}") for i, t in enumerate(tables)]
    scores, per_member = ensemble_predict(members, images, ShiftViews(), n_views=3)
    by_hand_members = np.stack([(t[1] + t[2] + t[3]) / 3 for t in tables])
    np.testing.assert_allclose(per_member, by_hand_members)
    np.testing.assert_allclose(scores, (by_hand_members[0] + by_hand_members[1]) / 2)
    # One call per member for all 3 x 4 views: the views are batched.
    assert calls == [12, 12]


def test_original_view_and_no_tta():
    tables, images = _fixture()
    members = [Member(_member(t, []), "none") for t in tables]
    scores, _ = ensemble_predict(members, images, ShiftViews(), n_views=2,
                                 include_original=True)
    np.testing.assert_allclose(scores, sum((t[0] + t[1]) / 2 for t in tables) / 2)
    plain, _ = ensemble_predict(members, images)
    np.testing.assert_allclose(plain, (tables[0][0] + tables[1][0]) / 2)
    with pytest.raises(ConfigError, match="needs an augmentation"):
        tta_views(images, None, 3)


def test_vote_policy_and_chunking():
    probs = np.array([[[0.6, 0.4, 0.0]], [[0.1, 0.5, 0.4]], [[0.2, 0.45, 0.35]]])
    assert combine(probs, "vote").argmax(-1).tolist() == [1]  # 2 of 3 vote class 1
    assert combine(probs, "mean").argmax(-1).tolist() == [1]
    tied = np.array([[[0.9, 0.1]], [[0.4, 0.6]]])  # one vote each: the mean decides
    assert combine(tied, "vote").argmax(-1).tolist() == [0]
    tables, images = _fixture()
    members = [Member(_member(t, []), "none") for t in tables]
    chunked, _ = ensemble_predict(members, images, ShiftViews(), n_views=3, batch_size=3)
    # Each chunk draws its own views: images 0-2 at offsets 10-30, image 3 at 40-60.
    first = sum((t[1, :3] + t[2, :3] + t[3, :3]) / 3 for t in tables) / 2
    last = sum((t[4, 3] + t[5, 3] + t[6, 3]) / 3 for t in tables) / 2
    np.testing.assert_allclose(chunked, np.concatenate([first, last[None]]))
    with pytest.raises(ConfigError, match="policy"):
        combine(probs, "max")


def test_evaluate_reports_members_and_ensemble_with_and_without_tta():
    tables, images = _fixture()
    members = [Member(_member(t, []), "none", f"m{i}") for i, t in enumerate(tables)]
    labels = np.array([0, 1, 2, 1])
    result = evaluate_ensemble(members, images, labels, ShiftViews(), n_views=3)
    plain = (tables[0][0] + tables[1][0]) / 2
    tta = sum((t[1] + t[2] + t[3]) / 3 for t in tables) / 2
    assert result["ensemble"] == pytest.approx((plain.argmax(-1) == labels).mean())
    assert result["ensemble_tta"] == pytest.approx((tta.argmax(-1) == labels).mean())
    assert result["members"]["m1"]["accuracy"] == pytest.approx(
        (tables[1][0].argmax(-1) == labels).mean())


def test_keras_members_with_their_normalisation():
    inputs = keras.Input((4, 4, 1))
    pooled = keras.layers.GlobalAveragePooling2D()(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(pooled))
    images = np.random.default_rng(1).uniform(0, 255, (5, 4, 4, 1)).astype("float32")
    scores, _ = ensemble_predict([Member(model, "unit")], images)
    np.testing.assert_allclose(scores, model.predict(images / 255.0, verbose=0), rtol=1e-5)
