"""Video frames and per-frame face crops (PathNet paper, Sec. III-A)."""

import dataclasses
import pathlib
from typing import Any, Optional

import numpy as np

from fer_tf.data.records import Records
from fer_tf.errors import DatasetError
from fer_tf.preprocess import image_ops
from fer_tf.preprocess.faces import face_crop_pipeline, make_detector, track_faces
from fer_tf.progress import progress as show_progress


def quiet_video_logs():
    """Silences FFmpeg's own messages ("moov atom not found") and OpenCV's
    log lines about a video it cannot open: fer_tf reports that in one line
    of its own. FFmpeg reads OPENCV_FFMPEG_LOGLEVEL (-8, quiet) when OpenCV
    first opens a video, so this runs before every capture; values the
    user set are kept."""
    import os

    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    if "OPENCV_LOG_LEVEL" in os.environ:
        return
    import cv2

    logging = getattr(getattr(cv2, "utils", None), "logging", None)
    if logging is not None and hasattr(logging, "setLogLevel"):
        logging.setLogLevel(logging.LOG_LEVEL_SILENT)


def read_video_frames(path, every=1, max_frames=None):
    """Decodes a video file with OpenCV into uint8 RGB frames (T, H, W, 3).

    Args:
        path: str or path of a video OpenCV can decode (.avi, .mp4, ...).
        every: int. keep every k-th frame (1 keeps all).
        max_frames: optional int. stop after this many kept frames.
    """
    import cv2

    path = pathlib.Path(path)
    if every < 1:
        raise DatasetError(f"every must be >= 1, got {every}.")
    if not path.is_file():
        raise DatasetError(f"Video file {path} does not exist.")
    quiet_video_logs()
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise DatasetError(f"OpenCV cannot open video {path}: not a video, "
                               "corrupt, or a codec this OpenCV build lacks.")
        frames, index = [], 0
        while max_frames is None or len(frames) < max_frames:
            ok, frame = capture.read()
            if not ok:
                break
            if index % every == 0:
                frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            index += 1
    finally:
        capture.release()
    if not frames:
        raise DatasetError(f"Video {path} has no decodable frames.")
    return np.stack(frames)


@dataclasses.dataclass
class VideoClip:
    """One labelled video: a file path or an in-memory (T, H, W[, 3]) array.

    Args:
        source: path of a video file, or uint8 frames (T, H, W, 3) / (T, H, W).
        label: int index into the `class_names` of `faces_from_videos`, or
            the class name itself.
        subject: optional subject id (for subject-independent folds).
        group: optional clip id; frames of one clip share it (default: the
            file name, or "<name>-<index>" for arrays).
    """

    source: Any
    label: Any
    subject: Optional[str] = None
    group: Optional[str] = None


def as_clip(item):
    """Accepts a VideoClip, a (source, label[, subject[, group]]) tuple, a dict
    with those keys, or an object with `frames` and `label` attributes (such
    as fer_tf.data.synthetic's SyntheticVideo)."""
    if isinstance(item, VideoClip):
        return item
    if isinstance(item, dict):
        return VideoClip(item.get("source", item.get("frames", item.get("path"))),
                         item["label"], item.get("subject"), item.get("group"))
    if isinstance(item, (tuple, list)):
        if not 2 <= len(item) <= 4:
            raise DatasetError("A video item must be (source, label[, subject[, "
                               f"group]]); got {len(item)} values.")
        return VideoClip(*item)
    if hasattr(item, "frames") and hasattr(item, "label"):
        return VideoClip(item.frames, item.label, getattr(item, "subject", None),
                         getattr(item, "group", None))
    raise DatasetError(f"Cannot read a video item of type {type(item).__name__}.")


def clip_frames(clip, every=1, max_frames=None):
    """Frames of a clip (RGB uint8), subsampled like `read_video_frames`."""
    if isinstance(clip.source, (str, pathlib.Path)):
        return read_video_frames(clip.source, every, max_frames)
    frames = np.asarray(clip.source)
    if frames.ndim not in (3, 4) or frames.dtype != np.uint8 or not len(frames):
        raise DatasetError(f"In-memory video frames must be a non-empty uint8 array "
                           f"(T, H, W[, 3]); got {frames.dtype} {frames.shape}.")
    frames = frames[::every]
    return frames if max_frames is None else frames[:max_frames]


def _label_index(label, class_names, source):
    if isinstance(label, str):
        if label not in class_names:
            raise DatasetError(f"{source}: label {label!r} is not one of {class_names}.")
        return class_names.index(label)
    label = int(label)
    if not 0 <= label < len(class_names):
        raise DatasetError(f"{source}: label {label} is outside [0, {len(class_names)}) "
                           f"for classes {class_names}.")
    return label


