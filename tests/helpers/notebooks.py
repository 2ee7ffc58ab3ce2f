"""Executes one of the package's notebooks in smoke mode (what CI runs)."""

import os
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]


def execute_notebook(name, timeout=600):
    """Runs notebooks/<name> with FER_TF_NOTEBOOK_SMOKE=1; returns (outputs, text).

    Checks that the notebook defines nothing (it only imports fer_tf) and
    that no cell raised.
    """
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    source = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "def " not in source and "class " not in source, "the notebook defines nothing"
    os.environ["FER_TF_NOTEBOOK_SMOKE"] = "1"
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(ROOT)}}).execute()
    finally:
        os.environ.pop("FER_TF_NOTEBOOK_SMOKE")
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"], [
        o for o in outputs if o.output_type == "error"][:1]
    return outputs, "".join(o.get("text", "") for o in outputs)
