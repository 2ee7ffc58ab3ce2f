"""Executes one of the package's notebooks in smoke mode (what CI runs).

Run as a script it also writes the executed notebooks back, outputs
included, which is how the committed notebooks are executed:

    python -m tests.helpers.notebooks                 # every notebook, smoke mode
    python -m tests.helpers.notebooks camnet_ensemble.ipynb

Where a paper has a real-data run (EfficientNet and CAMnet on FER2013, the
landmark paper on JAFFE, CK+48 and SFEW), its notebook ends by showing that
run's published report and plots from docs/results/ (`fer-tf publish`), so
the executed notebook carries the real-data tables beside the smoke cells.
"""

import os
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def execute_notebook(name, timeout=600, write=False):
    """Runs notebooks/<name> with FER_TF_NOTEBOOK_SMOKE=1; returns (outputs, text);
    `write`: the executed notebook replaces the file (atomically).

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
    if write:
        from fer_tf.io import atomic_write_text

        atomic_write_text(ROOT / "notebooks" / name, nbformat.writes(nb) + "\n")
    return outputs, "".join(o.get("text", "") for o in outputs)


def main(names):
    names = names or sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    for name in names:
        outputs, _ = execute_notebook(name, timeout=1800, write=True)
        print(f"{name}: executed in smoke mode, {len(outputs)} outputs written", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
