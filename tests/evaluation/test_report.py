import os

import numpy as np
import pytest

from fer_tf.errors import ConfigError
from fer_tf import io as fer_tf_io
from fer_tf.evaluation import report


def test_atomic_write_keeps_old_file_when_the_write_fails(tmp_path, monkeypatch):
    path = tmp_path / "metrics.json"
    report.atomic_write_json(path, {"accuracy": 0.5})

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(fer_tf_io.os, "replace", broken_replace)
    with pytest.raises(OSError):
        report.atomic_write_json(path, {"accuracy": 0.9})
    monkeypatch.undo()
    assert path.read_text().strip().startswith("{")
    assert '"accuracy": 0.5' in path.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"], "no temp file left"


def test_run_folder_refuses_non_empty_and_non_run(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not empty"):
        report.RunFolder(out, create=True)
    assert (out / "notes.txt").exists()
    with pytest.raises(ConfigError, match="not a run folder"):
        report.RunFolder(out)
    run = report.RunFolder(tmp_path / "run", create=True)
    assert sorted(os.listdir(run.path)) == [report.LOCK, "checkpoints", "plots"]
    run.write_config({"model": "m", "shape": np.array([1, 2])})
    assert report.RunFolder(run.path).read_config()["shape"] == [1, 2]
    with pytest.raises(ConfigError, match="not been evaluated"):
        run.read_metrics()


def test_overwrite_and_resume_touch_only_fer_tf_run_folders(tmp_path):
    """Regression: `--overwrite` once deleted a folder holding a user's thesis."""
    thesis = tmp_path / "thesis"
    thesis.mkdir()
    (thesis / "thesis.tex").write_text("years of work")
    for kwargs in ({"overwrite": True}, {"resume": True}):
        with pytest.raises(ConfigError, match="not a fer_tf run folder"):
            report.RunFolder(thesis, create=True, **kwargs)
        assert (thesis / "thesis.tex").read_text() == "years of work"
    # A config.json someone else wrote does not make a folder ours either.
    (thesis / "config.json").write_text('{"model": "theirs"}')
    with pytest.raises(ConfigError, match="not a fer_tf run folder"):
        report.RunFolder(thesis, create=True, overwrite=True)
    assert (thesis / "thesis.tex").exists()

    run = report.RunFolder(tmp_path / "run", create=True)
    run.write_config({"model": "m"})
    (tmp_path / "run" / "history.csv").write_text("epoch\n1\n")
    report.RunFolder(tmp_path / "run", create=True, overwrite=True)
    assert sorted(os.listdir(tmp_path / "run")) == [report.LOCK, "checkpoints", "plots"]
    # A run killed before its config was written left only empty folders.
    report.RunFolder(tmp_path / "run", create=True, overwrite=True)


def test_history_rows_replace_a_redone_epoch(tmp_path):
    run = report.RunFolder(tmp_path / "r", create=True)
    run.append_history({"epoch": 1, "loss": 2.0})
    run.append_history({"epoch": 2, "loss": 1.5})
    run.append_history({"epoch": 2, "loss": 1.4})
    assert run.read_history() == {"epoch": [1, 2], "loss": [2.0, 1.4]}


def test_plots_are_png_files(tmp_path):
    report.plot_history({"epoch": [1, 2], "loss": [1.0, 0.5], "val_loss": [1.1, 0.7],
                         "accuracy": [0.4, 0.6], "val_accuracy": [0.3, 0.5]},
                        tmp_path / "curves.png")
    report.plot_confusion_matrix([[3, 1], [0, 4]], ["a", "b"], tmp_path / "cm.png")
    for name in ("curves.png", "cm.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_comparison_table():
    table = report.comparison_table([{"name": "SAVEE", "ours": 0.91234, "paper": 93.75},
                                     {"name": "x", "ours": None, "paper": 1}])
    lines = table.strip().splitlines()
    assert lines[0] == "| experiment | ours | paper |"
    assert lines[2] == "| SAVEE | 0.91 | 93.75 |"
    assert lines[3] == "| x | - | 1 |"


_HOLD = """
import sys, time
from fer_tf.evaluation.report import RunFolder
run = RunFolder(sys.argv[1], create=True, resume=True)
run.write_config({"model": "m"})
open(run.file("history.csv"), "w").write("epoch\\n1\\n")
print("holding", flush=True)
time.sleep(120)
"""


def test_a_second_writer_is_refused_naming_the_holder_and_a_killed_ones_lock_is_taken(
        tmp_path):
    import signal
    import subprocess
    import sys

    from tests.helpers.scripts import ROOT

    out = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(out)], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True,
                              env=dict(os.environ, PYTHONPATH=ROOT, FER_TF_OFFLINE="1"))
    try:
        assert holder.stdout.readline().strip() == "holding"
        for kwargs in ({"resume": True}, {"overwrite": True}):
            with pytest.raises(ConfigError, match=f"another fer_tf process \\(PID "
                                                  f"{holder.pid}\\)"):
                report.RunFolder(out, create=True, **kwargs)
        # --overwrite deleted nothing under the running writer.
        assert (out / "history.csv").exists() and (out / "config.json").exists()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # The kernel dropped the dead writer's lock: the next run takes it.
    run = report.RunFolder(out, create=True, overwrite=True)
    assert sorted(os.listdir(run.path)) == [report.LOCK, "checkpoints", "plots"]


def test_publish_copies_the_report_only_and_removes_only_what_it_wrote(tmp_path):
    from fer_tf.errors import ConfigError
    from fer_tf.evaluation.report import RunFolder, publish_report
    from fer_tf.cli import main

    run = RunFolder(tmp_path / "run", create=True)
    run.write_config({"model": "x"})
    run.write_metrics({"accuracy": 0.5})
    for name, data in {"results.md": "# r", "plots/a.png": "png", "plots/b.png": "png",
                       "checkpoints/best.keras": "w", "members/m/result.json": "{}",
                       "faces.npz": "arr"}.items():
        path = tmp_path / "run" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(data)
    dest = tmp_path / "docs" / "results" / "x"
    dest.mkdir(parents=True)
    (dest / "notes.md").write_text("a person's file")
    names = publish_report(run.path, dest)
    assert names == ["results.md", "metrics.json", "config.json", "plots/a.png", "plots/b.png"]
    assert sorted(p.name for p in dest.rglob("*") if p.is_file()) == sorted(
        [".published.json", "a.png", "b.png", "config.json", "metrics.json", "notes.md",
         "results.md"])
    # Republished without b.png: the copy it wrote goes, the person's file stays.
    (tmp_path / "run" / "plots" / "b.png").unlink()
    assert main(["publish", run.path, str(dest)]) == 0
    assert not (dest / "plots" / "b.png").exists() and (dest / "notes.md").exists()
    with pytest.raises(ConfigError, match="not a fer_tf run folder"):
        publish_report(tmp_path / "docs", tmp_path / "elsewhere")
