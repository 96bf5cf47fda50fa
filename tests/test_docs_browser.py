"""The built site, opened in headless Chromium as a reader opens it.

The site is built strictly, served on 127.0.0.1 and every page that has math
(and every notebook page) is loaded in Debian's `chromium` through Selenium and
`chromium-driver`. On each page, MathJax must have typeset every formula into
glyphs that are drawn (a glyph is drawn by a CSS rule of MathJax's output with
a MathJax font that has loaded), and no raw TeX may be left in the text a
reader sees. A screenshot of each page is kept in a temporary folder (its path
is printed; `pytest -s` shows it). `.ci/run` installs Chromium when missing.
"""

import functools
import http.server
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import threading

import pytest

webdriver = pytest.importorskip("selenium.webdriver")

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
NOTEBOOKS = sorted(
    name[: -len(".ipynb")]
    for name in os.listdir(os.path.join(REPO_ROOT, "examples", "notebooks"))
    if name.endswith(".ipynb")
)
# Pages that must be found to hold math: a broken selection fails here.
MATH_PAGES = {
    "math/",
    "user-guide/beta-softplus/",
    "user-guide/positive-weights/",
    "user-guide/heads-and-losses/",
    "user-guide/mixed-precision/",
    "user-guide/saving/",
    "benchmarks/accuracy/",
}

