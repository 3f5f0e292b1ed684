"""The plugin Registry: collection, attribution, isolation, entry points and every error path.

These tests use their own plugins (modules built on the fly), so they do not depend on
what the built-in plugin modules contribute.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings
from collections.abc import Callable, Iterator
from types import ModuleType, SimpleNamespace
from typing import Any

import attrs
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import custsuccess
from custsuccess import hookimpl
from custsuccess.builtins import BUILTIN_PLUGIN_MODULES
from custsuccess.errors import PluginError, ValidationError
from custsuccess.plugins import (
    AUTOLOAD_ENV_VAR,
    Contribution,
    PluginWarning,
    Registry,
    call,
    check_array,
    guarded,
)
from custsuccess.typing import TierChange

# --------------------------------------------------------------------------- helpers


def rule(name: Any = "test.rule", **overrides: Any) -> SimpleNamespace:
    """A health-rule-shaped object; ``overrides`` replace or (with None) drop attributes."""
    attributes: dict[str, Any] = {
        "name": name,
        "description": f"The {name} rule.",
        "evaluate": lambda dataset, as_of: None,
    }
    return _shape(attributes, overrides)


def reason(name: Any = "test.reason", **overrides: Any) -> SimpleNamespace:
    attributes: dict[str, Any] = {
        "name": name,
        "description": "A churn reason.",
        "precedence": 5,
        "classify": lambda dataset, churned: None,
    }
    return _shape(attributes, overrides)


def metric(name: Any = "test.metric", **overrides: Any) -> SimpleNamespace:
    attributes: dict[str, Any] = {
        "name": name,
        "description": "A metric.",
        "compute": lambda dataset, **options: 42.0,
    }
    return _shape(attributes, overrides)


def playbook(name: Any = "test.playbook", **overrides: Any) -> SimpleNamespace:
    attributes: dict[str, Any] = {
        "name": name,
        "description": "A playbook.",
        "priority": 1,
        "recommend": lambda dataset, report: None,
    }
    return _shape(attributes, overrides)


_MISSING = object()


def _shape(attributes: dict[str, Any], overrides: dict[str, Any]) -> SimpleNamespace:
    attributes.update(overrides)
    return SimpleNamespace(**{k: v for k, v in attributes.items() if v is not _MISSING})


def registering(*values: object) -> Callable[..., None]:
    """A collecting hook implementation that registers ``values``."""

    def impl(register: Callable[[object], None]) -> None:
        for value in values:
            register(value)

    return impl


def plugin(name: str, **impls: Callable[..., Any]) -> ModuleType:
    """A plugin module called ``name`` whose hook implementations are ``impls``."""
    module = ModuleType(name)
    for hook, function in impls.items():
        setattr(module, hook, hookimpl(function))
    return module


@attrs.define
class FakeEntryPoint:
    """Stands in for importlib.metadata.EntryPoint: counts loads, can fail."""

    name: str
    target: object = None
    error: BaseException | None = None
    value: str = "fake_module"
    group: str = "custsuccess"
    dist: Any = None
    loads: int = 0

    def load(self) -> object:
        self.loads += 1
        if self.error is not None:
            raise self.error
        return self.target


@pytest.fixture
def fake_eps(
    monkeypatch: pytest.MonkeyPatch, plugin_autoload: None
) -> Callable[..., list[FakeEntryPoint]]:
    """Replace entry-point discovery with the given fake entry points (and let
    registries load entry points)."""

    def install(*eps: FakeEntryPoint) -> list[FakeEntryPoint]:
        found = list(eps)
        monkeypatch.setattr("custsuccess.plugins._entry_points", lambda: found)
        return found

    return install


def only(*plugins: object, **kwargs: Any) -> Registry:
    """A registry of just these plugins."""
    kwargs.setdefault("entry_points", False)
    return Registry(list(plugins), builtins=False, **kwargs)


# --------------------------------------------------------------------------- public API


def test_public_names() -> None:
    assert custsuccess.Registry is Registry
    assert custsuccess.Contribution is Contribution
    assert custsuccess.PluginWarning is PluginWarning
    from custsuccess.hookspecs import hookimpl as marker

    assert custsuccess.hookimpl is marker
    assert {"Registry", "Contribution", "hookimpl"} <= set(custsuccess.__all__)


def test_import_custsuccess_loads_no_plugin_code() -> None:
    code = textwrap.dedent(
        """
        import sys, custsuccess
        watched = ["custsuccess_plugin_example", "custsuccess.plugins", "numpy", "pandas",
                   "scipy", "matplotlib", "dask"]
        print(",".join(m for m in watched if m in sys.modules))
        custsuccess.hookimpl
        print(",".join(m for m in watched if m in sys.modules))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out == ["", ""]  # nothing, not even after touching the hookimpl marker


