"""Face detectors, the PathNet previous-box rule, cropping, and image datasets.

Three detectors share one interface, `detect(image) -> [(x, y, w, h), ...]`
(best first) on uint8 RGB or grayscale images:

- `HaarFaceDetector`: Viola-Jones, as in the PathNet paper (Sec. III-A).
- `SsdFaceDetector`: OpenCV's ResNet-10 SSD (Caffe), as in the landmark
  paper (Sec. III-B).
- `DlibHogFaceDetector`: dlib's HOG + linear SVM detector, which needs no
  model file and is the always-available fallback.
"""

import dataclasses
import os
import pathlib
import warnings

import cv2
import numpy as np

from fer_tf.errors import ConfigError, FaceNotFoundError, MissingModelFileError
from fer_tf.preprocess import image_ops
from fer_tf.progress import progress as show_progress
from fer_tf.weights import find_model_file

HAAR_CASCADE_FILE = "haarcascade_frontalface_default.xml"
SSD_PROTOTXT_FILE = "deploy.prototxt"
SSD_WEIGHTS_FILE = "res10_300x300_ssd_iter_140000.caffemodel"
SSD_MEAN_BGR = (104.0, 177.0, 123.0)


def _as_uint8_image(image):
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ConfigError(f"Face detectors expect uint8 images, got {image.dtype}.")
    return image_ops.check_image(image)


def _clip_box(box, width, height):
    """Clips (x, y, w, h) to the image; returns None when nothing is left."""
    x0, y0 = max(0, int(round(box[0]))), max(0, int(round(box[1])))
    x1 = min(width, int(round(box[0] + box[2])))
    y1 = min(height, int(round(box[1] + box[3])))
    if x1 <= x0 or y1 <= y0:
        return None
    return (x0, y0, x1 - x0, y1 - y0)


class HaarFaceDetector:
    """Viola-Jones face detector with OpenCV's frontal-face Haar cascade.

    The PathNet paper (Sec. III-A) extracts the face of every video frame
    with OpenCV's Viola-Jones detector: `cv2.CascadeClassifier` with
    haarcascade_frontalface_default.xml (shipped in `cv2.data.haarcascades`),
    run by `detectMultiScale` on the grayscale frame. Boxes are returned
    largest first.

    Args:
        cascade_path: optional cascade XML. Default: OpenCV's
            `cv2.data.haarcascades + "haarcascade_frontalface_default.xml"`.
        scale_factor: float. OpenCV's scaleFactor (1.1).
        min_neighbors: int. OpenCV's minNeighbors (3).
        min_size: (height, width) of the smallest face in pixels of the input
            image.
        max_side: optional int; larger images are shrunk to this longest side
            for detection (boxes are mapped back), trading small faces for speed.
        equalize: bool. `cv2.equalizeHist` the gray image first, as OpenCV's
            face-detection tutorial does; off by default (the paper does not
            mention it).

    Example:
        boxes = HaarFaceDetector().detect(frame)
    """

    def __init__(self, cascade_path=None, scale_factor=1.1, min_neighbors=3,
                 min_size=(30, 30), max_side=None, equalize=False):
        path = pathlib.Path(cascade_path if cascade_path is not None else
                            os.path.join(cv2.data.haarcascades, HAAR_CASCADE_FILE))
        path = path.expanduser()
        if not path.is_file():
            raise MissingModelFileError(
                f"Haar cascade: no file at {path}. Pass the path of an OpenCV cascade "
                f"XML such as {HAAR_CASCADE_FILE} (opencv-python ships it in "
                "cv2.data.haarcascades).")
        self.cascade = cv2.CascadeClassifier()
        try:
            loaded = self.cascade.load(str(path))
        except cv2.error:
            loaded = False
        if not loaded or self.cascade.empty():
            raise MissingModelFileError(
                f"Haar cascade: {path} is not a cascade OpenCV can load; expected an "
                f"OpenCV cascade XML such as {HAAR_CASCADE_FILE}.")
        self.cascade_path = path
        self.scale_factor = float(scale_factor)
        self.min_neighbors = int(min_neighbors)
        self.min_size = tuple(int(v) for v in min_size)
        self.max_side = max_side
        self.equalize = bool(equalize)

    def config(self):
        return {"detector": "haar", "cascade": self.cascade_path.name,
                "scale_factor": self.scale_factor, "min_neighbors": self.min_neighbors,
                "min_size": list(self.min_size), "max_side": self.max_side,
                "equalize": self.equalize}

    def detect(self, image):
        gray = image_ops.to_gray(_as_uint8_image(image))
        height, width = gray.shape
        scale = 1.0
        if self.max_side and max(height, width) > self.max_side:
            scale = self.max_side / max(height, width)
            gray = image_ops.resize_image(gray, (max(1, round(height * scale)),
                                                 max(1, round(width * scale))), "area")
        if self.equalize:
            gray = cv2.equalizeHist(gray)
        # OpenCV's minSize is (width, height).
        min_size = (int(self.min_size[1] * scale), int(self.min_size[0] * scale))
        boxes = self.cascade.detectMultiScale(
            np.ascontiguousarray(gray), scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors, minSize=min_size)
        out = [_clip_box(np.asarray(b, float) / scale, width, height)
               for b in np.reshape(boxes, (-1, 4))]
        out = [b for b in out if b is not None]
        return sorted(out, key=lambda b: -b[2] * b[3])


