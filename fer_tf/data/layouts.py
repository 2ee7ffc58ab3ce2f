"""Writes the embedded synthetic faces in each real dataset's published layout.

`write_layout("ckplus", "/tmp/ck")` produces a folder that `read_ckplus`
reads exactly as it would read the real CK+: the same file names, label
files, landmark files, class folders, csv header or video containers. It lets
every reader, protocol and experiment run end to end without the real data
(which cannot be redistributed), and `official=True` reproduces each dataset's
published counts for the count checks. Faces come from `fer_tf.data.synthetic`.

A `SYNTHETIC_LAYOUT.json` manifest at the top of every written folder says
what was written, so that nobody mistakes it for the real dataset. It is
written first (marked incomplete) and rewritten last, so a folder left by a
killed writer is still recognised as this package's own and `overwrite=True`
replaces it, while a folder without the manifest is never deleted.
"""

import contextlib
import gzip
import inspect
import json
import lzma
import math
import os
import shutil

import numpy as np

from fer_tf.data import labels as L
from fer_tf.data.readers import official as O
from fer_tf.data.readers._common import progress
from fer_tf.errors import ConfigError
from fer_tf.io import atomic_open, atomic_write_json, clear_folder

MANIFEST = "SYNTHETIC_LAYOUT.json"
#: Who wrote the folder; with NOTE and the layout, what `overwrite=True` checks.
WRITER = "fer_tf.data.layouts.write_layout"
NOTE = "Synthetic faces from fer_tf.data.synthetic, not the real dataset."
#: CK+ frames are 640x490 (width x height); synthetic frames keep that aspect.
CKPLUS_ASPECT = 640 / 490
#: The frame kinds of the real CK+ release, (height, width, colour) at full
#: size: most subjects were filmed at 640x490 grey, some at 640x480 grey and
#: some at 720x480 colour. Synthetic subjects cycle through this pattern, so
#: every layout of three or more subjects mixes sizes and 640x490 stays the
#: most common one.
CKPLUS_FRAME_KINDS = ((490, 640, False), (480, 720, True), (490, 640, False),
                      (480, 640, False), (490, 640, False))
#: SFEW frames are 720x576 (width x height).
SFEW_ASPECT = 720 / 576
CKPLUS48_FOLDERS = {L.ANGER: "anger", L.CONTEMPT: "contempt", L.DISGUST: "disgust",
                    L.FEAR: "fear", L.HAPPINESS: "happy", L.SADNESS: "sadness",
                    L.SURPRISE: "surprise"}
FER2013_FOLDERS = {L.ANGER: "angry", L.DISGUST: "disgust", L.FEAR: "fear",
                   L.HAPPINESS: "happy", L.NEUTRAL: "neutral", L.SADNESS: "sad",
                   L.SURPRISE: "surprise"}
SFEW_FOLDERS = {v: k for k, v in L.SFEW_FOLDERS.items()}
JAFFE_CODES = {v: k for k, v in L.JAFFE_CODES.items()}
SAVEE_CODES = {L.ANGER: "a", L.DISGUST: "d", L.FEAR: "f", L.HAPPINESS: "h",
               L.NEUTRAL: "n", L.SADNESS: "sa", L.SURPRISE: "su"}
ENTERFACE_FOLDERS = {L.ANGER: ("anger", "an"), L.DISGUST: ("disgust", "di"),
                     L.FEAR: ("fear", "fe"), L.HAPPINESS: ("happiness", "ha"),
                     L.SADNESS: ("sadness", "sa"), L.SURPRISE: ("surprise", "su")}
#: Subject whose clips the public eNTERFACE'05 release keeps without
#: `sentence K/` folders; the writer reproduces that quirk.
ENTERFACE_FLAT_SUBJECT = 6
VIDEO_FPS = 25


# --------------------------------------------------------------------------- io

def _imwrite(path, image):
    import cv2
    ext = os.path.splitext(path)[1]
    ok, buffer = cv2.imencode(ext, image)
    if not ok:
        raise ConfigError(f"Cannot encode an image as {ext} for {path}.")
    try:
        buffer.tofile(path)
    except OSError as e:
        raise ConfigError(f"Cannot write {path}: {e}.") from e


def _write_video(path, frames_rgb, fps=VIDEO_FPS):
    """Writes RGB frames (T, H, W, 3) as a Motion-JPEG .avi."""
    import cv2
    h, w = frames_rgb.shape[1:3]
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    if not writer.isOpened():
        raise ConfigError(f"OpenCV cannot write the MJPG video {path}.")
    try:
        for frame in frames_rgb:
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()


def _write_text(path, text):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def _pad_width(image, width, landmarks=None):
    """Widens a face crop to `width` by replicating its sides (a wider frame)."""
    import cv2
    extra = width - image.shape[1]
    if extra <= 0:
        return image, landmarks
    left = extra // 2
    padded = cv2.copyMakeBorder(image, 0, 0, left, extra - left, cv2.BORDER_REPLICATE)
    if landmarks is not None:
        landmarks = landmarks + np.array([left, 0], np.float32)
    return padded, landmarks


