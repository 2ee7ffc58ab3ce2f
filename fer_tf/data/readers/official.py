"""The published sizes of each dataset, in one place.

Every reader compares what it found with these figures, so that a partial
download, a mislabelled folder or a different release is noticed before a
model is trained on it. Sources:

- FER2013: Goodfellow et al. 2013 (ICML challenge), as restated by the
  EfficientNet-B0 paper Sec. IV-A and the CAMnet thesis Sec. 3.1 / Table 3.1;
  per-split class counts as published with the Kaggle file.
- CK+: Lucey et al. 2010 (327 labelled sequences: anger 45, contempt 18,
  disgust 59, fear 25, happiness 69, sadness 28, surprise 83); the landmark
  paper Sec. III-A: 593 sequences from 123 subjects, 327 labelled sequences
  from 118 subjects, first frame + last three frames -> 1,308 images.
- JAFFE: Lyons et al. 1998; the landmark paper Sec. III-A (213 images,
  10 subjects, 3-4 images per subject and expression).
- SFEW 2.0: the landmark paper Sec. III-A (958 Train, 436 Val, 372 unlabelled
  Test images). The paper gives no per-class figures, so none are checked.
- SAVEE: Haq & Jackson 2008; PathNet paper Sec. IV-A (4 speakers, 120
  utterances each, 480 in all: 15 per emotion and 30 neutral per speaker).
- eNTERFACE'05: Martin et al. 2006; PathNet paper Sec. IV-A (1,166 videos).
"""

from fer_tf.data import labels as L

#: Labelled CK+ sequences per expression (Lucey et al. 2010, Table 2).
CKPLUS_SEQUENCES = {L.ANGER: 45, L.CONTEMPT: 18, L.DISGUST: 59, L.FEAR: 25,
                    L.HAPPINESS: 69, L.SADNESS: 28, L.SURPRISE: 83}
CKPLUS_NUM_SEQUENCES = 593
CKPLUS_NUM_LABELLED_SEQUENCES = 327
CKPLUS_NUM_SUBJECTS = 123
CKPLUS_NUM_LABELLED_SUBJECTS = 118

#: FER2013 images per `Usage` and class.
FER2013_PER_SPLIT = {
    "Training": {L.ANGER: 3995, L.DISGUST: 436, L.FEAR: 4097, L.HAPPINESS: 7215,
                 L.SADNESS: 4830, L.SURPRISE: 3171, L.NEUTRAL: 4965},
    "PublicTest": {L.ANGER: 467, L.DISGUST: 56, L.FEAR: 496, L.HAPPINESS: 895,
                   L.SADNESS: 653, L.SURPRISE: 415, L.NEUTRAL: 607},
    "PrivateTest": {L.ANGER: 491, L.DISGUST: 55, L.FEAR: 528, L.HAPPINESS: 879,
                    L.SADNESS: 594, L.SURPRISE: 416, L.NEUTRAL: 626},
}
#: The image-folder variant merges PublicTest and PrivateTest into test/,
#: which the reader names "PrivateTest" (`readers.fer2013.FOLDER_TEST_NOTE`).
FER2013_FOLDER_PER_SPLIT = {
    "Training": dict(FER2013_PER_SPLIT["Training"]),
    "PrivateTest": {c: FER2013_PER_SPLIT["PublicTest"][c]
                    + FER2013_PER_SPLIT["PrivateTest"][c] for c in L.FER2013_CLASSES},
}

#: JAFFE images per expression (Lyons et al. 1998).
JAFFE_PER_CLASS = {L.ANGER: 30, L.DISGUST: 29, L.FEAR: 32, L.HAPPINESS: 31,
                   L.NEUTRAL: 30, L.SADNESS: 31, L.SURPRISE: 30}
JAFFE_SUBJECTS = ("KA", "KL", "KM", "KR", "MK", "NA", "NM", "TM", "UY", "YM")

SFEW_SPLITS = {"Train": 958, "Val": 436}

SAVEE_SPEAKERS = ("DC", "JE", "JK", "KL")
SAVEE_CLIPS_PER_EMOTION = 15
SAVEE_NEUTRAL_CLIPS = 30

ENTERFACE_NUM_VIDEOS = 1166


def _per_split_totals(per_split):
    return {s: sum(c.values()) for s, c in per_split.items()}


def _sum_classes(per_split):
    out = {}
    for counts in per_split.values():
        for c, k in counts.items():
            out[c] = out.get(c, 0) + k
    return out


def _ckplus():
    per_class = {L.NEUTRAL: CKPLUS_NUM_LABELLED_SEQUENCES}
    per_class.update({c: 3 * k for c, k in CKPLUS_SEQUENCES.items()})
    return {"num_images": sum(per_class.values()), "per_class": per_class,
            "num_subjects": CKPLUS_NUM_LABELLED_SUBJECTS, "splits": {}}


