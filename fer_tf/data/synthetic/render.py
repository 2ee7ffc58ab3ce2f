"""Draws one synthetic face with OpenCV from its 68 landmarks, plus the
per-image nuisance (pose, light, blur, noise, occluders) of `render_face`.

OpenCV puts a vertex (u, v) at the centre of pixel (row v, column u); the
landmarks returned are in the continuous convention of `fer_tf.data.ibug68`,
i.e. the drawn vertex + 0.5.
"""

from typing import Optional

import cv2
import numpy as np

from fer_tf.data.synthetic.action_units import ACTION_UNITS, _BASIS_STACK, _check_aus
from fer_tf.data.synthetic.geometry import _check_domain, _dynamic_points
from fer_tf.errors import ConfigError

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