def test_registry_does_not_load_entry_points_until_used(
    fake_eps: Callable[..., list[FakeEntryPoint]],
) -> None:
    (ep,) = fake_eps(FakeEntryPoint("lazy", plugin("lazy_plugin")))
    registry = Registry()
    assert ep.loads == 0
    assert "entry points not loaded yet" in repr(registry)
    registry.metrics()
    registry.health_rules()
    registry.plugin_names()
    assert ep.loads == 1
    assert "lazy" in registry.plugin_names()


# --------------------------------------------------------------------------- collection


def test_each_kind_is_collected_with_its_plugin() -> None:
    registry = only(
        plugin(
            "acme",
            register_health_rules=registering(rule("acme.b"), rule("acme.a")),
            register_churn_reasons=registering(reason("acme.reason")),
            register_metrics=registering(metric("acme.metric")),
            register_playbooks=registering(playbook("acme.playbook")),
        )
    )
    rules = registry.health_rules()
    assert list(rules) == ["acme.a", "acme.b"]  # ordered by name, not registration
    assert rules["acme.a"] == Contribution(
        "acme.a", "acme", "register_health_rules", rules["acme.a"].value
    )
    assert rules["acme.a"].value.name == "acme.a"
    assert registry.churn_reasons()["acme.reason"].hook == "register_churn_reasons"
    assert registry.metrics()["acme.metric"].plugin == "acme"
    assert registry.playbooks()["acme.playbook"].value.priority == 1
    assert [c.name for c in registry.contributions()] == [
        "acme.a",
        "acme.b",
        "acme.reason",
        "acme.metric",
        "acme.playbook",
    ]


def test_contributions_are_read_only_and_cached() -> None:
    calls = []

    def impl(register: Callable[[object], None]) -> None:
        calls.append(1)
        register(metric("x.m"))

    registry = only(plugin("p", register_metrics=impl))
    first = registry.metrics()
    assert registry.metrics() is first
    assert calls == [1]
    with pytest.raises(TypeError):
        first["x.other"] = first["x.m"]  # type: ignore[index]


def test_contribution_is_a_frozen_record() -> None:
    value = metric("a.b")
    c = Contribution("a.b", "p", "register_metrics", value)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        c.name = "x"  # type: ignore[misc]
    assert c == Contribution("a.b", "p", "register_metrics", value)
    assert c != Contribution("a.b", "p", "register_metrics", metric("a.b"))  # identity
    assert hash(c) == hash(Contribution("a.b", "p", "register_metrics", metric("a.b")))
    assert c.kind == "metric"
    assert c.description == "A metric."
    assert str(c) == "metric 'a.b' of plugin 'p'"


def test_same_name_in_different_hooks_is_allowed() -> None:
    registry = only(
        plugin(
            "p",
            register_health_rules=registering(rule("shared.name")),
            register_metrics=registering(metric("shared.name")),
        )
    )
    assert set(registry.health_rules()) == set(registry.metrics()) == {"shared.name"}


def test_hookimpl_without_arguments_is_called() -> None:
    called = []
    registry = only(plugin("p", register_metrics=lambda: called.append(True)))
    assert registry.metrics() == {}
    assert called == [True]


def test_plugin_objects_and_classes_can_be_plugins() -> None:
    class Instance:
        @hookimpl
        def register_metrics(self, register: Callable[[object], None]) -> None:
            register(metric("inst.m"))

    class AsClass:
        @staticmethod
        @hookimpl
        def register_metrics(register: Callable[[object], None]) -> None:
            register(metric("cls.m"))

    registry = only(Instance(), AsClass)
    metrics = registry.metrics()
    assert metrics["inst.m"].plugin.endswith("Instance")
    assert metrics["cls.m"].plugin.endswith("AsClass")


