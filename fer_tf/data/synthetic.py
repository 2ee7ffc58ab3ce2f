"""Embedded, procedurally generated face-expression data (no files shipped).

Faces are drawn with OpenCV from exactly 68 landmark points in iBUG-300W
order, so the landmarks returned with every image are the very points whose
polygons were drawn. Expressions are made from facial-action-like parameters
modelled on FACS action units (Ekman & Friesen, 1978), one identity per
subject so that subject-independent protocols mean something, and
neutral -> apex sequences and short videos exist for the CK+-style and
SAVEE/eNTERFACE-style (PathNet paper Sec. IV-A) protocols.

Only numpy and OpenCV are used; importing this module never loads TensorFlow.

Conventions: iBUG-300W 68-point markup (Sagonas et al., 300 Faces in-the-Wild,
2013), parts and mirror table from `fer_tf.data.ibug68`. Landmarks are (x, y)
in the continuous pixel coordinates stated there (pixel (i, j) has its centre
at (j + 0.5, i + 0.5)).
"""

import dataclasses
import functools
import types
from typing import Optional

import cv2
import numpy as np

from fer_tf.data import ibug68, labels
from fer_tf.data.records import Records
from fer_tf.errors import ConfigError

CLASSES = labels.ALL_EXPRESSIONS

#: Facial-action-like parameters and the FACS action units they stand for.
ACTION_UNITS = {
    "brow_raise": "AU1+AU2 inner and outer brow raiser",
    "brow_lower": "AU4 brow lowerer",
    "inner_brow_raise": "AU1 inner brow raiser",
    "upper_lid_raise": "AU5 upper lid raiser",
    "lid_tighten": "AU6/AU7 cheek raiser and lid tightener",
    "nose_wrinkle": "AU9/AU10 nose wrinkler and upper lip raiser",
    "lip_corner_pull": "AU12 lip corner puller",
    "lip_corner_depress": "AU15/AU17 lip corner depressor and chin raiser",
    "unilateral_corner": "unilateral AU14/AU12 (contempt), on the image-right corner",
    "jaw_drop": "AU25/AU26/AU27 lips part, jaw drop, mouth stretch",
    "lip_stretch": "AU20 lip stretcher",
    "lip_press": "AU23/AU24 lip tightener and pressor",
}

#: Prototypical action-unit combinations at apex (Ekman & Friesen's EMFACS
#: prototypes, simplified to the parameters above).
_PROTOTYPES = {
    labels.NEUTRAL: {},
    labels.ANGER: {"brow_lower": 1.0, "lid_tighten": 0.8, "upper_lid_raise": 0.45,
                   "lip_press": 1.0, "nose_wrinkle": 0.1},
    labels.CONTEMPT: {"unilateral_corner": 1.0, "lid_tighten": 0.15},
    labels.DISGUST: {"nose_wrinkle": 1.0, "brow_lower": 0.55, "lid_tighten": 0.5,
                     "lip_corner_depress": 0.4, "jaw_drop": 0.12},
    labels.FEAR: {"inner_brow_raise": 1.0, "brow_raise": 0.55, "brow_lower": 0.45,
                  "upper_lid_raise": 1.0, "lip_stretch": 1.0, "jaw_drop": 0.45},
    labels.HAPPINESS: {"lip_corner_pull": 1.0, "lid_tighten": 0.45, "jaw_drop": 0.2},
    labels.SADNESS: {"inner_brow_raise": 0.9, "brow_lower": 0.4,
                     "lip_corner_depress": 1.0, "lid_tighten": 0.2},
    labels.SURPRISE: {"brow_raise": 1.0, "upper_lid_raise": 0.9, "jaw_drop": 0.85},
}

DOMAINS = ("default", "savee", "enterface")
HAIR_STYLES = ("short", "long", "receding", "curly")

# Mean-shape template in a "landmark box" frame: x from the jaw's widest point
# (0) to the other (1), y from the top of the brows (0) to the chin (1).
# Proportions follow the usual anthropometric canon: eyes at ~27% of the box
# (~42% of the hairline-to-chin height), nose tip ~52%, mouth ~77%.
_JAW_TOP = 0.28
_TEMPLATE = np.zeros((68, 2), np.float64)
_TEMPLATE[17:22] = [(0.10, 0.13), (0.18, 0.06), (0.27, 0.03), (0.36, 0.04), (0.44, 0.08)]
_TEMPLATE[22:27] = [(1.0 - x, y) for x, y in _TEMPLATE[17:22][::-1]]
_TEMPLATE[27:36] = [(0.50, 0.27), (0.50, 0.35), (0.50, 0.43), (0.50, 0.52),
                    (0.41, 0.57), (0.45, 0.585), (0.50, 0.595), (0.55, 0.585),
                    (0.59, 0.57)]
# One eye about its centre, outer corner first (36 for the image-left eye).
_EYE = np.array([(-0.090, 0.000), (-0.040, -0.030), (0.030, -0.030), (0.090, 0.004),
                 (0.030, 0.022), (-0.040, 0.022)])
_EYE_CENTRE_Y = 0.27
_EYE_CENTRE_X = 0.28
_TEMPLATE[36:42] = _EYE + (_EYE_CENTRE_X, _EYE_CENTRE_Y)
# The image-right eye is the mirror image, listed from its inner corner (42).
_TEMPLATE[42:48] = (np.array([-1.0, 1.0]) * _EYE[[3, 2, 1, 0, 5, 4]]
                    + (1.0 - _EYE_CENTRE_X, _EYE_CENTRE_Y))
_MOUTH_Y = 0.77
_TEMPLATE[48:60] = [(0.32, 0.765), (0.37, 0.735), (0.43, 0.715), (0.50, 0.725),
                    (0.57, 0.715), (0.63, 0.735), (0.68, 0.765), (0.63, 0.805),
                    (0.57, 0.83), (0.50, 0.835), (0.43, 0.83), (0.37, 0.805)]
_TEMPLATE[60:68] = [(0.345, 0.765), (0.43, 0.76), (0.50, 0.762), (0.57, 0.76),
                    (0.655, 0.765), (0.57, 0.768), (0.50, 0.770), (0.43, 0.768)]

# How far each landmark stands out of the face's cylinder (box-width units),
# used for the small out-of-plane head rotations (yaw, pitch).
_PROTRUSION = np.zeros(68)
_PROTRUSION[27:31] = [0.06, 0.10, 0.14, 0.18]
_PROTRUSION[31:36] = [0.08, 0.10, 0.11, 0.10, 0.08]
_PROTRUSION[48:68] = 0.06
_PROTRUSION[17:27] = 0.03


