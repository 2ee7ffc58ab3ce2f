"""Extended Cohn-Kanade (CK+, Lucey et al. 2010) and its CK+48 crops.

Official layout::

    cohn-kanade-images/S005/001/S005_001_00000001.png ...
    Emotion/S005/001/S005_001_00000011_emotion.txt      ("   3.0000000e+00")
    Landmarks/S005/001/S005_001_00000001_landmarks.txt  (68 lines "x y")

Protocol of the landmark paper (Sec. III-A): the first frame of each of the
327 labelled sequences as neutral plus its last three frames with the
sequence's label -> 1,308 images of 8 classes, subject ids "Sxxx" for the
10-fold subject-independent folds, sequence ids "Sxxx/nnn" as groups.

CK+48 (a widespread re-distribution): `<class>/S010_004_00000017.png`, 48x48
crops of the last three frames of each labelled sequence, 7 classes (no
neutral), 981 images; subject and sequence come from the file names.
"""

import math
import os
import re

import numpy as np

from fer_tf.data import labels as L
from fer_tf.data.readers import _common as C
from fer_tf.data.records import Records
from fer_tf.errors import DatasetError

IMAGES_DIR = "cohn-kanade-images"
EMOTION_DIR = "Emotion"
LANDMARKS_DIR = "Landmarks"
CKPLUS48_CLASSES = tuple(c for c in L.CKPLUS_CLASSES if c != L.NEUTRAL)
_CK48_NAME = re.compile(r"^(S\d+)_(\d+)_(\d+)\.[A-Za-z]+$")
_LAYOUTS = (f"{IMAGES_DIR}/Sxxx/nnn/*.png with {EMOTION_DIR}/Sxxx/nnn/*_emotion.txt "
            "(and optionally Landmarks/), or CK+48 class folders "
            "(anger, contempt, disgust, fear, happy, sadness, surprise)")


def _find_dir(root, name, depth=2):
    """Breadth-first search for a folder called `name` (case-insensitive)."""
    level = [root]
    for _ in range(depth + 1):
        next_level = []
        for folder in level:
            if os.path.basename(os.path.normpath(folder)).lower() == name.lower():
                return folder
            next_level += [os.path.join(folder, e) for e in C.list_dir(folder)
                           if os.path.isdir(os.path.join(folder, e))]
        level = next_level
    return None


def _read_emotion(path):
    try:
        with open(path, "r", encoding="utf-8") as f:
            text = f.read().strip()
        value = float(text)
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise DatasetError(f"ckplus: cannot read the emotion code in {path} ({e}); "
                           "expected one number such as '   3.0000000e+00'.") from e
    code = int(round(value)) if math.isfinite(value) else -1
    if code != value or not 0 <= code < len(L.CKPLUS_CLASSES):
        raise DatasetError(f"ckplus: {path} has emotion code {text!r}; expected an "
                           f"integer 0-7 ({', '.join(L.CKPLUS_CLASSES)}).")
    return code


def read_landmarks_file(path):
    """Reads a CK+ `_landmarks.txt` into float32 (68, 2) (x, y)."""
    try:
        points = np.loadtxt(path, dtype=np.float32, ndmin=2)
    except (OSError, ValueError) as e:
        raise DatasetError(f"ckplus: cannot read landmarks {path} ({e}); expected 68 "
                           "lines of 'x y'.") from e
    if points.shape != (68, 2):
        raise DatasetError(f"ckplus: {path} holds landmarks of shape {points.shape}; "
                           "expected 68 lines of 'x y'.")
    return points


def _sequence_dirs(root):
    """Yields (subject, sequence, folder) of a `Sxxx/nnn/` tree (images, Emotion, Landmarks)."""
    for subject in C.list_dir(root):
        subject_dir = os.path.join(root, subject)
        if not os.path.isdir(subject_dir):
            continue
        for sequence in C.list_dir(subject_dir):
            seq_dir = os.path.join(subject_dir, sequence)
            if os.path.isdir(seq_dir):
                yield subject, sequence, seq_dir


