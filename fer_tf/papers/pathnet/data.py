"""The PathNet paper's data (Sec. III-A, IV): videos -> Viola-Jones face
crops -> flattened grey crops in [0, 1] -> the 6-fold cross-validation tasks,
frames of one video kept on one side; and the seeds of the embedded videos."""

import dataclasses


from fer_tf.data import labels as labels_lib
from fer_tf.data.pixels import scale_pixels
from fer_tf.data.protocols import stratified_kfold
from fer_tf.errors import ConfigError, DatasetError
from fer_tf.data.seeds import derive_seed
from fer_tf.models.pathnet.evolution import TaskData


@dataclasses.dataclass(frozen=True)
class FaceSettings:
    """How videos become PathNet inputs (Sec. III-A).

    Args:
        crop_size: int. Side of the square grey face crop (D = crop_size**2).
        every: int. Keep every k-th frame.
        max_frames: int or None. At most this many frames per video.
        detector: str. "haar" (the paper's Viola-Jones).
    """

    crop_size: int = 32
    every: int = 1
    max_frames: int = None
    detector: str = "haar"


@dataclasses.dataclass(frozen=True)
class SyntheticVideoSettings:
    """Size of the embedded SAVEE-like and eNTERFACE-like video sets."""

    savee_subjects: int = 4
    enterface_subjects: int = 8
    videos_per_class: int = 4
    num_frames: int = 12


SMOKE_VIDEOS = SyntheticVideoSettings(savee_subjects=2, enterface_subjects=2,
                                      videos_per_class=2, num_frames=4)


def load_faces(dataset, data_dir=None, faces=FaceSettings(), synthetic=SyntheticVideoSettings(),
               seed=0, cache_dir=None, progress=True):
    """Face-crop Records of SAVEE or eNTERFACE (six basic emotions) and the
    Viola-Jones detection statistics. Real data is read from `data_dir` and
    cached; with `data_dir=None` the embedded synthetic videos are used."""
    from fer_tf.preprocess.video import faces_from_videos

    kwargs = dict(class_names=labels_lib.SIX_BASIC, size=faces.crop_size,
                  detector=faces.detector, grayscale=True, every=faces.every,
                  max_frames=faces.max_frames, progress=progress, return_stats=True)
    if data_dir is None:
        from fer_tf.data.synthetic import make_video_dataset

        subjects = (synthetic.savee_subjects if dataset == "savee"
                    else synthetic.enterface_subjects)
        videos = make_video_dataset(num_subjects=subjects,
                                    videos_per_class=synthetic.videos_per_class,
                                    classes="six", domain=dataset, seed=seed,
                                    num_frames=synthetic.num_frames)
        return faces_from_videos(videos, name=f"synthetic_{dataset}", **kwargs)

    from fer_tf.data.readers import load_dataset
    from fer_tf.preprocess.cache import cached, dataset_identity

    index = load_dataset(dataset, data_dir)  # six basic emotions (SAVEE: neutral left out)
    key = {"dataset": dataset, "files": dataset_identity(list(index.paths), data_dir),
           "settings": dataclasses.asdict(faces), "purpose": "pathnet"}
    return cached(key, lambda: faces_from_videos(index, name=dataset, **kwargs),
                  cache_dir=cache_dir, name=f"pathnet-{dataset}")


def features(records):
    """Flattened grey crops in [0, 1] (PathNet's dense modules take vectors)."""
    return scale_pixels(records.images.reshape(len(records), -1), "unit")


def fold_task(records, fold, num_folds=6, seed=0, name=None):
    """TaskData of one fold of the 6-fold cross-validation (Sec. IV), with the
    frames of a video kept on one side."""
    if records.class_names != labels_lib.SIX_BASIC:
        raise DatasetError(f"{records.name}: PathNet experiments use the six basic "
                           f"emotions {labels_lib.SIX_BASIC}, got {records.class_names}.")
    folds = stratified_kfold(records, k=num_folds, seed=seed)
    if not 0 <= fold < len(folds):
        raise ConfigError(f"fold must be in [0, {len(folds) - 1}], got {fold}.")
    f = folds[fold]
    x = features(records)
    groups = None if records.groups is None else records.groups[f.test]
    return TaskData(x[f.train], records.labels[f.train], x[f.test], records.labels[f.test],
                    num_classes=len(labels_lib.SIX_BASIC), name=name or records.name,
                    test_groups=groups)


def dataset_seed(dataset, seed):
    """Seed of the embedded synthetic `dataset` for run seed `seed`: it depends
    on nothing else (not on which experiments run)."""
    return derive_seed(seed, "synthetic", dataset)
