"""Facial-action parameters of the synthetic faces (modelled on FACS action
units, Ekman & Friesen, 1978), their EMFACS emotion prototypes and the
landmark displacement each one causes.

Displacements are in the landmark box of `geometry` (width 1 = jaw width,
+y down); the left/right partner of a point comes from
`fer_tf.data.ibug68.FLIP_PERMUTATION`.
"""

import numpy as np

from fer_tf.data import ibug68, labels
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


def _check_aus(aus):
    unknown = set(aus) - set(ACTION_UNITS)
    if unknown:
        raise ConfigError(f"Unknown action parameter(s) {sorted(unknown)}; expected "
                          f"names from {tuple(ACTION_UNITS)}.")
    return {n: float(aus.get(n, 0.0)) for n in ACTION_UNITS}
