// MathJax configuration (the script itself is vendored under vendor/mathjax/).
// Pages: pymdownx.arithmatex (generic mode) wraps math in \( \) and \[ \].
// Notebook pages (mkdocs-jupyter): Markdown cells keep Jupyter's $ and $$.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"], ["$", "$"]],
    displayMath: [["\\[", "\\]"], ["$$", "$$"]],
    processEscapes: true,
    processEnvironments: true,
  },
  options: {
    ignoreHtmlClass: ".*|",
    processHtmlClass: "arithmatex|jp-RenderedMarkdown",
  },
};

document$.subscribe(() => {
  MathJax.startup.output.clearCache();
  MathJax.typesetClear();
  MathJax.texReset();
  MathJax.typesetPromise();
});
