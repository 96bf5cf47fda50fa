"""docs/architecture.md's table of the modules of `keras_softplus.ops` and
their imports, against the real imports, read with `ast`."""

import ast
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent
OPS = ROOT / "keras_softplus" / "ops"
TABLE_HEADER = "| Module | Imports (within `keras_softplus.ops`) |"


def documented_imports():
    """Maps each row of the table to the set of modules its second cell names."""
    lines = (ROOT / "docs" / "architecture.md").read_text().splitlines()
    start = lines.index(TABLE_HEADER) + 2  # skips the header and the |---| row
    imports = {}
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        module_cell, imports_cell = (c.strip() for c in line.strip("|").split("|"))
        module = re.fullmatch(r"`([\w.]+)`", module_cell)[1]
        assert module not in imports, f"two rows for {module}"
        names = [name.strip() for name in imports_cell.split(",")]
        if names == ["none"]:
            names = []
        assert all(re.fullmatch(r"`[\w.]+`", name) for name in names), line
        imports[module] = {name.strip("`") for name in names}
    return imports


def documented_edges():
    return {(a, b) for a, targets in documented_imports().items() for b in targets}


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


def test_architecture_table_lists_every_module_of_ops_once():
    assert set(documented_imports()) == {path.name for path in OPS.glob("*.py")}


def test_architecture_diagram_matches_the_imports_of_ops():
    assert documented_edges() == import_edges()


def test_no_family_imports_a_sibling_family():
    families = {
        f"{name}.py"
        for name in ("normal", "student_t", "poisson", "negative_binomial", "gamma")
    }
    for importer, imported in import_edges():
        assert not (importer in families and imported in families), importer


def test_the_kernel_never_calls_the_execution_module():
    assert ("_kernel.py", "_execution.py") not in import_edges()