def _au_bases():
    """Landmark displacement (box units, +y down) of each parameter at 1.0."""
    b = {name: np.zeros((68, 2)) for name in ACTION_UNITS}

    def move(name, indices, dx, dy, mirror=True):
        # `mirror`: the listed indices are on the image-left half; their
        # mirror partners move with the opposite dx.
        for i in np.atleast_1d(indices):
            b[name][i] += (dx, dy)
            if mirror and _MIRROR[i] != i:
                b[name][_MIRROR[i]] += (-dx, dy)

    move("brow_raise", [17, 18], 0, -0.075)
    move("brow_raise", [19, 20, 21], 0, -0.065)
    move("brow_raise", [37, 38], 0, -0.010)
    move("inner_brow_raise", 19, 0, -0.02)
    move("inner_brow_raise", 20, 0, -0.05)
    move("inner_brow_raise", 21, 0.004, -0.07)
    move("brow_lower", [17, 18, 19], 0, 0.035)
    move("brow_lower", 20, 0.015, 0.05)
    move("brow_lower", 21, 0.025, 0.055)
    move("brow_lower", [37, 38], 0, 0.006)
    move("upper_lid_raise", [37, 38], 0, -0.030)
    move("upper_lid_raise", [36, 39], 0, -0.004)
    move("upper_lid_raise", [40, 41], 0, 0.006)
    move("lid_tighten", [40, 41], 0, -0.014)
    move("lid_tighten", [37, 38], 0, 0.010)
    move("nose_wrinkle", [31], -0.012, -0.025)
    move("nose_wrinkle", [32, 33], 0, -0.025)
    move("nose_wrinkle", [29, 30], 0, -0.010)
    move("nose_wrinkle", [49, 50], -0.005, -0.032)
    move("nose_wrinkle", 51, 0, -0.032)
    move("nose_wrinkle", [61, 62], 0, -0.022)
    move("nose_wrinkle", [20, 21], 0.005, 0.012)
    move("lip_corner_pull", 48, -0.050, -0.045)
    move("lip_corner_pull", 60, -0.045, -0.040)
    move("lip_corner_pull", 49, -0.025, -0.020)
    move("lip_corner_pull", 59, -0.030, -0.025)
    move("lip_corner_pull", [61, 67], -0.010, -0.010)
    move("lip_corner_pull", 58, -0.010, 0.000)
    move("lip_corner_pull", [40, 41], 0, -0.008)
    move("lip_corner_depress", 48, 0.005, 0.045)
    move("lip_corner_depress", 60, 0.005, 0.040)
    move("lip_corner_depress", [49, 59], 0, 0.015)
    move("lip_corner_depress", [57], 0, -0.010)
    move("unilateral_corner", 54, 0.035, -0.035, mirror=False)
    move("unilateral_corner", 64, 0.030, -0.030, mirror=False)
    move("unilateral_corner", 53, 0.015, -0.015, mirror=False)
    move("unilateral_corner", 55, 0.020, -0.020, mirror=False)
    move("unilateral_corner", [63, 65], 0.008, -0.010, mirror=False)
    move("jaw_drop", [57], 0, 0.16)
    move("jaw_drop", [58], 0, 0.155)
    move("jaw_drop", [59], 0, 0.12)
    move("jaw_drop", [66], 0, 0.14)
    move("jaw_drop", [67], 0, 0.13)
    move("jaw_drop", [48], 0.010, 0.040)
    move("jaw_drop", [60], 0.010, 0.050)
    move("jaw_drop", [50, 51], 0, -0.005)
    for i, dy in zip(range(3, 9), (0.015, 0.035, 0.06, 0.09, 0.11, 0.12)):
        move("jaw_drop", i, 0, dy)
    move("lip_stretch", 48, -0.045, 0.012)
    move("lip_stretch", 60, -0.040, 0.010)
    move("lip_stretch", [49, 50], -0.015, 0.008)
    move("lip_stretch", [51], 0, 0.008)
    move("lip_stretch", [58, 59], -0.015, -0.010)
    move("lip_stretch", [57], 0, -0.010)
    move("lip_press", 48, 0.020, 0.0)
    move("lip_press", 60, 0.015, 0.0)
    move("lip_press", [49, 50, 51], 0, 0.012)
    move("lip_press", [57, 58, 59], 0, -0.015)
    return b


_MIRROR = ibug68.FLIP_PERMUTATION
#: Index permutation that maps landmarks to those of the horizontally flipped
#: image (`ibug68.FLIP_PERMUTATION`, kept here for existing imports).
FLIP_PERMUTATION = ibug68.FLIP_PERMUTATION
_BASES = _au_bases()
_BASIS_STACK = np.stack([_BASES[n] for n in ACTION_UNITS])  # (K, 68, 2)


def action_units(class_name: str, intensity: float) -> dict:
    """Facial-action parameters of `class_name` at `intensity` in [0, 1].

    The prototypes follow the EMFACS emotion predictions of Ekman & Friesen
    (e.g. happiness = AU6+AU12, surprise = AU1+AU2+AU5+AU26, fear =
    AU1+AU2+AU4+AU5+AU7+AU20+AU26, contempt = unilateral AU14). Neutral is all
    zeros; every value scales linearly with `intensity`.
    """
    if class_name not in _PROTOTYPES:
        raise ConfigError(f"Unknown expression {class_name!r}; expected one of "
                          f"{CLASSES}.")
    intensity = float(intensity)
    if not 0.0 <= intensity <= 1.0:
        raise ConfigError(f"Expression intensity must lie in [0, 1], got {intensity}.")
    proto = _PROTOTYPES[class_name]
    return {name: float(proto.get(name, 0.0)) * intensity for name in ACTION_UNITS}


@dataclasses.dataclass
class Identity:
    """One synthetic subject: the face geometry and appearance that stay fixed
    across all of that subject's images (what subject-independent protocols
    such as CK+'s 10-fold split hold out).

    Geometry is expressed in the landmark box (width 1 = jaw width; 0 = brow
    top, 1 = chin); see the module docstring for the iBUG-300W point order.

    Args:
        id: str. subject id, e.g. "S001".
        face_width: float. horizontal scale of the face outline.
        face_height: float. vertical scale of the lower face (jaw to chin).
        jaw_shape: float. super-ellipse exponent of the jaw (2 round, 4 square).
        chin_taper: float. how much the jaw narrows towards the chin.
        eye_distance: float. extra half-distance between the eye centres.
        eye_size: float. scale of the eye contours.
        nose_length: float. vertical scale of the nose.
        nose_width: float. horizontal scale of the nose base.
        mouth_width: float. horizontal scale of the lips.
        lip_thickness: float. vertical scale of the lips.
        brow_thickness: float. eyebrow thickness (box units).
        brow_height: float. vertical offset of the brows (box units, + down).
        skin: float. skin grey level (0-255) under neutral light.
        hair: float. hair grey level.
        hair_style: str. one of `HAIR_STYLES`.
        forehead: float. forehead height above the brows (box units).
        facial_hair: float. stubble/beard darkness in [0, 1].
        domain: str. the domain whose population the identity was drawn from.
    """

    id: str
    face_width: float = 1.0
    face_height: float = 1.0
    jaw_shape: float = 2.6
    chin_taper: float = 0.25
    eye_distance: float = 0.0
    eye_size: float = 1.0
    nose_length: float = 1.0
    nose_width: float = 1.0
    mouth_width: float = 1.0
    lip_thickness: float = 1.0
    brow_thickness: float = 0.04
    brow_height: float = 0.0
    skin: float = 170.0
    hair: float = 45.0
    hair_style: str = "short"
    forehead: float = 0.42
    facial_hair: float = 0.0
    domain: str = "default"

    def __post_init__(self):
        if self.hair_style not in HAIR_STYLES:
            raise ConfigError(f"Identity {self.id}: unknown hair_style "
                              f"{self.hair_style!r}; expected one of {HAIR_STYLES}.")
        _check_domain(self.domain)

    def neutral_landmarks(self):
        """The (68, 2) neutral shape in the centred landmark-box frame."""
        return self._geometry()["lm"].copy()

    def _geometry(self):
        # Geometry depends only on the shape fields; cached because every
        # image of a subject reuses it.
        return _cached_geometry(tuple((f, getattr(self, f)) for f in _SHAPE_FIELDS))


_SHAPE_FIELDS = ("face_width", "face_height", "jaw_shape", "chin_taper", "eye_distance",
                 "eye_size", "nose_length", "nose_width", "mouth_width", "lip_thickness",
                 "brow_height", "hair_style", "forehead")


@functools.lru_cache(maxsize=1024)
def _cached_geometry(key):
    return _build_geometry(types.SimpleNamespace(**dict(key)))


