"""Face crops of a real image dataset, read in its published layout.

The real-data path of `fer-tf train --dataset ckplus|jaffe|sfew|fer2013`:

    read (the dataset's layout) -> detect the face (optional) -> crop
    -> CLAHE (optional) -> resize to the model's input (height, width)

Each image is cropped and resized as soon as the reader decodes it (the
readers' `transform` hook), so datasets whose images differ in size (CK+ mixes
640x490, 640x480 and 720x480 colour frames) are never stacked before they
share the model's size. The crops are cached on disk with
`fer_tf.preprocess.cache.cached` under a key that covers everything that
changes a crop. Detectors: Viola-Jones (PathNet paper, Sec. III-A), the
ResNet-10 SSD (landmark paper, Sec. III-B), dlib's HOG detector, or none.
"""

import dataclasses
import os
import pathlib

import numpy as np

from fer_tf.errors import ConfigError
from fer_tf.preprocess import faces, image_ops

#: Bumped whenever the crops this module writes change for the same settings.
CACHE_FORMAT = 1
DETECTORS = ("haar", "dlib", "ssd", "none")
INTERPOLATIONS = ("bilinear", "area", "lanczos")
#: The image datasets this path reads (the video datasets go through
#: `fer_tf.preprocess.video.faces_from_videos`).
DATASETS = ("ckplus", "jaffe", "sfew", "fer2013")


