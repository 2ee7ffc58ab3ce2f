"""Face preprocessing for the papers: detection, landmarks, crops, caching.

Modules (imported on first use, so `import fer_tf.preprocess` stays cheap):

- image_ops: clahe, gray_to_rgb, to_gray, resize_image, as_tf_op.
- faces: HaarFaceDetector, SsdFaceDetector, DlibHogFaceDetector,
  make_detector, track_faces, crop_face, faces_from_records.
- landmarks: DlibLandmarker.
- video: read_video_frames, VideoClip, faces_from_videos.
- cache: cached, cache_key, dataset_identity, save_records, load_records.
- face_records: FaceCropper, load_face_records (real image datasets ->
  detect, crop, CLAHE, resize; cached).
"""

import importlib

_EXPORTS = {
    "image_ops": ("clahe", "gray_to_rgb", "to_gray", "resize_image", "as_tf_op"),
    "faces": ("HaarFaceDetector", "SsdFaceDetector", "DlibHogFaceDetector",
              "make_detector", "track_faces", "crop_face", "faces_from_records"),
    "landmarks": ("DlibLandmarker",),
    "video": ("read_video_frames", "VideoClip", "faces_from_videos"),
    "cache": ("cached", "cache_key", "dataset_identity", "save_records", "load_records"),
    "face_records": ("FaceCropper", "load_face_records"),
    "clahe_tf": ("clahe_tf",),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name):
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
