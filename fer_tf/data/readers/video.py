"""The two video datasets of the PathNet paper (Sec. IV-A): SAVEE, eNTERFACE'05.

Both are indexed, not decoded: a `VideoIndex` lists the clips, their labels
and speakers; faces are cut out of every frame later by
`fer_tf.preprocess.video.faces_from_videos` (Viola-Jones, Sec. III-A). Only
the six basic emotions shared by the two datasets are kept by default.

SAVEE (Haq & Jackson 2008): `AudioVisualClip/<speaker>/<code><nn>.avi`,
speakers DC, JE, JK, KL; codes a, d, f, h, sa, su (15 clips each) and n
(neutral, 30 clips); 480 clips.

eNTERFACE'05 (Martin et al. 2006):
`subject N/<emotion>/sentence K/sN_<code>_K.avi`, emotions anger, disgust,
fear, happiness, sadness, surprise (codes an, di, fe, ha, sa, su); the paper
counts 1,166 videos. Some subjects of the public release store their clips
without the `sentence K/` level, so clips are found at any depth.
"""

import os
import re
import warnings

from fer_tf.data import labels as L
from fer_tf.data.readers import _common as C
from fer_tf.data.readers._common import VideoIndex
from fer_tf.errors import DatasetError

SAVEE_CODES = {"a": L.ANGER, "d": L.DISGUST, "f": L.FEAR, "h": L.HAPPINESS,
               "n": L.NEUTRAL, "sa": L.SADNESS, "su": L.SURPRISE}
ENTERFACE_CODES = {"an": L.ANGER, "di": L.DISGUST, "fe": L.FEAR, "ha": L.HAPPINESS,
                   "sa": L.SADNESS, "su": L.SURPRISE}
#: SAVEE with neutral: the seven classes in alphabetical order (as SFEW).
SAVEE_SEVEN = L.SFEW_CLASSES

_SAVEE_NAME = re.compile(r"^([a-z]+)(\d+)$")
_ENTERFACE_NAME = re.compile(r"^s_?(\d+)_([a-z]+)_(\d+)", re.IGNORECASE)
_SUBJECT_DIR = re.compile(r"^subject\s*(\d+)$", re.IGNORECASE)
_SAVEE_LAYOUT = ("AudioVisualClip/<speaker>/<code><nn>.avi with speakers DC, JE, JK, KL "
                 "and codes a, d, f, h, n, sa, su")
_ENTERFACE_LAYOUT = ("'subject N/<emotion>/sentence K/sN_<code>_K.avi' with emotions "
                     "anger, disgust, fear, happiness, sadness, surprise")


def check_video(path, dataset):
    """Raises DatasetError unless OpenCV can open `path` and decode a frame."""
    import cv2
    capture = cv2.VideoCapture(path)
    try:
        ok = capture.isOpened() and capture.read()[0]
    finally:
        capture.release()
    if not ok:
        raise DatasetError(f"{dataset}: {path} is not a readable video (corrupt or not a "
                           "video file); expected a clip OpenCV can decode (.avi).")


def _video_files(folder):
    """All video files under `folder`, recursively, in natural order."""
    found = []
    for current, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not C.is_junk(d))
        found += [os.path.join(current, f) for f in files
                  if not C.is_junk(f) and C.has_extension(f, C.VIDEO_EXTENSIONS)]
    return sorted(found, key=lambda p: C.natural_key(os.path.relpath(p, folder)))


def _verify(paths, dataset, verify, show_progress):
    if verify:
        for path in C.progress(paths, f"checking {dataset} videos", show_progress,
                               unit="video"):
            check_video(path, dataset)


def _savee_root(root):
    clips = None
    level = [root]
    for _ in range(3):
        for folder in level:
            if os.path.basename(os.path.normpath(folder)).lower() == "audiovisualclip":
                clips = folder
                break
        if clips:
            break
        level = [os.path.join(f, e) for f in level for e in C.list_dir(f)
                 if os.path.isdir(os.path.join(f, e))]
    return clips or root


