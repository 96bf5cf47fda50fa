// MathJax configuration (the script itself is vendored under vendor/mathjax/).
// Pages: pymdownx.arithmatex (generic mode) wraps math in \( \) and \[ \],
// inside elements of class "arithmatex".
// Notebook pages (mkdocs-jupyter): Markdown cells keep Jupyter's $ and $$,
// inside elements of class "jp-RenderedMarkdown".
//
// MathJax skips an element whose class matches ignoreHtmlClass unless it
// matches processHtmlClass; an element without a class inherits its parent's
// choice. ".+" ignores every element with a class (the theme's layout, code
// cells) but not the class-less <p> and <li> inside a notebook's Markdown.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"], ["$", "$"]],
    displayMath: [["\\[", "\\]"], ["$$", "$$"]],
    processEscapes: true,
    processEnvironments: true,
  },
  options: {
    ignoreHtmlClass: ".+",
    processHtmlClass: "arithmatex|jp-RenderedMarkdown",
  },
};

// The theme's document$ emits once per page load (instant navigation is off).
// Typeset after MathJax's own start-up; the output's glyph cache is kept: clearing
// it drops the CSS rules that draw the glyphs, and the math shows blank.
document$.subscribe(() => {
  if (!MathJax.startup) return; // not loaded yet: its start-up typesets the page
  MathJax.startup.promise.then(() => {
    MathJax.typesetClear();
    MathJax.texReset();
    return MathJax.typesetPromise();
  });
});