def _split_evenly(total, parts):
    """`total` items over `parts` bins, sizes differing by at most one."""
    base, extra = divmod(int(total), int(parts))
    return [base + (i < extra) for i in range(parts)]


def _faces(per_class, size, seed, domain="default", show_progress=True):
    """{class: uint8 (n, size, size)} synthetic faces, n = per_class[class].

    One `make_synthetic` call per class; different subjects give variety.
    """
    from fer_tf.data.synthetic import make_synthetic
    out = {}
    for c, n in progress(per_class.items(), "drawing faces", show_progress, unit="class"):
        if n <= 0:
            out[c] = np.zeros((0, size, size), np.uint8)
            continue
        per_subject = max(1, math.ceil(n / 40))
        subjects = math.ceil(n / per_subject)
        records = make_synthetic(num_subjects=subjects, images_per_class=per_subject,
                                 classes=(c,), size=size, seed=seed, domain=domain)
        out[c] = records.images[:n, ..., 0]
    return out


def _count_report(per_class, subjects, files, splits=None, per_split_class=None,
                  **extra):
    report = {"num_images": int(sum(per_class.values())),
              "per_class": {c: int(k) for c, k in per_class.items()},
              "num_subjects": None if subjects is None else len(set(subjects)),
              "subjects": None if subjects is None else sorted(set(subjects)),
              "splits": splits or {}, "files": int(files)}
    if per_split_class:
        report["per_split_class"] = per_split_class
    report.update(extra)
    return report


# ----------------------------------------------------------------------- CK+

def _ckplus_plan(num_subjects, labelled_per_subject, unlabelled_per_subject, official,
                 rng):
    """[(subject, sequence, code or None)] for the CK+ layouts."""
    subjects = [f"S{5 * (i + 1):03d}" for i in range(
        O.CKPLUS_NUM_SUBJECTS if official else num_subjects)]
    expressive = [c for c in L.CKPLUS_CLASSES if c != L.NEUTRAL]
    if official:
        codes = [L.CKPLUS_CLASSES.index(c) for c, k in O.CKPLUS_SEQUENCES.items()
                 for _ in range(k)]
        rng.shuffle(codes)
        labelled = _split_evenly(len(codes), O.CKPLUS_NUM_LABELLED_SUBJECTS)
        labelled += [0] * (len(subjects) - len(labelled))
        # 266 unlabelled sequences over 123 subjects: every subject has some,
        # so the 5 subjects without labelled sequences still exist.
        unlabelled = _split_evenly(O.CKPLUS_NUM_SEQUENCES - len(codes), len(subjects))
    else:
        codes = [L.CKPLUS_CLASSES.index(expressive[i % len(expressive)])
                 for i in range(num_subjects * labelled_per_subject)]
        labelled = [labelled_per_subject] * num_subjects
        unlabelled = [unlabelled_per_subject] * num_subjects
    plan, k = [], 0
    for subject, n_lab, n_unl in zip(subjects, labelled, unlabelled):
        kinds = [True] * n_lab + [False] * n_unl
        rng.shuffle(kinds)  # labelled and unlabelled sequences interleave
        for s, is_labelled in enumerate(kinds):
            code = None
            if is_labelled:
                code, k = codes[k], k + 1
            plan.append((subject, f"{s + 1:03d}", code))
    return plan


def _sequence(subject, seq_index, code, num_frames, size, seed):
    from fer_tf.data import synthetic as S
    identity = S.sample_identity(np.random.default_rng([seed, 10, int(subject[1:])]),
                                 subject)
    rng = np.random.default_rng([seed, 11, int(subject[1:]), seq_index])
    name = L.CKPLUS_CLASSES[code] if code is not None else L.CKPLUS_CLASSES[
        1 + int(rng.integers(len(L.CKPLUS_CLASSES) - 1))]
    return S.make_sequence(identity, name, num_frames=num_frames, size=size, rng=rng)


def _ckplus_frame(frame, points, kind, size):
    """A `size`-high 640:490 synthetic frame reshaped into a CK+ frame kind:
    rows trimmed to the kind's height, sides widened to its width, and, for
    the colour kind, a BGR frame with a skin tint."""
    full_height, full_width, colour = kind
    height = max(1, round(size * full_height / 490))
    width = round(height * full_width / full_height) if full_height != 490 else round(
        size * CKPLUS_ASPECT)
    top = (frame.shape[0] - height) // 2
    frame = frame[top:top + height]
    points = points - np.array([0, top], np.float32)
    frame, points = _pad_width(frame, width, points)
    if colour:
        tint = np.array([0.80, 0.90, 1.0], np.float32)  # B, G, R
        frame = np.clip(frame[..., None] * tint, 0, 255).astype(np.uint8)
    return frame, points


def _landmarks_text(points):
    return "".join(f"   {x:.7e}   {y:.7e}\n" for x, y in points)