def read_savee(data_dir, include_neutral=False, verify=True, check_counts=True,
               show_progress=True):
    """Indexes the SAVEE audio-visual clips.

    Args:
        data_dir: the SAVEE folder (holding `AudioVisualClip/`) or the
            `AudioVisualClip/` folder itself (one sub-folder per speaker).
        include_neutral: also keep the 30 neutral clips per speaker (7
            classes); by default only the six basic emotions shared with
            eNTERFACE'05 (PathNet paper Sec. IV-A).
        verify: open every clip with OpenCV and decode its first frame.
        check_counts: warn (`DatasetCountWarning`) when the counts differ from
            the published 4 speakers x (6 x 15 + 30) clips.
        show_progress: show a tqdm bar.

    Returns:
        VideoIndex with subjects = speaker initials, groups = "<speaker>/<clip>".
    """
    root = C.require_dir(data_dir, "savee", _SAVEE_LAYOUT)
    clips_root = _savee_root(root)
    class_names = SAVEE_SEVEN if include_neutral else L.SIX_BASIC
    entries = []
    for speaker in C.list_dir(clips_root):
        speaker_dir = os.path.join(clips_root, speaker)
        if not os.path.isdir(speaker_dir):
            continue
        for path in _video_files(speaker_dir):
            stem = os.path.splitext(os.path.basename(path))[0]
            match = _SAVEE_NAME.match(stem.lower())
            code = match.group(1) if match else None
            if code not in SAVEE_CODES:
                raise DatasetError(f"savee: {path} has no known emotion code; expected "
                                   f"<code><nn>.avi with code one of "
                                   f"{sorted(SAVEE_CODES)} (e.g. sa03.avi).")
            name = SAVEE_CODES[code]
            if name in class_names:
                entries.append((speaker, class_names.index(name), path, stem))
    if not entries:
        raise DatasetError(f"savee: no clips found in {clips_root}; expected "
                           f"{_SAVEE_LAYOUT}.")
    paths = [e[2] for e in entries]
    _verify(paths, "savee", verify, show_progress)
    index = VideoIndex(paths=paths, labels=[e[1] for e in entries],
                       class_names=class_names, subjects=[e[0] for e in entries],
                       groups=[f"{e[0]}/{e[3]}" for e in entries], name="savee")
    return C.finish(index, check_counts, root)


def _subject_dirs(root):
    """{subject number: folder} of the `subject N` folders in or below root."""
    for folder in [root] + [os.path.join(root, e) for e in C.list_dir(root)
                            if os.path.isdir(os.path.join(root, e))]:
        found = {}
        for entry in C.list_dir(folder):
            match = _SUBJECT_DIR.match(entry)
            if match and os.path.isdir(os.path.join(folder, entry)):
                found[int(match.group(1))] = os.path.join(folder, entry)
        if found:
            return found
    return {}


def _enterface_label(path, subject_dir):
    """(class, conflict) of one clip from its emotion folder and file code.

    The emotion folder wins; `conflict` says the file code disagrees.
    """
    from_folder = None
    for part in os.path.relpath(os.path.dirname(path), subject_dir).split(os.sep):
        if part.lower() in C.FOLDER_ALIASES:
            from_folder = C.FOLDER_ALIASES[part.lower()]
    match = _ENTERFACE_NAME.match(os.path.basename(path))
    from_code = None
    if match:
        from_code = ENTERFACE_CODES.get(match.group(2).lower())
        if from_code is None:
            raise DatasetError(f"enterface: {path} has the unknown emotion code "
                               f"{match.group(2)!r}; expected one of "
                               f"{sorted(ENTERFACE_CODES)}.")
    label = from_folder or from_code
    if label is None or label not in L.SIX_BASIC:
        raise DatasetError(f"enterface: cannot tell the emotion of {path}; expected "
                           f"{_ENTERFACE_LAYOUT}.")
    conflict = bool(from_folder and from_code and from_folder != from_code)
    return label, conflict


def read_enterface(data_dir, verify=True, check_counts=True, show_progress=True):
    """Indexes the eNTERFACE'05 audio-visual clips.

    Args:
        data_dir: the folder holding the `subject N/` folders (or one level
            above it).
        verify: open every clip with OpenCV and decode its first frame.
        check_counts: warn (`DatasetCountWarning`) when the number of clips
            differs from the 1,166 of the PathNet paper.
        show_progress: show a tqdm bar.

    Returns:
        VideoIndex of the six basic emotions, subjects "sN", groups = the
        clip's path below the dataset folder without extension.
    """
    root = C.require_dir(data_dir, "enterface", _ENTERFACE_LAYOUT)
    subjects = _subject_dirs(root)
    if not subjects:
        raise DatasetError(f"enterface: no 'subject N' folders in {root}; expected "
                           f"{_ENTERFACE_LAYOUT}.")
    entries, conflicts = [], []
    for number in sorted(subjects):
        subject_dir = subjects[number]
        for path in _video_files(subject_dir):
            label, conflict = _enterface_label(path, subject_dir)
            entries.append((f"s{number}", L.SIX_BASIC.index(label), path))
            if conflict:
                conflicts.append(path)
    if conflicts:
        warnings.warn(f"enterface: {len(conflicts)} clip(s) lie in an emotion folder "
                      f"that their file name contradicts, e.g. {conflicts[0]}; the "
                      "folder's emotion is used.", UserWarning, stacklevel=2)
    if not entries:
        raise DatasetError(f"enterface: the subject folders in {root} hold no clips; "
                           f"expected {_ENTERFACE_LAYOUT}.")
    paths = [e[2] for e in entries]
    _verify(paths, "enterface", verify, show_progress)
    base = os.path.dirname(subjects[min(subjects)])
    groups = [os.path.splitext(os.path.relpath(p, base))[0].replace(os.sep, "/")
              for p in paths]
    index = VideoIndex(paths=paths, labels=[e[1] for e in entries],
                       class_names=L.SIX_BASIC, subjects=[e[0] for e in entries],
                       groups=groups, name="enterface")
    return C.finish(index, check_counts, root)
