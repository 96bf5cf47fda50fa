"""docs/architecture.md's diagram of `keras_softplus.ops` against the real
imports, read with `ast`."""

import ast
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent
OPS = ROOT / "keras_softplus" / "ops"


def diagram_edges():
    text = (ROOT / "docs" / "architecture.md").read_text()
    block = text.split("```mermaid", 1)[1].split("```", 1)[0]
    files = dict(re.findall(r'^\s*(\w+)\["([\w.]+)"\]', block, re.M))
    edges = re.findall(r"^\s*(\w+) --> (\w+)", block, re.M)
    return {(files[a], files[b]) for a, b in edges}


def import_edges():
    modules = {path.name for path in OPS.glob("*.py")}
    edges = set()
    for path in OPS.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom) or not node.module:
                continue
            if node.module == "keras_softplus.ops":
                targets = [f"{alias.name}.py" for alias in node.names]
            elif node.module.startswith("keras_softplus.ops."):
                targets = [node.module.rsplit(".", 1)[1] + ".py"]
            else:
                continue
            edges.update((path.name, t) for t in targets if t in modules)
    return edges


def test_architecture_diagram_matches_the_imports_of_ops():
    assert diagram_edges() == import_edges()


def test_no_family_imports_a_sibling_family():
    families = {
        f"{name}.py"
        for name in ("normal", "student_t", "poisson", "negative_binomial", "gamma")
    }
    for importer, imported in import_edges():
        assert not (importer in families and imported in families), importer


def test_the_kernel_never_calls_the_execution_module():
    assert ("_kernel.py", "_execution.py") not in import_edges()