def _check_domain(domain):
    if domain not in DOMAINS:
        raise ConfigError(f"Unknown synthetic domain {domain!r}; expected one of "
                          f"{DOMAINS}.")


def sample_identity(rng: np.random.Generator, subject_id: str,
                    domain: str = "default") -> Identity:
    """Draws one subject from the population of `domain`.

    "savee" mimics SAVEE's four male speakers (short or receding hair, squarer
    jaws, heavier brows, some stubble); "enterface" and "default" draw from a
    wider, mixed population (all hair styles, rounder and narrower faces).
    """
    _check_domain(domain)
    u = rng.uniform
    if domain == "savee":
        style = HAIR_STYLES[int(rng.choice([0, 2, 3], p=[0.6, 0.3, 0.1]))]
        jaw, brow, beard = u(2.6, 3.6), u(0.042, 0.058), u(0.0, 0.7)
        width, skin = u(0.97, 1.1), u(140, 200)
    else:
        style = HAIR_STYLES[int(rng.integers(len(HAIR_STYLES)))]
        jaw, brow = u(2.0, 3.4), u(0.028, 0.052)
        beard = u(0.0, 0.6) if rng.random() < 0.2 else 0.0
        width = u(0.88, 1.08)
        skin = u(110, 215) if domain == "enterface" else u(120, 210)
    return Identity(
        id=str(subject_id), face_width=width, face_height=u(0.92, 1.1),
        jaw_shape=jaw, chin_taper=u(0.1, 0.4), eye_distance=u(-0.02, 0.02),
        eye_size=u(0.85, 1.2), nose_length=u(0.88, 1.12), nose_width=u(0.85, 1.2),
        mouth_width=u(0.88, 1.15), lip_thickness=u(0.8, 1.3), brow_thickness=brow,
        brow_height=u(-0.02, 0.02), skin=skin, hair=u(15, 90) if skin > 140 else u(10, 45),
        hair_style=style, forehead=u(0.36, 0.48), facial_hair=beard, domain=domain)


def _arc(cx, cy, ax, ay, start, stop, n, exponent=2.0):
    """Points of a super-ellipse arc (angles in radians, y down)."""
    t = np.linspace(start, stop, n)
    c, s = np.cos(t), np.sin(t)
    e = 2.0 / exponent
    return np.stack([cx + ax * np.sign(c) * np.abs(c) ** e,
                     cy - ay * np.sign(s) * np.abs(s) ** e], axis=1)


def _build_geometry(idn):
    """Neutral landmarks and identity-fixed outline shapes (centred box frame)."""
    p = _TEMPLATE.copy()
    k = np.arange(17)
    phi = np.pi * (1.0 - k / 16.0)
    c, s = np.cos(phi), np.sin(phi)
    e = 2.0 / idn.jaw_shape
    jx = np.sign(c) * np.abs(c) ** e
    jy = np.abs(s) ** e
    jx *= 1.0 - idn.chin_taper * jy ** 3
    p[0:17, 0] = 0.5 + 0.5 * idn.face_width * jx
    p[0:17, 1] = _JAW_TOP + (1.0 - _JAW_TOP) * idn.face_height * jy
    chin_y = p[8, 1]
    # Brows follow the eyes' spacing.
    p[17:22, 0] -= idn.eye_distance * 0.8
    p[22:27, 0] += idn.eye_distance * 0.8
    p[17:27, 1] += idn.brow_height
    for first, centre_x in ((36, _EYE_CENTRE_X - idn.eye_distance),
                            (42, 1.0 - _EYE_CENTRE_X + idn.eye_distance)):
        centre = np.array([centre_x, _EYE_CENTRE_Y])
        ref = np.array([_EYE_CENTRE_X if first == 36 else 1.0 - _EYE_CENTRE_X,
                        _EYE_CENTRE_Y])
        p[first:first + 6] = centre + (p[first:first + 6] - ref) * idn.eye_size
    p[28:36, 1] = 0.27 + (p[28:36, 1] - 0.27) * idn.nose_length
    p[31:36, 0] = 0.5 + (p[31:36, 0] - 0.5) * idn.nose_width
    mouth_y = _MOUTH_Y + (idn.nose_length - 1.0) * 0.12 + (chin_y - 1.0) * 0.3
    p[48:68, 0] = 0.5 + (p[48:68, 0] - 0.5) * idn.mouth_width
    p[48:68, 1] = mouth_y + (p[48:68, 1] - _MOUTH_Y) * idn.lip_thickness
    lm = p - 0.5

    half_w = 0.5 * idn.face_width
    jaw_top = _JAW_TOP - 0.5
    top = -0.5 - idn.forehead
    shapes = {}
    # Forehead outline from the image-right jaw end over the top to the left.
    shapes["skull"] = _arc(0.0, jaw_top, half_w, jaw_top - top, 0.0, np.pi, 15, 2.4)
    ear_y = jaw_top + 0.18
    shapes["ear_l"] = _arc(-half_w - 0.015, ear_y, 0.05, 0.12, 0, 2 * np.pi, 12)
    shapes["ear_r"] = _arc(half_w + 0.015, ear_y, 0.05, 0.12, 0, 2 * np.pi, 12)
    neck_w = 0.31 * idn.face_width
    shapes["neck"] = np.array([(-neck_w, 0.1), (neck_w, 0.1), (neck_w * 1.05, 1.6),
                               (-neck_w * 1.05, 1.6)])
    shapes["torso"] = np.array([(-neck_w, 0.85), (neck_w, 0.85), (1.45, 1.15),
                                (1.7, 3.0), (-1.7, 3.0), (-1.45, 1.15)])
    # Hair: a cap behind the head (drawn first) and a fringe over the forehead.
    style = idn.hair_style
    volume = 0.09 if style != "curly" else 0.14
    outer = _arc(0.0, jaw_top, half_w + volume, jaw_top - top + volume,
                 -0.15, np.pi + 0.15, 21, 2.2)
    if style == "curly":
        bumps = 1.0 + 0.05 * np.sin(np.linspace(0, 12 * np.pi, len(outer)))
        outer = outer * bumps[:, None]
    if style == "long":
        outer = np.concatenate([[(half_w + volume + 0.04, 0.55)], outer,
                                [(-half_w - volume - 0.04, 0.55)]])
    shapes["hair_back"] = outer
    hairline_depth = {"short": 0.13, "long": 0.16, "receding": 0.03, "curly": 0.15}[style]
    temple_y = jaw_top - (0.02 if style != "receding" else 0.18)
    hairline = _arc(0.0, temple_y, half_w * 0.97, temple_y - (top + hairline_depth),
                    np.pi, 0.0, 13, 2.8)
    if style == "receding":
        hairline[:, 1] = np.minimum(hairline[:, 1], top + 0.05)
        hairline[[0, -1], 1] = temple_y
    top_arc = _arc(0.0, jaw_top, half_w + volume, jaw_top - top + volume,
                   0.05, np.pi - 0.05, 13, 2.2)
    if style == "curly":
        top_arc = top_arc * (1.0 + 0.05 * np.sin(np.linspace(0, 12 * np.pi, 13)))[:, None]
    shapes["hair_front"] = np.concatenate([hairline, top_arc])
    # Eye sockets: soft shadow between brow and cheek.
    for name, sl in (("socket_l", slice(36, 42)), ("socket_r", slice(42, 48))):
        centre = lm[sl].mean(axis=0)
        shapes[name] = _arc(centre[0], centre[1] - 0.035, 0.14 * idn.eye_size + 0.01,
                            0.085, 0, 2 * np.pi, 14)
    # Cheek highlights under the eyes keep the cheek band brighter than the eyes.
    for name, sign in (("cheek_l", -1), ("cheek_r", 1)):
        shapes[name] = _arc(sign * 0.24 * idn.face_width, 0.03, 0.11, 0.07, 0,
                            2 * np.pi, 12)
    shapes["beard"] = np.concatenate([lm[4:13], [(lm[54, 0] + 0.07, lm[33, 1] + 0.05),
                                                 (0.0, lm[33, 1] + 0.04),
                                                 (lm[48, 0] - 0.07, lm[33, 1] + 0.05)]])
    # Depth (out of the face cylinder) of every drawn vertex, in drawing order.
    depth = np.concatenate([_PROTRUSION]
                           + [np.full(len(shapes[n]), _STATIC_DEPTH[n]) for n in _STATIC_ORDER]
                           + [np.full(_DYNAMIC_LEN[n], _DYNAMIC_DEPTH.get(n, 0.04))
                              for n in _DYNAMIC_ORDER])
    # Where each named outline lies in the concatenated vertex array.
    names = ("lm",) + _STATIC_ORDER + _DYNAMIC_ORDER
    lengths = [68] + [len(shapes[n]) for n in _STATIC_ORDER] + [_DYNAMIC_LEN[n]
                                                               for n in _DYNAMIC_ORDER]
    ends = np.cumsum(lengths)
    slices = {n: slice(int(e - k), int(e)) for n, k, e in zip(names, lengths, ends)}
    static = np.concatenate([shapes[n] for n in _STATIC_ORDER])
    return {"lm": lm, "static": static, "depth": depth, "slices": slices}


