"""In-memory face-expression datasets: crops of many subjects
(`make_synthetic`) and CK+-style neutral -> apex sequences (`make_sequence`).
"""

import numpy as np

from fer_tf.data import labels
from fer_tf.data.pixels import as_rgb
from fer_tf.data.records import Records
from fer_tf.data.synthetic.action_units import ACTION_UNITS, CLASSES, action_units
from fer_tf.data.synthetic.geometry import _check_domain, sample_identity
from fer_tf.data.synthetic.render import (
    _background_level,
    _draw_face,
    _face_matrix,
    _Painter,
    _photometric,
    _sample_light,
    _sample_pose,
    render_face,
)
from fer_tf.errors import ConfigError

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
        images = as_rgb(images[..., None])
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
