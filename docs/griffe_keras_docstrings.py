"""Griffe extension: renders the package's Keras-style docstrings.

The package's docstrings are Google style (`Args:`, `Returns:`, `Raises:`)
with Keras' conventions on top, which a Google-style parser reads as plain
text:

- `Example:` followed by a blank line and an *unindented* doctest. Rendered
  as text, `>>>` turns into nested block quotes.
- `Formula:` followed by an unindented fenced code block.
- `Reference:` (and other `Title:` lines, such as `Uses:`) followed directly
  by a list, which Markdown then joins into the paragraph; the same for a
  list right after a paragraph line.

This extension rewrites only griffe's in-memory copy of each docstring (the
source and the doctests are untouched): such a block is indented under its
title, so that griffe parses `Example:` as an Examples section (doctests
become highlighted `pycon` code) and the others as admonitions; a list gets
the blank line above it that Markdown needs. Any doctest left outside an
Examples section is fenced as `pycon` code.

Enabled in `mkdocs.yml` under the mkdocstrings Python handler's
`extensions` option.
"""

import re

import griffe

# A Keras-style title on a line of its own, at the docstring's left margin.
_TITLE = re.compile(r"^([A-Z][A-Za-z ]*):\s*$")
# Titles griffe already parses as Google sections when indented; their
# indented content is left alone.
_EXAMPLE_TITLES = {"Example", "Examples"}
_FENCE = re.compile(r"^(```|~~~)")


def _indent(lines):
    return ["    " + line if line.strip() else "" for line in lines]


def _fenced_block(lines, start):
    """End (exclusive) of the fenced code block opening at `lines[start]`."""
    fence = _FENCE.match(lines[start]).group(1)
    for index in range(start + 1, len(lines)):
        if lines[index].startswith(fence):
            return index + 1
    return len(lines)


def _list_block(lines, start):
    """End (exclusive) of the Markdown list starting at `lines[start]`."""
    index = start
    while index < len(lines) and (
        lines[index].startswith(("- ", "* ")) or lines[index].startswith(" ")
    ):
        index += 1
    return index


def _example_block(lines, start):
    """End (exclusive) of an example: up to the next title, or the end."""
    index = start
    while index < len(lines) and not _TITLE.match(lines[index]):
        index += 1
    while index > start and not lines[index - 1].strip():
        index -= 1
    return index


def _fence_doctests(lines):
    """Fences each run of doctest lines (prompt to blank line) as pycon."""
    result, index = [], 0
    while index < len(lines):
        if lines[index].startswith(">>>"):
            end = index
            while end < len(lines) and lines[end].strip():
                end += 1
            result += ["```pycon", *lines[index:end], "```"]
            index = end
        else:
            result.append(lines[index])
            index += 1
    return result


def _separate_lists(lines):
    """A blank line before a list that directly follows a paragraph line.

    Markdown would otherwise join the list into the paragraph. Only lines at
    the left margin and outside fenced code are considered.
    """
    result, in_fence = [], False
    for line in lines:
        if _FENCE.match(line.strip()):
            in_fence = not in_fence
        previous = result[-1] if result else ""
        if (
            not in_fence
            and line.startswith(("- ", "* "))
            and previous.strip()
            and not previous.startswith((" ", "- ", "* "))
            and not _TITLE.match(previous)
        ):
            result.append("")
        result.append(line)
    return result


def rewrite(text):
    """The docstring `text` with its Keras-style blocks made Google style."""
    lines = _separate_lists(text.split("\n"))
    result, index, in_fence = [], 0, False
    while index < len(lines):
        line = lines[index]
        if _FENCE.match(line.strip()):
            in_fence = not in_fence
        title = None if in_fence else _TITLE.match(line)
        if title is None:
            result.append(line)
            index += 1
            continue
        body = index + 1
        while body < len(lines) and not lines[body].strip():
            body += 1
        if body == len(lines) or lines[body].startswith(" "):
            # Already a Google section (indented), or a title at the end.
            result.append(line)
            index += 1
            continue
        name = title.group(1)
        if name in _EXAMPLE_TITLES:
            end, name = _example_block(lines, body), "Examples"
        elif _FENCE.match(lines[body]):
            end = _fenced_block(lines, body)
        elif lines[body].startswith(("- ", "* ")):
            end = _list_block(lines, body)
        else:
            result.append(line)
            index += 1
            continue
        if result and result[-1].strip():
            result.append("")
        result.append(f"{name}:")
        result += _indent(lines[body:end])
        # A blank line closes the section before any following prose.
        if end < len(lines) and lines[end].strip():
            result.append("")
        index = end
    return "\n".join(_fence_doctests_outside_examples(result))


def _fence_doctests_outside_examples(lines):
    """Applies `_fence_doctests` to the lines not inside an Examples section."""
    result, chunk, in_examples = [], [], False
    for line in lines:
        if line == "Examples:":
            result += _fence_doctests(chunk)
            chunk, in_examples = [], True
            result.append(line)
        elif in_examples and (line.startswith(" ") or not line.strip()):
            result.append(line)
        else:
            in_examples = False
            chunk.append(line)
    return result + _fence_doctests(chunk)


class KerasDocstrings(griffe.Extension):
    """Rewrites each docstring once, when its object is loaded."""

    def on_instance(self, *, obj, **kwargs):
        if obj.docstring is not None:
            obj.docstring.value = rewrite(obj.docstring.value)
