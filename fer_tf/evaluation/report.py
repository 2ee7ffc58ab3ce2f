"""Run folders, atomic writes, plots and paper-comparison tables.

A run folder holds `config.json`, `metrics.json`, `history.csv`, `plots/` and
`checkpoints/`. Every file goes through `fer_tf.io`'s atomic writes, so a
crash leaves either the old or the new file, never half of one.
"""

import csv
import io
import json
import os

try:
    import fcntl
except ImportError:  # not POSIX: run folders are not locked
    fcntl = None

import numpy as np

from fer_tf.errors import ConfigError
from fer_tf.io import atomic_write_bytes, atomic_write_json, atomic_write_text, clear_folder

CONFIG = "config.json"
METRICS = "metrics.json"
HISTORY = "history.csv"


def atomic_savefig(fig, path, dpi=120):
    """Saves a matplotlib figure atomically as PNG."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    atomic_write_bytes(path, buf.getvalue())


#: Key that marks a config.json as written by fer_tf (and the folder as ours).
RUN_MARKER = "fer_tf_run"


#: The lock file a writing process holds in its run folder (`lock_run_folder`).
LOCK = ".fer_tf.lock"
_HELD_LOCKS = {}


def lock_run_folder(path):
    """Holds an exclusive lock on the run folder `path` until this process ends.

    The lock is an flock(2) on `path/.fer_tf.lock`, which holds the writer's
    PID. A second writer is refused in one line naming that PID. The kernel
    drops the lock when its process dies, however it dies, so a lock file
    left by a killed run is stale by construction and the next run takes it.
    Re-entrant within one process.
    """
    path = os.path.abspath(path)
    if fcntl is None or path in _HELD_LOCKS:
        return
    os.makedirs(path, exist_ok=True)
    handle = open(os.path.join(path, LOCK), "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise ConfigError(f"{path} is being written by another fer_tf process (PID "
                          f"{holder}); wait for it to end or choose another --out.") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    _HELD_LOCKS[path] = handle


def _entries(path):
    return [e for e in os.listdir(path) if e != LOCK]


def _only_empty_folders(path):
    return all(not [f for f in files if f != LOCK] for _, _, files in os.walk(path))


def has_run_config(path):
    """True for a folder holding a config.json that `fer-tf train` wrote."""
    try:
        with open(os.path.join(path, CONFIG)) as f:
            return RUN_MARKER in json.load(f)
    except (OSError, ValueError, TypeError):
        return False


def is_run_folder(path):
    """True for a folder fer_tf may delete: one whose config.json fer_tf wrote,
    or one holding nothing but the empty sub-folders a run starts with."""
    if os.path.isfile(os.path.join(path, CONFIG)):
        return has_run_config(path)
    return _only_empty_folders(path)


class RunFolder:
    """The folder of one training run.

    Args:
        path: str. The folder.
        create: bool. Create it; refuses an existing non-empty folder unless
            `overwrite` (wipes it) or `resume` (keeps it, to continue a run).
        overwrite: bool. Only a fer_tf run folder (`is_run_folder`) is ever
            deleted; anything else is refused.
        resume: bool. Only a fer_tf run folder is resumed.
        subrun: bool. A stage, member or fold folder inside a run (it has no
            config.json of its own and is always opened to continue).
    """

    def __init__(self, path, create=False, overwrite=False, resume=False, subrun=False):
        self.path = os.path.abspath(path)
        self.subrun = subrun
        if create:
            self._create(overwrite, resume)
        elif not os.path.isfile(os.path.join(self.path, CONFIG)):
            raise ConfigError(f"{path} is not a run folder: {CONFIG} is missing "
                              "(expected a folder written by `fer-tf train`).")

    def _create(self, overwrite, resume):
        if os.path.exists(self.path) and not os.path.isdir(self.path):
            raise ConfigError(f"Output {self.path} exists and is not a folder.")
        wipe = False
        if os.path.isdir(self.path) and _entries(self.path):
            if overwrite:
                if not is_run_folder(self.path):
                    raise ConfigError(
                        f"Refusing to --overwrite {self.path}: it is not a fer_tf run folder "
                        f"(no {CONFIG} written by fer_tf), and fer_tf deletes only what it "
                        "wrote; choose another --out or remove it yourself.")
                wipe = True
            elif resume and not self.subrun and not is_run_folder(self.path):
                raise ConfigError(
                    f"Cannot --resume {self.path}: it is not a fer_tf run folder (no {CONFIG} "
                    "written by fer_tf).")
            elif not resume:
                raise ConfigError(
                    f"Output folder {self.path} exists and is not empty; pass "
                    "--overwrite to replace it or --resume to continue its run.")
        if not self.subrun:  # the run's own process holds its sub-runs
            lock_run_folder(self.path)
        if wipe:  # only once the lock is ours: never under another writer
            clear_folder(self.path, keep=(LOCK,))
        os.makedirs(self.plots_dir, exist_ok=True)
        os.makedirs(self.checkpoints_dir, exist_ok=True)

    def file(self, *parts):
        return os.path.join(self.path, *parts)

    @property
    def plots_dir(self):
        return self.file("plots")

    @property
    def checkpoints_dir(self):
        return self.file("checkpoints")

    @property
    def best_checkpoint(self):
        return self.file("checkpoints", "best.keras")

    @property
    def backup_dir(self):
        return self.file("checkpoints", "backup")

    def write_config(self, config):
        from fer_tf import __version__

        atomic_write_json(self.file(CONFIG), dict(config, **{RUN_MARKER: __version__}))

    def read_config(self):
        try:
            with open(self.file(CONFIG)) as f:
                return json.load(f)
        except (OSError, ValueError) as e:
            raise ConfigError(f"{self.file(CONFIG)}: not a readable fer_tf run config "
                              f"({e}).") from None

    def write_metrics(self, metrics):
        atomic_write_json(self.file(METRICS), metrics)

    def read_metrics(self):
        path = self.file(METRICS)
        if not os.path.exists(path):
            raise ConfigError(f"{self.path} has no {METRICS}: the run has not been "
                              "evaluated yet.")
        with open(path) as f:
            return json.load(f)

    def read_history_rows(self):
        path = self.file(HISTORY)
        if not os.path.exists(path):
            return []
        with open(path, newline="") as f:
            return [{k: (int(v) if k == "epoch" else float(v)) for k, v in row.items()
                     if v != ""} for row in csv.DictReader(f)]

    def append_history(self, row):
        """Adds (or replaces, when the epoch was redone after a resume) one epoch."""
        rows = [r for r in self.read_history_rows() if r.get("epoch") != row["epoch"]]
        rows.append(row)
        rows.sort(key=lambda r: r["epoch"])
        self.write_history_rows(rows)

    def write_history_rows(self, rows):
        keys = ["epoch"] + sorted({k for r in rows for k in r} - {"epoch"})
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(self.file(HISTORY), buf.getvalue())

    def read_history(self):
        """Returns {metric: [value per epoch]} over every epoch recorded."""
        rows = self.read_history_rows()
        keys = sorted({k for r in rows for k in r})
        return {k: [r.get(k, float("nan")) for r in rows] for k in keys}


def plot_history(history, path, title="Learning curves"):
    """Loss and accuracy per epoch (train and validation) as one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = history.get("epoch") or list(range(1, len(history.get("loss", [])) + 1))
    # Multi-output models log "labels_accuracy", "landmarks_mae", ...
    panels = ["loss"] if "loss" in history else []
    panels += [k for k in sorted(history) if k.endswith(("accuracy", "_mae"))
               and not k.startswith("val_")]
    fig, axes = plt.subplots(1, max(1, len(panels)), figsize=(5 * max(1, len(panels)), 3.6))
    axes = np.atleast_1d(axes)
    for ax, metric in zip(axes, panels):
        ax.plot(epochs, history[metric], label=f"train {metric}")
        if f"val_{metric}" in history:
            ax.plot(epochs, history[f"val_{metric}"], label=f"val {metric}")
        for boundary in np.flatnonzero(np.diff(history.get("stage", [])) != 0):
            ax.axvline(epochs[boundary] + 0.5, color="grey", lw=0.8, ls=":")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    atomic_savefig(fig, path)
    plt.close(fig)


