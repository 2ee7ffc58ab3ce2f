"""Face geometry of the synthetic subjects: the iBUG-300W mean shape, the
identity parameters that stay fixed across a subject's images, and the
outlines (skull, hair, brows, wrinkles, irises...) built from the landmarks.

Everything is in a "landmark box" frame (x from the jaw's widest point (0) to
the other (1), y from the brow top (0) to the chin (1)), centred on the box
before drawing; `render` maps it to pixels. Point order: `fer_tf.data.ibug68`.
"""

import dataclasses
import functools
import types

import numpy as np

from fer_tf.errors import ConfigError

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
