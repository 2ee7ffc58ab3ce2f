"""What the FER2013 paper scripts share (`fer_tf/experiment_args.py`): a bad
--data-dir is one clear line, and nothing is written."""

import pytest

from tests.helpers.scripts import run_script


@pytest.mark.parametrize("script", ["run_efficientnet.py", "run_camnet.py"])
def test_missing_data_dir_is_one_clear_line(tmp_path, script):
    proc = run_script([f"experiments/{script}", "--data-dir", str(tmp_path / "none"),
                       "--out", str(tmp_path / "o")])
    assert proc.returncode == 2
    assert "fer2013" in proc.stderr and "does not exist" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "o").exists()
