"""Loading installed plugins: entry-point name clashes between distributions."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from custsuccess import PluginError, Registry
from custsuccess.plugins import PluginWarning

METRIC_PLUGIN = """
import sys
from custsuccess import hookimpl

IMPORTS = getattr(sys, "_custsuccess_test_imports", [])
sys._custsuccess_test_imports = IMPORTS
IMPORTS.append(__name__)

class Metric:
    name = "{name}.metric"
    description = "a test metric"
    def compute(self, dataset, **options):
        return 1.0

@hookimpl
def register_metrics(register):
    register(Metric())
"""


def install(site: Path, distribution: str, version: str, entry: str, module: str,
            source: str) -> None:
    """A minimal installed distribution: a module and a dist-info with one entry point."""
    (site / f"{module}.py").write_text(source)
    info = site / f"{distribution.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n"
    )
    (info / "entry_points.txt").write_text(f"[custsuccess]\n{entry} = {module}\n")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plugin_autoload: None) -> Path:
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "_custsuccess_test_imports", [], raising=False)
    return tmp_path


def imported() -> list[str]:
    return list(getattr(sys, "_custsuccess_test_imports", []))


def test_two_distributions_declaring_one_name_are_reported_and_the_rest_load(
    site: Path,
) -> None:
    install(site, "acme-one", "1.0", "acme", "acme_one_mod", METRIC_PLUGIN.format(name="one"))
    install(site, "acme-two", "2.0", "acme", "acme_two_mod", METRIC_PLUGIN.format(name="two"))
    install(site, "good-plugin", "0.1", "good", "good_mod", METRIC_PLUGIN.format(name="good"))
    registry = Registry(builtins=False, deny=["example"])
    with pytest.warns(PluginWarning) as caught:
        metrics = registry.metrics()
    messages = [str(w.message) for w in caught if "acme" in str(w.message)]
    assert len(messages) == 1
    assert "'acme-one' 1.0" in messages[0]
    assert "'acme-two' 2.0" in messages[0]
    assert "none of them is loaded" in messages[0]
    assert "good.metric" in metrics  # the rest still loads
    assert "acme" not in registry.plugin_names()
    assert imported() == ["good_mod"]  # neither clashing package was imported


def test_allow_of_a_clashing_name_imports_neither(site: Path) -> None:
    install(site, "acme-one", "1.0", "acme", "acme_one_mod", METRIC_PLUGIN.format(name="one"))
    install(site, "acme-two", "2.0", "acme", "acme_two_mod", METRIC_PLUGIN.format(name="two"))
    with pytest.warns(PluginWarning, match=r"'acme-one'.*'acme-two'"):
        assert Registry(builtins=False, allow=["acme"]).plugin_names() == ()
    assert imported() == []
    with pytest.raises(PluginError, match=r"'acme-one'.*'acme-two'") as info:
        Registry(builtins=False, allow=["acme"], strict=True).plugin_names()
    assert info.value.plugin == "acme"
    assert imported() == []
