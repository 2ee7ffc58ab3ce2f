"""JAFFE (Lyons et al. 1998): 213 images of 10 Japanese women, 7 expressions.

Files are named `XX.YYn.NNN.tiff`: XX the subject's initials (KA, KL, KM, KR,
MK, NA, NM, TM, UY, YM), YY the expression code (AN, DI, FE, HA, NE, SA, SU,
`labels.JAFFE_CODES`), n the take, NNN the image number. The landmark paper
(Sec. III-A) evaluates it leave-one-subject-out, so subjects are kept.
"""

import os
import re

from fer_tf.data import labels as L
from fer_tf.data.readers import _common as C
from fer_tf.data.records import Records
from fer_tf.errors import DatasetError

_NAME = re.compile(r"^([A-Za-z]{2})\.([A-Za-z]{2})(\d+)\.(\d+)\.([A-Za-z]+)$")
_LAYOUT = "JAFFE images named XX.YYn.NNN.tiff (e.g. KA.AN1.39.tiff)"


def parse_name(path):
    """Returns (subject, class name) of a JAFFE file name, or raises."""
    name = os.path.basename(path)
    match = _NAME.match(name)
    if match is None:
        raise DatasetError(f"jaffe: image {path} is not named like XX.YYn.NNN.tiff "
                           "(subject initials, expression code, take, number).")
    subject, code = match.group(1).upper(), match.group(2).upper()
    if code not in L.JAFFE_CODES:
        raise DatasetError(f"jaffe: {path} has the unknown expression code {code!r}; "
                           f"expected one of {sorted(L.JAFFE_CODES)}.")
    return subject, L.JAFFE_CODES[code]


def read_jaffe(data_dir, channels=1, size=None, check_counts=True, show_progress=True,
               transform=None):
    """Reads JAFFE from a folder (searched recursively) of `XX.YYn.NNN.tiff` files.

    Args:
        data_dir: the folder with the images (e.g. `jaffedbase/`); other,
            non-image files such as the README are ignored.
        channels: 1 for grayscale (N, H, W, 1), 3 for RGB.
        size: optional int or (height, width) to resize to (cv2.INTER_AREA),
            or "common"; the originals are 256x256.
        check_counts: warn (`DatasetCountWarning`) when the counts differ from
            the published 213 images / 10 subjects.
        show_progress: show a tqdm bar.
        transform: optional per-image hook `transform(image, source,
            landmarks) -> (image, landmarks)` run on each decoded image (see
            `_common.load_images`), e.g. a face crop to the model's input.

    Returns:
        Records of the 7 `labels.JAFFE_CLASSES` with subjects = initials.
    """
    root = C.require_dir(data_dir, "jaffe", _LAYOUT)
    C.check_channels(channels, "jaffe")
    entries = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not C.is_junk(d))
        for name in files:
            if C.is_junk(name) or not C.has_extension(name, C.IMAGE_EXTENSIONS):
                continue
            path = os.path.join(folder, name)
            subject, class_name = parse_name(path)
            entries.append((subject, C.natural_key(name), class_name, path))
    if not entries:
        raise DatasetError(f"jaffe: no images in {root}; expected {_LAYOUT}.")
    entries.sort(key=lambda e: (e[0], e[1]))
    paths = [e[3] for e in entries]
    images, _ = C.load_images(paths, channels, size, "jaffe", show_progress,
                              transform=transform)
    records = Records(images=images,
                      labels=[L.JAFFE_CLASSES.index(e[2]) for e in entries],
                      class_names=L.JAFFE_CLASSES, subjects=[e[0] for e in entries],
                      sources=paths, name="jaffe")
    return C.finish(records, check_counts, root)