class FaceCropper:
    """Detect -> crop -> CLAHE -> resize, applied to one image at a time.

    The readers' per-image `transform`: called as `cropper(image, source,
    landmarks)` on each decoded image, it returns the crop, uint8
    (height, width, C) with the input's channels, and the landmarks moved
    into it (continuous pixel coordinates, `fer_tf.data.ibug68`). Where the
    detector finds several faces the first one is used (Haar: largest, SSD:
    most confident, dlib: highest score); where it finds none, the whole image
    is used and its source is counted in `missing`, never an error.

    With a `landmarker` (landmark paper Sec. III-B: dlib's 68 points as
    ground truth), the points are predicted on the decoded image inside the
    crop's own region (the box as widened and clipped, or the whole image
    where no face was found), at the image's resolution, and go through the
    very crop and resize the pixels do; they replace the reader's. The
    authors' notebook predicts on the 160 x 160 crop itself: the same frame,
    but at a 64 or 96 px input the crop is too small for dlib's predictor.

    Args:
        image_size: (height, width) of the crops, or an int for a square.
        detector: "haar" (Viola-Jones, PathNet paper Sec. III-A), "ssd"
            (landmark paper Sec. III-B; needs its Caffe files), "dlib" (HOG),
            "none" (the whole image), or an object with `detect(image)`.
        margin: float. widen the face box by this fraction of its size on
            each side.
        interpolation: "bilinear", "area" or "lanczos" (`image_ops`).
        clahe: bool. CLAHE (clip 2.0, 8x8 tiles, landmark paper Sec. III-B)
            on the crop, before it is resized.
        detector_kwargs: dict passed to the detector's constructor.
        landmarker: optional callable(image, box) -> (68, 2) points in the
            image's pixels, e.g. `fer_tf.preprocess.landmarks.DlibLandmarker`.

    Example:
        cropper = FaceCropper((48, 48), detector="haar")
        records = read_jaffe("/data/jaffe", transform=cropper)
        print(cropper.stats()["detection_rate"])
    """

    def __init__(self, image_size=(48, 48), detector="haar", margin=0.0,
                 interpolation="bilinear", clahe=False, detector_kwargs=None,
                 landmarker=None):
        self.image_size = image_ops.as_size(image_size)
        if isinstance(detector, str) and detector not in DETECTORS:
            raise ConfigError(f"Unknown face detector {detector!r}; choose one of "
                              f"{', '.join(DETECTORS)}.")
        if interpolation not in INTERPOLATIONS:
            raise ConfigError(f"Unknown interpolation {interpolation!r}; choose one of "
                              f"{', '.join(INTERPOLATIONS)}.")
        if not 0.0 <= float(margin) <= 1.0:
            raise ConfigError(f"margin must lie in [0, 1] (a fraction of the face box "
                              f"per side), got {margin!r}.")
        self.detector = (None if detector == "none" else
                         faces.make_detector(detector, **(detector_kwargs or {})))
        self.margin = float(margin)
        self.interpolation = interpolation
        self.clahe = bool(clahe)
        self.landmarker = landmarker
        self.points = {}
        self.images = 0
        self.missing = []

    def config(self):
        """JSON-able settings that change a crop (part of the cache key)."""
        config = {"image_size": list(self.image_size), "margin": self.margin,
                  "interpolation": self.interpolation, "clahe": self.clahe,
                  "detector": (None if self.detector is None
                               else faces.detector_config(self.detector))}
        if self.landmarker is not None:
            config["landmarker"] = (self.landmarker.config()
                                    if hasattr(self.landmarker, "config")
                                    else type(self.landmarker).__name__)
        return config

    def __call__(self, image, source=None, landmarks=None):
        image = image_ops.check_image(image)
        self.images += 1
        height, width = image.shape[:2]
        region = (0, 0, width, height)
        if self.detector is not None:
            boxes = self.detector.detect(image)
            if not boxes:
                self.missing.append(str(source if source is not None else
                                        f"image {self.images - 1}"))
            else:
                region = faces.face_region(boxes[0], self.margin, width, height)
        if self.landmarker is not None:
            landmarks = np.asarray(self.landmarker(image, region), np.float32)
        x0, y0, w, h = region
        crop = image[y0:y0 + h, x0:x0 + w]
        if landmarks is not None:
            landmarks = np.asarray(landmarks, np.float32) - np.array([x0, y0], np.float32)
        if self.clahe:
            crop = image_ops.clahe(crop)
        if landmarks is None:
            out = image_ops.resize_image(crop, self.image_size, self.interpolation)
        else:
            out, landmarks = image_ops.resize_image(crop, self.image_size,
                                                    self.interpolation, landmarks)
        if self.landmarker is not None:
            self.points[str(source)] = landmarks
        return (out if out.ndim == 3 else out[..., None]), landmarks

    def landmarks_of(self, records):
        """The landmarker's crop points of every record, by source (the
        readers keep the landmarks they read and drop the others)."""
        missing = [s for s in records.sources if str(s) not in self.points]
        if missing:
            raise ConfigError(f"{records.name}: no landmarks were predicted for "
                              f"{missing[0]} ({len(missing)} images).")
        return np.stack([self.points[str(s)] for s in records.sources]).astype(np.float32)

    def stats(self):
        """{"images", "detected", "detection_rate", "missing"}; with detector
        "none", detected and detection_rate are None."""
        if self.detector is None:
            return {"images": self.images, "detected": None, "detection_rate": None,
                    "missing": []}
        detected = self.images - len(self.missing)
        return {"images": self.images, "detected": detected,
                "detection_rate": detected / self.images if self.images else 0.0,
                "missing": list(self.missing)}


def dataset_files(data_dir, exclude=None):
    """Every file of a dataset (a folder, walked, or one file such as
    fer2013.csv) and the root its names are relative to; hidden and OS files
    and anything under `exclude` (a cache folder inside the dataset) are left
    out."""
    from fer_tf.data.readers._common import is_junk

    path = pathlib.Path(data_dir).expanduser().resolve()
    if path.is_file():
        return [path], path.parent
    exclude = None if exclude is None else pathlib.Path(exclude).expanduser().resolve()
    files = []
    for folder, dirs, names in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not is_junk(d)
                         and (exclude is None or pathlib.Path(folder, d) != exclude))
        files += [pathlib.Path(folder, n) for n in sorted(names) if not is_junk(n)]
    return files, path