def write_ckplus(out_dir, seed=0, official=False, show_progress=True, num_subjects=10,
                 labelled_per_subject=2, unlabelled_per_subject=1, num_frames=6,
                 size=96, mixed_sizes=True):
    """CK+ layout: cohn-kanade-images/, Emotion/ (labelled sequences only),
    Landmarks/ (every frame). Frames are `size` high, 640:490 wide; with
    `mixed_sizes` (default) subjects cycle through `CKPLUS_FRAME_KINDS` as in
    the real release (also 640:480 grey and 720:480 colour frames, scaled
    like the 640x490 ones). `official` writes 593 sequences of 123 subjects,
    327 labelled (118 subjects) with the published per-class counts."""
    if num_frames < 4:
        raise ConfigError(f"CK+ sequences need at least 4 frames (a neutral first frame "
                          f"and 3 apex frames), got num_frames={num_frames}.")
    rng = np.random.default_rng([seed, 12])
    plan = _ckplus_plan(num_subjects, labelled_per_subject, unlabelled_per_subject,
                        official, rng)
    width = round(size * CKPLUS_ASPECT)
    subjects = list(dict.fromkeys(p[0] for p in plan))
    kinds = {s: CKPLUS_FRAME_KINDS[i % len(CKPLUS_FRAME_KINDS)] if mixed_sizes
             else CKPLUS_FRAME_KINDS[0] for i, s in enumerate(subjects)}
    per_class = {c: 0 for c in L.CKPLUS_CLASSES}
    frame_sizes = {}
    labelled_subjects, files = [], 0
    for subject, sequence, code in progress(plan, "writing CK+ sequences",
                                            show_progress, unit="seq"):
        frames, marks = _sequence(subject, int(sequence), code, num_frames, size, seed)
        parts = {d: os.path.join(out_dir, d, subject, sequence)
                 for d in ("cohn-kanade-images", "Emotion", "Landmarks")}
        for folder in parts.values():
            os.makedirs(folder, exist_ok=True)
        for t in range(num_frames):
            stem = f"{subject}_{sequence}_{t + 1:08d}"
            frame, points = _ckplus_frame(frames[t], marks[t], kinds[subject], size)
            shape = "x".join(map(str, frame.shape))
            frame_sizes[shape] = frame_sizes.get(shape, 0) + 1
            _imwrite(os.path.join(parts["cohn-kanade-images"], stem + ".png"), frame)
            _write_text(os.path.join(parts["Landmarks"], stem + "_landmarks.txt"),
                        _landmarks_text(points))
            files += 2
        if code is not None:
            stem = f"{subject}_{sequence}_{num_frames:08d}"
            _write_text(os.path.join(parts["Emotion"], stem + "_emotion.txt"),
                        f"   {float(code):.7e}\n")
            files += 1
            per_class[L.NEUTRAL] += 1
            per_class[L.CKPLUS_CLASSES[code]] += 3
            labelled_subjects.append(subject)
    return _count_report(
        per_class, labelled_subjects, files, dataset="ckplus",
        num_sequences=len(plan), num_labelled_sequences=per_class[L.NEUTRAL],
        all_subjects=sorted(subjects), image_size=[size, width], frame_sizes=frame_sizes)


def write_ckplus48(out_dir, seed=0, official=False, show_progress=True, num_subjects=6,
                   sequences_per_subject=2, num_frames=6):
    """CK+48 layout: CK+48/<class>/Sxxx_nnn_0000000k.png, the last three 48x48
    frames of each labelled sequence (no neutral). `official`: 327 sequences
    of 118 subjects -> 981 images with the published per-class counts."""
    if num_frames < 4:
        raise ConfigError(f"CK+ sequences need at least 4 frames, got {num_frames}.")
    rng = np.random.default_rng([seed, 13])
    if official:
        plan = [p for p in _ckplus_plan(0, 0, 0, True, rng) if p[2] is not None]
    else:
        plan = _ckplus_plan(num_subjects, sequences_per_subject, 0, False, rng)
    per_class = {c: 0 for c in L.CKPLUS_CLASSES if c != L.NEUTRAL}
    subjects, files = [], 0
    for folder in CKPLUS48_FOLDERS.values():
        os.makedirs(os.path.join(out_dir, "CK+48", folder), exist_ok=True)
    for subject, sequence, code in progress(plan, "writing CK+48", show_progress,
                                            unit="seq"):
        frames, _ = _sequence(subject, int(sequence), code, num_frames, 48, seed)
        name = L.CKPLUS_CLASSES[code]
        folder = os.path.join(out_dir, "CK+48", CKPLUS48_FOLDERS[name])
        for t in range(num_frames - 3, num_frames):
            _imwrite(os.path.join(folder, f"{subject}_{sequence}_{t + 1:08d}.png"),
                     frames[t])
            files += 1
        per_class[name] += 3
        subjects.append(subject)
    return _count_report(per_class, subjects, files, dataset="ckplus",
                         num_sequences=len(plan))


# --------------------------------------------------------------------- JAFFE

