"""benchmarks/gpu/*.sh at smoke size on the CPU under JAX, through the real
FER2013 path (a tiny pack this test writes), never a GPU or the network."""

import os
import pathlib
import signal
import subprocess
import sys

import pytest

from fer_tf.data.fer2013_pack import write_pack
from tests.data.test_fer2013_pack import write_tiny_csv

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny_pack(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pack")
    write_tiny_csv(folder / "fer2013.csv", per_class=(3, 2, 2))
    write_pack(folder / "fer2013.csv", folder / "fer2013.pack", show_progress=False)
    return folder / "fer2013.pack"


@pytest.mark.parametrize("script", ["efficientnet.sh", "camnet.sh"])
def test_gpu_script_smoke(script, tiny_pack, tmp_path):
    out = tmp_path / "out"
    env = dict(os.environ, SMOKE="1", OUT=str(out), FER2013_PACK=str(tiny_pack),
               PYTHON=sys.executable, RUN_DIR=str(tmp_path / "run"), JAX_PLATFORMS="cpu")
    proc = subprocess.Popen(["bash", str(ROOT / "benchmarks" / "gpu" / script)], env=env,
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        log, _ = proc.communicate(timeout=900)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the script's python child too
        proc.communicate()
        raise
    assert proc.returncode == 0, log[-3000:]
    names = sorted(p.name for p in out.iterdir())
    assert {"results.md", "metrics.json", "config.json"} <= set(names), names
    assert len(names) <= 8, names
    assert "fer2013" in (out / "config.json").read_text()