def _savee():
    per_class = {c: len(SAVEE_SPEAKERS) * SAVEE_CLIPS_PER_EMOTION for c in L.SIX_BASIC}
    per_class[L.NEUTRAL] = len(SAVEE_SPEAKERS) * SAVEE_NEUTRAL_CLIPS
    return {"num_images": sum(per_class.values()), "per_class": per_class,
            "num_subjects": len(SAVEE_SPEAKERS), "splits": {}}


#: name -> published counts. `per_class`/`splits`/`num_subjects` are only
#: present where the publication gives them; `split_variants` lists the
#: alternative split layouts a dataset is distributed in.
OFFICIAL = {
    "fer2013": {
        "num_images": 35887,
        "per_class": _sum_classes(FER2013_PER_SPLIT),
        "splits": _per_split_totals(FER2013_PER_SPLIT),
        "per_split_class": FER2013_PER_SPLIT,
        "split_variants": [FER2013_PER_SPLIT, FER2013_FOLDER_PER_SPLIT],
    },
    "ckplus": _ckplus(),
    "jaffe": {"num_images": sum(JAFFE_PER_CLASS.values()), "per_class": JAFFE_PER_CLASS,
              "num_subjects": len(JAFFE_SUBJECTS), "splits": {}},
    "sfew": {"num_images": sum(SFEW_SPLITS.values()), "splits": dict(SFEW_SPLITS)},
    "savee": _savee(),
    "enterface": {"num_images": ENTERFACE_NUM_VIDEOS, "splits": {}},
}


def official_counts(name, class_names=None, split_names=None):
    """Returns the published counts of `name` as loaded with given options.

    Args:
        name: dataset name (a key of `OFFICIAL`); unknown names give `{}`.
        class_names: classes the reader returned. Published per-class counts
            are restricted to them and `num_images` becomes their sum, so that
            e.g. CK+ without neutral, CK+48 or SAVEE without neutral are
            compared with the right totals.
        split_names: split names the reader found, used to choose between a
            dataset's split variants (FER2013 csv vs. train/test folders).
    """
    if name not in OFFICIAL:
        return {}
    spec = {k: v for k, v in OFFICIAL[name].items() if k != "split_variants"}
    variants = OFFICIAL[name].get("split_variants")
    if variants and split_names:
        # A variant with exactly these splits first, else one that has them all.
        exact = [v for v in variants if set(split_names) == set(v)]
        wider = [v for v in variants if set(split_names) <= set(v)]
        for variant in (exact + wider)[:1]:
            spec["per_split_class"] = variant
            spec["splits"] = _per_split_totals(variant)
    if class_names is not None and "per_class" in spec:
        keep = [c for c in class_names if c in spec["per_class"]]
        if set(keep) != set(spec["per_class"]):
            spec["per_class"] = {c: spec["per_class"][c] for c in keep}
            spec["num_images"] = sum(spec["per_class"].values())
            if "per_split_class" in spec:
                spec["per_split_class"] = {
                    s: {c: k for c, k in counts.items() if c in keep}
                    for s, counts in spec["per_split_class"].items()}
                spec["splits"] = _per_split_totals(spec["per_split_class"])
    return spec


def count_differences(summary, official):
    """Compares a summary (see `Records.summary`) with published counts.

    Returns:
        {key: {"found": n, "official": m}} for each figure that differs, with
        keys "num_images", "num_subjects", "per_class/<class>",
        "splits/<split>" and "per_split_class/<split>/<class>".
    """
    diffs = {}

    def compare(key, found, expected):
        if found != expected:
            diffs[key] = {"found": found, "official": expected}

    if "num_images" in official:
        compare("num_images", summary["num_images"], official["num_images"])
    if "num_subjects" in official and summary.get("num_subjects") is not None:
        compare("num_subjects", summary["num_subjects"], official["num_subjects"])
    per_class = summary.get("per_class", {})
    for c, k in official.get("per_class", {}).items():
        compare(f"per_class/{c}", per_class.get(c, 0), k)
    splits = summary.get("splits", {})
    if official.get("splits"):
        for s in list(official["splits"]) + [s for s in splits if s not in official["splits"]]:
            compare(f"splits/{s}", splits.get(s, 0), official["splits"].get(s, 0))
    found_psc = summary.get("per_split_class", {})
    for s, counts in official.get("per_split_class", {}).items():
        if s not in splits:
            continue  # already reported as a missing split
        for c, k in counts.items():
            compare(f"per_split_class/{s}/{c}", found_psc.get(s, {}).get(c, 0), k)
    return diffs