def _jaffe_initials(num_subjects):
    extra = [a + b for a in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" for b in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
             if a + b not in O.JAFFE_SUBJECTS]
    return (list(O.JAFFE_SUBJECTS) + extra)[:num_subjects]


def write_jaffe(out_dir, seed=0, official=False, show_progress=True, num_subjects=10,
                images_per_expression=None, size=64):
    """JAFFE layout: XX.YYn.NNN.tiff files. By default subject s gets
    1 + (s + c) % 3 images of expression c (1-3, as JAFFE's 2-4 varies);
    an int gives that many of each. `official`: 10 subjects, 213 images
    with the published per-expression counts (3-4 per subject)."""
    from fer_tf.data.synthetic import make_synthetic
    if official:
        num_subjects = len(O.JAFFE_SUBJECTS)
        counts = {}
        for c_index, c in enumerate(L.JAFFE_CLASSES):
            spread = _split_evenly(O.JAFFE_PER_CLASS[c], num_subjects)
            spread = spread[-c_index:] + spread[:-c_index] if c_index else spread
            counts.update({(s, c): k for s, k in enumerate(spread)})
    elif images_per_expression is None:
        counts = {(s, c): 1 + (s + i) % 3 for s in range(num_subjects)
                  for i, c in enumerate(L.JAFFE_CLASSES)}
    else:
        counts = {(s, c): int(images_per_expression) for s in range(num_subjects)
                  for c in L.JAFFE_CLASSES}
    if not 1 <= num_subjects <= 600:
        raise ConfigError(f"JAFFE layout: num_subjects must lie in 1-600, got "
                          f"{num_subjects}.")
    records = make_synthetic(num_subjects=num_subjects,
                             images_per_class=max(counts.values()), classes="jaffe",
                             size=size, seed=seed)
    initials = _jaffe_initials(num_subjects)
    os.makedirs(out_dir, exist_ok=True)
    per_class = {c: 0 for c in L.JAFFE_CLASSES}
    subjects, number = [], 0
    for s in progress(range(num_subjects), "writing JAFFE", show_progress, unit="subject"):
        for c in L.JAFFE_CLASSES:
            mask = (records.subjects == f"S{s + 1:03d}") & (
                records.labels == L.JAFFE_CLASSES.index(c))
            for take, image in enumerate(records.images[mask][:counts[(s, c)]][..., 0]):
                number += 1
                _imwrite(os.path.join(out_dir, f"{initials[s]}.{JAFFE_CODES[c]}{take + 1}."
                                               f"{number}.tiff"), image)
                per_class[c] += 1
                subjects.append(initials[s])
    return _count_report(per_class, subjects, number, dataset="jaffe")


# ------------------------------------------------------------------- FER2013

def _fer_rows(per_split_class, seed, show_progress):
    """[(split, label, image)] shuffled within each split, splits in order."""
    totals = {c: sum(s[c] for s in per_split_class.values()) for c in L.FER2013_CLASSES}
    faces = _faces(totals, 48, seed, show_progress=show_progress)
    rng = np.random.default_rng([seed, 14])
    used = {c: 0 for c in L.FER2013_CLASSES}
    rows = []
    for split, counts in per_split_class.items():
        block = []
        for c in L.FER2013_CLASSES:
            for image in faces[c][used[c]:used[c] + counts[c]]:
                block.append((split, L.FER2013_CLASSES.index(c), image))
            used[c] += counts[c]
        rng.shuffle(block)
        rows += block
    return rows


def _per_split(official_table, official, sizes):
    if official:
        return {s: dict(c) for s, c in official_table.items()}
    return {s: {c: int(k) for c in L.FER2013_CLASSES} for s, k in sizes.items()}


def write_fer2013(out_dir, seed=0, official=False, show_progress=True,
                  per_class_training=6, per_class_public=2, per_class_private=2,
                  compress=None):
    """FER2013 Kaggle layout: fer2013.csv (`emotion,pixels,Usage`), optionally
    compressed (`compress` "xz" or "gz"). `official`: 28,709 / 3,589 / 3,589
    rows with the published per-class counts."""
    if compress not in (None, "xz", "gz"):
        raise ConfigError(f"compress must be None, 'xz' or 'gz', got {compress!r}.")
    per_split_class = _per_split(O.FER2013_PER_SPLIT, official, {
        "Training": per_class_training, "PublicTest": per_class_public,
        "PrivateTest": per_class_private})
    rows = _fer_rows(per_split_class, seed, show_progress)
    os.makedirs(out_dir, exist_ok=True)
    name = "fer2013.csv" + ("" if compress is None else "." + compress)
    path = os.path.join(out_dir, name)
    opener = {None: open, "xz": lzma.open, "gz": gzip.open}[compress]
    with atomic_open(path, "wt", opener=opener, encoding="ascii", newline="\n") as f:
        f.write("emotion,pixels,Usage\n")
        for split, label, image in progress(rows, "writing fer2013.csv", show_progress,
                                            unit="rows"):
            f.write(f"{label},{' '.join(map(str, image.ravel().tolist()))},{split}\n")
    per_class = {c: sum(s[c] for s in per_split_class.values()) for c in L.FER2013_CLASSES}
    return _count_report(per_class, None, 1, dataset="fer2013",
                         splits={s: sum(c.values()) for s, c in per_split_class.items()},
                         per_split_class=per_split_class, path=path)