def test_two_instances_of_one_class_get_distinct_names() -> None:
    class Twice:
        def __init__(self, name: str) -> None:
            self.name = name

        @hookimpl
        def register_metrics(self, register: Callable[[object], None]) -> None:
            register(metric(self.name))

    registry = only(Twice("a.m"), Twice("b.m"))
    a, b = registry.metrics()["a.m"].plugin, registry.metrics()["b.m"].plugin
    assert a != b
    assert b == a + "#2"


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.from_regex(r"[a-z]{1,4}\.[a-z_]{1,4}", fullmatch=True), unique=True, max_size=8),
    st.integers(1, 3),
)
def test_every_name_is_collected_once_with_its_plugin(names: list[str], n_plugins: int) -> None:
    owner = {name: f"plugin{i % n_plugins}" for i, name in enumerate(names)}
    plugins = [
        plugin(p, register_metrics=registering(*(metric(n) for n in names if owner[n] == p)))
        for p in sorted(set(owner.values()) | {"plugin0"})
    ]
    metrics = only(*plugins).metrics()
    assert list(metrics) == sorted(names)
    assert {n: c.plugin for n, c in metrics.items()} == owner


# --------------------------------------------------------------------------- built-ins


def test_builtins_are_registered_first() -> None:
    registry = Registry([plugin("mine")], entry_points=False)
    assert registry.plugin_names() == (*BUILTIN_PLUGIN_MODULES, "mine")
    assert {p.source for p in registry.plugins()[:4]} == {"builtin"}
    assert registry.plugins()[4].source == "explicit"
    assert Registry(builtins=False, entry_points=False).plugin_names() == ()


def test_every_builtin_contribution_is_valid(builtin_registry: Registry) -> None:
    # Collecting validates each contribution; every one must come from a built-in module.
    for contribution in builtin_registry.contributions():
        assert contribution.plugin in BUILTIN_PLUGIN_MODULES, contribution
        assert contribution.description.strip()


def test_builtin_plugin_lists_its_hooks(builtin_registry: Registry) -> None:
    info = {p.name: p for p in builtin_registry.plugins()}
    assert info["custsuccess.builtins.health_rules"].hooks == ("register_health_rules",)
    assert info["custsuccess.builtins.playbooks"].hooks == ("register_playbooks",)


# --------------------------------------------------------------------------- isolation


def test_two_registries_do_not_share_plugins() -> None:
    first = only(plugin("first", register_metrics=registering(metric("first.m"))))
    second = only(plugin("second", register_metrics=registering(metric("second.m"))))
    assert list(first.metrics()) == ["first.m"]
    assert list(second.metrics()) == ["second.m"]
    assert "second" not in first.plugin_names()
    assert "first" not in second.plugin_names()
    assert first._pm is not second._pm


def test_a_plugin_module_can_serve_two_registries() -> None:
    shared = plugin("shared", register_metrics=registering(metric("s.m")))
    assert only(shared).metrics()["s.m"].plugin == "shared"
    assert only(shared).metrics()["s.m"].plugin == "shared"


# --------------------------------------------------------------------------- errors


def test_duplicate_names_name_both_plugins() -> None:
    registry = only(
        plugin("alpha", register_health_rules=registering(rule("usage.recency"))),
        plugin("beta", register_health_rules=registering(rule("usage.recency"))),
    )
    with pytest.raises(PluginError) as info:
        registry.health_rules()
    message = str(info.value)
    assert "'alpha'" in message
    assert "'beta'" in message
    assert "'usage.recency'" in message
    assert "register_health_rules" in message
    assert (info.value.plugin, info.value.contribution, info.value.hook) == (
        "beta",
        "usage.recency",
        "register_health_rules",
    )


def test_duplicate_names_within_one_plugin() -> None:
    registry = only(plugin("solo", register_metrics=registering(metric("m.x"), metric("m.x"))))
    with pytest.raises(PluginError, match=r"plugin 'solo' \(twice\)"):
        registry.metrics()


