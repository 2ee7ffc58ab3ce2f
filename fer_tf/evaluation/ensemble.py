"""Ensembles of trained members with test-time augmentation (TTA).

CAMnet thesis Sec. 6.2.2: each member predicts every one of N augmented views
of a test image (the training augmentation, Table 6.1), its softmax outputs
are averaged over the views, and the members' view-averaged softmax outputs
are combined - averaged ("mean", the thesis' 74.93% -> 76.12% with TTA) or
by majority vote of the members' arg-max ("vote", ties broken by the mean).
Residual Masking Network (Pham et al. 2020) sums them, which ranks classes
as the mean does.

Cost: the N views of a chunk of images are drawn once and shared by every
member, and each member sees all N x B views as one batch, so N views cost
one call per member and chunk rather than N (`benchmarks/camnet.py`
measures images/s for N = 1, 5, 10).

Members are `Member`s: a Keras model (or any callable batch -> softmax) and
the pixel normalisation it expects; views are drawn in pixel units [0, 255]
as the pipeline's augmentation is, and normalised per member.
"""

import dataclasses
from typing import Any

import numpy as np
from keras import ops

from fer_tf.data.pixels import scale_pixels
from fer_tf.errors import ConfigError

POLICIES = ("mean", "vote")


@dataclasses.dataclass(frozen=True)
class Member:
    """One ensemble member.

    Args:
        model: keras.Model or callable (batch of normalised images) -> softmax.
        normalization: str. "unit", "symmetric" or "none" (its registry entry's).
        name: str. shown in reports.
    """

    model: Any
    normalization: str = "none"
    name: str = "member"

    def predict(self, pixels):
        x = scale_pixels(np.asarray(pixels, np.float32), self.normalization)
        if hasattr(self.model, "predict_on_batch"):
            return np.asarray(self.model.predict_on_batch(x), np.float64)
        return np.asarray(ops.convert_to_numpy(self.model(x)), np.float64)


def as_member(member):
    return member if isinstance(member, Member) else Member(member)


def tta_views(images, augment=None, n_views=1, include_original=False):
    """(N, B, H, W, C) views of a batch: the original first when
    `include_original` (or when there is no augmentation), then augmented
    draws of `augment(images, training=True)` in pixel units."""
    images = np.asarray(images, np.float32)
    if int(n_views) < 1:
        raise ConfigError(f"n_views must be at least 1, got {n_views}.")
    if augment is None and int(n_views) > 1:
        raise ConfigError("n_views > 1 needs an augmentation to draw the views from.")
    views = [images] if include_original or augment is None else []
    while len(views) < int(n_views):
        views.append(np.asarray(ops.convert_to_numpy(augment(images, training=True)),
                                np.float32))
    return np.stack(views)


def combine(probabilities, policy="mean"):
    """(M, B, K) member probabilities -> (B, K) ensemble scores by `policy`."""
    probabilities = np.asarray(probabilities, np.float64)
    if policy not in POLICIES:
        raise ConfigError(f"Unknown ensemble policy {policy!r}; expected one of "
                          f"{', '.join(POLICIES)}.")
    mean = probabilities.mean(axis=0)
    if policy == "mean":
        return mean
    classes = probabilities.shape[-1]
    votes = np.eye(classes)[probabilities.argmax(axis=-1)].sum(axis=0)
    # A small share of the mean breaks ties between equally voted classes.
    return (votes + mean * 1e-3) / (len(probabilities) + 1e-3)


def ensemble_predict(members, images, augment=None, n_views=1, policy="mean",
                     batch_size=64, include_original=False):
    """Ensemble (B, K) scores and per-member (M, B, K) view-averaged softmax.

    Args:
        members: list of `Member` (or models taking [0, 255] pixels).
        images: (B, H, W, C) pixels in [0, 255].
        augment: callable(images, training=True) -> images, e.g. the recipe's
            training augmentation (`fer_tf.data.pipeline.make_augmentation`).
        n_views: int. N views per image (1 without TTA).
        policy: "mean" or "vote" (see `combine`).
        batch_size: int. images per chunk; each member sees n_views x this.
        include_original: bool. the un-augmented image is one of the N views.
    """
    members = [as_member(m) for m in members]
    if not members:
        raise ConfigError("An ensemble needs at least one member.")
    images = np.asarray(images, np.float32)
    chunks = []
    for start in range(0, len(images), int(batch_size)):
        views = tta_views(images[start:start + int(batch_size)], augment, n_views,
                          include_original)
        flat = views.reshape((-1,) + views.shape[2:])
        per_member = [m.predict(flat).reshape(views.shape[:2] + (-1,)).mean(axis=0)
                      for m in members]
        chunks.append(np.stack(per_member))
    per_member = np.concatenate(chunks, axis=1)
    return combine(per_member, policy), per_member


def evaluate_ensemble(members, images, labels, augment=None, n_views=10, policy="mean",
                      batch_size=64, include_original=False):
    """Accuracy of each member and of the ensemble, without and with TTA
    (the thesis' single models, 74.93% ensemble and 76.12% ensemble + TTA).

    Returns a dict: "members" {name: {"accuracy", "accuracy_tta"}},
    "ensemble" and "ensemble_tta" accuracies, "n_views" and "policy".
    """
    members = [as_member(m) for m in members]
    labels = np.asarray(labels).astype(int)
    plain, plain_members = ensemble_predict(members, images, None, 1, policy, batch_size)
    result = {"n_views": int(n_views), "policy": policy, "members": {},
              "ensemble": float((plain.argmax(-1) == labels).mean())}
    tta, tta_members = ensemble_predict(members, images, augment, n_views, policy,
                                        batch_size, include_original)
    result["ensemble_tta"] = float((tta.argmax(-1) == labels).mean())
    for k, member in enumerate(members):
        name = member.name if member.name not in result["members"] else f"{member.name}_{k}"
        result["members"][name] = {
            "accuracy": float((plain_members[k].argmax(-1) == labels).mean()),
            "accuracy_tta": float((tta_members[k].argmax(-1) == labels).mean())}
    return result