def write_fer2013_folders(out_dir, seed=0, official=False, show_progress=True,
                          per_class_train=4, per_class_test=2):
    """FER2013 image-folder layout: train/<class>/*.jpg and test/<class>/*.jpg
    with folders angry, disgust, fear, happy, neutral, sad, surprise.
    `official`: 28,709 train and 7,178 test images."""
    per_split_class = _per_split(O.FER2013_FOLDER_PER_SPLIT, official, {
        "Training": per_class_train, "PrivateTest": per_class_test})
    rows = _fer_rows(per_split_class, seed, show_progress)
    # The reader takes test/ as PrivateTest (readers.fer2013.FOLDER_TEST_NOTE).
    folders = {"Training": "train", "PrivateTest": "test"}
    for split in folders.values():
        for folder in FER2013_FOLDERS.values():
            os.makedirs(os.path.join(out_dir, split, folder), exist_ok=True)
    for i, (split, label, image) in enumerate(progress(rows, "writing FER2013 images",
                                                       show_progress)):
        folder = os.path.join(out_dir, folders[split],
                              FER2013_FOLDERS[L.FER2013_CLASSES[label]])
        prefix = "Training" if split == "Training" else "PrivateTest"
        _imwrite(os.path.join(folder, f"{prefix}_{i:08d}.jpg"), image)
    per_class = {c: sum(s[c] for s in per_split_class.values()) for c in L.FER2013_CLASSES}
    return _count_report(per_class, None, len(rows), dataset="fer2013",
                         splits={s: sum(c.values()) for s, c in per_split_class.items()},
                         per_split_class=per_split_class)


# ----------------------------------------------------------------------- SFEW

def write_sfew(out_dir, seed=0, official=False, show_progress=True, per_class_train=3,
               per_class_val=2, size=72):
    """SFEW 2.0 layout: Train/<Class>/*.png and Val/<Class>/*.png, frames
    `size` high with SFEW's 720:576 aspect. `official`: 958 Train and 436 Val
    images (the paper gives no per-class counts; they are spread evenly)."""
    if official:
        per_split_class = {s: dict(zip(L.SFEW_CLASSES, _split_evenly(n, 7)))
                           for s, n in O.SFEW_SPLITS.items()}
    else:
        per_split_class = {"Train": {c: per_class_train for c in L.SFEW_CLASSES},
                           "Val": {c: per_class_val for c in L.SFEW_CLASSES}}
    totals = {c: sum(s[c] for s in per_split_class.values()) for c in L.SFEW_CLASSES}
    faces = _faces(totals, size, seed, show_progress=show_progress)
    width = round(size * SFEW_ASPECT)
    used = {c: 0 for c in L.SFEW_CLASSES}
    files = 0
    for split, counts in per_split_class.items():
        for c, n in counts.items():
            folder = os.path.join(out_dir, split, SFEW_FOLDERS[c])
            os.makedirs(folder, exist_ok=True)
            for j in range(n):
                frame, _ = _pad_width(faces[c][used[c] + j], width)
                movie = f"Movie{(files * 7) % 23:02d}"
                _imwrite(os.path.join(folder, f"{movie}_{files:09d}_{j:08d}.png"), frame)
                files += 1
            used[c] += n
    return _count_report(totals, None, files, dataset="sfew",
                         splits={s: sum(c.values()) for s, c in per_split_class.items()},
                         per_split_class=per_split_class, image_size=[size, width])


# --------------------------------------------------------------------- videos

def _video(identity, class_name, rng, num_frames, frame_size, face_size, domain):
    from fer_tf.data.synthetic import make_video
    return make_video(identity, class_name, num_frames=num_frames, frame_size=frame_size,
                      face_size=face_size, rng=rng, domain=domain).frames


