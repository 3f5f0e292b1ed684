"""Shared fixtures (kept small: each test module builds its own data)."""

from __future__ import annotations

import pytest

from custsuccess.plugins import AUTOLOAD_ENV_VAR, Registry


@pytest.fixture(autouse=True)
def _no_plugin_autoload(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests do not see installed third-party plugins (such as examples/plugin-example)
    unless they ask for them with the ``plugin_autoload`` fixture: what happens to be
    installed in a developer's environment must not change test results."""
    monkeypatch.setenv(AUTOLOAD_ENV_VAR, "1")


@pytest.fixture
def plugin_autoload(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let registries created in this test load entry points."""
    monkeypatch.delenv(AUTOLOAD_ENV_VAR, raising=False)


@pytest.fixture
def builtin_registry() -> Registry:
    """A registry of custsuccess's built-in plugins only (no entry points)."""
    return Registry(entry_points=False)
