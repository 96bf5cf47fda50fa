"""The documentation site builds in strict mode and is complete and current.

`mkdocs build --strict` fails on any warning: a broken link or anchor, a page
missing from the nav, a missing snippet (the benchmark tables are included
from benchmarks/ at build time), or a docstring that
mkdocstrings cannot render. The docs extra (`pip install -e .[docs]`) is part
of the README's test command, so this runs in CI; it is not skipped.
"""

import ast
import importlib.util
import os
import re
import subprocess
import sys
import zlib

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS_DIR = os.path.join(REPO_ROOT, "docs")

# Public modules whose `__all__` must all appear in the API reference.
PUBLIC_MODULES = [
    "keras_softplus/__init__.py",
    "keras_softplus/ops/__init__.py",
    "keras_softplus/layers/__init__.py",
    "keras_softplus/constraints.py",
    "keras_softplus/distributions.py",
    "keras_softplus/losses.py",
    "keras_softplus/metrics.py",
]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Builds the site once, strictly, into a temporary directory."""
    site_dir = tmp_path_factory.mktemp("site")
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--site-dir",
            str(site_dir),
            "--config-file",
            os.path.join(REPO_ROOT, "mkdocs.yml"),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, NO_MKDOCS_2_WARNING="1"),
    )
    if completed.returncode != 0:
        pytest.fail(
            f"mkdocs build --strict failed ({completed.returncode}):\n"
            f"{completed.stdout[-4000:]}\n{completed.stderr[-8000:]}"
        )
    return site_dir


def test_mkdocs_build_strict_passes(site):
    assert (site / "index.html").is_file()
    assert (site / "api" / "ops" / "index.html").is_file()


def _inventory_names(site):
    """Object names in mkdocstrings' `objects.inv` (Sphinx inventory v2)."""
    with open(site / "objects.inv", "rb") as handle:
        for _ in range(4):  # header lines
            handle.readline()
        body = zlib.decompress(handle.read()).decode("utf-8")
    return {line.split(" ", 1)[0] for line in body.splitlines() if line}


def _public_names(relative_path):
    """`(module, names in __all__)`, read statically (no TensorFlow import)."""
    path = os.path.join(REPO_ROOT, relative_path)
    module = relative_path[: -len(".py")].replace("/", ".")
    module = module.removesuffix(".__init__")
    with open(path) as handle:
        tree = ast.parse(handle.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            getattr(target, "id", None) == "__all__" for target in node.targets
        ):
            return module, list(ast.literal_eval(node.value))
    return module, []


def test_api_reference_documents_every_public_name(site):
    inventory = _inventory_names(site)
    missing = []
    for relative_path in PUBLIC_MODULES:
        if not os.path.exists(os.path.join(REPO_ROOT, relative_path)):
            continue
        module, names = _public_names(relative_path)
        if module == "keras_softplus":
            # The top level re-exports; each name is documented where it lives.
            continue
        for name in names:
            if f"{module}.{name}" not in inventory:
                missing.append(f"{module}.{name}")
    assert not missing, f"not in the API reference (docs/api/): {missing}"