def write_savee(out_dir, seed=0, official=False, show_progress=True, num_speakers=4,
                clips_per_emotion=2, neutral_clips=2, num_frames=6,
                frame_size=(96, 128), face_size=64):
    """SAVEE layout: AudioVisualClip/<speaker>/<code><nn>.avi (MJPG), speakers
    DC, JE, JK, KL. `official`: 4 speakers x (6 x 15 + 30 neutral) = 480."""
    from fer_tf.data.synthetic import sample_identity
    if official:
        num_speakers, clips_per_emotion = len(O.SAVEE_SPEAKERS), O.SAVEE_CLIPS_PER_EMOTION
        neutral_clips = O.SAVEE_NEUTRAL_CLIPS
    if not 1 <= num_speakers <= len(O.SAVEE_SPEAKERS):
        raise ConfigError(f"SAVEE has {len(O.SAVEE_SPEAKERS)} speakers; num_speakers must "
                          f"lie in 1-{len(O.SAVEE_SPEAKERS)}, got {num_speakers}.")
    counts = {c: clips_per_emotion for c in L.SIX_BASIC}
    counts[L.NEUTRAL] = neutral_clips
    jobs = [(s, c, k) for s in O.SAVEE_SPEAKERS[:num_speakers]
            for c in SAVEE_CODES for k in range(counts[c])]
    per_class = {c: 0 for c in L.SFEW_CLASSES}
    subjects = []
    for speaker, c, k in progress(jobs, "writing SAVEE clips", show_progress,
                                  unit="video"):
        folder = os.path.join(out_dir, "AudioVisualClip", speaker)
        os.makedirs(folder, exist_ok=True)
        spk = O.SAVEE_SPEAKERS.index(speaker)
        identity = sample_identity(np.random.default_rng([seed, 20, spk]), speaker,
                                   domain="savee")
        rng = np.random.default_rng([seed, 21, spk, L.ALL_EXPRESSIONS.index(c), k])
        frames = _video(identity, c, rng, num_frames, frame_size, face_size, "savee")
        _write_video(os.path.join(folder, f"{SAVEE_CODES[c]}{k + 1:02d}.avi"), frames)
        per_class[c] += 1
        subjects.append(speaker)
    return _count_report(per_class, subjects, len(jobs), dataset="savee",
                         num_videos=len(jobs))


def write_enterface(out_dir, seed=0, official=False, show_progress=True, num_subjects=3,
                    sentences=2, num_frames=6, frame_size=(96, 128), face_size=64):
    """eNTERFACE'05 layout: `subject N/<emotion>/sentence K/sN_<code>_K.avi`
    (MJPG); subject 6, when written, has no `sentence K/` level, as in the
    public release. `official`: 1,166 clips (38 subjects x 6 emotions x 5
    sentences + 26 clips of a 39th subject)."""
    from fer_tf.data.synthetic import sample_identity
    jobs = []
    if official:
        total, sentences = O.ENTERFACE_NUM_VIDEOS, 5
        num_subjects = math.ceil(total / (6 * sentences))
    else:
        total = num_subjects * 6 * sentences
    for n in range(1, num_subjects + 1):
        for c in L.SIX_BASIC:
            for k in range(1, sentences + 1):
                jobs.append((n, c, k))
    # Official counts: the last subject's last clips are left out.
    jobs = jobs[:total]
    per_class = {c: 0 for c in L.SIX_BASIC}
    subjects = []
    for n, c, k in progress(jobs, "writing eNTERFACE clips", show_progress, unit="video"):
        folder, code = ENTERFACE_FOLDERS[c]
        parts = [out_dir, f"subject {n}", folder]
        if n != ENTERFACE_FLAT_SUBJECT:
            parts.append(f"sentence {k}")
        os.makedirs(os.path.join(*parts), exist_ok=True)
        identity = sample_identity(np.random.default_rng([seed, 30, n]), f"s{n}",
                                   domain="enterface")
        rng = np.random.default_rng([seed, 31, n, L.ALL_EXPRESSIONS.index(c), k])
        frames = _video(identity, c, rng, num_frames, frame_size, face_size, "enterface")
        _write_video(os.path.join(*parts, f"s{n}_{code}_{k}.avi"), frames)
        per_class[c] += 1
        subjects.append(f"s{n}")
    return _count_report(per_class, subjects, len(jobs), dataset="enterface",
                         num_videos=len(jobs))


#: Expressions of `write_demo_video`, in the order they appear (then repeated).
DEMO_EXPRESSIONS = (L.NEUTRAL, L.HAPPINESS, L.SURPRISE, L.SADNESS, L.ANGER, L.DISGUST,
                    L.FEAR)
#: Containers tried in turn by `write_demo_video`: (fourcc, extension).
DEMO_CODECS = (("mp4v", ".mp4"), ("MJPG", ".avi"))


class _CodecUnavailable(Exception):
    pass


@contextlib.contextmanager
def _video_writer(path, mode, fourcc, fps, frame_size):
    """An `atomic_open` opener yielding an OpenCV writer of BGR frames."""
    import cv2
    del mode  # the container is chosen by the file extension, not a mode
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*fourcc), float(fps),
                             (int(frame_size[1]), int(frame_size[0])))
    if not writer.isOpened():
        raise _CodecUnavailable(fourcc)
    try:
        yield writer
    finally:
        writer.release()


