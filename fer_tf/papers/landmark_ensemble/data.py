"""The landmark paper's data: each dataset's faces as records with landmarks
at the networks' input size, and the test set of SFEW's Train-split variant.

Preprocessing (Sec. III-A/B): grey crops from `load_face_records` with CLAHE
and the SSD detector when its files are found (else dlib's HOG detector,
`faces.make_detector("auto")`), repeated to three channels and scaled to
[-1, 1] by the pipeline; ground-truth landmarks are dlib's 68 points,
predicted on each decoded image inside its crop's region and moved with the
crop (the embedded data's are exact). A copy of SFEW without Val runs only
with `sfew_split_train` (part of Train as the test set). Departures from the
paper: docs/papers/landmark_ensemble.md.
"""

import os

import numpy as np

from fer_tf.errors import ConfigError

DATASETS = ("ckplus", "jaffe", "sfew", "synthetic")
CLASSES = {"ckplus": 8, "jaffe": 7, "sfew": 7, "synthetic": 8}


#: Sec. III-B: dlib's 68-point ERT landmarks are the ground truth of each crop.
LANDMARK_SOURCE = ("dlib 68-point ERT, predicted on the original image inside the crop's "
                   "region and moved with the crop (divided by the crop size for targets)")


def _check_sfew_layout(data_dir, split_train):
    """SFEW's published layout has Train/ and Val/; a copy with Train only
    runs the Train-split variant, and only when asked for."""
    from fer_tf.data.readers.sfew import SPLIT_FOLDERS

    names = {SPLIT_FOLDERS.get(e.lower()) for e in (os.listdir(data_dir)
                                                  if os.path.isdir(data_dir) else [])
             if os.path.isdir(os.path.join(data_dir, e))}
    if "Train" in names and "Val" not in names and not split_train:
        raise ConfigError(
            f"sfew: {data_dir} has Train/ but no Val/ (the published layout has both); "
            "to train and test on Train alone add --sfew-split-train 0.2 (a random, "
            "class-stratified 20% of Train becomes the test set).")


def load_data(dataset, data_dir=None, input_size=160, seed=0, synthetic=None,
              cache_dir=None, class_names=None, progress=True, sfew_split_train=None):
    """(Records with landmarks at input_size x input_size, preprocessing stats).

    `sfew_split_train` (SFEW only): read Train alone and hold this share of
    it out as the test split, in place of the published Val
    (`protocols.split_of_train`, seeded by `seed`)."""
    if dataset == "synthetic":
        from fer_tf.data.synthetic import make_synthetic

        opts = {k: v for k, v in (synthetic or {}).items()
                if k in ("num_subjects", "images_per_class")}
        records = make_synthetic(classes="ckplus8", size=int(input_size), seed=seed, **opts)
        return records, {"detector": "none (rendered crops)", "landmarks": "exact (renderer)",
                         "images": len(records)}
    if dataset not in DATASETS:
        raise ConfigError(f"Unknown dataset {dataset!r}; expected one of {DATASETS}.")
    if not data_dir:
        raise ConfigError(f"--data-dir is required for dataset {dataset!r}.")
    from fer_tf.preprocess import faces
    from fer_tf.preprocess.face_records import load_face_records
    from fer_tf.preprocess.landmarks import DlibLandmarker

    if sfew_split_train and dataset != "sfew":
        raise ConfigError(f"--sfew-split-train applies to --dataset sfew, not {dataset!r}.")
    reader_options = None
    if dataset == "sfew":
        _check_sfew_layout(data_dir, sfew_split_train)
        if sfew_split_train:
            reader_options = {"splits": ("Train",)}
    detector = faces.make_detector("auto")
    records, stats = load_face_records(
        dataset, data_dir, image_size=(int(input_size),) * 2, channels=1, detector=detector,
        clahe=True, interpolation="bilinear", class_names=class_names, cache_dir=cache_dir,
        progress=progress, landmarker=DlibLandmarker(), reader_options=reader_options)
    stats = dict(stats, landmarks=LANDMARK_SOURCE, detector=faces.detector_config(detector))
    if sfew_split_train:
        from fer_tf.data.protocols import split_of_train

        records = split_of_train(records, float(sfew_split_train), seed=seed)
        stats["test_set"] = train_split_text(records, sfew_split_train, seed)
    return records, stats


def train_split_text(records, fraction, seed):
    """How the Train-split variant's test set was drawn (config and report)."""
    test = int(np.sum(records.split == "Val"))
    return (f"SFEW Train only: a random {float(fraction):.0%} of Train ({test} of "
            f"{len(records)} images, class-stratified, seed {seed}; SFEW has no subject "
            "ids, so not subject-independent) is the test set in place of the published "
            "Val; the other "
            f"{len(records) - test} train.")
