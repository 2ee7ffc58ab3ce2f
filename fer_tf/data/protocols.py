"""Evaluation protocols of the four papers as index splitters over `Records`.

- `subject_kfold`: CK+ (landmark paper Sec. IV-A): k folds built from the
  subject ids taken in ascending order, so no subject is in train and test.
- `leave_one_subject_out`: JAFFE (landmark paper Sec. IV-A), one fold per subject.
- `stratified_kfold`: SAVEE / eNTERFACE 6-fold cross-validation (PathNet paper
  Sec. IV); when `groups` are set (frames of one video), a clip never
  straddles train and test.
- `predefined_split`: FER2013 Training/PublicTest/PrivateTest, SFEW Train/Val.
- `split_of_train`: a stand-in Val drawn from SFEW Train, for copies without Val.
"""

import dataclasses
from typing import Optional

import numpy as np

from fer_tf.errors import ConfigError, DatasetError


@dataclasses.dataclass(frozen=True)
class Fold:
    """Indices of one train/test (and optional validation) partition."""

    name: str
    train: np.ndarray
    test: np.ndarray
    val: Optional[np.ndarray] = None


def _require(records, field):
    if getattr(records, field) is None:
        raise DatasetError(f"{records.name} has no {field}; this protocol needs them.")
    return getattr(records, field)


def subject_kfold(records, k=10):
    """k subject-independent folds from subject ids in ascending order (CK+)."""
    subjects = _require(records, "subjects")
    unique = np.array(sorted(np.unique(subjects)))
    if len(unique) < k:
        raise DatasetError(f"{records.name}: {len(unique)} subjects cannot make "
                           f"{k} subject-independent folds.")
    folds = []
    for i, fold_subjects in enumerate(np.array_split(unique, k)):
        test = np.isin(subjects, fold_subjects)
        folds.append(Fold(f"fold{i + 1}", np.flatnonzero(~test), np.flatnonzero(test)))
    return folds


def leave_one_subject_out(records):
    """One fold per subject, in ascending subject order (JAFFE)."""
    subjects = _require(records, "subjects")
    return [Fold(f"subject_{s}", np.flatnonzero(subjects != s),
                 np.flatnonzero(subjects == s))
            for s in sorted(np.unique(subjects))]


def stratified_kfold(records, k=6, seed=0):
    """Class-stratified k folds; grouped by `records.groups` when present."""
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    counts = np.bincount(records.labels, minlength=records.num_classes)
    present = counts[counts > 0]
    if len(present) and present.min() < k and records.groups is None:
        raise DatasetError(f"{records.name}: the smallest class has {present.min()} "
                           f"samples, fewer than the {k} folds requested.")
    x = np.zeros(len(records))
    if records.groups is not None:
        splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
        splits = splitter.split(x, records.labels, records.groups)
    else:
        splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
        splits = splitter.split(x, records.labels)
    return [Fold(f"fold{i + 1}", np.sort(tr), np.sort(te))
            for i, (tr, te) in enumerate(splits)]


def predefined_split(records, train=("Training",), test=("PrivateTest",), val=None):
    """The dataset's own split (FER2013: train Training, select on PublicTest,
    report PrivateTest; SFEW: train Train, report Val)."""
    split = _require(records, "split")

    def idx(names):
        names = (names,) if isinstance(names, str) else tuple(names)
        missing = set(names) - set(np.unique(split))
        if missing:
            raise DatasetError(f"{records.name}: no split named {sorted(missing)}; "
                               f"available: {sorted(set(split))}.")
        return np.flatnonzero(np.isin(split, names))

    return [Fold("predefined", idx(train), idx(test), None if val is None else idx(val))]


def subject_holdout(records, test_fraction=0.25, seed=0):
    """A single split holding out whole subjects (the CLI's synthetic default)."""
    subjects = _require(records, "subjects")
    unique = np.array(sorted(np.unique(subjects)))
    rng = np.random.default_rng(seed)
    n_test = max(1, int(round(len(unique) * test_fraction)))
    if n_test >= len(unique):
        raise DatasetError(f"{records.name}: {len(unique)} subjects are too few to "
                           "hold out whole subjects.")
    test_subjects = rng.choice(unique, size=n_test, replace=False)
    test = np.isin(subjects, test_subjects)
    return [Fold("holdout", np.flatnonzero(~test), np.flatnonzero(test))]