def _video_items(videos, class_names, name):
    """Clips, class names and dataset name from a list or a VideoIndex."""
    if hasattr(videos, "paths") and hasattr(videos, "labels"):  # readers' VideoIndex
        n = len(videos.paths)
        subjects = videos.subjects if videos.subjects is not None else [None] * n
        groups = videos.groups if videos.groups is not None else [None] * n
        clips = [VideoClip(p, int(l), s, g) for p, l, s, g in
                 zip(videos.paths, videos.labels, subjects, groups)]
        return (clips, tuple(class_names or videos.class_names),
                name or getattr(videos, "name", "videos"))
    if class_names is None:
        raise DatasetError("faces_from_videos needs class_names unless given a "
                           "VideoIndex.")
    return [as_clip(v) for v in videos], tuple(class_names), name or "videos"


def faces_from_videos(videos, class_names=None, size=(64, 64), detector="haar",
                      grayscale=True, margin=0.0, every=1, max_frames=None,
                      interpolation="bilinear", landmarker=None, name=None,
                      progress=True, return_stats=False, detector_kwargs=None):
    """Face crops of every frame of every video (PathNet paper, Sec. III-A).

    Each frame's face is found with Viola-Jones; a frame with no face or
    several faces reuses the previous frame's box (`track_faces`). The box is
    cropped and resized; frames of one video share its label, subject and
    group, so protocol splitters keep them in one fold.

    Args:
        videos: a readers' `VideoIndex`, or an iterable of video items (see
            `as_clip`): paths or frame arrays, e.g. synthetic `SyntheticVideo`s.
        class_names: tuple of class names the labels index (taken from the
            VideoIndex when omitted).
        size: (height, width) of the crops, or an int.
        detector: "haar" (paper), "ssd", "dlib", or a detector object.
        grayscale: bool. crops as (H, W, 1) gray, else (H, W, 3) RGB.
        margin: float. widen each box by this fraction of its size per side.
        every, max_frames: frame subsampling per video (default: all frames).
        interpolation: resize interpolation name (image_ops.INTERPOLATIONS).
        landmarker: optional callable(crop) -> (68, 2), e.g. DlibLandmarker().
        name: dataset name of the returned Records (default: the index's
            name, or "videos").
        progress: bool. show progress over videos (`fer_tf.progress`).
        return_stats: bool. also return detection statistics.
        detector_kwargs: dict passed to the detector's constructor.

    Returns:
        Records (sources = file path or "<name>[i]", with "#frame" appended),
        or (Records, stats) with `return_stats`, where stats holds "frames",
        "single_face_frames" (the detector itself found exactly one face),
        "detection_rate" (their fraction) and "per_video" entries.
    """
    size = image_ops.as_size(size)
    detector = make_detector(detector, **(detector_kwargs or {}))
    images, points, labels, subjects, groups, sources, per_video = [], [], [], [], [], [], []
    clips, class_names, name = _video_items(videos, class_names, name)
    for i, clip in enumerate(show_progress(clips, desc=f"faces in {name}", enabled=progress,
                                           unit="video")):
        is_file = isinstance(clip.source, (str, pathlib.Path))
        source = str(clip.source) if is_file else f"{name}[{i}]"
        frames = clip_frames(clip, every, max_frames)
        boxes, counts = track_faces(frames, detector, source)
        for t, (frame, box) in enumerate(zip(frames, boxes)):
            crop, pts = face_crop_pipeline(frame, box, size, grayscale, interpolation,
                                           margin, landmarker, gray_channels=1)
            images.append(crop)
            points.append(pts)
            sources.append(f"{source}#{t * every}")
        group = clip.group if clip.group is not None else (
            pathlib.Path(source).stem if is_file else source)
        labels.extend([_label_index(clip.label, class_names, source)] * len(frames))
        subjects.extend([clip.subject] * len(frames))
        groups.extend([str(group)] * len(frames))
        per_video.append({"source": source, "frames": int(len(frames)),
                          "single_face_frames": int(np.sum(counts == 1)),
                          "detection_rate": float(np.mean(counts == 1))})
    channels = 1 if grayscale else 3
    records = Records(
        images=(np.stack(images) if images else
                np.zeros((0, *size, channels), np.uint8)),
        labels=np.asarray(labels, np.int64), class_names=class_names,
        subjects=(None if all(s is None for s in subjects) else
                  np.asarray(["" if s is None else str(s) for s in subjects])),
        landmarks=(None if landmarker is None else
                   np.stack(points) if points else np.zeros((0, 68, 2), np.float32)),
        groups=np.asarray(groups) if groups else None,
        sources=np.asarray(sources) if sources else None,
        name=name)
    if not return_stats:
        return records
    total = sum(v["frames"] for v in per_video)
    single = sum(v["single_face_frames"] for v in per_video)
    stats = {"videos": len(per_video), "frames": total, "single_face_frames": single,
             "detection_rate": single / total if total else 0.0, "per_video": per_video}
    return records, stats