BAD_CONTRIBUTIONS = [
    ("register_health_rules", rule(name=_MISSING), None, "has no 'name'"),
    ("register_health_rules", rule(name=""), None, "invalid name ''"),
    ("register_health_rules", rule(name="two words"), None, "invalid name 'two words'"),
    ("register_health_rules", rule(name="trailing."), None, "dotted identifier"),
    ("register_health_rules", rule(name=7), None, "invalid name 7"),
    ("register_health_rules", rule("r.x", description=_MISSING), "r.x", "no 'description'"),
    ("register_health_rules", rule("r.x", description="  "), "r.x", "invalid description"),
    ("register_health_rules", rule("r.x", description=None), "r.x", "invalid description"),
    ("register_health_rules", rule("r.x", description="a\nb"), "r.x", "several lines"),
    ("register_health_rules", rule("r.x", evaluate=_MISSING), "r.x", "no 'evaluate'"),
    ("register_health_rules", rule("r.x", evaluate="no"), "r.x", "'evaluate' that is not"),
    ("register_churn_reasons", reason("c.x", classify=_MISSING), "c.x", "no 'classify'"),
    ("register_churn_reasons", reason("c.x", precedence="1"), "c.x", "precedence = '1'"),
    ("register_churn_reasons", reason("c.x", precedence=True), "c.x", "precedence = True"),
    ("register_churn_reasons", reason("c.x", precedence=_MISSING), "c.x", "no 'precedence'"),
    ("register_metrics", metric("m.x", compute=_MISSING), "m.x", "no 'compute'"),
    ("register_playbooks", playbook("p.x", priority=1.5), "p.x", "priority = 1.5"),
    ("register_playbooks", playbook("p.x", recommend=None), "p.x", "'recommend' that is not"),
]


@pytest.mark.parametrize(("hook", "value", "contribution", "problem"), BAD_CONTRIBUTIONS)
def test_contribution_failing_its_protocol(
    hook: str, value: object, contribution: str | None, problem: str
) -> None:
    registry = only(plugin("sloppy", **{hook: registering(value)}))
    collect = {
        "register_health_rules": registry.health_rules,
        "register_churn_reasons": registry.churn_reasons,
        "register_metrics": registry.metrics,
        "register_playbooks": registry.playbooks,
    }[hook]
    with pytest.raises(PluginError) as info:
        collect()
    message = str(info.value)
    assert message.startswith("plugin 'sloppy': ")
    assert problem in message
    assert hook in message
    if contribution is not None:
        assert repr(contribution) in message
    assert (info.value.plugin, info.value.contribution, info.value.hook) == (
        "sloppy",
        contribution,
        hook,
    )


def test_contribution_whose_attribute_raises() -> None:
    class Exploding:
        name = "boom.rule"

        @property
        def description(self) -> str:
            raise RuntimeError("no description today")

        def evaluate(self, dataset: object, as_of: object) -> None:
            return None

    registry = only(plugin("explosive", register_health_rules=registering(Exploding())))
    with pytest.raises(PluginError, match=r"plugin 'explosive'.*no description today") as info:
        registry.health_rules()
    assert isinstance(info.value.__cause__, RuntimeError)


def test_hookimpl_that_raises() -> None:
    def impl(register: Callable[[object], None]) -> None:
        raise ZeroDivisionError("bad maths")

    registry = only(plugin("crashy", register_churn_reasons=impl))
    with pytest.raises(PluginError) as info:
        registry.churn_reasons()
    assert str(info.value) == (
        "plugin 'crashy': its register_churn_reasons hook raised ZeroDivisionError: bad maths"
    )
    assert info.value.plugin == "crashy"
    assert info.value.hook == "register_churn_reasons"
    assert isinstance(info.value.__cause__, ZeroDivisionError)


def test_a_failed_collection_is_not_cached() -> None:
    registry = only(plugin("crashy", register_metrics=lambda register: 1 / 0))
    for _ in range(2):
        with pytest.raises(PluginError, match="crashy"):
            registry.metrics()


def test_hookimpl_returning_instead_of_registering() -> None:
    registry = only(plugin("oldstyle", register_metrics=lambda register: [metric()]))
    with pytest.raises(PluginError, match=r"plugin 'oldstyle'.*returned list.*register\("):
        registry.metrics()


def test_register_called_after_the_hook_returned() -> None:
    kept: list[Callable[[object], None]] = []
    registry = only(plugin("late", register_metrics=lambda register: kept.append(register)))
    registry.metrics()
    with pytest.raises(PluginError, match=r"plugin 'late' called register.*after the hook"):
        kept[0](metric())


