"""notebooks/convergence.ipynb runs headless, every cell without an error."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "convergence.ipynb"


def test_the_convergence_notebook_runs_clean() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()  # raises CellExecutionError on the first cell that errors
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert any(o.get("output_type") == "error" for o in outputs) is False
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 2  # the run, and the latency histogram
