"""The notebooks: committed with their outputs, and they still run.

The committed files are what GitHub and the documentation site show, so each
must hold the outputs of a complete run (every code cell executed in order, at
least one plot, no error), and read as a page: a plain title, code lines within
88 characters, nothing that only the tests use. Each hand-written notebook is
also executed here, in a fresh kernel and an empty folder, with short training:
the test inserts a cell after the notebook's cell tagged `parameters` (as
papermill does) that lowers its epochs, so users never see a test switch. It
must not depend on the repository's files or on a matplotlib backend.

The flagship's notebook is built from `examples/heteroscedastic_regression.py`
(jupytext's percent format) by `examples/notebooks/execute.py`; its cells must
be the script's cells, and tests/test_examples.py runs the script itself.
"""

import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS = os.path.join(ROOT, "examples", "notebooks")
NAMES = sorted(n for n in os.listdir(NOTEBOOKS) if n.endswith(".ipynb"))
FROM_SCRIPTS = {"heteroscedastic_regression.ipynb"}
# The short training of each hand-written notebook, inserted by the test.
QUICK = {
    "beta_softplus_tour.ipynb": "EPOCHS = 10",
    "positive_weights.ipynb": "EPOCHS = 5",
    "probabilistic_layers_regression.ipynb": "EPOCHS = 10\nMEMBERS = 2",
}

nbformat = pytest.importorskip("nbformat")


def _code_cells(name):
    notebook = nbformat.read(os.path.join(NOTEBOOKS, name), as_version=4)
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def test_there_are_the_tutorials():
    assert set(QUICK) | FROM_SCRIPTS == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_reads_as_a_page(name):
    notebook = nbformat.read(os.path.join(NOTEBOOKS, name), as_version=4)
    first = notebook.cells[0]
    assert first.cell_type == "markdown"
    # The page title, the nav and the anchors take the first heading as text.
    title = first.source.splitlines()[0]
    assert re.fullmatch(r"# [\w ,.:-]+", title), title
    long_lines = [
        line
        for cell in _code_cells(name)
        for line in cell.source.splitlines()
        if len(line) > 88
    ]
    assert not long_lines
    text = nbformat.writes(notebook)
    assert "KERAS_SOFTPLUS" not in text
    if name in QUICK:  # no switch read from the environment
        assert "QUICK" not in text and "environ" not in text


def test_flagship_notebook_is_built_from_the_script():
    jupytext = pytest.importorskip("jupytext")
    script = jupytext.read(
        os.path.join(ROOT, "examples", "heteroscedastic_regression.py")
    )
    notebook = nbformat.read(
        os.path.join(NOTEBOOKS, "heteroscedastic_regression.ipynb"), as_version=4
    )
    assert [(c.cell_type, c.source) for c in notebook.cells] == [
        (c.cell_type, c.source) for c in script.cells
    ], "stale: run `python examples/notebooks/execute.py heteroscedastic_regression`"
    outputs = [
        output
        for cell in _code_cells("heteroscedastic_regression.ipynb")
        for output in cell.outputs
    ]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    for row in ("constant variance", "single network", "ensemble of 5", "truth"):
        assert re.search(rf"^{row} +\d", text, re.MULTILINE), row


def _printed(name):
    outputs = [output for cell in _code_cells(name) for output in cell.outputs]
    return "".join(o.get("text", "") for o in outputs if o.output_type == "stream")


def test_tfp_port_case_2_beats_the_constant_variance_baseline():
    """The committed full run: held-out NLL of TFP's Case 2 against the baseline."""
    text = _printed("probabilistic_layers_regression.ipynb")
    constant = re.search(r"^constant scale [\d.]+: +held-out NLL ([\d.]+)$", text, re.M)
    case_2 = re.search(r"^Case 2, learned scale: held-out NLL ([\d.]+)$", text, re.M)
    assert constant and case_2, text
    assert float(case_2[1]) < float(constant[1])


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
@pytest.mark.parametrize("name", sorted(QUICK))
def test_notebook_executes_with_short_training(name, tmp_path):
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    notebook = nbformat.read(os.path.join(NOTEBOOKS, name), as_version=4)
    for cell in notebook.cells:
        cell.outputs, cell.execution_count = [], None
    (parameters,) = [
        index
        for index, cell in enumerate(notebook.cells)
        if "parameters" in cell.metadata.get("tags", [])
    ]
    notebook.cells.insert(parameters + 1, nbformat.v4.new_code_cell(QUICK[name]))
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
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
