"""Tiny hand-made Records for tests that must not depend on the generator."""

import numpy as np

from fer_tf.data.records import Records


def tiny_records(n_subjects=6, per_class=2, classes=("anger", "happiness", "neutral"),
                 size=16, channels=1, seed=0, landmarks=True, split=None):
    """Class k images are brighter in a class-specific quadrant, so a model can learn."""
    rng = np.random.default_rng(seed)
    images, labels, subjects = [], [], []
    for s in range(n_subjects):
        for k in range(len(classes)):
            for _ in range(per_class):
                img = rng.integers(0, 60, (size, size, channels))
                q = k % 4
                r0, c0 = (q // 2) * size // 2, (q % 2) * size // 2
                img[r0:r0 + size // 2, c0:c0 + size // 2] += 150
                images.append(img.astype(np.uint8))
                labels.append(k)
                subjects.append(f"S{s + 1:03d}")
    n = len(labels)
    lm = rng.uniform(2, size - 2, (n, 68, 2)).astype(np.float32) if landmarks else None
    return Records(np.stack(images), np.array(labels), classes, subjects=np.array(subjects),
                   landmarks=lm, split=split, groups=np.array([f"g{i // 2}" for i in range(n)]),
                   name="tiny")