def plot_confusion_matrix(matrix, class_names, path, title="Confusion matrix"):
    """Row-normalised confusion matrix with counts annotated, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = np.asarray(matrix)
    rows = matrix.sum(axis=1, keepdims=True)
    norm = np.divide(matrix, rows, out=np.zeros_like(matrix, dtype=float), where=rows > 0)
    n = len(class_names)
    fig, ax = plt.subplots(figsize=(1.0 + 0.8 * n, 0.8 + 0.7 * n))
    im = ax.imshow(norm, cmap="Blues", vmin=0.0, vmax=1.0)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, f"{matrix[i, j]}\n{norm[i, j]:.0%}", ha="center", va="center",
                    fontsize=7, color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xticks(range(n), class_names, rotation=45, ha="right")
    ax.set_yticks(range(n), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046)
    atomic_savefig(fig, path)
    plt.close(fig)


def command_lines(config, resumes="finished runs"):
    """results.md's opening lines naming the command that made the run
    (`config["command"]`, see `fer_tf.experiment_args.command_line`); none
    for a run made through the Python API, which has no command."""
    if not config.get("command"):
        return []
    return [f"Command (it regenerates this folder; `--resume` reuses {resumes}):", "",
            "```bash", config["command"], "```", ""]


def comparison_table(rows, columns=("ours", "paper"), headers=None, digits=2):
    """A Markdown table putting our figures beside the paper's.

    Args:
        rows: list of dicts with a "name" key and one key per column; a missing
            or None value prints as "-".
        columns: the keys to print after the name.
        headers: optional display names (name column first).
        digits: decimals for floats.
    """
    headers = headers or (["experiment"] + list(columns))

    def fmt(v):
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:.{digits}f}"
        return str(v)

    lines = ["| " + " | ".join(headers) + " |",
             "|" + "|".join("---" for _ in headers) + "|"]
    for row in rows:
        lines.append("| " + " | ".join([fmt(row.get("name"))] +
                                       [fmt(row.get(c)) for c in columns]) + " |")
    return "\n".join(lines) + "\n"


#: The files of a run that document it (`publish_report`): its report,
#: tables, metrics and config; with plots/*.png beside them.
REPORT_FILES = ("results.md", "tables.md", "metrics.json", "config.json")
PUBLISHED = ".published.json"


def publish_report(run_dir, dest):
    """Copies a finished run's report into `dest` (e.g. docs/results/<paper>_<dataset>/):
    results.md, tables.md, metrics.json, config.json and plots/*.png, each
    written atomically. Nothing else leaves the run folder: no checkpoint,
    array, crop or sub-run. `dest` keeps files it already had; of the files
    an earlier publish wrote there (listed in its `.published.json`), those
    the run no longer has are removed. Returns the copied paths, relative
    to `dest`."""
    if not has_run_config(run_dir):
        raise ConfigError(f"{run_dir}: not a fer_tf run folder (expected the config.json a "
                          "run writes).")
    if not os.path.isfile(os.path.join(run_dir, METRICS)):
        raise ConfigError(f"{run_dir}: the run has no {METRICS} yet; publish a finished run.")
    names = [n for n in REPORT_FILES if os.path.isfile(os.path.join(run_dir, n))]
    plots = os.path.join(run_dir, "plots")
    if os.path.isdir(plots):
        names += sorted(f"plots/{n}" for n in os.listdir(plots) if n.endswith(".png"))
    manifest = os.path.join(dest, PUBLISHED)
    earlier = []
    if os.path.isfile(manifest):
        with open(manifest) as f:
            earlier = json.load(f).get("files", [])
    for name in names:
        with open(os.path.join(run_dir, name), "rb") as f:
            atomic_write_bytes(os.path.join(dest, name), f.read())
    for name in sorted(set(earlier) - set(names)):
        stale = os.path.join(dest, name)
        if os.path.isfile(stale):
            os.remove(stale)
    atomic_write_json(manifest, {"run": os.path.basename(os.path.abspath(run_dir)),
                                 "files": names})
    return names
