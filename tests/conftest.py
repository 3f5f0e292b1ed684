"""Shared fixtures (kept small: each test module builds its own data), and the ``peer``
marker put on every test that compares with a peer library."""

from __future__ import annotations

import inspect
import re

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


#: A test whose source names a peer library compares with it (helpers such as
#: ``_compare_with_lifelines`` or ``needs_lifetimes`` included; ``lifetimes_from`` is ours).
_PEER_SOURCE = re.compile(r"lifelines|(?<![A-Za-z])lifetimes(?!_from)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that compares with lifelines or lifetimes as ``peer``, so the peer
    environment runs them all with ``-m peer`` (scripts/check) even when nobody wrote the
    marker; where the peers are not installed they skip themselves."""
    for item in items:
        function = getattr(item, "function", None)
        if function is None or item.get_closest_marker("peer") is not None:
            continue
        try:
            source = inspect.getsource(inspect.unwrap(function))
        except (OSError, TypeError):
            continue
        if _PEER_SOURCE.search(source):
            item.add_marker(pytest.mark.peer)