class DlibHogFaceDetector:
    """dlib's HOG + linear-SVM frontal face detector (no model file needed).

    The fallback detector of fer_tf: it ships inside dlib, so it works
    wherever dlib is installed.

    Args:
        upsample: int. times the image is doubled before detection, to find
            faces smaller than 80x80 pixels.

    Example:
        boxes = DlibHogFaceDetector().detect(image)
    """

    def __init__(self, upsample=1):
        import dlib

        self.upsample = int(upsample)
        self._detector = dlib.get_frontal_face_detector()

    def config(self):
        return {"detector": "dlib_hog", "upsample": self.upsample}

    def detect(self, image):
        image = _as_uint8_image(image)
        if image.ndim == 3 and image.shape[-1] == 1:
            image = image[..., 0]
        image = np.ascontiguousarray(image)
        rects, scores, _ = self._detector.run(image, self.upsample, 0.0)
        height, width = image.shape[:2]
        out = []
        for r, score in sorted(zip(rects, scores), key=lambda rs: -rs[1]):
            box = _clip_box((r.left(), r.top(), r.width(), r.height()), width, height)
            if box is not None:
                out.append(box)
        return out


class SsdFaceDetector:
    """OpenCV's ResNet-10 SSD face detector (Caffe, 300x300 input).

    The landmark paper (Sec. III-A/B) resizes each image to 300x300 with
    bilinear interpolation and detects the face with this SSD through
    `cv2.dnn.readNetFromCaffe`; the input blob is BGR with the mean
    (104, 177, 123) subtracted (`cv2.dnn.blobFromImage`). The files are never
    downloaded: pass their paths or put them in
    `<fer_tf home>/models/face_detector/`.

    Args:
        prototxt: optional path of deploy.prototxt.
        caffemodel: optional path of res10_300x300_ssd_iter_140000.caffemodel.
        confidence: float. minimum face confidence (0.5).
        net: optional network with `cv2.dnn.Net`'s `setInput(blob)` and
            `forward() -> (1, 1, N, 7)`, used instead of loading the Caffe
            files (e.g. the same detector read with `cv2.dnn.readNet` from
            another format, or a test double).

    Example:
        boxes = SsdFaceDetector("deploy.prototxt", "res10.caffemodel").detect(image)
    """

    #: Network input (height, width).
    input_size = (300, 300)

    def __init__(self, prototxt=None, caffemodel=None, confidence=0.5, net=None):
        self.confidence = float(confidence)
        if net is None:
            net = _read_caffe_ssd(prototxt, caffemodel)
        self.net = net

    def config(self):
        return {"detector": "ssd", "confidence": self.confidence,
                "input_size": list(self.input_size), "mean_bgr": list(SSD_MEAN_BGR)}

    def blob(self, image):
        """The network input: bilinear 300x300, BGR, mean subtracted, NCHW."""
        image = _as_uint8_image(image)
        if image.ndim == 2 or image.shape[-1] == 1:
            image = image_ops.gray_to_rgb(image)
        resized = image_ops.resize_image(image, self.input_size, "bilinear")
        # Resized beforehand so the interpolation is the paper's bilinear one
        # whatever blobFromImage's default; RGB -> BGR by slicing.
        return cv2.dnn.blobFromImage(np.ascontiguousarray(resized[..., ::-1]), 1.0,
                                     self.input_size[::-1], SSD_MEAN_BGR, swapRB=False,
                                     crop=False)

    def detect_with_scores(self, image):
        """Returns [((x, y, w, h), confidence), ...], most confident first."""
        height, width = np.asarray(image).shape[:2]
        self.net.setInput(self.blob(image))
        rows = np.asarray(self.net.forward(), np.float32).reshape(-1, 7)
        rows = rows[(rows[:, 1] >= 1) & (rows[:, 2] >= self.confidence)]
        rows = rows[np.argsort(-rows[:, 2], kind="stable")]
        out = []
        for _, _, score, x0, y0, x1, y1 in rows:
            box = _clip_box((x0 * width, y0 * height, (x1 - x0) * width,
                             (y1 - y0) * height), width, height)
            if box is not None:
                out.append((box, float(score)))
        return out

    def detect(self, image):
        return [box for box, _ in self.detect_with_scores(image)]