def test_wrapper_on_a_collecting_hook() -> None:
    class Wrapper:
        @hookimpl(wrapper=True)
        def register_metrics(self, register: Callable[[object], None]) -> Iterator[None]:
            yield

    with pytest.raises(PluginError, match="cannot be implemented as a wrapper"):
        only(Wrapper()).metrics()


def test_misspelled_hookimpl() -> None:
    typo = plugin("typo", register_health_rule=registering(rule()))
    with pytest.raises(PluginError) as info:
        only(typo)
    message = str(info.value)
    assert message.startswith("plugin 'typo' implements an unknown hook")
    assert "register_health_rule" in message
    assert "register_health_rules" in message  # the list of real hooks
    assert info.value.plugin == "typo"


def test_hookimpl_with_an_unknown_argument() -> None:
    def impl(registrar: Callable[[object], None]) -> None:
        return None

    with pytest.raises(PluginError, match="plugin 'wrongarg' has an invalid hook implementation"):
        only(plugin("wrongarg", register_metrics=impl))


def test_same_plugin_object_twice() -> None:
    class P:
        @hookimpl
        def register_metrics(self, register: Callable[[object], None]) -> None:
            return None

    p = P()
    with pytest.raises(PluginError, match="could not be registered"):
        only(p, p)


def test_plugins_must_be_a_sequence() -> None:
    with pytest.raises(TypeError, match="plugins must be a sequence of plugin objects, got module"):
        Registry(plugin("lonely"))  # type: ignore[arg-type]


def test_allow_and_deny_must_be_collections_of_names() -> None:
    with pytest.raises(TypeError, match="allow must be a collection"):
        Registry(allow="example")
    with pytest.raises(TypeError, match="deny must be a collection"):
        Registry(deny=[1])  # type: ignore[list-item]


# --------------------------------------------------------------------------- entry points


def test_entry_points_are_loaded_each_once(
    fake_eps: Callable[..., list[FakeEntryPoint]],
) -> None:
    a, b = fake_eps(
        FakeEntryPoint("a", plugin("a_mod", register_metrics=registering(metric("a.m")))),
        FakeEntryPoint("b", plugin("b_mod", register_metrics=registering(metric("b.m")))),
    )
    registry = Registry(builtins=False)
    assert {n: c.plugin for n, c in registry.metrics().items()} == {"a.m": "a", "b.m": "b"}
    registry.health_rules()
    assert (a.loads, b.loads) == (1, 1)
    assert [(p.name, p.source) for p in registry.plugins()] == [
        ("a", "entry point"),
        ("b", "entry point"),
    ]


def test_entry_point_import_failure_warns_and_skips(
    fake_eps: Callable[..., list[FakeEntryPoint]],
) -> None:
    broken, good = fake_eps(
        FakeEntryPoint("broken", error=ImportError("No module named 'missing_dep'")),
        FakeEntryPoint("good", plugin("good_mod", register_metrics=registering(metric("g.m")))),
    )
    registry = Registry(builtins=False)
    with pytest.warns(PluginWarning) as caught:
        metrics = registry.metrics()
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "plugin 'broken'" in message
    assert "failed to load: ImportError: No module named 'missing_dep'" in message
    assert "skipped" in message
    assert caught[0].filename == __file__  # points at the host's code, not the registry
    assert list(metrics) == ["g.m"]  # the others still load
    assert "broken" not in registry.plugin_names()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        registry.health_rules()  # loaded once: no second warning
    assert broken.loads == 1
    assert good.loads == 1


def test_entry_point_import_failure_is_an_error_when_strict(
    fake_eps: Callable[..., list[FakeEntryPoint]],
) -> None:
    fake_eps(FakeEntryPoint("broken", error=SyntaxError("invalid syntax")))
    registry = Registry(builtins=False, strict=True)
    with pytest.raises(PluginError, match=r"plugin 'broken'.*SyntaxError") as info:
        registry.metrics()
    assert info.value.plugin == "broken"
    with pytest.raises(PluginError, match="plugin 'broken'"):
        registry.health_rules()  # a half-loaded registry keeps failing


def test_real_entry_point_of_a_missing_module(
    monkeypatch: pytest.MonkeyPatch, plugin_autoload: None
) -> None:
    from importlib.metadata import EntryPoint

    ep = EntryPoint("ghost", "custsuccess_no_such_module_xyz", "custsuccess")
    monkeypatch.setattr("custsuccess.plugins._entry_points", lambda: [ep])
    with pytest.warns(PluginWarning, match="plugin 'ghost'.*ModuleNotFoundError"):
        Registry(builtins=False).plugin_names()


