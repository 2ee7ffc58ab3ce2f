"""The iBUG-300W 68-point landmark markup: its five parts, its mirror table and
the one pixel convention every module of fer_tf uses for landmarks.

Markup (Sagonas et al., "300 Faces in-the-Wild Challenge", 2013): jaw 0-16
from image left to image right, eyebrows 17-21 (image left) and 22-26, nose
bridge 27-30 and base 31-35, eyes 36-41 (the subject's right eye, on the
image left) and 42-47, outer lip 48-59 and inner lip 60-67. The five parts
are the subsets of Wadhawan & Gandhi's part-based ensemble (Sec. III-C,
Fig. 4): jaw 17, eyebrows 10, nose 9, eyes 12 and mouth 20 points, i.e.
their z in {34, 20, 18, 24, 40} output neurons (Eq. 1).

Coordinate convention (the only statement of it in the package):
    A landmark is (x, y) in CONTINUOUS pixel coordinates, x along the width
    and y along the height. Pixel (row i, column j) covers the square
    [j, j + 1) x [i, i + 1), so its centre is (j + 0.5, i + 0.5) and the
    image spans [0, W] x [0, H].
    A horizontal flip of a W-wide image maps x -> W - x and swaps left/right
    indices with `FLIP_PERMUTATION` (`flip_landmarks`).
    Resizing from W x H to W' x H' scales x by W'/W and y by H'/H.
    Image sizes are (height, width) everywhere in the API.
Tools that put pixel centres at integers (OpenCV drawing, dlib, the index
space of `keras.ops.image.affine_transform`) differ by exactly 0.5:
continuous = index + 0.5.
"""

import collections

import numpy as np

from fer_tf.errors import ConfigError, DatasetError

NUM_POINTS = 68

#: Part name -> index range (end exclusive), in the paper's Fig. 4 order of
#: the markup.
PARTS = collections.OrderedDict(
    [
        ("jaw", range(0, 17)),
        ("eyebrows", range(17, 27)),
        ("nose", range(27, 36)),
        ("eyes", range(36, 48)),
        ("mouth", range(48, 68)),
    ]
)
PART_NAMES = tuple(PARTS)


def _flip_permutation():
    # Mirror pairs; points on the facial mid-line (chin 8, nose bridge 27-30,
    # nose tip 33, lip centres 51, 57, 62, 66) map to themselves.
    pairs = [(i, 16 - i) for i in range(8)]  # jaw
    pairs += [(17 + i, 26 - i) for i in range(5)]  # eyebrows
    pairs += [(31, 35), (32, 34)]  # nostrils
    pairs += [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]
    pairs += [(48, 54), (49, 53), (50, 52), (55, 59), (56, 58)]  # outer lip
    pairs += [(60, 64), (61, 63), (65, 67)]  # inner lip
    permutation = np.arange(NUM_POINTS, dtype=np.int64)
    for left, right in pairs:
        permutation[left], permutation[right] = right, left
    permutation.setflags(write=False)
    return permutation


#: Index j of a horizontally flipped face holds the mirrored point
#: FLIP_PERMUTATION[j] of the original (an involution: applying it twice is
#: the identity).
FLIP_PERMUTATION = _flip_permutation()


def part_indices(name):
    """Landmark indices (np.int64) of one part of `PARTS`, or of "all" 68."""
    if name == "all":
        return np.arange(NUM_POINTS, dtype=np.int64)
    if name not in PARTS:
        raise ConfigError(
            f"Unknown landmark part {name!r}; expected one of "
            f"{('all',) + PART_NAMES}."
        )
    return np.array(PARTS[name], dtype=np.int64)


def flip_landmarks(points, width):
    """Landmarks (..., 68, 2) of the horizontally flipped `width`-wide image.

    x -> width - x in the continuous convention above, and left/right
    indices swap, so index 36 stays the outer corner of the image-left eye.
    """
    points = np.asarray(points)
    if points.ndim < 2 or points.shape[-2:] != (NUM_POINTS, 2):
        raise DatasetError(
            f"flip_landmarks expects (..., {NUM_POINTS}, 2) iBUG-68 (x, y) "
            f"points, got shape {points.shape}"
        )
    flipped = np.take(points, FLIP_PERMUTATION, axis=-2).astype(
        np.result_type(points.dtype, np.float32), copy=True
    )
    flipped[..., 0] = width - flipped[..., 0]
    return flipped
