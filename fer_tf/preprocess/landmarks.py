"""dlib's 68-point face landmarks (iBUG 300-W order) as annotation source."""

import numpy as np

from fer_tf.errors import ConfigError
from fer_tf.weights import find_model_file

PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"


def _packaged_predictor():
    try:
        import face_recognition_models
    except ImportError:
        return None
    return face_recognition_models.pose_predictor_model_location()


class DlibLandmarker:
    """dlib's ensemble-of-regression-trees 68-point predictor.

    The landmark paper (Sec. III-B) annotates every face crop with dlib's ERT
    model (Kazemi & Sullivan 2014) trained on iBUG 300-W, because CK+, JAFFE
    and SFEW disagree on landmark annotations; its notebook runs the
    predictor on the whole crop.

    Args:
        predictor_path: optional path of shape_predictor_68_face_landmarks.dat.
            Otherwise the file is taken from `<fer_tf home>/models/dlib/` or
            from the `face_recognition_models` package.

    Example:
        points = DlibLandmarker()(face_crop)  # (68, 2) float32 (x, y)
    """

    def __init__(self, predictor_path=None):
        import dlib

        self.path = find_model_file(
            "dlib 68-point landmark predictor", PREDICTOR_FILE, predictor_path,
            subfolder="dlib", fallbacks=[_packaged_predictor()],
            how_to_get="It ships with `pip install face_recognition_models`, or "
                       "take it from dlib's model files (dlib.net/files).")
        self._dlib = dlib
        self._predictor = dlib.shape_predictor(str(self.path))

    def config(self):
        """JSON-able identity of the predictor (for cache keys)."""
        import os

        return {"landmarker": "dlib_ert_68", "file": self.path.name,
                "bytes": os.path.getsize(self.path)}

    def __call__(self, image, box=None):
        """Returns (68, 2) float32 (x, y) landmarks of the face in `box`.

        dlib puts pixel centres at integers (its points are pixel indices);
        0.5 is added so that the points follow fer_tf's continuous convention
        (`fer_tf.data.ibug68`).

        Args:
            image: uint8 (H, W), (H, W, 1) or (H, W, 3) RGB image.
            box: (x, y, w, h) face box in pixels (column and row of its
                top-left pixel, width, height); None means the whole image.
        """
        image = np.asarray(image)
        if image.ndim == 3 and image.shape[-1] == 1:
            image = image[..., 0]
        image = np.ascontiguousarray(image, np.uint8)
        if box is None:
            box = (0, 0, image.shape[1], image.shape[0])
        x, y, w, h = (int(v) for v in box)
        rect = self._dlib.rectangle(x, y, x + w - 1, y + h - 1)
        shape = self._predictor(image, rect)
        if shape.num_parts != 68:
            raise ConfigError(f"{self.path} predicts {shape.num_parts} points; "
                              "fer_tf expects the 68-point iBUG model.")
        return np.array([(p.x, p.y) for p in shape.parts()], np.float32) + 0.5