def test_entry_point_with_a_misspelled_hookimpl(
    fake_eps: Callable[..., list[FakeEntryPoint]],
) -> None:
    fake_eps(FakeEntryPoint("typo", plugin("typo_mod", register_metric=registering())))
    with pytest.raises(PluginError, match="plugin 'typo' implements an unknown hook"):
        Registry(builtins=False).metrics()


def test_deny_list_never_imports(fake_eps: Callable[..., list[FakeEntryPoint]]) -> None:
    denied, kept = fake_eps(
        FakeEntryPoint("denied", plugin("d")), FakeEntryPoint("kept", plugin("k"))
    )
    assert Registry(builtins=False, deny=["denied"]).plugin_names() == ("kept",)
    assert (denied.loads, kept.loads) == (0, 1)


def test_allow_list(fake_eps: Callable[..., list[FakeEntryPoint]]) -> None:
    one, two = fake_eps(FakeEntryPoint("one", plugin("o")), FakeEntryPoint("two", plugin("t")))
    assert Registry(builtins=False, allow=["two"]).plugin_names() == ("two",)
    assert Registry(builtins=False, allow=[]).plugin_names() == ()
    assert Registry(builtins=False, allow=["one", "two"], deny=["one"]).plugin_names() == ("two",)
    assert one.loads == 0
    assert two.loads == 2


@pytest.mark.parametrize(("value", "loaded"), [("1", False), ("yes", False), ("", True)])
def test_environment_variable_disables_autoload(
    fake_eps: Callable[..., list[FakeEntryPoint]],
    monkeypatch: pytest.MonkeyPatch,
    value: str,
    loaded: bool,
) -> None:
    (ep,) = fake_eps(FakeEntryPoint("auto", plugin("auto_mod")))
    monkeypatch.setenv(AUTOLOAD_ENV_VAR, value)
    registry = Registry(builtins=False)
    assert registry.plugin_names() == (("auto",) if loaded else ())
    assert ep.loads == int(loaded)


def test_entry_points_false(fake_eps: Callable[..., list[FakeEntryPoint]]) -> None:
    (ep,) = fake_eps(FakeEntryPoint("x", plugin("x_mod")))
    assert Registry(builtins=False, entry_points=False).plugin_names() == ()
    assert ep.loads == 0


def test_explicit_plugin_also_installed_is_registered_once(
    fake_eps: Callable[..., list[FakeEntryPoint]],
) -> None:
    module = plugin("both", register_metrics=registering(metric("both.m")))
    fake_eps(FakeEntryPoint("both_ep", module))
    registry = Registry([module], builtins=False)
    assert registry.plugin_names() == ("both",)
    assert registry.metrics()["both.m"].plugin == "both"


def test_entry_point_contributions_clash_with_explicit_ones(
    fake_eps: Callable[..., list[FakeEntryPoint]],
) -> None:
    fake_eps(
        FakeEntryPoint("thirdparty", plugin("tp", register_metrics=registering(metric("m.x"))))
    )
    registry = Registry(
        [plugin("host", register_metrics=registering(metric("m.x")))], builtins=False
    )
    with pytest.raises(PluginError, match="plugins 'host' and 'thirdparty'"):
        registry.metrics()


def test_entry_point_name_taken_by_another_plugin(
    fake_eps: Callable[..., list[FakeEntryPoint]],
) -> None:
    fake_eps(FakeEntryPoint("host", plugin("impostor")))
    registry = Registry([plugin("host")], builtins=False)
    with pytest.raises(PluginError, match="plugin 'host' could not be registered"):
        registry.plugin_names()


def test_discovery_reads_the_custsuccess_group() -> None:
    from custsuccess.plugins import _entry_points

    eps = _entry_points()
    assert all(ep.group == "custsuccess" for ep in eps)
    assert len({(ep.name, ep.value) for ep in eps}) == len(eps)


# --------------------------------------------------------------------------- safe calls


def _contribution(value: object = None, hook: str = "register_health_rules") -> Contribution[Any]:
    return Contribution("acme.rule", "acme", hook, value)