def _load_docs_script(name):
    """docs/<name>.py, loaded as a module (the docs scripts are no package)."""
    spec = importlib.util.spec_from_file_location(
        name, os.path.join(DOCS_DIR, f"{name}.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_constants_table_matches_the_kernel_constants():
    """docs/snippets/constants.md is generated; it must match _constants.py."""
    make_plots = _load_docs_script("make_plots")
    with open(os.path.join(DOCS_DIR, "snippets", "constants.md")) as handle:
        committed = handle.read()
    assert committed == make_plots.constants_table(), (
        "docs/snippets/constants.md is stale: run `python docs/make_plots.py`"
    )


def test_generated_figures_are_committed():
    make_plots = _load_docs_script("make_plots")
    for name in make_plots.FIGURES:
        path = os.path.join(DOCS_DIR, "img", name)
        assert os.path.getsize(path) > 10_000, path


def _html_pages(site):
    for base, _, names in os.walk(site):
        for name in names:
            if name.endswith(".html"):
                with open(os.path.join(base, name), encoding="utf-8") as handle:
                    yield os.path.relpath(os.path.join(base, name), site), handle.read()


# A resource that a page loads from another host: <script src>, <link href>
# (stylesheets, fonts, preconnects; not rel=canonical, which names this page)
# or <img src> with an absolute URL.
_REMOTE_RESOURCE = re.compile(
    r"<(?:script|img|iframe)\b[^>]*\bsrc=[\"'](?:https?:)?//"
    r"|<link\b(?![^>]*\brel=[\"']?(?:canonical|alternate))[^>]*\bhref=[\"'](?:https?:)?//",
    re.IGNORECASE,
)


def test_site_loads_nothing_from_another_host(site):
    offenders = {
        page: _REMOTE_RESOURCE.findall(html)
        for page, html in _html_pages(site)
        if _REMOTE_RESOURCE.search(html)
    }
    assert not offenders, offenders
    mathjax = site / "javascripts" / "vendor" / "mathjax"
    assert (mathjax / "tex-chtml.js").stat().st_size > 500_000
    assert len(
        list((mathjax / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"))
    )
    assert "Apache License" in (mathjax / "LICENSE").read_text()
    index = (site / "index.html").read_text(encoding="utf-8")
    assert "javascripts/vendor/mathjax/tex-chtml.js" in index


def test_math_sources_have_no_escaped_underscore_in_text():
    offenders = []
    for base, _, names in os.walk(DOCS_DIR):
        for name in names:
            if name.endswith(".md"):
                path = os.path.join(base, name)
                with open(path, encoding="utf-8") as handle:
                    for number, line in enumerate(handle, 1):
                        if re.search(r"\\(?:text|operatorname)\{[^}]*\\_", line):
                            offenders.append(f"{path}:{number}")
    assert not offenders


def test_long_display_equations_are_broken_into_lines():
    """A display line longer than this is clipped on a laptop-width page."""
    offenders = []
    for base, _, names in os.walk(DOCS_DIR):
        for name in names:
            if not name.endswith(".md"):
                continue
            path = os.path.join(base, name)
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
            for block in re.findall(
                r"^\$\$\n(.*?)^\$\$", text, re.MULTILINE | re.DOTALL
            ):
                offenders += [
                    (path, line) for line in block.splitlines() if len(line) > 110
                ]
    assert not offenders


NOTEBOOKS = sorted(
    name[: -len(".ipynb")]
    for name in os.listdir(os.path.join(REPO_ROOT, "examples", "notebooks"))
    if name.endswith(".ipynb")
)


def test_notebooks_are_pages_with_their_outputs(site):
    assert len(NOTEBOOKS) >= 4
    for name in NOTEBOOKS:
        html = (site / "notebooks" / name / "index.html").read_text(encoding="utf-8")
        assert "data:image/png;base64" in html, name
        assert "keras.Sequential" in html, name
        # The page's download link serves this copy (tests/test_docs_browser.py
        # follows it in a browser).
        assert (site / "notebooks" / name / f"{name}.ipynb").is_file(), name


def test_flagship_page_shows_its_figure_and_scores(site):
    page = site / "notebooks" / "heteroscedastic_regression" / "index.html"
    html = page.read_text(encoding="utf-8")
    assert re.search(r"<img [^>]*src=\"data:image/png;base64", html)  # its figure
    for row in ("constant variance", "single network", "ensemble of 5"):
        assert row in html, row


def test_readme_figures_are_generated_from_the_results():
    hooks = _load_docs_script("hooks")
    with open(os.path.join(REPO_ROOT, "README.md"), encoding="utf-8") as handle:
        readme = handle.read()
    (block,) = re.findall(r"<!-- figures -->\n(.*?)<!-- /figures -->", readme, re.S)
    assert block == hooks.readme_block(), (
        "stale README figures: run python docs/hooks.py"
    )


def test_pages_quote_figures_from_the_results(site):
    """Each page's figures are filled in from the JSON, the same as the README's."""
    figures = _load_docs_script("hooks").figures()
    summary = (site / "benchmarks" / "summary" / "index.html").read_text("utf-8")
    for name in ("ops_learned_jit_1m", "backend_jax_1m", "step_beta_softplus_jit"):
        assert figures[name] in summary, name
    home = (site / "index.html").read_text("utf-8")
    assert f"{figures['ulp_dbeta']} ulp" in home
    for head in ("NormalHead", "StudentTHead", "PoissonHead", "NegativeBinomialHead"):
        assert head in home, head
    assert "GammaHead" in home
    for page, html in _html_pages(site):
        assert not re.search(r"\{\{\s*\w+\s*\}\}", html), page


def test_prose_asterisks_are_not_emphasis(site):
    html = (site / "benchmarks" / "accuracy" / "index.html").read_text("utf-8")
    assert "beta*x &gt; 20" in html and "beta<em>" not in html


def test_signatures_are_formatted(site):
    html = (site / "api" / "layers" / "index.html").read_text(encoding="utf-8")
    assert "doc-signature" in html
    assert importlib.util.find_spec("black") is not None


def test_config_names_the_site_and_the_repository():
    with open(os.path.join(REPO_ROOT, "mkdocs.yml"), encoding="utf-8") as handle:
        config = handle.read()
    assert re.search(r"^site_url: https://\S+/$", config, re.MULTILINE)
    assert re.search(r"^repo_url: https://github\.com/\S+$", config, re.MULTILINE)


def test_results_pages_speak_to_users(site):
    for page in ("examples", "benchmarks/uci", "benchmarks/summary"):
        html = (site / page / "index.html").read_text(encoding="utf-8").lower()
        for word in ("not met", "verdict", "this session", "targets"):
            assert word not in html, (page, word)
    for page, html in _html_pages(site):
        for remark in ("wall time", "other jobs shared", "the test suite runs it"):
            assert remark not in html.lower(), (page, remark)


def test_api_pages_show_no_private_class(site):
    for page, html in _html_pages(site):
        if page.startswith("api"):
            assert not re.search(r"\b_[A-Z]\w+", html), page


def test_one_nav_entry_per_topic():
    with open(os.path.join(REPO_ROOT, "mkdocs.yml"), encoding="utf-8") as handle:
        entries = re.findall(
            r"^\s+- \"?(.*?)\"?:\s+(\S+\.(?:md|ipynb))$", handle.read(), re.M
        )
    titles = [title.lower() for title, _ in entries]
    pages = [page for _, page in entries]
    assert len(pages) == len(set(pages))
    # A title that begins another ("Distributed training", "Distributed
    # training and backends") names one topic twice.
    assert not [(a, b) for a in titles for b in titles if a != b and b.startswith(a)]
