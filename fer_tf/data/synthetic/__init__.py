"""Embedded, procedurally generated face-expression data (no files shipped).

Faces are drawn with OpenCV from exactly 68 landmark points in iBUG-300W
order, so the landmarks returned with every image are the very points whose
polygons were drawn. Expressions are made from facial-action-like parameters
modelled on FACS action units (Ekman & Friesen, 1978), one identity per
subject so that subject-independent protocols mean something, and
neutral -> apex sequences and short videos exist for the CK+-style and
SAVEE/eNTERFACE-style (PathNet paper Sec. IV-A) protocols.

Only numpy and OpenCV are used; importing this package never loads TensorFlow.

Conventions: iBUG-300W 68-point markup (Sagonas et al., 300 Faces in-the-Wild,
2013), parts and mirror table from `fer_tf.data.ibug68`. Landmarks are (x, y)
in the continuous pixel coordinates stated there (pixel (i, j) has its centre
at (j + 0.5, i + 0.5)).

Modules, in the order a face is made:
    action_units: the facial-action parameters, their emotion prototypes and
        landmark displacements;
    geometry: identities, the mean shape and the outlines built on it;
    render: drawing one face with its per-image nuisance (`render_face`);
    images: crop datasets and CK+-style sequences (`make_synthetic`,
        `make_sequence`);
    videos: SAVEE/eNTERFACE-style clips (`make_video`, `make_video_dataset`).
"""

from fer_tf.data.synthetic.action_units import (
    ACTION_UNITS,
    CLASSES,
    FLIP_PERMUTATION,
    action_units,
)
from fer_tf.data.synthetic.geometry import (
    DOMAINS,
    HAIR_STYLES,
    Identity,
    sample_identity,
)
from fer_tf.data.synthetic.images import make_sequence, make_synthetic
from fer_tf.data.synthetic.render import render_face
from fer_tf.data.synthetic.videos import (
    SyntheticVideo,
    make_video,
    make_video_dataset,
)

__all__ = [
    "ACTION_UNITS",
    "CLASSES",
    "DOMAINS",
    "FLIP_PERMUTATION",
    "HAIR_STYLES",
    "Identity",
    "SyntheticVideo",
    "action_units",
    "make_sequence",
    "make_synthetic",
    "make_video",
    "make_video_dataset",
    "render_face",
    "sample_identity",
]