_STATIC_ORDER = ("skull", "ear_l", "ear_r", "neck", "torso", "hair_back",
                 "hair_front", "socket_l", "socket_r", "cheek_l", "cheek_r", "beard")
_STATIC_DEPTH = {"skull": 0.0, "ear_l": -0.05, "ear_r": -0.05, "neck": -0.1,
                 "torso": -0.2, "hair_back": -0.05, "hair_front": 0.0,
                 "socket_l": 0.02, "socket_r": 0.02, "cheek_l": 0.05,
                 "cheek_r": 0.05, "beard": 0.03}


def _iris(eye, gaze):
    """Iris polygon of one eye (6 points, outer/inner corner first), hidden
    behind the lids: a circle whose vertices are clamped between the lids."""
    width = eye[3, 0] - eye[0, 0]
    cx = 0.5 * (eye[0, 0] + eye[3, 0]) + gaze * abs(width) * 0.12
    cy = 0.5 * (eye[0, 1] + eye[3, 1]) + 0.004
    r = 0.21 * abs(width)
    x = cx + r * _IRIS_COS
    upper, lower = eye[[0, 1, 2, 3]], eye[[0, 5, 4, 3]]
    if width < 0:
        upper, lower = upper[::-1], lower[::-1]
    top = np.interp(x, upper[:, 0], upper[:, 1])
    bottom = np.interp(x, lower[:, 0], lower[:, 1])
    y = np.clip(cy + r * _IRIS_SIN, top, np.maximum(top, bottom))
    return np.stack([np.clip(x, upper[0, 0], upper[-1, 0]), y], axis=1)


_IRIS_N = 14
_IRIS_COS = np.cos(np.linspace(0, 2 * np.pi, _IRIS_N, endpoint=False))
_IRIS_SIN = np.sin(np.linspace(0, 2 * np.pi, _IRIS_N, endpoint=False))


def _linear_shapes():
    """Expression-dependent outlines that are affine in the landmarks.

    Returns (names, lengths, Wx, Wy, offset, brow_offset): the shapes' points
    are (Wx @ x, Wy @ y) + offset + brow_thickness * brow_offset, so one
    matrix product per image builds them all from the moved landmarks.
    """
    rows = []  # (x coefficients, y coefficients, offset, brow offset)
    names, lengths = [], []

    def point(cx, cy=None, off=(0.0, 0.0), brow=(0.0, 0.0)):
        rows.append((cx, cx if cy is None else cy, off, brow))

    def shape(name, n):
        names.append(name)
        lengths.append(n)

    taper = np.array([0.55, 0.9, 1.0, 1.0, 0.85])
    for name, idx, t in (("brow_l", range(17, 22), taper), ("brow_r", range(22, 27), taper[::-1])):
        # iBUG brow points lie on the brow's upper contour: draw the hairs
        # mostly below them so that the points sit inside the dark band.
        idx = list(idx)
        for i, ti in zip(idx, t):
            point({i: 1.0}, brow=(0.0, -0.25 * ti))
        for i, ti in zip(idx[::-1], t[::-1]):
            point({i: 1.0}, brow=(0.0, 0.85 * ti))
        shape(name, 10)
    for name, nose, corner, sgn in (("naso_l", 31, 48, -1), ("naso_r", 35, 54, 1)):
        a, b = (sgn * 0.035, -0.015), (sgn * 0.03, 0.02)
        point({nose: 1.0}, off=a)
        point({nose: 0.5, corner: 0.5}, off=(0.5 * (a[0] + b[0]) + sgn * 0.025, 0.0))
        point({corner: 1.0}, off=b)
        shape(name, 3)
    for k in range(3):
        # Forehead furrows ride 5.5% of the box above the brow peaks per line.
        for x in np.linspace(-0.22, 0.22, 5):
            point({}, {19: 0.5, 24: 0.5}, off=(x, -0.015 - 0.055 * (k + 1)
                                                + 0.02 * (x / 0.22) ** 2))
        shape(f"forehead_{k}", 5)
    for name, sgn in (("frown_l", -1), ("frown_r", 1)):
        point({}, {21: 0.5, 22: 0.5}, off=(sgn * 0.035, -0.03))
        point({}, {21: 0.5, 22: 0.5}, off=(sgn * 0.028, 0.06))
        shape(name, 2)
    for name, sgn in (("nosewr_l", -1), ("nosewr_r", 1)):
        point({28: 1.0}, off=(sgn * 0.015, -0.01))
        point({28: 1.0}, off=(sgn * 0.07, 0.03))
        shape(name, 2)
    for name, a, b, sgn in (("crease_l", 40, 41, 1), ("crease_r", 47, 46, -1)):
        point({a: 1.0}, off=(sgn * 0.02, 0.03))
        point({b: 1.0}, off=(-sgn * 0.02, 0.03))
        shape(name, 2)
    for name, base, sgn in (("noseside_l", 31, -1), ("noseside_r", 35, 1)):
        point({27: 1.0}, off=(sgn * 0.045, 0.0))
        point({29: 1.0}, off=(sgn * 0.045, 0.0))
        point({base: 1.0})
        shape(name, 3)
    for name, a, b in (("nostril_l", 31, 32), ("nostril_r", 34, 35)):
        for t in np.linspace(0, 2 * np.pi, 8, endpoint=False):
            point({a: 0.5, b: 0.5}, off=(0.022 * np.cos(t), -0.008 + 0.012 * np.sin(t)))
        shape(name, 8)
    wx, wy = np.zeros((len(rows), 68)), np.zeros((len(rows), 68))
    for r, (cx, cy, _, _) in enumerate(rows):
        for i, v in cx.items():
            wx[r, i] = v
        for i, v in cy.items():
            wy[r, i] = v
    offset = np.array([r[2] for r in rows], np.float64)
    brow = np.array([r[3] for r in rows], np.float64)
    return tuple(names), tuple(lengths), wx, wy, offset, brow


(_LINEAR_NAMES, _LINEAR_LEN, _LINEAR_WX, _LINEAR_WY, _LINEAR_OFFSET,
 _LINEAR_BROW) = _linear_shapes()
_DYNAMIC_ORDER = _LINEAR_NAMES + ("iris_l", "iris_r", "teeth")
_DYNAMIC_LEN = dict(zip(_LINEAR_NAMES, _LINEAR_LEN), iris_l=_IRIS_N, iris_r=_IRIS_N,
                    teeth=10)
