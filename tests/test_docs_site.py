"""The built documentation site has no rendering faults: no example shown as nested
blockquotes (a bare ``>>>`` line outside a code fence), no formula left as raw ``$...$``
text, and every formula rendered as MathML at build time (no script, no network)."""

from __future__ import annotations

import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytest.importorskip("mkdocs")
pytest.importorskip("latex2mathml")

_RAW_FORMULA = re.compile(r"\$\$|\$[^\s$][^$\n]*?[^\s$\\]\$|\$[^\s$]\$")
_VERBATIM = {"code", "pre", "script", "style", "math", "kbd", "samp"}


class _Faults(HTMLParser):
    """Collects blockquotes holding ``>>>`` and raw ``$`` formulas in a page's text."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.faults: list[str] = []
        self.formulas = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "math":
            self.formulas += 1
        if tag == "blockquote" and "blockquote" in self.stack:
            # Markdown reads a bare ">>> x" line as blockquotes three deep holding "x"
            self.faults.append("nested blockquotes: a bare >>> example outside a code fence")
        if tag not in ("br", "img", "hr", "input", "meta", "link", "wbr"):
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.stack:
            while self.stack and self.stack.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        if "blockquote" in self.stack and ">>>" in data:
            self.faults.append(f"an example in a blockquote: {data.strip()[:60]!r}")
        if not _VERBATIM.intersection(self.stack):
            raw = _RAW_FORMULA.search(data)
            if raw:
                self.faults.append(f"a raw formula: {raw.group(0)[:60]!r}")


def faults_of(page: str) -> tuple[list[str], int]:
    parser = _Faults()
    parser.feed(page)
    return parser.faults, parser.formulas


def test_the_checker_finds_both_faults() -> None:
    import markdown

    bare = markdown.markdown("An example:\n\n>>> 1 + 1\n2\n\nThe rate $\\lambda$, $5 or $6.")
    fenced = markdown.markdown("```pycon\n>>> 1 + 1  # $x$\n2\n\n```", extensions=["fenced_code"])
    faults, formulas = faults_of(bare + fenced)
    assert faults == [
        "nested blockquotes: a bare >>> example outside a code fence",
        "nested blockquotes: a bare >>> example outside a code fence",
        "a raw formula: '$\\\\lambda$'",
    ]
    assert formulas == 0
    assert faults_of(fenced) == ([], 0)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(out)],
        cwd=ROOT, check=True, capture_output=True, timeout=600,
    )
    return out


def test_no_page_has_rendering_faults(site: Path) -> None:
    pages = sorted(site.rglob("*.html"))
    assert len(pages) >= 10
    found = {}
    for page in pages:
        faults, _ = faults_of(page.read_text(encoding="utf-8"))
        if faults:
            found[str(page.relative_to(site))] = faults[:3]
    assert found == {}


def test_formulas_are_mathml_without_scripts(site: Path) -> None:
    page = (site / "clv" / "index.html").read_text(encoding="utf-8")
    _, formulas = faults_of(page)
    assert formulas >= 20  # the CLV models' formulas
    assert 'class="arithmatex"' not in page  # every one converted at build time
    assert 'alttext="\\lambda \\sim \\text{Gamma}(r, \\alpha)"' in page
    for page_path in site.rglob("*.html"):
        text = page_path.read_text(encoding="utf-8")
        assert "mathjax" not in text.lower()
        assert "katex" not in text.lower()


def test_doc_sources_fence_every_example() -> None:
    """The Markdown sources fence their examples themselves (they are doctested in place
    and read on code hosts too, which know nothing of the site's build)."""
    bare = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        fenced = False
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.lstrip().startswith(("```", "~~~")):
                fenced = not fenced
            elif not fenced and line.lstrip().startswith(">>>"):
                bare.append(f"{path.name}:{number}")
    assert bare == []
