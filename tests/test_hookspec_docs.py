"""Every hook in :mod:`custsuccess.hookspecs` is documented in docs/plugins.md and tested.

Like datasette's ``tests/test_docs.py``: a new hookspec without a ``###`` section in the
plugin guide, or without a test under ``tests/`` that mentions it, fails here. The
"Hook reference" section of docs/plugins.md is generated from the hookspec docstrings:
run ``python tests/test_hookspec_docs.py --write`` to regenerate it.
"""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path

import pytest

from custsuccess import hookspecs

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "plugins.md"
TESTS = Path(__file__).resolve().parent
START = "<!-- hook-reference:start -->"
END = "<!-- hook-reference:end -->"


def hook_names() -> list[str]:
    """The hookspecs, in source order."""
    names = [
        name
        for name, obj in vars(hookspecs).items()
        if inspect.isfunction(obj) and hasattr(obj, f"{hookspecs.PROJECT_NAME}_spec")
    ]
    return sorted(names, key=lambda n: getattr(hookspecs, n).__code__.co_firstlineno)


def _markdown(text: str) -> str:
    """reST roles and double backquotes of a docstring, as Markdown code spans."""
    text = re.sub(r":[a-z]+:`~?([^`]+)`", r"`\1`", text)
    return text.replace("``", "`")


def render_section(name: str) -> str:
    func = getattr(hookspecs, name)
    signature = inspect.signature(func)
    params = ", ".join(f"{p.name}: {p.annotation}" for p in signature.parameters.values())
    doc = _markdown(inspect.getdoc(func) or "")
    return (
        f"### {name}\n\n```python\n@hookimpl\ndef {name}({params}) -> "
        f"{signature.return_annotation}: ...\n```\n\n{doc}\n"
    )


def render_reference() -> str:
    return "\n".join(render_section(name) for name in hook_names())


def documented_reference(text: str) -> str:
    start, end = text.index(START) + len(START), text.index(END)
    return text[start:end].strip("\n")


def write_reference() -> None:
    text = DOCS.read_text(encoding="utf-8")
    start, end = text.index(START) + len(START), text.index(END)
    DOCS.write_text(text[:start] + "\n" + render_reference() + "\n" + text[end:], "utf-8")


def test_there_are_hooks() -> None:
    assert set(hook_names()) >= {
        "register_health_rules",
        "register_churn_reasons",
        "register_metrics",
        "register_playbooks",
        "health_tier_changed",
    }


@pytest.mark.parametrize("name", hook_names())
def test_hook_has_a_docs_section(name: str) -> None:
    headings = re.findall(r"^### (.+)$", DOCS.read_text(encoding="utf-8"), flags=re.M)
    assert name in [h.strip().strip("`") for h in headings], (
        f"hook {name} has no '### {name}' section in docs/plugins.md"
    )


@pytest.mark.parametrize("name", hook_names())
def test_hook_has_a_docstring(name: str) -> None:
    doc = inspect.getdoc(getattr(hookspecs, name)) or ""
    assert len(doc.split()) >= 20, f"hook {name} needs a real docstring for plugin authors"


@pytest.mark.parametrize("name", hook_names())
def test_hook_is_tested(name: str) -> None:
    here = Path(__file__).resolve()
    mentioned = [
        path.name
        for path in TESTS.glob("test_*.py")
        if path.resolve() != here and re.search(rf"\b{name}\b", path.read_text("utf-8"))
    ]
    assert mentioned, f"hook {name} is not mentioned by any test in tests/"


def test_reference_matches_the_docstrings() -> None:
    documented = documented_reference(DOCS.read_text(encoding="utf-8"))
    assert documented == render_reference().strip("\n"), (
        "docs/plugins.md's hook reference is out of date: "
        "run python tests/test_hookspec_docs.py --write"
    )


def test_markdown_conversion() -> None:
    assert _markdown("see :class:`~custsuccess.typing.Metric` and ``x``") == (
        "see `custsuccess.typing.Metric` and `x`"
    )


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        write_reference()
    else:
        print(render_reference())
