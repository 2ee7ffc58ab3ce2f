"""Canonical expression names and each dataset's published label order.

Every dataset is mapped onto one vocabulary of eight expressions so that
cross-dataset experiments (landmark paper Sec. IV-E, PathNet SAVEE->eNTERFACE)
compare like with like. The tuples below are in each dataset's own file order,
so a reader can index them with the integer the dataset stores.
"""

NEUTRAL = "neutral"
ANGER = "anger"
CONTEMPT = "contempt"
DISGUST = "disgust"
FEAR = "fear"
HAPPINESS = "happiness"
SADNESS = "sadness"
SURPRISE = "surprise"

#: All eight expressions the synthetic generator can draw (CK+ vocabulary).
ALL_EXPRESSIONS = (NEUTRAL, ANGER, CONTEMPT, DISGUST, FEAR, HAPPINESS,
                   SADNESS, SURPRISE)

#: FER2013 `emotion` column: 0=Angry 1=Disgust 2=Fear 3=Happy 4=Sad 5=Surprise 6=Neutral.
FER2013_CLASSES = (ANGER, DISGUST, FEAR, HAPPINESS, SADNESS, SURPRISE, NEUTRAL)

#: CK+ Emotion/*_emotion.txt codes 0..7 (0 = neutral, used for first frames).
CKPLUS_CLASSES = (NEUTRAL, ANGER, CONTEMPT, DISGUST, FEAR, HAPPINESS, SADNESS,
                  SURPRISE)

#: JAFFE: the seven expression codes of the file names, alphabetical by code.
JAFFE_CODES = {"AN": ANGER, "DI": DISGUST, "FE": FEAR, "HA": HAPPINESS,
               "NE": NEUTRAL, "SA": SADNESS, "SU": SURPRISE}
JAFFE_CLASSES = (ANGER, DISGUST, FEAR, HAPPINESS, NEUTRAL, SADNESS, SURPRISE)

#: SFEW 2.0 class folders (alphabetical, as published).
SFEW_FOLDERS = {"Angry": ANGER, "Disgust": DISGUST, "Fear": FEAR,
                "Happy": HAPPINESS, "Neutral": NEUTRAL, "Sad": SADNESS,
                "Surprise": SURPRISE}
SFEW_CLASSES = (ANGER, DISGUST, FEAR, HAPPINESS, NEUTRAL, SADNESS, SURPRISE)

#: The six basic emotions shared by SAVEE and eNTERFACE'05 (PathNet paper Sec. IV-A).
SIX_BASIC = (ANGER, DISGUST, FEAR, HAPPINESS, SADNESS, SURPRISE)

#: Seven-class set (six basic + neutral) in FER2013 order.
SEVEN_BASIC = FER2013_CLASSES

#: Label sets by name, for `--classes` style options and the synthetic generator.
LABEL_SETS = {
    "ckplus8": CKPLUS_CLASSES,
    "fer2013": FER2013_CLASSES,
    "seven": SEVEN_BASIC,
    "jaffe": JAFFE_CLASSES,
    "sfew": SFEW_CLASSES,
    "six": SIX_BASIC,
}


def resolve_label_set(name_or_names):
    """Returns a tuple of canonical class names from a set name or a sequence."""
    if isinstance(name_or_names, str):
        if name_or_names not in LABEL_SETS:
            raise ValueError(
                f"Unknown label set {name_or_names!r}; expected one of "
                f"{sorted(LABEL_SETS)} or a sequence of {ALL_EXPRESSIONS}.")
        return LABEL_SETS[name_or_names]
    names = tuple(name_or_names)
    unknown = [n for n in names if n not in ALL_EXPRESSIONS]
    if unknown:
        raise ValueError(f"Unknown expression name(s) {unknown}; expected "
                         f"names from {ALL_EXPRESSIONS}.")
    return names
