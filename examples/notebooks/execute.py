"""Re-executes the notebooks beside this file and saves them with their outputs.

    python examples/notebooks/execute.py                    # every notebook
    python examples/notebooks/execute.py positive_weights   # some of them

Each notebook runs top to bottom in a fresh kernel of this interpreter, in a
temporary folder (so it reads no file of the repository), and is written back
in place with its outputs, which GitHub and the documentation site show.
TensorFlow's start-up log lines on stderr are dropped from the saved outputs;
every other output is kept.

A notebook named after an example script in examples/ (the flagship,
`heteroscedastic_regression.py`) is not edited by hand: it is rebuilt from the
script's cells (jupytext's percent format) before it runs, so the page and the
script cannot drift apart.
"""

import os
import re
import sys
import tempfile

import jupytext
import nbclient
import nbformat

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.dirname(HERE)
KERNELSPEC = {
    "display_name": "Python 3 (ipykernel)",
    "language": "python",
    "name": "python3",
}
# Lines that TensorFlow's C++ runtime writes to stderr when it starts, and
# tf.function's retracing warning, which `predict` on several models triggers.
NOISE = re.compile(
    r"^(WARNING: All log messages before absl|[IWE]\d{4} .*\] |To enable the following"
    r"|oneDNN custom operations|.*cuda drivers"
    r"|WARNING:tensorflow:\d+ out of the last \d+ calls to .* retracing).*$\n?",
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
    return clean(notebook, folder)


def clean(notebook, folder):
    """Drops `NOISE`, writes paths in the run's folder relative to it, and
    joins consecutive prints into one output."""
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        outputs = []
        for output in cell.outputs:
            if output.output_type == "stream":
                output.text = NOISE.sub("", output.text.replace(folder + os.sep, ""))
                if not output.text:
                    continue
                previous = outputs[-1] if outputs else None
                if previous and previous.output_type == "stream":
                    if previous.name == output.name:
                        previous.text += output.text
                        continue
            outputs.append(output)
        cell.outputs = outputs
    return notebook


def notebook_from_script(script):
    """The cells of a percent-format script as a notebook without outputs."""
    notebook = jupytext.read(script)
    notebook.metadata = {"kernelspec": KERNELSPEC, "language_info": {"name": "python"}}
    return notebook


def main(names):
    paths = sorted(
        os.path.join(HERE, name)
        for name in os.listdir(HERE)
        if name.endswith(".ipynb") and (not names or name[: -len(".ipynb")] in names)
    )
    for path in paths:
        script = os.path.join(
            EXAMPLES, os.path.basename(path)[: -len(".ipynb")] + ".py"
        )
        if os.path.exists(script):
            print("rebuilding from", script, flush=True)
            nbformat.write(notebook_from_script(script), path)
        print("executing", path, flush=True)
        nbformat.write(execute(path), path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
