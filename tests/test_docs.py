"""The documentation site builds strictly: a broken link, a missing page or a
docstring the API reference cannot read fails here (`mkdocs build --strict`)."""

import subprocess
import sys

from tests.helpers.scripts import ROOT


def test_docs_site_builds_strictly(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                           str(tmp_path / "site")], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr[-4000:]
    for page in ("index.html", "papers/camnet/index.html", "papers/pathnet/index.html",
                 "papers/landmark_ensemble/index.html", "papers/efficientnet/index.html",
                 "api/index.html", "notebooks/camnet_ensemble/index.html"):
        assert (tmp_path / "site" / page).is_file(), page
    assert "SplitAttention" in (tmp_path / "site" / "api" / "index.html").read_text()