def test_call_returns_the_result() -> None:
    c = _contribution(metric(compute=lambda dataset, scale=1: 2 * scale), "register_metrics")
    assert call(c, "compute", None, scale=3) == 6
    assert Registry.call(c, "compute", None) == 2


def test_call_wraps_an_exception_naming_everything() -> None:
    def evaluate(dataset: object, as_of: object) -> None:
        raise IndexError("index 7 is out of bounds")

    c = _contribution(rule("acme.rule", evaluate=evaluate))
    with pytest.raises(PluginError) as info:
        only().call(c, "evaluate", None, None)
    assert str(info.value) == (
        "plugin 'acme': health rule 'acme.rule' (hook register_health_rules) raised "
        "IndexError in evaluate(): index 7 is out of bounds"
    )
    assert (info.value.plugin, info.value.contribution, info.value.hook) == (
        "acme",
        "acme.rule",
        "register_health_rules",
    )
    assert isinstance(info.value.__cause__, IndexError)


def test_call_of_a_missing_method() -> None:
    with pytest.raises(PluginError, match=r"raised AttributeError in explain\(\)"):
        call(_contribution(rule()), "explain")


def test_guarded_wraps_and_passes_through() -> None:
    c = _contribution()
    with pytest.raises(PluginError, match=r"'acme.rule'.*raised ValueError: bad$"), guarded(c):
        raise ValueError("bad")
    inner = PluginError("plugin 'other': already attributed", plugin="other")
    with pytest.raises(PluginError) as info, guarded(c, "evaluate()"):
        raise inner
    assert info.value is inner
    with pytest.raises(ValidationError, match="as_of"), guarded(c, passthrough=(ValidationError,)):
        raise ValidationError("as_of must be timezone-aware")
    with pytest.raises(KeyboardInterrupt), guarded(c):
        raise KeyboardInterrupt
    with guarded(c):
        pass  # no exception, nothing happens


# --------------------------------------------------------------------------- check_array


def test_check_array_accepts_and_returns_the_same_array() -> None:
    score = np.array([0.0, 55.5, np.nan, 100.0])
    assert check_array(score, _contribution(), (4,), 0, 100, allow_nan=True) is score
    assert check_array(np.ones((2, 3)), _contribution(), (2, None)).shape == (2, 3)
    mask = np.array([True, False])
    assert check_array(mask, _contribution(), (2,), kinds="b") is mask
    assert check_array(3.5, _contribution(), ()) == 3.5
    assert check_array(np.float64(2.0), _contribution(), (), 0, 10) == 2.0
    inf = np.array([np.inf])
    assert check_array(inf, _contribution(), (1,), allow_inf=True) is inf


@pytest.mark.parametrize(
    ("result", "shape", "kwargs", "problem"),
    [
        ([1.0, 2.0], (2,), {}, "result is a list, expected a numpy array"),
        (None, (2,), {}, "result is a NoneType, expected a numpy array"),
        ("7", (), {}, "result is a str, expected a number"),
        (True, (), {}, "result is a bool, expected a number"),
        (np.zeros(3), (4,), {}, "result has shape (3,), expected (4,)"),
        (np.zeros((4, 1)), (4,), {}, "result has shape (4, 1), expected (4,)"),
        (np.zeros((2, 2)), (3, None), {}, "result has shape (2, 2), expected (3, *)"),
        (np.array(["a", "b"]), (2,), {}, "result has dtype <U1, expected one of kinds 'iuf'"),
        (np.array([1, 2]), (2,), {"kinds": "b"}, "has dtype int64, expected one of kinds 'b'"),
        (np.array([1.0, np.nan, np.nan]), (3,), {}, "result[1] = nan is NaN (2 values in all)"),
        (np.array([1.0, -np.inf]), (2,), {}, "result[1] = -inf is infinite"),
        (
            np.array([5.0, 101.0]),
            (2,),
            {"lo": 0, "hi": 100},
            "result[1] = 101.0 is outside [0, 100]",
        ),
        (np.array([-1, 3]), (2,), {"lo": 0}, "result[0] = -1 is outside [0, inf]"),
        (np.array([[0.0, 2.5]]), (1, 2), {"hi": 1}, "result[0, 1] = 2.5 is outside [-inf, 1]"),
        (np.float64(11), (), {"hi": 10}, "result = 11.0 is outside [-inf, 10]"),
    ],
)
def test_check_array_rejects_garbage(
    result: object, shape: tuple[int | None, ...], kwargs: dict[str, Any], problem: str
) -> None:
    with pytest.raises(PluginError) as info:
        check_array(result, _contribution(), shape, **kwargs)
    message = str(info.value)
    assert message.startswith(
        "plugin 'acme': health rule 'acme.rule' (hook register_health_rules) returned garbage: "
    )
    assert message.endswith(problem)
    assert info.value.plugin == "acme"