def _read_caffe_ssd(prototxt, caffemodel):
    """Finds the SSD's two Caffe files and reads them with cv2.dnn."""
    how = ("fer_tf does not download it. OpenCV distributes deploy.prototxt "
           "in samples/dnn/face_detector/ and the weights from its "
           "opencv_3rdparty repository (dnn_samples_face_detector_20170830).")
    prototxt = find_model_file("SSD face detector definition", SSD_PROTOTXT_FILE,
                               prototxt, subfolder="face_detector", how_to_get=how)
    caffemodel = find_model_file("SSD face detector weights", SSD_WEIGHTS_FILE,
                                 caffemodel, subfolder="face_detector", how_to_get=how)
    try:
        net = cv2.dnn.readNetFromCaffe(str(prototxt), str(caffemodel))
        # OpenCV builds layers lazily, so weights that do not fit the
        # definition only fail at the first forward pass: do one now.
        net.setInput(np.zeros((1, 3, *SsdFaceDetector.input_size), np.float32))
        net.forward()
    except cv2.error as e:
        # OpenCV's message names the check that failed; keep its last line.
        reason = str(e).strip().splitlines()[-1]
        raise MissingModelFileError(
            f"SSD face detector: OpenCV cannot run {caffemodel} with {prototxt} as a "
            f"Caffe model ({reason}). Expected {SSD_PROTOTXT_FILE} and "
            f"{SSD_WEIGHTS_FILE}.") from e
    return net


DETECTORS = {"haar": HaarFaceDetector, "ssd": SsdFaceDetector,
             "dlib": DlibHogFaceDetector, "hog": DlibHogFaceDetector}


def make_detector(detector="haar", **kwargs):
    """Returns a detector from a name in DETECTORS, or `detector` itself.

    "auto" is the SSD when its model files are found, else dlib's HOG
    detector (with a warning saying which file is missing).
    """
    if hasattr(detector, "detect"):
        return detector
    if detector == "auto":
        try:
            return SsdFaceDetector(**kwargs)
        except MissingModelFileError as e:
            warnings.warn(f"Using dlib's HOG face detector instead of the SSD: {e}",
                          stacklevel=2)
            return DlibHogFaceDetector()
    if detector not in DETECTORS:
        raise ConfigError(f"Unknown face detector {detector!r}; choose one of "
                          f"{sorted(DETECTORS) + ['auto']} or pass an object with "
                          "detect().")
    return DETECTORS[detector](**kwargs)


def detector_config(detector):
    """JSON-able settings of a detector (for cache keys)."""
    if hasattr(detector, "config"):
        return detector.config()
    return {"detector": type(detector).__name__}


def track_faces(frames, detector, source="<frames>"):
    """Face box of every frame with the PathNet paper's rule (Sec. III-A).

    Where the detector finds no face or more than one, the previous frame's
    box is reused. Frames before the first frame with exactly one face take
    that first box. A clip where no frame has exactly one face (a case the
    paper leaves open) starts from the largest box of its first frame with
    several; a clip where no frame has any face raises FaceNotFoundError
    naming `source`.

    Returns:
        (boxes (T, 4) int64 of (x, y, w, h), counts (T,) int64 of faces the
        detector found per frame).
    """
    counts, found, largest = [], [], None
    for frame in frames:
        boxes = detector.detect(frame)
        counts.append(len(boxes))
        found.append(boxes[0] if len(boxes) == 1 else None)
        if len(boxes) > 1 and largest is None:
            largest = max(boxes, key=lambda box: int(box[2]) * int(box[3]))
    counts = np.asarray(counts, np.int64)
    if not len(found):
        raise FaceNotFoundError(f"{source}: no frames to find faces in.")
    first = next((b for b in found if b is not None), largest)
    if first is None:
        raise FaceNotFoundError(
            f"{source}: no face in any of its {len(counts)} frames.")
    boxes, previous = [], first
    for box in found:
        previous = box if box is not None else previous
        boxes.append(previous)
    return np.asarray(boxes, np.int64), counts


def face_region(box, margin, width, height):
    """The pixels `crop_face` keeps: `box` = (x, y, w, h) widened by `margin`
    x its size on each side and clipped to a width x height image, as
    integer (x0, y0, w, h)."""
    x, y, w, h = (float(v) for v in box)
    widened = (x - margin * w, y - margin * h, w * (1 + 2 * margin), h * (1 + 2 * margin))
    clipped = _clip_box(widened, width, height)
    if clipped is None:
        raise FaceNotFoundError(f"Face box {tuple(box)} lies outside the "
                                f"{width}x{height} image.")
    return clipped


