"""One in-memory representation of a face-expression dataset.

Readers (FER2013, CK+, JAFFE, SFEW, SAVEE, eNTERFACE, synthetic) all return a
`Records`; protocol splitters and the tf.data builder only ever see this type.
"""

import dataclasses
from typing import Optional

import numpy as np

from fer_tf.errors import DatasetError


@dataclasses.dataclass
class Records:
    """Images with labels and the metadata the papers' protocols need.

    Args:
        images: uint8 array (N, H, W, C). All images share one size.
        labels: int array (N,), indices into `class_names`.
        class_names: tuple of canonical expression names (`fer_tf.data.labels`).
        subjects: optional str array (N,), subject id of each image.
        landmarks: optional float32 array (N, 68, 2) of (x, y) pixel
            coordinates in iBUG-300W order.
        split: optional str array (N,) naming a predefined split
            (e.g. "Training"/"PublicTest"/"PrivateTest", "Train"/"Val").
        groups: optional str array (N,) of a grouping finer than subjects
            (a CK+ sequence, a video), so frames of one clip never straddle folds.
        sources: optional str array (N,) of the file each image came from.
        name: dataset name used in reports.
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: tuple
    subjects: Optional[np.ndarray] = None
    landmarks: Optional[np.ndarray] = None
    split: Optional[np.ndarray] = None
    groups: Optional[np.ndarray] = None
    sources: Optional[np.ndarray] = None
    name: str = "dataset"

    _OPTIONAL = ("subjects", "landmarks", "split", "groups", "sources")

    def __post_init__(self):
        self.images = np.asarray(self.images)
        self.labels = np.asarray(self.labels, dtype=np.int64)
        self.class_names = tuple(self.class_names)
        if self.images.ndim == 3:
            self.images = self.images[..., None]
        if self.images.ndim != 4:
            raise DatasetError(
                f"{self.name}: images must be (N, H, W, C), got shape "
                f"{self.images.shape}.")
        n = len(self.images)
        if self.labels.shape != (n,):
            raise DatasetError(f"{self.name}: {n} images but labels have shape "
                               f"{self.labels.shape}.")
        if n and (self.labels.min() < 0 or self.labels.max() >= len(self.class_names)):
            raise DatasetError(
                f"{self.name}: label values must lie in [0, {len(self.class_names)}) "
                f"for classes {self.class_names}; found "
                f"[{self.labels.min()}, {self.labels.max()}].")
        for field in self._OPTIONAL:
            value = getattr(self, field)
            if value is None:
                continue
            value = np.asarray(value, dtype=np.float32 if field == "landmarks" else str)
            if len(value) != n:
                raise DatasetError(f"{self.name}: {field} has {len(value)} entries "
                                   f"for {n} images.")
            setattr(self, field, value)
        if self.landmarks is not None and self.landmarks.shape[1:] != (68, 2):
            raise DatasetError(f"{self.name}: landmarks must be (N, 68, 2), got "
                               f"{self.landmarks.shape}.")

    def __len__(self):
        return len(self.labels)

    @property
    def num_classes(self):
        return len(self.class_names)

    @property
    def image_shape(self):
        return tuple(self.images.shape[1:])

    def subset(self, indices):
        """Returns the records at `indices` (an int array or boolean mask)."""
        indices = np.asarray(indices)
        if indices.dtype == bool:
            indices = np.flatnonzero(indices)
        kwargs = {f: (None if getattr(self, f) is None else getattr(self, f)[indices])
                  for f in self._OPTIONAL}
        return Records(images=self.images[indices], labels=self.labels[indices],
                       class_names=self.class_names, name=self.name, **kwargs)

    def split_subset(self, *names):
        """Returns the images whose predefined split is one of `names`."""
        if self.split is None:
            raise DatasetError(f"{self.name} has no predefined split; use a "
                               "k-fold protocol instead.")
        unknown = set(names) - set(np.unique(self.split))
        if unknown:
            raise DatasetError(f"{self.name}: no split named {sorted(unknown)}; "
                               f"available: {sorted(set(self.split))}.")
        return self.subset(np.isin(self.split, names))

    def with_classes(self, class_names, allow_missing=False):
        """Keeps only images of `class_names` and relabels them in that order.

        Used to restrict CK+'s eight classes to seven, or SAVEE's seven to the
        six basic emotions shared with eNTERFACE (PathNet paper Sec. IV-A).
        With `allow_missing`, a class these records lack keeps its label and
        has no image (a cross-dataset test set: CK+48 has no neutral face).
        """
        class_names = tuple(class_names)
        missing = [c for c in class_names if c not in self.class_names]
        if missing and not allow_missing:
            raise DatasetError(f"{self.name} has no class {missing}; its classes "
                               f"are {self.class_names}.")
        old_to_new = np.full(len(self.class_names), -1, dtype=np.int64)
        for new, c in enumerate(class_names):
            if c in self.class_names:
                old_to_new[self.class_names.index(c)] = new
        mapped = old_to_new[self.labels]
        out = self.subset(mapped >= 0)
        out.labels = mapped[mapped >= 0]
        out.class_names = class_names
        return out

    def class_counts(self):
        """Returns {class name: number of images}."""
        counts = np.bincount(self.labels, minlength=self.num_classes)
        return {c: int(k) for c, k in zip(self.class_names, counts)}

    def summary(self):
        """A JSON-serialisable description used by `fer-tf data check`."""
        splits = ({} if self.split is None else
                  {s: int(k) for s, k in zip(*np.unique(self.split, return_counts=True))})
        return {
            "dataset": self.name,
            "num_images": len(self),
            "image_shape": list(self.image_shape),
            "classes": list(self.class_names),
            "per_class": self.class_counts(),
            "num_subjects": (None if self.subjects is None
                             else int(len(np.unique(self.subjects)))),
            "splits": splits,
            "has_landmarks": self.landmarks is not None,
        }


def concatenate(records_list, name=None):
    """Concatenates records that share class names and image shape."""
    first = records_list[0]
    for r in records_list[1:]:
        if r.class_names != first.class_names or r.image_shape != first.image_shape:
            raise DatasetError(f"Cannot concatenate {r.name} ({r.class_names}, "
                               f"{r.image_shape}) with {first.name} "
                               f"({first.class_names}, {first.image_shape}).")
    kwargs = {}
    for f in Records._OPTIONAL:
        values = [getattr(r, f) for r in records_list]
        kwargs[f] = None if any(v is None for v in values) else np.concatenate(values)
    return Records(images=np.concatenate([r.images for r in records_list]),
                   labels=np.concatenate([r.labels for r in records_list]),
                   class_names=first.class_names, name=name or first.name, **kwargs)