def write_demo_video(out_dir, seed=0, official=False, show_progress=True, seconds=30.0,
                     fps=25, frame_size=(480, 640), face_size=220, segment_seconds=3.0):
    """One demonstration clip for `fer-tf predict`: `demo_video.mp4` (mp4v;
    `demo_video.avi` with MJPG where OpenCV cannot write mp4) of one synthetic
    face whose expression changes every `segment_seconds`, cycling through
    `DEMO_EXPRESSIONS`; each segment goes from neutral to the expression's
    apex (`fer_tf.data.synthetic.make_video`) in the same scene, the head
    swaying slowly by a few pixels. `demo_video_labels.csv` gives every
    frame's time, expression and ground-truth face box (x, y, w, h). Frames
    are rendered and written one segment at a time, never the whole clip in
    memory. No dataset is mimicked, so `official` does not apply."""
    import cv2

    from fer_tf.data.synthetic import make_video, sample_identity
    if official:
        raise ConfigError("The demo_video layout mimics no dataset; it has no published "
                          "counts for official=True.")
    frame_size = tuple(int(v) for v in frame_size)
    if len(frame_size) != 2 or seconds <= 0 or fps <= 0 or segment_seconds <= 0:
        raise ConfigError(f"demo_video needs seconds, fps and segment_seconds > 0 and "
                          f"frame_size = (height, width); got seconds={seconds}, "
                          f"fps={fps}, segment_seconds={segment_seconds}, "
                          f"frame_size={frame_size}.")
    total = max(1, round(seconds * fps))
    per_segment = max(1, round(segment_seconds * fps))
    starts = list(range(0, total, per_segment))
    identity = sample_identity(np.random.default_rng([seed, 50]), "DEMO")
    per_class = {c: 0 for c in DEMO_EXPRESSIONS}
    rows, segments = [], []
    for fourcc, ext in DEMO_CODECS:
        path = os.path.join(out_dir, "demo_video" + ext)
        try:
            with atomic_open(path, "wb", opener=_video_writer, fourcc=fourcc, fps=fps,
                             frame_size=frame_size) as writer:
                for k, start in enumerate(progress(starts, "writing the demo video",
                                                   show_progress, unit="segment")):
                    name = DEMO_EXPRESSIONS[k % len(DEMO_EXPRESSIONS)]
                    n = min(per_segment, total - start)
                    # The same generator state per segment keeps the scene
                    # (backdrop, light, head position) from one to the next.
                    clip = make_video(identity, name, num_frames=n, frame_size=frame_size,
                                      face_size=face_size, apex=1.0,
                                      rng=np.random.default_rng([seed, 51]))
                    for t, (frame, box) in enumerate(zip(clip.frames, clip.face_boxes)):
                        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
                        rows.append((start + t, name, box))
                    per_class[name] += n
                    segments.append({"class": name, "start_frame": start,
                                     "num_frames": n})
            break
        except _CodecUnavailable:
            rows, segments = [], []
            per_class = dict.fromkeys(per_class, 0)
    else:
        raise ConfigError(f"OpenCV cannot write any of {[c for c, _ in DEMO_CODECS]} "
                          f"video in {out_dir}.")
    with atomic_open(os.path.join(out_dir, "demo_video_labels.csv"), "w",
                     encoding="ascii", newline="\n") as f:
        f.write("frame,time_s,class,x,y,w,h\n")
        for i, name, (x, y, w, h) in rows:
            f.write(f"{i},{i / fps:.3f},{name},{x},{y},{w},{h}\n")
    return _count_report(per_class, ["DEMO"], 2, dataset=None, path=path, codec=fourcc,
                         fps=fps, num_frames=total, seconds=total / fps,
                         frame_size=list(frame_size), segments=segments)


#: layout name -> writer.
LAYOUTS = {
    "ckplus": write_ckplus,
    "ckplus48": write_ckplus48,
    "jaffe": write_jaffe,
    "fer2013": write_fer2013,
    "fer2013_folders": write_fer2013_folders,
    "sfew": write_sfew,
    "savee": write_savee,
    "enterface": write_enterface,
    "demo_video": write_demo_video,
}
#: Options that only shape the files (allowed together with official=True).
_SHAPE_OPTIONS = {"num_frames", "size", "frame_size", "face_size", "compress",
                  "mixed_sizes"}
_COMMON = ("out_dir", "seed", "official", "show_progress")


def layout_options(layout):
    """{option: default} of the counts and sizes a layout accepts."""
    if layout not in LAYOUTS:
        raise ConfigError(f"Unknown layout {layout!r}; known layouts: "
                          f"{', '.join(sorted(LAYOUTS))}.")
    params = inspect.signature(LAYOUTS[layout]).parameters
    return {k: p.default for k, p in params.items() if k not in _COMMON}


def _written_by_us(out_dir):
    """True when `out_dir` holds a manifest of `write_layout` (even one that a
    killed writer left marked incomplete)."""
    try:
        with open(os.path.join(out_dir, MANIFEST), encoding="utf-8") as f:
            manifest = json.load(f)
    except (OSError, ValueError):
        return False
    # Manifests written before the "writer" field carry the same note.
    return (isinstance(manifest, dict) and manifest.get("layout") in LAYOUTS
            and str(manifest.get("note", "")).startswith(NOTE))