def split_of_train(records, fraction, seed=0, train="Train", test="Val"):
    """A copy of `records` whose `train` split keeps a random, class-stratified
    `fraction` apart, renamed `test`, so a Train -> Val protocol runs on a
    copy that has Train only (SFEW 2.0 without its Val folder; the landmark
    paper's Sec. IV-A reports on the published Val). SFEW has no subject ids,
    so the split cannot be subject-independent: frames of one film may fall
    on both sides. Every class keeps at least one image on each side where
    it has two; `seed` fixes the draw. Records already holding a `test`
    split are refused, so the published one is never mixed in.
    """
    split = _require(records, "split").astype(object)
    if not 0.0 < float(fraction) < 1.0:
        raise ConfigError(f"The held-out share of {train} must lie in (0, 1), got {fraction}.")
    if np.any(split == test):
        raise DatasetError(f"{records.name} already has a {test} split; split {train} only "
                           "in a copy without it.")
    rng = np.random.default_rng(seed)
    held = []
    for label in np.unique(records.labels):
        members = np.flatnonzero((split == train) & (records.labels == label))
        if len(members) < 2:
            continue
        n = min(len(members) - 1, max(1, int(round(len(members) * float(fraction)))))
        held.append(rng.choice(members, size=n, replace=False))
    if not held:
        raise DatasetError(f"{records.name}: {train} is too small to hold any of it out.")
    split[np.concatenate(held)] = test
    return dataclasses.replace(records, split=split.astype(str))


PROTOCOLS = {
    "subject_kfold": subject_kfold,
    "loso": leave_one_subject_out,
    "stratified_kfold": stratified_kfold,
    "predefined": predefined_split,
    "subject_holdout": subject_holdout,
}


def make_folds(records, protocol, **kwargs):
    """Dispatches to a protocol by name (see `PROTOCOLS`)."""
    if protocol not in PROTOCOLS:
        raise ConfigError(f"Unknown protocol {protocol!r}; expected one of "
                          f"{sorted(PROTOCOLS)}.")
    return PROTOCOLS[protocol](records, **kwargs)


#: FER2013's Usage column: train on Training, select (early stopping, the best
#: checkpoint) on PublicTest, report on PrivateTest.
FER2013_SPLITS = {"train": "Training", "select": "PublicTest", "report": "PrivateTest"}


def train_select_report(dataset, data_dir=None, seed=0, max_train_images=None,
                        synthetic=None, progress=True):
    """(train, val, test) Records at their own size (FER2013: 48 x 48 x 1): the
    train / select / report protocol of the EfficientNet paper and the CAMnet
    thesis.

    FER2013 by its Usage column (`FER2013_SPLITS`); the synthetic faces hold
    out a quarter of the subjects for testing and a sixth of the rest for
    selection. `max_train_images` keeps a class-stratified subset of train.
    """
    if dataset == "fer2013":
        if not data_dir:
            raise ConfigError("--data-dir is required for FER2013 (fer2013.csv[.xz], or a "
                              "folder holding it).")
        from fer_tf.data.readers.fer2013 import read_fer2013

        records = read_fer2013(data_dir, channels=1, show_progress=progress)
        train, val, test = (records.split_subset(FER2013_SPLITS[k])
                            for k in ("train", "select", "report"))
    elif dataset == "synthetic":
        from fer_tf.data.synthetic import make_synthetic

        records = make_synthetic(classes="seven", seed=seed, **(synthetic or {}))
        fold = subject_holdout(records, test_fraction=0.25, seed=seed)[0]
        rest, test = records.subset(fold.train), records.subset(fold.test)
        inner = subject_holdout(rest, test_fraction=1 / 6, seed=seed + 1)[0]
        train, val = rest.subset(inner.train), rest.subset(inner.test)
    else:
        raise ConfigError(f"Unknown dataset {dataset!r}; expected 'fer2013' or 'synthetic'.")
    if max_train_images and len(train) > max_train_images:
        from sklearn.model_selection import train_test_split

        keep, _ = train_test_split(np.arange(len(train)), train_size=int(max_train_images),
                                   stratify=train.labels, random_state=seed)
        train = train.subset(np.sort(keep))
    return train, val, test
