"""Re-executes the notebooks beside this file and saves them with their outputs.

    python examples/notebooks/execute.py                    # every notebook
    python examples/notebooks/execute.py positive_weights   # some of them

Each notebook runs top to bottom in a fresh kernel of this interpreter, in a
temporary folder (so it reads no file of the repository), and is written back
in place with its outputs, which GitHub and the documentation site show.
TensorFlow's start-up log lines on stderr are dropped from the saved outputs;
every other output is kept. Set `KERAS_SOFTPLUS_NOTEBOOK_QUICK=1` for the quick
mode that the tests use (do not commit such outputs).
"""

import os
import re
import sys
import tempfile

import nbclient
import nbformat

HERE = os.path.dirname(os.path.abspath(__file__))
# Lines that TensorFlow's C++ runtime writes to stderr when it starts.
STARTUP_NOISE = re.compile(
    r"^(WARNING: All log messages before absl|[IWE]\d{4} .*\] |To enable the following"
    r"|oneDNN custom operations|.*cuda drivers).*$\n?",
    re.MULTILINE,
)


def execute(path, timeout=900):
    """Runs the notebook at `path` and returns it with its outputs."""
    notebook = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory() as folder:
        client = nbclient.NotebookClient(
            notebook,
            timeout=timeout,
            kernel_name="python3",
            resources={"metadata": {"path": folder}},
        )
        client.execute(env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        for output in cell.outputs:
            if output.output_type == "stream" and output.name == "stderr":
                output.text = STARTUP_NOISE.sub("", output.text)
        cell.outputs = [
            o for o in cell.outputs if not (o.output_type == "stream" and not o.text)
        ]
    return notebook


def main(names):
    paths = sorted(
        os.path.join(HERE, name)
        for name in os.listdir(HERE)
        if name.endswith(".ipynb") and (not names or name[: -len(".ipynb")] in names)
    )
    for path in paths:
        print("executing", path, flush=True)
        nbformat.write(execute(path), path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