def load_face_records(dataset, data_dir, *, image_size=(48, 48), channels=1,
                      detector="haar", margin=0.0, interpolation="bilinear", clahe=False,
                      class_names=None, cache_dir=None, progress=True,
                      detector_kwargs=None, reader_options=None, landmarker=None):
    """Face crops of a real dataset in its published layout, with its labels.

    Reads `dataset` from `data_dir` (`fer_tf.data.readers`), detects, crops,
    optionally equalises (CLAHE) and resizes every image to `image_size` while
    it is read (`FaceCropper`), then keeps `class_names`. The result is cached
    in `cache_dir` under a key of the dataset's files (names, sizes, mtimes),
    the reader options, the crop settings, the detector's settings
    (`faces.detector_config`), the channels, the class set and
    `CACHE_FORMAT`; a second call with the same key reads the cache.

    Args:
        dataset: "ckplus", "jaffe", "sfew" or "fer2013".
        data_dir: the dataset's folder (or FER2013's csv file).
        image_size: (height, width) of the crops, or an int (the model's input).
        channels: 1 (grey) or 3 (RGB) crops.
        detector, margin, interpolation, clahe, detector_kwargs: see
            `FaceCropper`.
        class_names: optional tuple of classes to keep, relabelled in that
            order (e.g. CK+ without contempt); None keeps the dataset's.
        cache_dir: cache folder; None is `<fer_tf home>/cache`, False
            disables the cache.
        progress: show a tqdm bar while the faces are cropped.
        reader_options: optional dict of reader options (e.g. CK+'s
            `num_last`), part of the cache key.
        landmarker: optional callable(image, box) -> (68, 2) (e.g.
            `DlibLandmarker()`): every record's landmarks are its points,
            predicted on the decoded image inside the crop's region and moved
            into the crop (`FaceCropper`); its `config()` is in the cache key.

    Returns:
        (Records, stats). Records: uint8 (N, height, width, channels) crops
        with the dataset's labels, subjects, groups, splits, sources and
        landmarks in crop pixels (the landmarker's, else those of CK+ with
        Landmarks/). stats: "images",
        "detected", "detection_rate", "missing" (sources whose face the
        detector missed; they keep the whole image), "detector", "settings"
        (the crop settings), "splits" (split names found), "notes" (facts a
        run's config should carry, e.g. that FER2013's test/ folder is taken
        as PrivateTest) and "cache" ("hit", "built" or "off").

    Example:
        records, stats = load_face_records("jaffe", "/data/jaffe",
                                           image_size=(48, 48), detector="haar")
    """
    from fer_tf.data.readers import load_dataset
    from fer_tf.data.readers._common import check_channels
    from fer_tf.data.readers.fer2013 import split_notes
    from fer_tf.preprocess.cache import cached, dataset_identity

    if dataset not in DATASETS:
        raise ConfigError(f"Face crops are read from the image datasets "
                          f"{', '.join(DATASETS)}; got {dataset!r}.")
    check_channels(channels, dataset)
    reader_options = dict(reader_options or {})
    reserved = {"channels", "size", "transform", "show_progress"} & set(reader_options)
    if reserved:
        raise ConfigError(f"reader_options must not set {sorted(reserved)}; they are "
                          "load_face_records arguments.")
    cropper = FaceCropper(image_size, detector, margin, interpolation, clahe,
                          detector_kwargs, landmarker)
    class_names = None if class_names is None else tuple(class_names)
    notes = split_notes(data_dir) if dataset == "fer2013" else []

    def build():
        records = load_dataset(dataset, data_dir, channels=channels, transform=cropper,
                               show_progress=progress, **reader_options)
        if landmarker is not None:
            records = dataclasses.replace(records, landmarks=cropper.landmarks_of(records))
        if class_names is not None:
            records = records.with_classes(class_names)
        return records, dict(cropper.stats(), detector=cropper.config()["detector"],
                             settings=dict(cropper.config(), channels=channels),
                             splits=([] if records.split is None
                                     else sorted(set(records.split.tolist()))),
                             notes=notes)

    if cache_dir is False:
        records, stats = build()
        return records, dict(stats, cache="off")
    files, root = dataset_files(data_dir, exclude=cache_dir)
    key = {"format": CACHE_FORMAT, "purpose": "face_records", "dataset": dataset,
           "files": dataset_identity(files, root), "reader_options": reader_options,
           "crop": cropper.config(), "channels": channels,
           "class_names": None if class_names is None else list(class_names)}
    built = []

    def build_once():
        built.append(True)
        return build()

    records, stats = cached(key, build_once, cache_dir=cache_dir,
                            name=f"faces-{dataset}")
    return records, dict(stats, cache="built" if built else "hit")
