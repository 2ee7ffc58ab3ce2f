"""Pieces every dataset reader shares: image decoding, folder checks, counts."""

import dataclasses
import os
import re
import warnings
from collections import Counter
from typing import Optional

import numpy as np

from fer_tf.data import labels as L
from fer_tf.data.readers.official import count_differences, official_counts
from fer_tf.errors import DatasetError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".pgm",
                    ".ppm", ".webp")
VIDEO_EXTENSIONS = (".avi", ".mp4", ".mov", ".mkv", ".mpg", ".mpeg", ".wmv",
                    ".flv", ".m4v")
#: Files that archive tools and file browsers leave in any folder.
_JUNK_NAMES = {"thumbs.db", "desktop.ini", "icon\r"}

#: Class-folder spellings used by public copies of the datasets.
FOLDER_ALIASES = {
    "angry": L.ANGER, "anger": L.ANGER,
    "contempt": L.CONTEMPT,
    "disgust": L.DISGUST, "disgusted": L.DISGUST,
    "fear": L.FEAR, "fearful": L.FEAR, "scared": L.FEAR,
    "happy": L.HAPPINESS, "happiness": L.HAPPINESS,
    "neutral": L.NEUTRAL,
    "sad": L.SADNESS, "sadness": L.SADNESS,
    "surprise": L.SURPRISE, "surprised": L.SURPRISE,
}


class DatasetCountWarning(UserWarning):
    """A dataset was read but its counts differ from the published ones."""


@dataclasses.dataclass
class VideoIndex:
    """The clips of a video dataset (SAVEE, eNTERFACE'05) with their labels.

    Faces are extracted from the frames later
    (`fer_tf.preprocess.video.faces_from_videos`, PathNet paper Sec. III-A).

    Args:
        paths: str array (N,), one video file per entry.
        labels: int array (N,), indices into `class_names`.
        class_names: tuple of canonical expression names.
        subjects: optional str array (N,), speaker/subject of each clip.
        groups: optional str array (N,), a clip id; frames of one clip must
            never be split across folds.
        name: dataset name used in reports.
    """

    paths: np.ndarray
    labels: np.ndarray
    class_names: tuple
    subjects: Optional[np.ndarray] = None
    groups: Optional[np.ndarray] = None
    name: str = "videos"

    def __post_init__(self):
        self.paths = np.asarray(self.paths, dtype=str)
        self.labels = np.asarray(self.labels, dtype=np.int64)
        self.class_names = tuple(self.class_names)
        n = len(self.paths)
        if self.labels.shape != (n,):
            raise DatasetError(f"{self.name}: {n} videos but labels have shape "
                               f"{self.labels.shape}.")
        if n and (self.labels.min() < 0 or self.labels.max() >= len(self.class_names)):
            raise DatasetError(f"{self.name}: label values must lie in "
                               f"[0, {len(self.class_names)}).")
        for field in ("subjects", "groups"):
            value = getattr(self, field)
            if value is not None:
                value = np.asarray(value, dtype=str)
                if len(value) != n:
                    raise DatasetError(f"{self.name}: {field} has {len(value)} "
                                       f"entries for {n} videos.")
                setattr(self, field, value)

    def __len__(self):
        return len(self.paths)

    @property
    def num_classes(self):
        return len(self.class_names)

    def subset(self, indices):
        """Returns the clips at `indices` (an int array or boolean mask)."""
        indices = np.asarray(indices)
        if indices.dtype == bool:
            indices = np.flatnonzero(indices)
        pick = lambda v: None if v is None else v[indices]  # noqa: E731
        return VideoIndex(paths=self.paths[indices], labels=self.labels[indices],
                          class_names=self.class_names, subjects=pick(self.subjects),
                          groups=pick(self.groups), name=self.name)

    def class_counts(self):
        """Returns {class name: number of videos}."""
        counts = np.bincount(self.labels, minlength=self.num_classes)
        return {c: int(k) for c, k in zip(self.class_names, counts)}

    def summary(self):
        """Like `Records.summary`, counting videos (`num_images` == `num_videos`)."""
        return {
            "dataset": self.name,
            "num_images": len(self),
            "num_videos": len(self),
            "image_shape": None,
            "classes": list(self.class_names),
            "per_class": self.class_counts(),
            "num_subjects": (None if self.subjects is None
                             else int(len(np.unique(self.subjects)))),
            "splits": {},
            "has_landmarks": False,
        }


