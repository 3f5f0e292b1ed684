"""MkDocs hook: how the site renders two things the Markdown source cannot say itself.

* Formulas written ``$...$`` / ``$$...$$`` (found by pymdownx.arithmatex) become MathML at
  build time, so pages show math with no script and no network: browsers render MathML
  themselves, screen readers read it, and it prints.
* Doctest examples in docstrings (bare ``>>>`` lines, as Python writes them) are shown as
  ``pycon`` code blocks in the API reference instead of Markdown's nested blockquotes.
"""

from __future__ import annotations

import html
import re
from typing import Any

from latex2mathml.converter import convert
from markdown import Extension, Markdown
from markdown.preprocessors import Preprocessor

# pymdownx.arithmatex with generic: true wraps formulas as \( ... \) and \[ ... \]
_INLINE = re.compile(r'<span class="arithmatex">\\\((.*?)\\\)</span>', re.S)
_BLOCK = re.compile(r'<div class="arithmatex">\\\[(.*?)\\\]</div>', re.S)
_FENCE = re.compile(r"^\s*(```|~~~)")


def _mathml(latex: str, display: str) -> str:
    tex = html.unescape(latex).strip()
    mathml = convert(tex, display=display)
    # the source as alternative text for tools that do not read MathML
    return mathml.replace("<math ", f'<math alttext="{html.escape(tex)}" ', 1)


class _DoctestFence(Preprocessor):
    """Wraps each run of bare doctest lines (``>>>`` to the next blank line) in a fence."""

    def run(self, lines: list[str]) -> list[str]:
        out: list[str] = []
        fenced = False
        i = 0
        while i < len(lines):
            line = lines[i]
            if _FENCE.match(line):
                fenced = not fenced
            elif not fenced and line.lstrip().startswith(">>>"):
                indent = line[: len(line) - len(line.lstrip())]
                block = []
                while i < len(lines) and lines[i].strip():
                    block.append(lines[i])
                    i += 1
                out += [f"{indent}```pycon", *block, f"{indent}```"]
                continue
            out.append(line)
            i += 1
        return out


class DoctestFenceExtension(Extension):
    def extendMarkdown(self, md: Markdown) -> None:  # noqa: N802 (Markdown's API)
        # before fenced_code (priority 25), which then renders the fences
        md.preprocessors.register(_DoctestFence(md), "doctest_fence", 30)


def on_config(config: Any, **_: Any) -> Any:
    config.markdown_extensions.append(DoctestFenceExtension())
    return config


def on_page_content(html_text: str, **_: Any) -> str:
    html_text = _BLOCK.sub(
        lambda m: f'<div class="math">{_mathml(m.group(1), "block")}</div>', html_text
    )
    return _INLINE.sub(lambda m: _mathml(m.group(1), "inline"), html_text)
