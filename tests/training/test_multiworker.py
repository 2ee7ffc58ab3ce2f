"""Two worker processes on localhost train one run with MultiWorkerMirroredStrategy."""

import json
import os
import socket
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_workers_train_the_baseline_into_one_run_folder(tmp_path):
    workers = [f"127.0.0.1:{p}" for p in _free_ports(2)]
    out = tmp_path / "run"
    procs = []
    for index in range(2):
        env = dict(os.environ, PYTHONPATH=ROOT, CUDA_VISIBLE_DEVICES="-1",
                   TF_CONFIG=json.dumps({"cluster": {"worker": workers},
                                         "task": {"type": "worker", "index": index}}))
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "fer_tf", "train", "baseline_cnn", "--out", str(out),
             "--strategy", "multiworker", "--epochs", "1", "--batch-size", "16",
             "--input-size", "32", "32", "--synthetic-subjects", "6",
             "--synthetic-per-class", "1"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT))
    logs = []
    for proc in procs:
        try:
            logs.append(proc.communicate(timeout=400)[0])
        finally:
            proc.kill()
    assert [p.returncode for p in procs] == [0, 0], "\n----\n".join(logs)[-4000:]
    assert "Worker finished; the chief wrote the run folder." in logs[1]
    with open(out / "config.json") as f:
        config = json.load(f)
    assert config["strategy"] == "multiworker"
    with open(out / "metrics.json") as f:
        metrics = json.load(f)
    assert metrics["num_samples"] > 0
    assert (out / "checkpoints" / "best.keras").exists()
    assert (out / "history.csv").read_text().count("\n") == 2  # header + one epoch
    assert not list(out.glob("**/.tmp-*")), "no temporary files left behind"
