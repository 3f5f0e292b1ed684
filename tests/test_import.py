"""`import custsuccess` is cheap: no heavy library is imported, and every public name
resolves lazily."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import custsuccess

HEAVY = ("pandas", "matplotlib", "scipy", "dask", "numpy", "custsuccess.plugins")


def test_import_loads_nothing_heavy() -> None:
    code = (
        "import sys, json, custsuccess; "
        f"print(json.dumps([m for m in {list(HEAVY)!r} if m in sys.modules]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(out) == []


def test_every_public_name_resolves() -> None:
    for name in custsuccess.__all__:
        assert getattr(custsuccess, name) is not None, name
    assert set(custsuccess.__all__) <= set(dir(custsuccess))


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
        _ = custsuccess.Nope