def _sequences(images_dir):
    """{(subject, sequence): sorted frame paths} of cohn-kanade-images/."""
    out = {}
    for subject, sequence, seq_dir in _sequence_dirs(images_dir):
        frames = [os.path.join(seq_dir, f) for f in C.list_dir(seq_dir)
                  if C.has_extension(f, C.IMAGE_EXTENSIONS)]
        if frames:
            out[(subject, sequence)] = sorted(frames, key=lambda p: C.natural_key(
                os.path.basename(p)))
    return out


def _labels(emotion_dir, sequences):
    """{(subject, sequence): code} from Emotion/; checks each has images."""
    out = {}
    for subject, sequence, seq_dir in _sequence_dirs(emotion_dir):
        files = [f for f in C.list_dir(seq_dir) if f.endswith("_emotion.txt")]
        if not files:
            continue  # unlabelled sequence: the release keeps an empty folder
        if len(files) > 1:
            raise DatasetError(f"ckplus: {seq_dir} holds {len(files)} emotion files; "
                               "expected one per sequence.")
        path = os.path.join(seq_dir, files[0])
        if (subject, sequence) not in sequences:
            raise DatasetError(f"ckplus: label file {path} has no image sequence "
                               f"{subject}/{sequence} in {IMAGES_DIR}/ (incomplete "
                               "download?).")
        out[(subject, sequence)] = _read_emotion(path)
    return out


def _read_official(root, images_dir, channels, size, include_neutral, num_last,
                   show_progress, transform):
    emotion_dir = _find_dir(root, EMOTION_DIR)
    if emotion_dir is None:
        raise DatasetError(f"ckplus: found {images_dir} but no {EMOTION_DIR}/ folder in "
                           f"{root}; expected {EMOTION_DIR}/Sxxx/nnn/*_emotion.txt "
                           "(the CK+ emotion labels).")
    landmarks_dir = _find_dir(root, LANDMARKS_DIR)
    sequences = _sequences(images_dir)
    if not sequences:
        raise DatasetError(f"ckplus: no image sequences in {images_dir}; expected "
                           "Sxxx/nnn/Sxxx_nnn_0000000k.png.")
    codes = _labels(emotion_dir, sequences)
    if not codes:
        raise DatasetError(f"ckplus: no *_emotion.txt label files in {emotion_dir}; "
                           "expected one per labelled sequence (327 in CK+).")
    class_names = L.CKPLUS_CLASSES if include_neutral else CKPLUS48_CLASSES
    paths, labels, subjects, groups = [], [], [], []
    for (subject, sequence), code in sorted(codes.items()):
        frames = sequences[(subject, sequence)]
        if len(frames) < 2:
            raise DatasetError(f"ckplus: sequence {subject}/{sequence} has {len(frames)} "
                               "frame; expected a neutral first frame and apex frames.")
        # Never reuse the neutral first frame as an expressive one.
        picked = [(frames[0], L.NEUTRAL)] if include_neutral else []
        picked += [(f, L.CKPLUS_CLASSES[code])
                   for f in frames[max(1, len(frames) - num_last):]]
        for path, name in picked:
            if name not in class_names:
                continue
            paths.append(path)
            labels.append(class_names.index(name))
            subjects.append(subject)
            groups.append(f"{subject}/{sequence}")
    landmarks = None
    if landmarks_dir is not None:
        files = []
        for path in paths:
            stem = os.path.splitext(os.path.basename(path))[0]
            subject, sequence = os.path.relpath(path, images_dir).split(os.sep)[:2]
            files.append(os.path.join(landmarks_dir, subject, sequence,
                                      stem + "_landmarks.txt"))
        if all(os.path.isfile(f) for f in files):
            landmarks = np.stack([read_landmarks_file(f) for f in files])
        else:
            missing = [f for f in files if not os.path.isfile(f)]
            raise DatasetError(f"ckplus: {len(missing)} landmark files are missing from "
                               f"{landmarks_dir}, e.g. {missing[0]}; expected one "
                               "_landmarks.txt per frame (or no Landmarks/ folder).")
    images, landmarks = C.load_images(paths, channels, size, "ckplus", show_progress,
                                      landmarks=landmarks, transform=transform)
    return Records(images=images, labels=labels, class_names=class_names,
                   subjects=subjects, groups=groups, landmarks=landmarks,
                   sources=paths, name="ckplus")