_DYNAMIC_DEPTH = {"brow_l": 0.03, "brow_r": 0.03, "iris_l": 0.01, "iris_r": 0.01,
                  "teeth": 0.06, "naso_l": 0.05, "naso_r": 0.05, "noseside_l": 0.1,
                  "noseside_r": 0.1, "nostril_l": 0.1, "nostril_r": 0.1}


def _dynamic_points(lm, idn, aus, gaze):
    """All expression-dependent outlines, concatenated in `_DYNAMIC_ORDER`."""
    linear = np.stack([_LINEAR_WX @ lm[:, 0], _LINEAR_WY @ lm[:, 1]], axis=1)
    linear += _LINEAR_OFFSET + idn.brow_thickness * _LINEAR_BROW
    inner_top = lm[60:65]
    gap = np.maximum(lm[[60, 67, 66, 65, 64], 1] - inner_top[:, 1], 0.0)
    show = min(1.0, aus["lip_corner_pull"] + aus["lip_stretch"] + 0.3 * aus["jaw_drop"])
    # Upper teeth fill the top ~half of the opening when the lips part.
    teeth_bottom = inner_top.copy()
    teeth_bottom[:, 1] += gap * 0.55 * show
    return np.concatenate([linear, _iris(lm[36:42], gaze[0]), _iris(lm[42:48], gaze[0]),
                           inner_top, teeth_bottom[::-1]])


_SHIFT = 4  # cv2 fractional bits: sub-pixel vertices, smoother small shapes
_ONE = float(1 << _SHIFT)


class _Painter:
    """Draws grey levels on a 1- or 3-channel canvas; materials get a tint in RGB."""

    def __init__(self, canvas, tints):
        self.canvas = canvas
        self.rgb = canvas.ndim == 3 and canvas.shape[2] == 3
        self.tints = tints

    def color(self, level, material):
        level = float(min(max(level, 0.0), 255.0))
        if not self.rgb:
            return level
        t = self.tints[material]
        return (min(level * t[0], 255.0), min(level * t[1], 255.0),
                min(level * t[2], 255.0))

    def fill(self, pts, level, material="skin"):
        cv2.fillPoly(self.canvas, [pts], self.color(level, material),
                     lineType=cv2.LINE_AA, shift=_SHIFT)

    def line(self, pts, level, thickness, closed=False, material="skin"):
        cv2.polylines(self.canvas, [pts], closed, self.color(level, material),
                      thickness=max(1, int(round(thickness))), lineType=cv2.LINE_AA,
                      shift=_SHIFT)


# RGB tint of each material for the colour video frames; greyscale crops
# ignore tints (a grey level is drawn as is).
_RGB_TINTS = {"skin": (1.12, 0.96, 0.84), "lips": (1.22, 0.86, 0.86),
              "hair": (1.1, 0.98, 0.85), "sclera": (1.0, 1.0, 1.0),
              "dark": (1.0, 1.0, 1.0), "torso": (0.7, 0.9, 1.4)}


def _project(points, depth, pose, matrix):
    """Pseudo-3D head rotation (cylinder + protrusion) then a 2-D affine map."""
    x, y = points[:, 0], points[:, 1]
    z = 0.5 * np.sqrt(np.clip(1.0 - (2.0 * x) ** 2, 0.0, 1.0)) + depth
    yaw, pitch = np.deg2rad(pose["yaw"]), np.deg2rad(pose["pitch"])
    xr = x * np.cos(yaw) + z * np.sin(yaw)
    yr = y * np.cos(pitch) + z * np.sin(pitch)
    return np.stack([xr, yr], axis=1) @ matrix[:, :2].T + matrix[:, 2]


def _face_matrix(centre, box_width, roll_deg):
    """Affine map from the centred landmark-box frame to pixels."""
    a = np.deg2rad(roll_deg)
    c, s = np.cos(a) * box_width, np.sin(a) * box_width
    return np.array([[c, -s, centre[0]], [s, c, centre[1]]])


def _draw_face(painter, idn, aus, pose, matrix, rng):
    """Draws one face; returns the drawn 68 landmarks (float64) in continuous
    pixel coordinates."""
    geo = idn._geometry()
    k = np.array([aus[n] for n in ACTION_UNITS])
    lm = geo["lm"] + np.tensordot(k, _BASIS_STACK, axes=1)
    if pose.get("jitter", 0.0):
        lm = lm + rng.normal(0.0, pose["jitter"], lm.shape)
    dyn = _dynamic_points(lm, idn, aus, pose.get("gaze", (0.0, 0.0)))
    px = _project(np.concatenate([lm, geo["static"], dyn]), geo["depth"], pose, matrix)
    ipx = np.round(px * _ONE).astype(np.int32)
    seg = {n: ipx[sl] for n, sl in geo["slices"].items()}
    L = seg["lm"]
    unit = float(np.hypot(matrix[0, 0], matrix[1, 0]))  # pixels per box unit

    skin, hair = idn.skin, idn.hair
    dark = min(40.0, skin * 0.25)
    p = painter
    p.fill(seg["torso"], 0.45 * skin + 20, "torso")
    if idn.hair_style == "long":
        p.fill(seg["hair_back"], hair, "hair")
    p.fill(seg["ear_l"], skin - 22)
    p.fill(seg["ear_r"], skin - 22)
    if idn.hair_style != "long":
        p.fill(seg["hair_back"], hair, "hair")
    p.fill(seg["neck"], skin - 38)
    p.fill(np.concatenate([L[0:17], seg["skull"]]), skin)
    # Shading that gives the Viola-Jones "eye band darker than cheeks" cue.
    p.fill(seg["socket_l"], skin - 20)
    p.fill(seg["socket_r"], skin - 20)
    p.fill(seg["cheek_l"], skin + 6)
    p.fill(seg["cheek_r"], skin + 6)
    if idn.facial_hair > 0.2:
        p.fill(seg["beard"], skin - 40 * idn.facial_hair, "hair")
    p.fill(seg["hair_front"], hair, "hair")
    thin = max(1.0, unit * 0.012)
    # Expression wrinkles: their contrast grows with the action's strength.
    fore = aus["brow_raise"] + 0.5 * aus["inner_brow_raise"]
    if fore > 0.15:
        for i in range(3):
            p.line(seg[f"forehead_{i}"], skin - 40 * min(fore, 1.0), thin)
    if aus["brow_lower"] > 0.15:
        for n in ("frown_l", "frown_r"):
            p.line(seg[n], skin - 55 * min(aus["brow_lower"], 1.0), thin)
    if aus["nose_wrinkle"] > 0.15:
        for n in ("nosewr_l", "nosewr_r"):
            p.line(seg[n], skin - 55 * aus["nose_wrinkle"], thin)
    naso = 12 + 55 * min(1.0, aus["lip_corner_pull"] + 0.6 * aus["nose_wrinkle"]
                         + 0.4 * aus["lip_stretch"])
    p.line(seg["naso_l"], skin - naso, thin)
    p.line(seg["naso_r"], skin - naso, thin)
    crease = aus["lid_tighten"] + 0.5 * aus["lip_corner_pull"]
    if crease > 0.2:
        p.line(seg["crease_l"], skin - 35 * min(crease, 1.0), thin)
        p.line(seg["crease_r"], skin - 35 * min(crease, 1.0), thin)
    # Nose: shaded sides, a brighter bridge, dark nostrils and base.
    side = max(1.0, unit * 0.018)
    p.line(seg["noseside_l"], skin - 30, side)
    p.line(seg["noseside_r"], skin - 30, side)
    p.line(L[27:31], skin + 18, side)
    p.line(L[31:36], skin - 55, thin)
    p.fill(seg["nostril_l"], dark + 10, "dark")
    p.fill(seg["nostril_r"], dark + 10, "dark")
    # Eyes: sclera, iris clipped by the lids, dark lash line on the upper lid.
    sclera = min(skin + 10, 235.0)
    lash = max(1.0, unit * 0.022)
    for first, iris in ((36, "iris_l"), (42, "iris_r")):
        eye = L[first:first + 6]
        p.fill(eye, sclera, "sclera")
        p.fill(seg[iris], dark + 15, "dark")
        p.line(eye[[0, 1, 2, 3]], dark, lash)
        p.line(eye[[3, 4, 5, 0]], skin - 60, thin)
    p.fill(seg["brow_l"], min(hair + 15, skin - 75), "hair")
    p.fill(seg["brow_r"], min(hair + 15, skin - 75), "hair")
    # Mouth: lips, dark opening, teeth when the lips part.
    p.fill(L[48:60], skin - 45, "lips")
    p.fill(L[60:68], dark, "dark")
    if aus["jaw_drop"] > 0.05 or aus["lip_corner_pull"] > 0.3 or aus["lip_stretch"] > 0.3:
        p.fill(seg["teeth"], min(skin + 25, 230.0), "sclera")
    p.line(L[60:65], dark, thin)
    p.line(L[[64, 65, 66, 67, 60]], dark, thin)
    # OpenCV puts vertex (u, v) at the centre of pixel (row v, column u); in
    # the package's continuous convention (`ibug68`) that centre is
    # (u + 0.5, v + 0.5).
    return px[:68] + 0.5


