"""Dataset readers: each published layout -> `Records` (images) or `VideoIndex`.

    records = load_dataset("ckplus", "/data/CK+", size=160)
    report = check_dataset("jaffe", "/data/jaffedbase")   # counts vs. published
    print(format_check(report))

Every reader checks the layout it is given, raises `DatasetError` naming the
file or folder it cannot use, and warns with a `DatasetCountWarning` when the
counts differ from the published ones (`readers.official`).
"""

import warnings

from fer_tf.data.readers._common import DatasetCountWarning, VideoIndex  # noqa: F401
from fer_tf.data.readers._common import compare_with_official
from fer_tf.data.readers.ckplus import read_ckplus
from fer_tf.data.readers.fer2013 import read_fer2013
from fer_tf.data.readers.jaffe import read_jaffe
from fer_tf.data.readers.sfew import read_sfew
from fer_tf.data.readers.video import read_enterface, read_savee
from fer_tf.errors import ConfigError


def read_synthetic(data_dir=None, **kwargs):
    """`fer_tf.data.synthetic.make_synthetic(**kwargs)`; `data_dir` is ignored."""
    from fer_tf.data.synthetic import make_synthetic
    kwargs.pop("check_counts", None)
    kwargs.pop("show_progress", None)
    return make_synthetic(**kwargs)


#: name -> reader(data_dir, **options).
DATASETS = {
    "fer2013": read_fer2013,
    "ckplus": read_ckplus,
    "jaffe": read_jaffe,
    "sfew": read_sfew,
    "savee": read_savee,
    "enterface": read_enterface,
    "synthetic": read_synthetic,
}


#: Readers returning `Records` of decoded images.
IMAGE_DATASETS = ("fer2013", "ckplus", "jaffe", "sfew")


def _reader(name):
    if name not in DATASETS:
        raise ConfigError(f"Unknown dataset {name!r}; known datasets: "
                          f"{', '.join(sorted(DATASETS))}.")
    return DATASETS[name]


def load_dataset(name, data_dir, **kwargs):
    """Reads dataset `name` from `data_dir` with the reader's options.

    Returns:
        `Records` for image datasets, `VideoIndex` for "savee"/"enterface".
    """
    return _reader(name)(data_dir, **kwargs)


def check_dataset(name, data_dir, **kwargs):
    """Reads a dataset and compares its counts with the published ones.

    Image datasets are read with `size="common"` unless `size` is given, so
    that frames of an odd size are counted (resized to the most common size,
    which `image_shape` reports) rather than refused.

    Returns:
        The reader's summary (dataset, num_images, image_shape, classes,
        per_class, num_subjects, splits, per_split_class when split) plus
        `official` (the published counts for the options used) and
        `differences` ({key: {"found", "official"}}; empty when all match)
        and `data_dir`.
    """
    reader = _reader(name)
    if name in IMAGE_DATASETS:
        # Real copies mix frame sizes (CK+: 640x490, 640x480, 720x480); the
        # check counts them all instead of stopping at the first odd size.
        kwargs.setdefault("size", "common")
    with warnings.catch_warnings():
        # The differences are returned in the report instead.
        warnings.simplefilter("ignore", DatasetCountWarning)
        result = reader(data_dir, **kwargs)
    summary, official, differences = compare_with_official(result)
    summary["data_dir"] = None if data_dir is None else str(data_dir)
    summary["official"] = official
    summary["differences"] = differences
    return summary


def _table(rows, header):
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    line = lambda r: "  ".join(  # noqa: E731
        str(v).ljust(w) if i == 0 else str(v).rjust(w)
        for i, (v, w) in enumerate(zip(r, widths)))
    return [line(header)] + [line(r) for r in rows]


def format_check(report):
    """Human-readable text of a `check_dataset` report."""
    unit = "videos" if "num_videos" in report else "images"
    lines = [f"Dataset: {report['dataset']}"]
    if report.get("data_dir"):
        lines.append(f"Folder:  {report['data_dir']}")
    shape = report.get("image_shape")
    lines.append(f"{unit.capitalize()}: {report['num_images']}"
                 + (f" of shape {'x'.join(map(str, shape))}" if shape else ""))
    subjects = report.get("num_subjects")
    lines.append(f"Subjects: {'none in this dataset' if subjects is None else subjects}")
    if report.get("has_landmarks"):
        lines.append("Landmarks: 68 points per image")
    official = report.get("official", {})
    per_split = report.get("per_split_class")
    classes = report.get("classes") or list(report.get("per_class", {}))
    lines.append("")
    if per_split:
        splits = list(per_split)
        header = ["class"] + splits + ["total"]
        if "per_class" in official:
            header.append("official")
        rows = []
        for c in classes:
            row = [c] + [per_split[s].get(c, 0) for s in splits] + [report["per_class"][c]]
            if "per_class" in official:
                row.append(official["per_class"].get(c, "-"))
            rows.append(row)
        total = ["total"] + [report["splits"][s] for s in splits] + [report["num_images"]]
        if "per_class" in official:
            total.append(official.get("num_images", "-"))
        rows.append(total)
        if official.get("splits"):
            rows.append(["official"] + [official["splits"].get(s, "-") for s in splits]
                        + [official.get("num_images", "-")]
                        + ([""] if "per_class" in official else []))
    else:
        header = ["class", unit] + (["official"] if "per_class" in official else [])
        rows = [[c, report["per_class"][c]]
                + ([official["per_class"].get(c, "-")] if "per_class" in official else [])
                for c in classes]
        rows.append(["total", report["num_images"]]
                    + ([official.get("num_images", "-")] if "per_class" in official else []))
    lines += _table(rows, header)
    lines.append("")
    differences = report.get("differences", {})
    if not official:
        lines.append("No published counts to compare with.")
    elif not differences:
        lines.append("All counts match the published dataset.")
    else:
        lines.append(f"{len(differences)} count(s) differ from the published dataset:")
        for key, value in differences.items():
            lines.append(f"  {key}: found {value['found']}, official {value['official']}")
    return "\n".join(lines)
