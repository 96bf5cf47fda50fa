// mkdocs-jupyter puts a MathJax <script> into every notebook page. It points
// here, and this file does nothing: MathJax (vendored, see mathjax.js) is
// loaded once for every page, notebooks included, by mkdocs.yml's
// extra_javascript, and typesets the notebooks' Markdown cells too.