def _grid(h, w):
    key = (h, w)
    if key not in _GRID_CACHE:
        gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
        _GRID_CACHE[key] = ((gx - w / 2.0) / max(w, h), (gy - h / 2.0) / max(w, h))
    return _GRID_CACHE[key]


_GRID_CACHE = {}


def _photometric(canvas, light, rng):
    """Illumination gradient, contrast, blur and sensor noise (uint8 out)."""
    img = canvas.astype(np.float32)
    h, w = img.shape[:2]
    gx, gy = _grid(h, w)
    gain = light["gain"] * (1.0 + light["grad"][0] * gx + light["grad"][1] * gy)
    if img.ndim == 3:
        gain = gain[..., None]
    img = img * gain + light["offset"]
    if light["blur"] > 0.3:
        img = cv2.GaussianBlur(img, (0, 0), light["blur"])
    if light["noise"] > 0:
        img += _noise(rng, img.shape) * light["noise"]
    return np.clip(img, 0, 255).astype(np.uint8)


_NOISE_BANK = []


def _noise(rng, shape):
    """Unit Gaussian noise: a random window of a fixed bank of normals.

    Drawing ~10^4 fresh normals per image would be the generator's largest
    cost; a random window into one 2^20-sample bank is as good as sensor
    noise and keeps the output a function of `rng` alone.
    """
    n = int(np.prod(shape))
    if not _NOISE_BANK:
        _NOISE_BANK.append(np.random.default_rng(20240527).standard_normal(1 << 20,
                                                                           dtype=np.float32))
    bank = _NOISE_BANK[0]
    if n > len(bank) // 2:
        return rng.standard_normal(shape, dtype=np.float32)
    start = int(rng.integers(0, len(bank) - n))
    return bank[start:start + n].reshape(shape)


_POSE_KEYS = ("roll", "yaw", "pitch", "scale", "tx", "ty", "jitter", "gaze")


def _sample_pose(rng, augment, domain):
    if not augment:
        return {"roll": 0.0, "yaw": 0.0, "pitch": 0.0, "scale": 1.0, "tx": 0.0,
                "ty": 0.0, "jitter": 0.0, "gaze": (0.0, 0.0)}
    spread = 1.3 if domain == "enterface" else 1.0
    return {"roll": rng.normal(0, 4.0 * spread), "yaw": rng.uniform(-9, 9) * spread,
            "pitch": rng.uniform(-6, 6), "scale": rng.uniform(0.9, 1.1),
            "tx": rng.uniform(-0.04, 0.04), "ty": rng.uniform(-0.035, 0.035),
            "jitter": 0.004, "gaze": (rng.uniform(-1, 1), 0.0)}


def _merge_pose(sampled, pose):
    if pose is None:
        return sampled
    unknown = set(pose) - set(_POSE_KEYS)
    if unknown:
        raise ConfigError(f"Unknown pose key(s) {sorted(unknown)}; expected "
                          f"{_POSE_KEYS}.")
    out = dict(sampled)
    out.update(pose)
    return out


def _sample_light(rng, augment, domain):
    if not augment:
        return {"gain": 1.0, "grad": (0.0, 0.0), "offset": 0.0, "blur": 0.6, "noise": 0.0}
    noise = {"default": (1.0, 6.0), "savee": (0.5, 2.5), "enterface": (3.0, 8.0)}[domain]
    ang = rng.uniform(0, 2 * np.pi)
    strength = rng.uniform(0.0, 0.7)
    return {"gain": rng.uniform(0.75, 1.15),
            "grad": (strength * np.cos(ang), strength * np.sin(ang)),
            "offset": rng.uniform(-15, 15), "blur": rng.uniform(0.4, 1.0),
            "noise": rng.uniform(*noise)}


def _background_level(rng, identity, augment):
    # The head must stand out from its surround (as in CK+'s studio shots):
    # keep the background >= 50 grey levels from the skin and >= 25 from the hair.
    skin, hair = identity.skin, identity.hair
    fallback = min(255.0, skin + 60) if skin < 130 else max(0.0, min(skin - 60, hair + 40))
    if not augment:
        return fallback
    for _ in range(16):
        level = rng.uniform(10, 245)
        if abs(level - skin) >= 50 and abs(level - hair) >= 25:
            return level
    return fallback


def _check_aus(aus):
    unknown = set(aus) - set(ACTION_UNITS)
    if unknown:
        raise ConfigError(f"Unknown action parameter(s) {sorted(unknown)}; expected "
                          f"names from {tuple(ACTION_UNITS)}.")
    return {n: float(aus.get(n, 0.0)) for n in ACTION_UNITS}


def _occlude(canvas, rng, size):
    """Paints a bar or a patch (hand, microphone, glasses frame...) on the crop."""
    level = float(rng.uniform(20, 230))
    if rng.random() < 0.5:
        y = rng.uniform(0.15, 0.95) * size
        angle = rng.uniform(-0.4, 0.4)
        dx = size * np.cos(angle)
        dy = size * np.sin(angle)
        p0 = (int(-dx * _ONE), int((y - dy) * _ONE))
        p1 = (int(2 * dx * _ONE), int((y + dy) * _ONE))
        cv2.line(canvas, p0, p1, level, max(1, int(rng.uniform(0.04, 0.09) * size)),
                 cv2.LINE_AA, _SHIFT)
    else:
        w, h = rng.uniform(0.15, 0.3, 2) * size
        corner = rng.choice([0, 1]) * (size - w), rng.uniform(0.3, 1.0) * size - h
        x0, y0 = corner
        cv2.rectangle(canvas, (int(x0), int(y0)), (int(x0 + w), int(y0 + h)), level, -1)


