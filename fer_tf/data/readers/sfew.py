"""SFEW 2.0 (Dhall et al. 2011/2015): movie frames "in the wild", 7 classes.

Layout `Train/<Class>/*.png` and `Val/<Class>/*.png` with class folders
Angry, Disgust, Fear, Happy, Neutral, Sad, Surprise (`labels.SFEW_FOLDERS`).
The test labels were withheld (EmotiW 2015), so the landmark paper trains on
Train and reports on Val (Sec. III-A); 958 Train and 436 Val images.
"""

import os

from fer_tf.data import labels as L
from fer_tf.data.readers import _common as C
from fer_tf.data.records import Records
from fer_tf.errors import DatasetError

SPLIT_FOLDERS = {"train": "Train", "val": "Val", "valid": "Val", "validation": "Val"}
_LAYOUT = ("Train/<Class>/*.png and Val/<Class>/*.png with class folders "
           f"{', '.join(L.SFEW_FOLDERS)}")


def read_sfew(data_dir, channels=1, size=None, check_counts=True, show_progress=True,
              transform=None, splits=("Train", "Val")):
    """Reads the labelled SFEW 2.0 splits (Train, Val).

    Args:
        data_dir: the folder holding `Train/` and `Val/` (a `Test/` folder,
            unlabelled, is ignored).
        channels: 1 for grayscale (N, H, W, 1), 3 for RGB.
        size: optional int or (height, width); needed when the images do not
            share one size (cropped/aligned copies); "common" resizes only
            the odd-sized ones to the most common size.
        check_counts: warn (`DatasetCountWarning`) when the split sizes differ
            from the published 958 / 436.
        show_progress: show a tqdm bar.
        transform: optional per-image hook `transform(image, source,
            landmarks) -> (image, landmarks)` run on each decoded image (see
            `_common.load_images`), e.g. a face crop to the model's input.
        splits: the splits to read, each required: ("Train", "Val") (the
            published layout) or ("Train",) for a copy without Val.

    Returns:
        Records of the 7 `labels.SFEW_CLASSES` with split "Train"/"Val"; SFEW
        has no subject ids.
    """
    root = C.require_dir(data_dir, "sfew", _LAYOUT)
    C.check_channels(channels, "sfew")
    wanted = tuple(splits)
    if not wanted or set(wanted) - {"Train", "Val"}:
        raise DatasetError(f"sfew: splits must be taken from Train and Val, got {wanted!r}.")
    folders = {}
    for entry in C.list_dir(root):
        split = SPLIT_FOLDERS.get(entry.lower())
        if split and os.path.isdir(os.path.join(root, entry)):
            folders[split] = os.path.join(root, entry)
    missing = [s for s in wanted if s not in folders]
    if missing:
        raise DatasetError(f"sfew: no {' or '.join(missing)} folder in {root}; expected "
                           f"{_LAYOUT}.")
    paths, labels, split_of = [], [], []
    for split in ("Train", "Val"):
        if split not in wanted:
            continue
        for class_entry in C.list_dir(folders[split]):
            class_dir = os.path.join(folders[split], class_entry)
            if not os.path.isdir(class_dir):
                continue
            class_name = C.class_from_folder(class_dir, "sfew", L.SFEW_CLASSES)
            files = sorted(C.image_files_in(class_dir, "sfew"), key=C.natural_key)
            paths += files
            labels += [L.SFEW_CLASSES.index(class_name)] * len(files)
            split_of += [split] * len(files)
    if not paths:
        raise DatasetError(f"sfew: no images in {root}; expected {_LAYOUT}.")
    images, _ = C.load_images(paths, channels, size, "sfew", show_progress,
                              transform=transform)
    records = Records(images=images, labels=labels, class_names=L.SFEW_CLASSES,
                      split=split_of, sources=paths, name="sfew")
    return C.finish(records, check_counts, root)
