"""Short RGB clips standing in for SAVEE and eNTERFACE'05 videos (PathNet
paper Sec. IV-A): a synthetic speaker going from neutral to an expression's
apex inside a larger frame, with per-domain recording conditions.
"""

import dataclasses
from typing import Optional

import cv2
import numpy as np

from fer_tf.data.synthetic.action_units import ACTION_UNITS, CLASSES, action_units
from fer_tf.data.synthetic.geometry import DOMAINS, _check_domain, sample_identity
from fer_tf.data.synthetic.images import _resolve_classes
from fer_tf.data.synthetic.render import (
    _RGB_TINTS,
    _draw_face,
    _face_matrix,
    _Painter,
    _photometric,
    _sample_pose,
)
from fer_tf.errors import ConfigError

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


def make_video(identity, class_name, num_frames=12, frame_size=(120, 160), face_size=80,
               rng=None, domain="default", apex: Optional[float] = None) -> SyntheticVideo:
    """Renders a neutral -> apex clip of `identity` inside a larger RGB frame.

    The face drifts and jitters by a few pixels and degrees per frame (a
    speaker's head in front of a fixed camera); `face_size` is the side of
    the face crop (hair to chin) in pixels, scaled by the domain's face scale.
    `frame_size` is (height, width), as everywhere in the package.
    """
    _check_domain(domain)
    if class_name not in CLASSES:
        raise ConfigError(f"Unknown expression {class_name!r}; expected one of {CLASSES}.")
    if num_frames < 1:
        raise ConfigError(f"A video needs at least 1 frame, got {num_frames}.")
    h, w = (int(v) for v in frame_size)
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
                       seed=0, num_frames=12, frame_size=(120, 160), face_size=80):
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