def test_check_array_names_the_value() -> None:
    with pytest.raises(PluginError, match=r"score\[0\] = nan is NaN"):
        check_array(np.array([np.nan]), _contribution(), (1,), what="score")


def test_check_array_nan_is_not_out_of_range() -> None:
    score = np.array([np.nan, 50.0])
    assert check_array(score, _contribution(), (2,), 0, 100, allow_nan=True) is score


# --------------------------------------------------------------------------- notification


CHANGE = TierChange("c1", "healthy", "at_risk", 81.0, 42.0)


def test_notify_tier_changed_reaches_every_implementation() -> None:
    seen: dict[str, Any] = {}
    registry = only(
        plugin("crm", health_tier_changed=lambda changes: seen.setdefault("crm", changes)),
        plugin("mail", health_tier_changed=lambda changes: seen.setdefault("mail", changes)),
    )
    changes = [CHANGE]
    registry.notify_tier_changed(changes)
    assert seen == {"crm": (CHANGE,), "mail": (CHANGE,)}
    assert changes == [CHANGE]  # the caller's list is not handed out


def test_notify_tier_changed_with_nothing_changed_calls_nobody() -> None:
    called = []
    registry = only(plugin("crm", health_tier_changed=lambda changes: called.append(changes)))
    registry.notify_tier_changed([])
    assert called == []


def test_notify_tier_changed_wraps_a_failing_implementation() -> None:
    called = []

    def failing(changes: object) -> None:
        raise ConnectionError("CRM is down")

    registry = only(
        plugin("crm", health_tier_changed=failing),
        plugin("pager", health_tier_changed=failing),
        plugin("mail", health_tier_changed=lambda changes: called.append(changes)),
    )
    with pytest.raises(PluginError) as info:
        registry.notify_tier_changed([CHANGE])
    assert str(info.value) == (
        "plugin 'crm': its health_tier_changed hook raised ConnectionError: CRM is down "
        "(also failed: 'pager')"
    )
    assert (info.value.plugin, info.value.hook) == ("crm", "health_tier_changed")
    assert called == [(CHANGE,)]  # the healthy implementation still ran


def test_notify_tier_changed_rejects_other_objects() -> None:
    with pytest.raises(TypeError, match=r"changes\[1\] must be a TierChange, got dict"):
        only().notify_tier_changed([CHANGE, {"customer_id": "c2"}])  # type: ignore[list-item]


def test_notify_tier_changed_loads_entry_points(
    fake_eps: Callable[..., list[FakeEntryPoint]],
) -> None:
    got = []
    (ep,) = fake_eps(
        FakeEntryPoint(
            "hooked", plugin("hooked_mod", health_tier_changed=lambda changes: got.append(changes))
        )
    )
    Registry(builtins=False).notify_tier_changed((CHANGE,))
    assert got == [(CHANGE,)]
    assert ep.loads == 1


def test_concurrent_first_use_loads_and_collects_once(
    fake_eps: Callable[..., list[FakeEntryPoint]],
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    calls = []

    def impl(register: Callable[[object], None]) -> None:
        calls.append(1)
        register(metric("t.m"))

    (ep,) = fake_eps(FakeEntryPoint("threaded", plugin("threaded_mod", register_metrics=impl)))
    registry = Registry(builtins=False)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: registry.metrics(), range(16)))
    assert all(r is results[0] for r in results)
    assert ep.loads == 1
    assert calls == [1]


def test_returned_garbage_names_everything() -> None:
    from custsuccess.plugins import returned_garbage

    error = returned_garbage(_contribution(), "a dict, expected a RuleResult")
    assert str(error) == (
        "plugin 'acme': health rule 'acme.rule' (hook register_health_rules) returned "
        "garbage: a dict, expected a RuleResult"
    )
    assert (error.plugin, error.contribution, error.hook) == (
        "acme",
        "acme.rule",
        "register_health_rules",
    )
