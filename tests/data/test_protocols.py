import numpy as np
import pytest

from fer_tf.data import protocols
from fer_tf.errors import ConfigError, DatasetError
from tests.helpers.fake_data import tiny_records


def _assert_partition(folds, n):
    tested = np.concatenate([f.test for f in folds])
    assert sorted(tested.tolist()) == list(range(n)), "each sample tested exactly once"
    for f in folds:
        assert not set(f.train) & set(f.test)


def test_subject_kfold_never_leaks_a_subject_and_is_ascending():
    r = tiny_records(n_subjects=13)
    folds = protocols.subject_kfold(r, k=5)
    _assert_partition(folds, len(r))
    seen = []
    for f in folds:
        train_s, test_s = set(r.subjects[f.train]), set(r.subjects[f.test])
        assert not train_s & test_s
        seen.append(sorted(test_s))
    # Folds are consecutive runs of the sorted subject ids (CK+ protocol).
    flat = [s for fold in seen for s in fold]
    assert flat == sorted(set(r.subjects))
    assert [len(s) for s in seen] == [3, 3, 3, 2, 2]


def test_leave_one_subject_out():
    r = tiny_records(n_subjects=4)
    folds = protocols.leave_one_subject_out(r)
    assert len(folds) == 4
    _assert_partition(folds, len(r))
    for f in folds:
        assert len(set(r.subjects[f.test])) == 1
        assert not set(r.subjects[f.train]) & set(r.subjects[f.test])


def test_stratified_kfold_keeps_groups_together_and_balances_classes():
    r = tiny_records(n_subjects=12, per_class=2)
    folds = protocols.stratified_kfold(r, k=6, seed=0)
    _assert_partition(folds, len(r))
    for f in folds:
        assert not set(r.groups[f.train]) & set(r.groups[f.test])
        counts = np.bincount(r.labels[f.test], minlength=3)
        assert counts.min() >= 2


def test_stratified_kfold_without_groups_is_seeded():
    r = tiny_records(n_subjects=12)
    r.groups = None
    a = protocols.stratified_kfold(r, k=6, seed=3)
    b = protocols.stratified_kfold(r, k=6, seed=3)
    assert all(np.array_equal(x.test, y.test) for x, y in zip(a, b))


def test_predefined_split_and_errors():
    split = np.array(["Training"] * 24 + ["PublicTest"] * 6 + ["PrivateTest"] * 6)
    r = tiny_records(split=split)
    (f,) = protocols.predefined_split(r, val=("PublicTest",))
    assert len(f.train) == 24 and len(f.val) == 6 and len(f.test) == 6
    with pytest.raises(DatasetError, match="no split named"):
        protocols.predefined_split(r, test=("Val",))
    with pytest.raises(DatasetError, match="has no split"):
        protocols.predefined_split(tiny_records())
    with pytest.raises(ConfigError, match="Unknown protocol"):
        protocols.make_folds(r, "random")


def test_split_of_train_holds_out_a_seeded_stratified_share_as_val():
    # SFEW without its Val folder: a share of Train stands in for Val.
    r = tiny_records(n_subjects=10, split=np.array(["Train"] * 60))
    held = protocols.split_of_train(r, 0.2, seed=3)
    assert set(held.split) == {"Train", "Val"} and r.split.tolist() == ["Train"] * 60
    val = held.split == "Val"
    assert val.sum() == 12
    assert np.bincount(held.labels[val]).tolist() == [4, 4, 4]     # 20% of each class
    np.testing.assert_array_equal(protocols.split_of_train(r, 0.2, seed=3).split, held.split)
    assert not np.array_equal(protocols.split_of_train(r, 0.2, seed=4).split, held.split)
    (f,) = protocols.predefined_split(held, train=("Train",), test=("Val",))
    assert len(f.train) == 48 and len(f.test) == 12 and not set(f.train) & set(f.test)
    with pytest.raises(DatasetError, match="already has a Val split"):
        protocols.split_of_train(held, 0.2)
    with pytest.raises(ConfigError, match=r"must lie in \(0, 1\)"):
        protocols.split_of_train(r, 1.0)


def test_subject_holdout_holds_out_whole_subjects():
    r = tiny_records(n_subjects=8)
    (f,) = protocols.subject_holdout(r, test_fraction=0.25, seed=1)
    assert len(set(r.subjects[f.test])) == 2
    assert not set(r.subjects[f.train]) & set(r.subjects[f.test])