def render_face(identity, aus: dict, size: int = 96, rng=None, pose=None,
                augment: bool = True, domain: str = "default", occlusion_rate: float = 0.1,
                background: Optional[float] = None):
    """Draws one face crop and returns (image uint8 (size, size), landmarks (68, 2)).

    The face is drawn from its 68 iBUG-300W landmarks (one affine map, plus a
    small pseudo-3D yaw/pitch, applied to every vertex), so the returned
    points are exactly the drawn ones. With `augment`, per-image nuisance is
    added: in-plane rotation, scale, translation, small out-of-plane rotation,
    an illumination gradient, contrast, blur, sensor noise and, with
    probability `occlusion_rate`, an occluding bar or patch.

    Args:
        identity: Identity. the subject.
        aus: dict. action parameters (see `ACTION_UNITS`); missing ones are 0.
        size: int. output side in pixels.
        rng: numpy Generator. source of all randomness (fresh one if None).
        pose: dict. optional overrides of the sampled pose: roll, yaw, pitch
            (degrees), scale, tx, ty (fractions of `size`), jitter, gaze.
        augment: bool. add the per-image nuisance described above.
        domain: str. recording conditions (`DOMAINS`).
        occlusion_rate: float. probability of an occluder when augmenting.
        background: float. grey level of the surround (sampled if None).
    """
    _check_domain(domain)
    if int(size) < 16:
        raise ConfigError(f"Face size must be at least 16 pixels, got {size}.")
    size = int(size)
    rng = np.random.default_rng() if rng is None else rng
    aus = _check_aus(aus)
    pose = _merge_pose(_sample_pose(rng, augment, domain), pose)
    light = _sample_light(rng, augment, domain)
    light["blur"] *= size / 96.0  # optical blur is a fraction of the face, not pixels
    bg = _background_level(rng, identity, augment) if background is None else background
    canvas = np.full((size, size), bg, np.uint8)
    box = 0.58 * size * pose["scale"]
    centre = (size * (0.5 + pose["tx"]), size * (0.55 + pose["ty"]))
    matrix = _face_matrix(centre, box, pose["roll"])
    lm = _draw_face(_Painter(canvas, None), identity, aus, pose, matrix, rng)
    if augment and rng.random() < occlusion_rate:
        _occlude(canvas, rng, size)
    return _photometric(canvas, light, rng), lm.astype(np.float32)


def _resolve_classes(classes):
    try:
        return labels.resolve_label_set(classes)
    except ValueError as err:
        raise ConfigError(str(err)) from None


def make_synthetic(num_subjects: int = 24, images_per_class: int = 6, classes="ckplus8",
                   size: int = 48, channels: int = 1, seed: int = 0,
                   domain: str = "default", intensity_range=(0.35, 1.0),
                   name="synthetic", augment: bool = True, au_jitter: float = 0.08,
                   occlusion_rate: float = 0.1) -> Records:
    """An in-memory face-expression dataset with subjects, groups and landmarks.

    Every subject ("S001", ...) contributes `images_per_class` images of every
    class of `classes` (a `labels.LABEL_SETS` name or a sequence of names).
    Expression intensity is uniform in `intensity_range`; each image also gets
    small idiosyncratic actions (`au_jitter`, half-normal) so that weak
    expressions overlap with neutral, as in real data.

    Identities depend only on (seed, subject index), so adding subjects or
    images never changes existing subjects' faces.
    """
    class_names = _resolve_classes(classes)
    _check_domain(domain)
    if num_subjects < 1 or images_per_class < 1:
        raise ConfigError(f"make_synthetic needs num_subjects >= 1 and "
                          f"images_per_class >= 1, got {num_subjects} and "
                          f"{images_per_class}.")
    if channels not in (1, 3):
        raise ConfigError(f"channels must be 1 or 3, got {channels}.")
    lo, hi = (float(v) for v in intensity_range)
    if not 0.0 <= lo <= hi <= 1.0:
        raise ConfigError(f"intensity_range must satisfy 0 <= low <= high <= 1, got "
                          f"{intensity_range}.")
    n = num_subjects * len(class_names) * images_per_class
    images = np.empty((n, size, size), np.uint8)
    landmarks = np.empty((n, 68, 2), np.float32)
    label_arr = np.empty(n, np.int64)
    subjects, groups = [], []
    i = 0
    for s in range(num_subjects):
        sid = f"S{s + 1:03d}"
        identity = sample_identity(np.random.default_rng([seed, 0, s]), sid, domain)
        for c, cname in enumerate(class_names):
            rng = np.random.default_rng([seed, 1, s, CLASSES.index(cname)])
            for j in range(images_per_class):
                aus = action_units(cname, rng.uniform(lo, hi))
                if au_jitter > 0:
                    noise = np.abs(rng.normal(0.0, au_jitter, len(ACTION_UNITS)))
                    aus = {k: v + e for (k, v), e in zip(aus.items(), noise)}
                images[i], landmarks[i] = render_face(
                    identity, aus, size=size, rng=rng, augment=augment, domain=domain,
                    occlusion_rate=occlusion_rate)
                label_arr[i] = c
                subjects.append(sid)
                groups.append(f"{sid}/{cname}/{j}")
                i += 1
    if channels == 3:
        images = np.repeat(images[..., None], 3, axis=-1)
    return Records(images=images, labels=label_arr, class_names=class_names,
                   subjects=np.array(subjects), landmarks=landmarks,
                   groups=np.array(groups), name=name)


def make_sequence(identity, class_name, num_frames=8, size=96, rng=None,
                  domain="default", apex: float = 1.0, augment: bool = True):
    """A CK+-style sequence: the same face from neutral (frame 0) to apex.

    Pose and lighting are sampled once per sequence (a fixed camera); the
    expression intensity ramps linearly from 0 to `apex` and sensor noise is
    fresh in every frame. Returns (frames (T, size, size) uint8, landmarks
    (T, 68, 2) float32).
    """
    _check_domain(domain)
    if class_name not in CLASSES:
        raise ConfigError(f"Unknown expression {class_name!r}; expected one of {CLASSES}.")
    if num_frames < 2:
        raise ConfigError(f"A sequence needs at least 2 frames, got {num_frames}.")
    rng = np.random.default_rng() if rng is None else rng
    pose = _sample_pose(rng, augment, domain)
    pose["jitter"] = 0.0
    light = _sample_light(rng, augment, domain)
    light["blur"] *= size / 96.0  # optical blur is a fraction of the face, not pixels
    bg = _background_level(rng, identity, augment)
    frames = np.empty((num_frames, size, size), np.uint8)
    marks = np.empty((num_frames, 68, 2), np.float32)
    matrix = _face_matrix((size * (0.5 + pose["tx"]), size * (0.55 + pose["ty"])),
                          0.58 * size * pose["scale"], pose["roll"])
    for t, level in enumerate(np.linspace(0.0, apex, num_frames)):
        canvas = np.full((size, size), bg, np.uint8)
        marks[t] = _draw_face(_Painter(canvas, None), identity,
                              action_units(class_name, level), pose, matrix, rng)
        frames[t] = _photometric(canvas, light, rng)
    return frames, marks


@dataclasses.dataclass
class SyntheticVideo:
    """A short RGB clip of one subject going from neutral to an expression's
    apex, standing in for a SAVEE or eNTERFACE'05 video (PathNet paper
    Sec. IV-A): the face moves slightly inside a larger frame.

    Args:
        frames: uint8 (T, H, W, 3) RGB.
        landmarks: float32 (T, 68, 2) iBUG-300W points in frame pixels.
        face_boxes: int (T, 4) ground-truth (x, y, w, h): the square around
            the landmarks' bounding box, enlarged by 10%.
        label: str. class name.
        subject: str. subject id.
        domain: str. "savee", "enterface" or "default".
    """

    frames: np.ndarray
    landmarks: np.ndarray
    face_boxes: np.ndarray
    label: str
    subject: str
    domain: str