def _class_folders(root):
    """Child folders of `root` named like expressions, or [] if none is."""
    folders = [os.path.join(root, e) for e in C.list_dir(root)
               if os.path.isdir(os.path.join(root, e))]
    if any(os.path.basename(f).lower() in C.FOLDER_ALIASES for f in folders):
        return folders
    return []


def _read_ck48(root, folders, channels, size, show_progress, transform):
    entries = []
    for folder in folders:
        name = C.class_from_folder(folder, "ckplus (CK+48)", L.CKPLUS_CLASSES)
        for path in C.image_files_in(folder, "ckplus (CK+48)"):
            match = _CK48_NAME.match(os.path.basename(path))
            if match is None:
                raise DatasetError(f"ckplus (CK+48): file name {path} does not name its "
                                   "subject and sequence; expected Sxxx_nnn_0000000k.png.")
            subject, sequence, _ = match.groups()
            entries.append((subject, sequence, os.path.basename(path), name, path))
    if not entries:
        raise DatasetError(f"ckplus (CK+48): no images in the class folders of {root}; "
                           f"expected {_LAYOUTS}.")
    present = {e[3] for e in entries}
    class_names = L.CKPLUS_CLASSES if L.NEUTRAL in present else CKPLUS48_CLASSES
    entries.sort(key=lambda e: (e[0], e[1], C.natural_key(e[2])))
    paths = [e[4] for e in entries]
    images, _ = C.load_images(paths, channels, size, "ckplus", show_progress,
                              transform=transform)
    return Records(images=images, labels=[class_names.index(e[3]) for e in entries],
                   class_names=class_names, subjects=[e[0] for e in entries],
                   groups=[f"{e[0]}/{e[1]}" for e in entries], sources=paths,
                   name="ckplus")


def read_ckplus(data_dir, channels=1, size=None, include_neutral=True, num_last=3,
                check_counts=True, show_progress=True, transform=None):
    """Reads CK+ (official layout or CK+48), detected from the folder contents.

    Args:
        data_dir: folder holding `cohn-kanade-images/` and `Emotion/` (at most
            two levels down; `Landmarks/` optional), or the CK+48 class folders
            (directly or in a `CK+48/` sub-folder).
        channels: 1 for grayscale (N, H, W, 1), 3 for RGB.
        size: optional int or (height, width); the original frames are 640x490
            (some 640x480 or 720x480), so pass a size, or "common" to resize
            only the odd-sized frames to the most common size.
        include_neutral: keep the first frame of each labelled sequence as
            "neutral" (8 classes); False gives the 7 expressive classes.
        num_last: expressive frames taken from the end of each sequence.
        check_counts: warn (`DatasetCountWarning`) when the counts differ from
            the published ones (1,308 images / 118 subjects; CK+48: 981).
        show_progress: show a tqdm bar.
        transform: optional per-image hook `transform(image, source,
            landmarks) -> (image, landmarks)` run on each decoded image (see
            `_common.load_images`), e.g. a face crop to the model's input.

    Returns:
        Records with subjects "Sxxx", groups "Sxxx/nnn", landmarks (official
        layout with Landmarks/) in pixels of the returned images.
    """
    root = C.require_dir(data_dir, "ckplus", _LAYOUTS)
    C.check_channels(channels, "ckplus")
    images_dir = _find_dir(root, IMAGES_DIR)
    if images_dir is not None:
        records = _read_official(root, images_dir, channels, size, include_neutral,
                                 num_last, show_progress, transform)
        return C.finish(records, check_counts, root)
    ck48 = _find_dir(root, "CK+48", depth=1)
    folders = _class_folders(ck48 or root)
    if not folders:
        raise DatasetError(f"ckplus: neither {IMAGES_DIR}/ nor CK+48 class folders found "
                           f"in {root}; expected {_LAYOUTS}.")
    records = _read_ck48(ck48 or root, folders, channels, size, show_progress, transform)
    if not include_neutral and L.NEUTRAL in records.class_names:
        records = records.with_classes(CKPLUS48_CLASSES)
    return C.finish(records, check_counts, root)
