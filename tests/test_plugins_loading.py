"""Loading installed plugins: entry-point name clashes between distributions, plugins that
call sys.exit() when imported, and hook implementations that forgot @hookimpl."""

from __future__ import annotations

import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any

import pytest

from custsuccess import PluginError, Registry, hookimpl
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


EXITING_PLUGIN = """
import sys
sys.exit(3)
"""


def test_a_plugin_calling_sys_exit_on_import_is_reported_not_fatal(site: Path) -> None:
    install(site, "quitter", "1.0", "quitter", "quitter_mod", EXITING_PLUGIN)
    install(site, "good-plugin", "0.1", "good", "good_mod", METRIC_PLUGIN.format(name="good"))
    registry = Registry(builtins=False, deny=["example"])
    with pytest.warns(PluginWarning, match=r"plugin 'quitter'.*called sys\.exit\(3\)"):
        metrics = registry.metrics()
    assert list(metrics) == ["good.metric"]
    with pytest.raises(PluginError, match=r"plugin 'quitter'.*sys\.exit\(3\)"):
        Registry(builtins=False, deny=["example"], strict=True).metrics()


def test_sys_exit_in_a_subprocess_host_keeps_running(site: Path) -> None:
    """The whole host, end to end: it prints after the plugin tried to exit."""
    import subprocess

    install(site, "quitter", "1.0", "quitter", "quitter_mod", EXITING_PLUGIN)
    code = textwrap.dedent(
        """
        import warnings
        from custsuccess import Registry
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            Registry(builtins=False, deny=["example"]).plugin_names()
        print("still running;", caught[0].message)
        """
    )
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "still running; plugin 'quitter'" in done.stdout


# --------------------------------------------------------------------------- @hookimpl


class Forgetful:
    """Implements a hook but forgot the marker."""

    def register_metrics(self, register: Any) -> None:
        raise AssertionError("never called")


class HalfMarked:
    @hookimpl
    def register_metrics(self, register: Any) -> None:
        pass

    def register_health_rules(self, register: Any) -> None:
        raise AssertionError("never called")

    def helper(self) -> None:  # not named like a hook: fine
        pass


def test_a_forgotten_hookimpl_warns_naming_the_plugin_and_method() -> None:
    with pytest.warns(PluginWarning, match=r"plugin '.*Forgetful' has register_metrics "
                                           r"without @custsuccess\.hookimpl"):
        Registry([Forgetful()], builtins=False, entry_points=False)
    with pytest.warns(PluginWarning, match=r"HalfMarked' has register_health_rules without"):
        registry = Registry([HalfMarked()], builtins=False, entry_points=False)
    assert registry.plugins()[0].hooks == ("register_metrics",)
    with pytest.raises(PluginError, match=r"Forgetful' has register_metrics without"):
        Registry([Forgetful()], builtins=False, entry_points=False, strict=True)


def test_marked_plugins_and_builtins_do_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Registry(entry_points=False).plugin_names()


def test_a_forgotten_hookimpl_in_an_installed_plugin_warns(site: Path) -> None:
    source = METRIC_PLUGIN.format(name="lazy").replace("@hookimpl\n", "")
    install(site, "lazy-plugin", "1.0", "lazy", "lazy_mod", source)
    with pytest.warns(PluginWarning, match="plugin 'lazy' has register_metrics without"):
        assert Registry(builtins=False, deny=["example"]).metrics() == {}