# Recording conditions per domain: face scale, lighting and sensor.
_VIDEO_STYLE = {
    "savee": {"scale": (0.95, 1.05), "noise": (0.5, 2.0), "blur": (0.4, 0.7),
              "grad": (0.0, 0.25), "gain": (0.95, 1.1), "drift": 0.8,
              "background": "studio"},
    "enterface": {"scale": (0.8, 0.95), "noise": (3.0, 6.0), "blur": (0.8, 1.3),
                  "grad": (0.2, 0.6), "gain": (0.75, 0.95), "drift": 1.5,
                  "background": "room"},
    "default": {"scale": (0.9, 1.05), "noise": (1.0, 4.0), "blur": (0.5, 1.0),
                "grad": (0.0, 0.4), "gain": (0.85, 1.05), "drift": 1.0,
                "background": "room"},
}


def _video_background(rng, h, w, style, skin):
    bg = np.empty((h, w, 3), np.uint8)
    if style == "studio":
        # A plain, evenly lit backdrop (SAVEE was recorded in a studio).
        level = rng.uniform(60, 95) if skin > 130 else rng.uniform(185, 215)
        tint = np.array([0.85, 0.95, 1.25]) * rng.uniform(0.95, 1.05, 3)
        bg[:] = np.clip(level * tint, 0, 255).astype(np.uint8)
        return bg
    # An office/lab wall with a few soft, large panels (eNTERFACE'05 rooms).
    level = rng.uniform(50, 110) if skin > 140 else rng.uniform(160, 220)
    tint = rng.uniform(0.85, 1.15, 3)
    bg[:] = np.clip(level * tint, 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(1, 4))):
        x0, x1 = np.sort(rng.uniform(-0.2, 1.2, 2) * w).astype(int)
        y0, y1 = np.sort(rng.uniform(-0.2, 1.2, 2) * h).astype(int)
        shade = np.clip(level * rng.uniform(0.8, 1.2) * rng.uniform(0.85, 1.15, 3), 0, 255)
        cv2.rectangle(bg, (x0, y0), (x1, y1), tuple(float(v) for v in shade), -1)
    return cv2.GaussianBlur(bg, (0, 0), 2.0)


def make_video(identity, class_name, num_frames=12, frame_size=(160, 120), face_size=80,
               rng=None, domain="default", apex: Optional[float] = None) -> SyntheticVideo:
    """Renders a neutral -> apex clip of `identity` inside a larger RGB frame.

    The face drifts and jitters by a few pixels and degrees per frame (a
    speaker's head in front of a fixed camera); `face_size` is the side of
    the face crop (hair to chin) in pixels, scaled by the domain's face scale.
    """
    _check_domain(domain)
    if class_name not in CLASSES:
        raise ConfigError(f"Unknown expression {class_name!r}; expected one of {CLASSES}.")
    if num_frames < 1:
        raise ConfigError(f"A video needs at least 1 frame, got {num_frames}.")
    w, h = (int(v) for v in frame_size)
    if face_size > min(w, h) or face_size < 24:
        raise ConfigError(f"face_size must lie in [24, min(frame_size)]; got "
                          f"{face_size} for frame_size {frame_size}.")
    rng = np.random.default_rng() if rng is None else rng
    style = _VIDEO_STYLE[domain]
    apex = rng.uniform(0.6, 1.0) if apex is None else float(apex)
    background = _video_background(rng, h, w, style["background"], identity.skin)
    tints = dict(_RGB_TINTS)
    tints["torso"] = tuple(rng.uniform(0.5, 1.5, 3))
    scale = rng.uniform(*style["scale"]) * face_size
    box = 0.58 * scale
    # Keep the whole face crop inside the frame while it drifts.
    margin_x, margin_y = 0.5 * scale + 2, 0.55 * scale + 2
    cx = rng.uniform(margin_x, w - margin_x) if w > 2 * margin_x else w / 2
    cy = rng.uniform(margin_y, h - 0.45 * scale - 2) if h > margin_y + 0.45 * scale + 2 \
        else h / 2
    base_pose = _sample_pose(rng, True, domain)
    base_pose.update(jitter=0.0, roll=rng.normal(0, 3.0), yaw=rng.uniform(-8, 8),
                     pitch=rng.uniform(-4, 4))
    ang = rng.uniform(0, 2 * np.pi)
    g = rng.uniform(*style["grad"])
    light = {"gain": rng.uniform(*style["gain"]), "grad": (g * np.cos(ang), g * np.sin(ang)),
             "offset": 0.0, "blur": rng.uniform(*style["blur"]),
             "noise": rng.uniform(*style["noise"])}
    au_noise = np.abs(rng.normal(0.0, 0.05, len(ACTION_UNITS)))
    frames = np.empty((num_frames, h, w, 3), np.uint8)
    marks = np.empty((num_frames, 68, 2), np.float32)
    boxes = np.empty((num_frames, 4), np.int64)
    offset = np.zeros(2)
    roll = base_pose["roll"]
    levels = np.linspace(0.0, apex, num_frames) if num_frames > 1 else np.array([apex])
    for t, level in enumerate(levels):
        # Bounded random walk: the head sways but stays in the frame.
        offset = np.clip(offset + rng.normal(0, style["drift"], 2), -0.1 * scale,
                         0.1 * scale)
        roll = 0.9 * roll + rng.normal(0, 0.8)
        pose = dict(base_pose, roll=roll)
        aus = action_units(class_name, level)
        aus = {k: v + e * (level > 0) for (k, v), e in zip(aus.items(), au_noise)}
        centre = (np.clip(cx + offset[0], margin_x, w - margin_x),
                  np.clip(cy + offset[1], margin_y, h - 0.45 * scale))
        canvas = background.copy()
        lm = _draw_face(_Painter(canvas, tints), identity, aus, pose,
                        _face_matrix(centre, box, roll), rng)
        frames[t] = _photometric(canvas, light, rng)
        marks[t] = lm
        lo_xy, hi_xy = lm.min(axis=0), lm.max(axis=0)
        side = 1.1 * float(max(hi_xy - lo_xy))
        mid = 0.5 * (lo_xy + hi_xy)
        boxes[t] = (int(round(mid[0] - side / 2)), int(round(mid[1] - side / 2)),
                    int(round(side)), int(round(side)))
    return SyntheticVideo(frames=frames, landmarks=marks, face_boxes=boxes,
                          label=class_name, subject=identity.id, domain=domain)


def make_video_dataset(num_subjects=4, videos_per_class=4, classes="six", domain="savee",
                       seed=0, num_frames=12, frame_size=(160, 120), face_size=80):
    """A list of `SyntheticVideo` for SAVEE/eNTERFACE-style experiments.

    Subjects are named by domain ("SA001" for savee, "EN001" for enterface,
    "DE001" for default) so two domains never share a subject id. The two
    domains differ in their identity populations (`sample_identity`) and in
    recording conditions (backdrop, lighting, noise, blur, face scale), so a
    SAVEE -> eNTERFACE transfer is a real domain shift.
    """
    _check_domain(domain)
    class_names = _resolve_classes(classes)
    if num_subjects < 1 or videos_per_class < 1:
        raise ConfigError(f"make_video_dataset needs num_subjects >= 1 and "
                          f"videos_per_class >= 1, got {num_subjects} and "
                          f"{videos_per_class}.")
    prefix = domain[:2].upper()
    domain_id = DOMAINS.index(domain)
    videos = []
    for s in range(num_subjects):
        identity = sample_identity(np.random.default_rng([seed, 2, domain_id, s]),
                                   f"{prefix}{s + 1:03d}", domain)
        for cname in class_names:
            rng = np.random.default_rng([seed, 3, domain_id, s, CLASSES.index(cname)])
            for _ in range(videos_per_class):
                videos.append(make_video(identity, cname, num_frames=num_frames,
                                         frame_size=frame_size, face_size=face_size,
                                         rng=rng, domain=domain))
    return videos