def _prepare_out_dir(out_dir, overwrite):
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ConfigError(f"{out_dir} exists and is not a folder.")
    if os.path.isdir(out_dir) and os.listdir(out_dir):
        if not overwrite:
            raise ConfigError(f"{out_dir} is not empty; choose an empty or new folder, "
                              "or pass overwrite=True (--overwrite) to replace a "
                              "synthetic layout written there before.")
        if not _written_by_us(out_dir):
            raise ConfigError(f"{out_dir} is not empty and holds no {MANIFEST} of "
                              "write_layout, so it was not written by write_layout; "
                              "refusing to delete its files. Choose an empty folder.")
        # The manifest goes last: a kill midway leaves the folder recognisable.
        clear_folder(out_dir, last=MANIFEST)
    os.makedirs(out_dir, exist_ok=True)


#: Options that must be > 0 (sizes, frame counts, rates, durations).
_POSITIVE_OPTIONS = ("size", "face_size", "frame_size", "num_frames", "fps", "seconds",
                     "segment_seconds")


def _number(value, kinds, low):
    """A finite number of `kinds` (never a bool) >= `low`."""
    return (isinstance(value, kinds) and not isinstance(value, bool)
            and math.isfinite(value) and value >= low)


def check_layout_options(layout, counts):
    """Each option against the layout's own (`layout_options`) and the type of
    its default, before anything is written: one ConfigError line naming the
    option and what it takes (`fer-tf data synth --option seconds=abc`)."""
    options = layout_options(layout)
    unknown = sorted(set(counts) - set(options))
    if unknown:
        raise ConfigError(f"{', '.join(unknown)}: layout {layout!r} has no such option (no "
                          f"option {unknown}); its options are {sorted(options)}.")
    for key, value in counts.items():
        default, positive = options[key], key in _POSITIVE_OPTIONS
        low = 1 if positive else 0
        if isinstance(default, bool):
            ok, expected = isinstance(value, bool), "true or false"
        elif isinstance(default, int):
            ok, expected = _number(value, int, low), f"an integer >= {low}"
        elif isinstance(default, float):
            ok = _number(value, (int, float), 0) and (value > 0 or not positive)
            expected = "a number > 0" if positive else "a number >= 0"
        elif isinstance(default, tuple):
            ok = isinstance(value, (list, tuple)) and len(value) == len(default) \
                and all(_number(v, int, low) for v in value)
            expected = f"a list of {len(default)} integers >= {low}, e.g. {list(default)}"
        else:  # None: a count, or a name the layout checks itself
            ok = value is None or isinstance(value, str) or _number(value, int, 0)
            expected = "an integer >= 0, a name or null"
        if not ok:
            raise ConfigError(f"{key}={json.dumps(value)}: expected {expected} (layout "
                              f"{layout!r}, default {default!r}).")


def write_layout(layout, out_dir, seed=0, overwrite=False, official=False,
                 show_progress=True, **counts):
    """Writes synthetic data in the published layout of a real dataset.

    Args:
        layout: one of `LAYOUTS`: "ckplus", "ckplus48", "jaffe", "fer2013"
            (csv), "fer2013_folders", "sfew", "savee", "enterface", or
            "demo_video" (one long video for `fer-tf predict` benchmarks).
        out_dir: an empty or new folder.
        seed: random seed; the same seed writes the same files.
        overwrite: replace a synthetic layout previously written to `out_dir`
            (a folder with a `SYNTHETIC_LAYOUT.json`); other non-empty
            folders are always refused.
        official: write the dataset's published counts (see
            `fer_tf.data.readers.official`) instead of the small defaults.
        show_progress: show tqdm bars.
        **counts: the layout's count and size options (`layout_options`),
            e.g. num_subjects=4 or per_class_training=10.

    Returns:
        What was written: dataset (the reader to use), layout, out_dir,
        num_images (images or clips), per_class, splits, per_split_class
        (split datasets), num_subjects, subjects, files, and layout-specific
        figures (num_sequences, num_videos, ...). Also saved as
        `SYNTHETIC_LAYOUT.json` in `out_dir`.
    """
    check_layout_options(layout, counts)
    if official:
        fixed = sorted(set(counts) - _SHAPE_OPTIONS)
        if fixed:
            raise ConfigError(f"official=True writes the published counts; do not also "
                              f"pass {fixed}.")
    out_dir = os.fspath(out_dir)
    existed = os.path.lexists(out_dir)
    _prepare_out_dir(out_dir, overwrite)
    manifest = os.path.join(out_dir, MANIFEST)
    # Claimed before the first data file, so a killed writer's folder is ours.
    atomic_write_json(manifest, {"writer": WRITER, "layout": layout, "complete": False,
                                 "note": NOTE + " Incomplete: the writer did not finish."})
    try:
        report = LAYOUTS[layout](out_dir, seed=seed, official=official,
                                 show_progress=show_progress, **counts)
    except BaseException:  # Ctrl-C included: no half-written layout is left
        if existed:
            clear_folder(out_dir)
        else:
            shutil.rmtree(out_dir, ignore_errors=True)
        raise
    report = dict(layout=layout, out_dir=out_dir, seed=seed, official=bool(official),
                  **report)
    atomic_write_json(manifest, dict(report, writer=WRITER, complete=True, note=NOTE))
    return report
