"""The notebooks: committed with their outputs, and they still run.

The committed files are what GitHub and the documentation site show, so each
must hold the outputs of a complete run (every code cell executed in order, at
least one plot, no error). Each notebook is also executed here, in its quick
mode, in a fresh kernel and an empty folder: it must not depend on the
repository's files or on a particular matplotlib backend.
"""

import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS = os.path.join(ROOT, "examples", "notebooks")
NAMES = sorted(n for n in os.listdir(NOTEBOOKS) if n.endswith(".ipynb"))

nbformat = pytest.importorskip("nbformat")


def _code_cells(name):
    notebook = nbformat.read(os.path.join(NOTEBOOKS, name), as_version=4)
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def test_there_are_the_three_tutorials():
    assert {
        "beta_softplus_tour.ipynb",
        "heteroscedastic_regression.ipynb",
        "positive_weights.ipynb",
    } <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_committed_with_the_outputs_of_a_full_run(name):
    cells = _code_cells(name)
    assert [cell.execution_count for cell in cells] == list(range(1, len(cells) + 1))
    outputs = [output for cell in cells for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), "no plot"
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "I0000" not in text  # TensorFlow start-up noise is dropped


@pytest.mark.parametrize("name", NAMES)
def test_keras_code_in_view_and_no_forced_backend(name):
    source = "\n".join(cell.source for cell in _code_cells(name))
    assert "matplotlib.use" not in source and "%matplotlib" not in source
    assert re.search(r"keras\.Sequential\(", source) and ".fit(" in source
    assert "sys.path" not in source and "open(" not in source


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_notebook_executes_in_quick_mode(name, tmp_path):
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    notebook = nbformat.read(os.path.join(NOTEBOOKS, name), as_version=4)
    for cell in notebook.cells:
        cell.outputs, cell.execution_count = [], None
    environment = dict(
        os.environ,
        KERAS_SOFTPLUS_NOTEBOOK_QUICK="1",
        TF_CPP_MIN_LOG_LEVEL="3",
    )
    environment.pop("MPLBACKEND", None)  # the kernel's own inline backend shows plots
    client = nbclient.NotebookClient(
        notebook,
        timeout=240,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute(env=environment)  # raises CellExecutionError on any error
    cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in cells)
    outputs = [output for cell in cells for output in cell.outputs]
    assert any("image/png" in o.get("data", {}) for o in outputs)