# Runs in the page: what a reader sees of the math. Text in code is left out;
# in the rest, TeX commands or math delimiters would be raw TeX.
READ_PAGE = """
const main = document.querySelector("article") || document.body;
const clone = main.cloneNode(true);
clone.querySelectorAll("pre, code, mjx-container, script, style, .MathJax_Preview")
  .forEach((element) => element.remove());
document.body.appendChild(clone);
clone.style.position = "absolute";
const text = clone.innerText;
clone.remove();
const containers = [...document.querySelectorAll("mjx-container")];
const blank = containers.filter((container) => {
  const box = container.getBoundingClientRect();
  const drawn = [...container.querySelectorAll("mjx-c")].some((glyph) => {
    const before = getComputedStyle(glyph, "::before");
    return before.content !== "none" && before.content !== "normal"
      && before.content !== '""' && glyph.getBoundingClientRect().width > 0;
  });
  return !drawn || box.width === 0 || box.height === 0;
});
const fonts = [...document.fonts].filter((font) => font.status === "loaded")
  .map((font) => font.family.replace(/"/g, ""));
return {
  containers: containers.length,
  sources: document.querySelectorAll(".arithmatex").length,
  blank: blank.slice(0, 5).map((container) => container.outerHTML.slice(0, 200)),
  fonts: [...new Set(fonts)],
  text: text,
};
"""
RAW_TEX = re.compile(
    r"\\[A-Za-z]{2,}\b|\\[()\[\]]|\$\$|\$[^$\s][^$\n]*\$|\\begin\{|[_^]\{"
)
WAIT_FOR_MATHJAX = """
const done = arguments[arguments.length - 1];
const ready = () => window.MathJax && MathJax.startup && MathJax.startup.promise;
const start = Date.now();
(function poll() {
  if (ready()) {
    MathJax.startup.promise.then(() => document.fonts.ready)
      .then(() => done("ok"), (error) => done(String(error)));
  } else if (Date.now() - start > 20000) {
    done("MathJax did not load");
  } else {
    setTimeout(poll, 50);
  }
})();
"""


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Builds the site strictly and serves it on 127.0.0.1; yields (dir, url)."""
    site_dir = tmp_path_factory.mktemp("browser_site")
    completed = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", site_dir],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, NO_MKDOCS_2_WARNING="1"),
    )
    assert completed.returncode == 0, completed.stderr[-8000:]
    handler = functools.partial(_QuietHandler, directory=str(site_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield site_dir, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser():
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.fail(
            "Chromium and its driver are needed: apt-get install chromium "
            "chromium-driver (.ci/run installs them)"
        )
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,1000",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_script_timeout(30)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def screenshots():
    """A new temporary folder, kept after the run (pytest's own rotate away)."""
    folder = pathlib.Path(tempfile.mkdtemp(prefix="keras_softplus-docs-screenshots-"))
    print(f"\nscreenshots of the docs pages: {folder}")
    return folder


def _pages_with_math(site_dir):
    pages = set()
    for base, _, names in os.walk(site_dir):
        for name in names:
            if name == "index.html":
                path = os.path.join(base, name)
                with open(path, encoding="utf-8") as handle:
                    if 'class="arithmatex"' in handle.read():
                        relative = os.path.relpath(base, site_dir)
                        pages.add("" if relative == "." else relative + "/")
    return pages


def _open(browser, url, screenshots, page):
    browser.get(url)
    assert browser.execute_async_script(WAIT_FOR_MATHJAX) == "ok", page
    seen = browser.execute_script(READ_PAGE)
    name = page.strip("/").replace("/", "_") or "home"
    browser.save_screenshot(str(screenshots / f"{name}-top.png"))
    first = browser.find_elements("css selector", "mjx-container")
    if first:
        browser.execute_script(
            "arguments[0].scrollIntoView({block: 'center'});", first[0]
        )
    browser.save_screenshot(str(screenshots / f"{name}.png"))
    return seen


def _assert_typeset(seen, page):
    assert seen["containers"] > 0, f"{page}: no typeset formula"
    assert seen["containers"] >= seen["sources"], (page, seen["containers"])
    assert not seen["blank"], f"{page}: formulas without visible glyphs {seen['blank']}"
    # MathJax's CHTML fonts are MJXTEX*; MJXZERO has no glyphs.
    assert [font for font in seen["fonts"] if font.startswith("MJXTEX")], (
        f"{page}: no MathJax glyph font loaded, only {seen['fonts']}"
    )
    raw = sorted(set(RAW_TEX.findall(seen["text"])))
    assert not raw, f"{page}: raw TeX in the visible text: {raw[:10]}"


def test_every_page_with_math_is_typeset(site, browser, screenshots):
    site_dir, url = site
    pages = _pages_with_math(site_dir)
    assert pages >= MATH_PAGES, MATH_PAGES - pages
    failures = []
    for page in sorted(pages):
        seen = _open(browser, url + page, screenshots, page)
        try:
            _assert_typeset(seen, page)
        except AssertionError as error:
            failures.append(str(error))
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_page_is_typeset_and_links_to_its_notebook(
    name, site, browser, screenshots
):
    site_dir, url = site
    page = f"notebooks/{name}/"
    seen = _open(browser, url + page, screenshots, page)
    if "$" in _markdown_of(name):
        _assert_typeset(seen, page)
    else:
        raw = sorted(set(RAW_TEX.findall(seen["text"])))
        assert not raw, f"{page}: raw TeX in the visible text: {raw[:10]}"
    # Code lines (at most 88 characters) fit the column of a 1280-pixel window.
    wide = browser.execute_script(
        "return [...document.querySelectorAll('.jp-InputArea-editor pre')]"
        ".filter((pre) => pre.scrollWidth > pre.clientWidth + 1).length;"
    )
    assert wide == 0, f"{page}: {wide} code cells scroll sideways"
    # Its figures (the notebook's plot outputs) are drawn.
    drawn = browser.execute_script(
        "return [...document.querySelectorAll('.jp-OutputArea img')]"
        ".filter((image) => image.complete && image.naturalWidth > 100).length;"
    )
    assert drawn >= 1, f"{page}: no figure drawn"
    # The download link serves the notebook itself.
    download = browser.find_element("link text", "Download the notebook")
    href = download.get_attribute("href")
    assert href == url + f"{page}{name}.ipynb"
    with open(site_dir / "notebooks" / name / f"{name}.ipynb", encoding="utf-8") as f:
        assert json.load(f)["cells"]
    # Colab opens the repository's copy of the same file.
    colab = browser.find_element("link text", "Open in Colab").get_attribute("href")
    prefix = (
        "https://colab.research.google.com/github/keras-softplus/keras_softplus"
        "/blob/main/"
    )
    assert colab.startswith(prefix), colab
    assert colab[len(prefix) :] == f"examples/notebooks/{name}.ipynb"
    assert os.path.isfile(os.path.join(REPO_ROOT, colab[len(prefix) :]))


def _markdown_of(name):
    path = os.path.join(REPO_ROOT, "examples", "notebooks", f"{name}.ipynb")
    with open(path, encoding="utf-8") as handle:
        cells = json.load(handle)["cells"]
    return "".join(
        "".join(cell["source"]) for cell in cells if cell["cell_type"] == "markdown"
    )