def crop_face(image, box, margin=0.0, landmarks=None):
    """Crops `box` = (x, y, w, h) widened by `margin` x its size on each side.

    The crop is clipped to the image (`face_region`). Landmarks, when given,
    are shifted into crop coordinates and returned as (crop, landmarks).
    """
    image = np.asarray(image)
    height, width = image.shape[:2]
    x0, y0, cw, ch = face_region(box, margin, width, height)
    crop = image[y0:y0 + ch, x0:x0 + cw]
    if landmarks is None:
        return crop
    return crop, np.asarray(landmarks, np.float32) - np.array([x0, y0], np.float32)


def face_crop_pipeline(image, box, size, grayscale, interpolation="bilinear",
                       margin=0.0, landmarker=None, gray_channels=1):
    """Crop -> color conversion -> resize -> optional landmarks on the crop.

    `size` is (height, width). Returns (crop uint8 (height, width, C),
    landmarks (68, 2) or None).
    """
    crop = crop_face(image, box, margin)
    if grayscale:
        crop = image_ops.to_gray(crop)
        crop = image_ops.gray_to_rgb(crop) if gray_channels == 3 else crop[..., None]
    elif crop.ndim == 2 or crop.shape[-1] == 1:
        crop = image_ops.gray_to_rgb(crop)
    crop = image_ops.resize_image(crop, size, interpolation)
    points = landmarker(crop) if landmarker is not None else None
    return crop, points


def faces_from_records(records, detector="ssd", size=(160, 160), grayscale=True,
                       clahe=True, margin=0.0, interpolation="bilinear",
                       landmarker=None, on_missing="whole", progress=True,
                       return_stats=False, detector_kwargs=None):
    """Face crops of an image dataset, as in the landmark paper (Sec. III).

    Per image: grayscale repeated to 3 channels, CLAHE (clip 2.0, 8x8),
    face detection (the SSD resizes to 300x300 itself), crop of the most
    confident face, bilinear resize to `size` (160x160), and optionally
    dlib's 68 landmarks on the crop.

    Args:
        records: a `Records` of uint8 images.
        detector: "ssd" (paper), "auto" (SSD, else dlib HOG), "haar", "dlib",
            or a detector object.
        size: (height, width) of the crops, or an int.
        grayscale: bool. gray repeated to 3 channels (paper) or keep colour.
        clahe: bool. contrast enhancement before detection.
        margin: float. widen the box by this fraction of its size per side.
        interpolation: resize interpolation ("bilinear" in the paper).
        landmarker: optional callable(image) -> (68, 2), e.g. DlibLandmarker().
        on_missing: what to do when no face is found: "whole" uses the whole
            image, "skip" drops the image, "error" raises FaceNotFoundError.
        progress: bool. show progress (`fer_tf.progress`).
        return_stats: bool. also return {"images", "detected", "detection_rate",
            "missing": [sources or indices]}.
        detector_kwargs: dict passed to the detector's constructor.

    Returns:
        Records (landmarks set when `landmarker` is given), or
        (Records, stats) with `return_stats`.
    """
    size = image_ops.as_size(size)
    if on_missing not in ("whole", "skip", "error"):
        raise ConfigError(f"on_missing must be 'whole', 'skip' or 'error', got "
                          f"{on_missing!r}.")
    detector = make_detector(detector, **(detector_kwargs or {}))
    images, points, kept, missing = [], [], [], []
    for i in show_progress(range(len(records)), desc=f"faces in {records.name}",
                           enabled=progress, unit="img"):
        image = records.images[i]
        if grayscale:
            image = image_ops.gray_to_rgb(image)
        if clahe:
            image = image_ops.clahe(image)
        boxes = detector.detect(image)
        source = records.sources[i] if records.sources is not None else f"image {i}"
        if not boxes:
            missing.append(str(source))
            if on_missing == "error":
                raise FaceNotFoundError(f"{records.name}: no face found in {source}.")
            if on_missing == "skip":
                continue
            boxes = [(0, 0, image.shape[1], image.shape[0])]
        crop, pts = face_crop_pipeline(image, boxes[0], size, grayscale,
                                       interpolation, margin, landmarker, gray_channels=3)
        images.append(crop)
        points.append(pts)
        kept.append(i)
    out = dataclasses.replace(
        records.subset(np.asarray(kept, np.int64)),
        images=(np.stack(images) if images else
                np.zeros((0, *size, 3), np.uint8)),
        landmarks=(None if landmarker is None else
                   np.stack(points) if points else np.zeros((0, 68, 2), np.float32)))
    if not return_stats:
        return out
    n = len(records)
    stats = {"images": n, "detected": n - len(missing),
             "detection_rate": (n - len(missing)) / n if n else 0.0,
             "missing": missing}
    return out, stats