def progress(iterable, desc, enabled=True, total=None, unit="img"):
    """Progress over `iterable` (`fer_tf.progress`), silent when `enabled` is False."""
    from fer_tf.progress import progress as show

    return show(iterable, desc=desc, enabled=enabled, total=total, unit=unit)


def is_junk(name):
    """Hidden files and OS metadata that a reader should skip silently."""
    return name.startswith(".") or name.lower() in _JUNK_NAMES


def has_extension(name, extensions):
    return os.path.splitext(name)[1].lower() in extensions


def require_dir(path, dataset, expected):
    """Raises DatasetError unless `path` is an existing folder."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise DatasetError(f"{dataset}: folder {path} does not exist; expected {expected}.")
    if not os.path.isdir(path):
        raise DatasetError(f"{dataset}: {path} is not a folder; expected {expected}.")
    return path


def list_dir(path):
    """Sorted entries of `path` without hidden/OS files."""
    try:
        names = os.listdir(path)
    except OSError as e:
        raise DatasetError(f"cannot list folder {path} ({e.strerror or e}); expected a "
                           "readable dataset folder.") from e
    return sorted(n for n in names if not is_junk(n))


def find_child(path, names):
    """Returns the first child folder of `path` whose name matches one of
    `names` case-insensitively, or None."""
    wanted = {n.lower() for n in names}
    for entry in list_dir(path):
        if entry.lower() in wanted and os.path.isdir(os.path.join(path, entry)):
            return os.path.join(path, entry)
    return None


def class_from_folder(folder_path, dataset, allowed=None):
    """Maps a class folder name to a canonical expression or raises."""
    name = os.path.basename(os.path.normpath(folder_path))
    canonical = FOLDER_ALIASES.get(name.lower())
    if canonical is None or (allowed is not None and canonical not in allowed):
        expected = sorted({k for k, v in FOLDER_ALIASES.items()
                           if allowed is None or v in allowed})
        raise DatasetError(f"{dataset}: unknown class folder {folder_path}; expected "
                           f"one of {expected}.")
    return canonical


def image_files_in(folder, dataset):
    """Image files of one class folder; any other (non-hidden) file is an error."""
    files = []
    for entry in list_dir(folder):
        path = os.path.join(folder, entry)
        if os.path.isdir(path):
            continue
        if not has_extension(entry, IMAGE_EXTENSIONS):
            raise DatasetError(f"{dataset}: {path} is not an image; expected only "
                               f"image files ({', '.join(IMAGE_EXTENSIONS)}) in "
                               f"{folder}.")
        files.append(path)
    return files


COMMON_SIZE = "common"


def normalise_size(size, dataset="dataset"):
    """None, "common", an int or (height, width) -> None, "common" or (h, w)."""
    if isinstance(size, str) and size == COMMON_SIZE:
        return size
    if size is None:
        return size
    if isinstance(size, (int, np.integer)):
        size = (int(size), int(size))
    try:
        size = tuple(int(s) for s in size)
    except (TypeError, ValueError):
        size = (size,)
    if len(size) != 2 or min(size) <= 0:
        raise DatasetError(f"{dataset}: size must be a positive int, (height, width) or "
                           f"'{COMMON_SIZE}', got {size!r}.")
    return size


def check_channels(channels, dataset="dataset"):
    if channels not in (1, 3):
        raise DatasetError(f"{dataset}: channels must be 1 (grayscale) or 3 (RGB), got "
                           f"{channels!r}.")


def decode_image(path, channels, dataset):
    """Reads one image file as uint8 (H, W, channels), RGB for 3 channels."""
    import cv2
    try:
        buffer = np.fromfile(path, dtype=np.uint8)
    except OSError as e:
        raise DatasetError(f"{dataset}: cannot read {path}: {e}.") from e
    image = None
    if buffer.size:
        flag = cv2.IMREAD_GRAYSCALE if channels == 1 else cv2.IMREAD_COLOR
        try:
            image = cv2.imdecode(buffer, flag)
        except cv2.error:
            image = None
    if image is None:
        raise DatasetError(f"{dataset}: {path} is not a readable image (corrupt or "
                           "not an image file); expected a PNG/JPEG/TIFF image.")
    if channels == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    return image


def resize(image, size):
    """cv2.INTER_AREA resize to (height, width); keeps a channel axis."""
    import cv2
    out = cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_AREA)
    return out.reshape(size + image.shape[2:])


def load_images(paths, channels, size, dataset, show_progress=True, landmarks=None,
                transform=None):
    """Decodes `paths` into one uint8 (N, H, W, C) array.

    Args:
        size: None (every image must have the same native size), (height,
            width) to resize all of them (cv2.INTER_AREA), or "common" to
            resize only those whose size differs from the most common one.
        landmarks: optional float32 (N, 68, 2) pixel coordinates, rescaled
            with the images.
        transform: optional per-image hook `transform(image, source,
            landmarks) -> (image, landmarks)`, called on each image right
            after it is decoded (uint8 (H, W) or (H, W, 3), its path, its
            (68, 2) landmarks or None), e.g. a face crop to one size
            (`fer_tf.preprocess.face_records.FaceCropper`). Images of
            different native sizes are then never held together.

    Returns:
        (images, landmarks).

    Raises:
        DatasetError: a file cannot be decoded, or (with `size=None`) the
            images do not share one size.
    """
    check_channels(channels, dataset)
    size = normalise_size(size, dataset)
    if landmarks is not None:
        landmarks = np.array(landmarks, dtype=np.float32)
    images = []
    desc = f"reading {dataset}" if transform is None else f"faces in {dataset}"
    for i, path in enumerate(progress(paths, desc, show_progress)):
        image = decode_image(path, channels, dataset)
        if transform is not None:
            points = None if landmarks is None else landmarks[i]
            image, points = transform(image, path, points)
            if landmarks is not None:
                landmarks[i] = points
        images.append(image)
    shapes = Counter(im.shape[:2] for im in images)
    if size is None and len(shapes) > 1:
        example = {}
        for path, image in zip(paths, images):
            example.setdefault(image.shape[:2], path)
        found = ", ".join(f"{w}x{h} ({k} images, e.g. {example[(h, w)]})"
                          for (h, w), k in shapes.most_common())
        raise DatasetError(f"{dataset}: images have different sizes: {found}; pass "
                           "size=(height, width) to resize all of them, or "
                           "size='common' to resize the others to the most common one.")
    if size == COMMON_SIZE:
        size = shapes.most_common(1)[0][0] if shapes else None
    if size is not None:
        for i, image in enumerate(images):
            h, w = image.shape[:2]
            if (h, w) != size:
                if landmarks is not None:
                    landmarks[i] *= np.array([size[1] / w, size[0] / h], np.float32)
                images[i] = resize(image, size)
    if not images:
        shape = (0,) + (size or (0, 0)) + (channels,)
        return np.zeros(shape, np.uint8), landmarks
    stacked = np.stack(images)
    if stacked.ndim == 3:
        stacked = stacked[..., None]
    return stacked, landmarks


#: Reports list splits in training -> validation -> test order.
_SPLIT_ORDER = ("Training", "Train", "PublicTest", "Val", "PrivateTest", "Test")


def _split_rank(name):
    name = str(name)
    return (_SPLIT_ORDER.index(name) if name in _SPLIT_ORDER else len(_SPLIT_ORDER), name)


def summarize(result):
    """`summary()` plus images per split and class (for `data check`)."""
    summary = result.summary()
    splits = summary.get("splits", {})
    summary["splits"] = {str(k): int(splits[k]) for k in sorted(splits, key=_split_rank)}
    split = getattr(result, "split", None)
    if split is not None:
        per_split_class = {}
        for s in sorted(np.unique(split), key=_split_rank):
            mask = split == s
            counts = np.bincount(result.labels[mask], minlength=result.num_classes)
            per_split_class[str(s)] = {c: int(k) for c, k in zip(result.class_names, counts)}
        summary["per_split_class"] = per_split_class
    return summary


def compare_with_official(result):
    """Returns (summary, official, differences) for a reader's result."""
    summary = summarize(result)
    official = official_counts(result.name, result.class_names,
                               list(summary.get("splits", {})) or None)
    return summary, official, count_differences(summary, official)


def finish(result, check_counts, where):
    """Warns (DatasetCountWarning) when `result` differs from the published
    counts; returns `result`."""
    if check_counts:
        _, official, diffs = compare_with_official(result)
        if diffs:
            listed = "; ".join(f"{k}: found {v['found']}, official {v['official']}"
                               for k, v in list(diffs.items())[:12])
            more = "" if len(diffs) <= 12 else f"; and {len(diffs) - 12} more"
            warnings.warn(f"{result.name} in {where}: counts differ from the published "
                          f"dataset ({listed}{more}).", DatasetCountWarning, stacklevel=3)
    return result


_NATURAL = re.compile(r"(\d+)")


def natural_key(text):
    """Sort key that orders 'img2' before 'img10'."""
    return [int(t) if t.isdigit() else t.lower() for t in _NATURAL.split(text)]
