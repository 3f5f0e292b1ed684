"""The plugin :class:`Registry`: built-ins, entry points and the contributions they make.

A :class:`Registry` owns one :class:`pluggy.PluginManager` (there is no module-level
manager: two registries in one process never see each other's plugins). It registers
custsuccess's built-in plugin modules first, then any plugins the host passes, then, on
first use, the installed plugins of entry-point group ``custsuccess``, each loaded once
and separately. It calls the collecting hooks of :mod:`custsuccess.hookspecs` one plugin
at a time, validates every contribution against its protocol (:mod:`custsuccess.typing`),
rejects duplicate names, and hands the rest of the library typed, name-keyed
:class:`Contribution` records that say which plugin made what.

Code that runs a contribution wraps the call in :func:`guarded` (or
:meth:`Registry.call`) and checks array results with :func:`check_array`, so a plugin
that raises or returns garbage is reported as a :class:`~custsuccess.errors.PluginError`
naming the plugin, the contribution and the hook.

>>> from custsuccess.plugins import Registry
>>> registry = Registry(entry_points=False)
>>> "custsuccess.builtins.metrics" in registry.plugin_names()
True
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import math
import operator
import os
import re
import sys
import threading
import warnings
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from types import MappingProxyType, ModuleType
from typing import TYPE_CHECKING, Any, Generic, NoReturn, TypeVar, cast

import attrs
import pluggy

from custsuccess import hookspecs
from custsuccess.builtins import BUILTIN_PLUGIN_MODULES
from custsuccess.errors import PluginError
from custsuccess.hookspecs import PROJECT_NAME, hookimpl

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

    import numpy as np
    import numpy.typing as npt

    from custsuccess.typing import (
        ChurnReasonClassifier,
        HealthRule,
        Metric,
        Playbook,
        TierChange,
    )

__all__ = [
    "AUTOLOAD_ENV_VAR",
    "ENTRY_POINT_GROUP",
    "Contribution",
    "PluginInfo",
    "PluginWarning",
    "Registry",
    "check_array",
    "check_metric_result",
    "guarded",
    "hookimpl",
    "returned_garbage",
]

#: The entry-point group installed plugins declare (``[project.entry-points.custsuccess]``).
ENTRY_POINT_GROUP = PROJECT_NAME

#: Set to any non-empty value to stop every :class:`Registry` from loading entry points.
AUTOLOAD_ENV_VAR = "CUSTSUCCESS_DISABLE_PLUGIN_AUTOLOAD"

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*\Z")


class PluginWarning(UserWarning):
    """An installed plugin could not be loaded and was skipped, a hook implementation
    lacks its marker (see ``Registry(strict=...)``), or a failing contribution was
    skipped under ``HealthModel(on_plugin_error="skip")``."""


# --------------------------------------------------------------------------- records


@attrs.frozen(slots=True)
class Contribution(Generic[T_co]):
    """One contributed object and where it came from.

    ``name``: the contribution's unique dotted name; ``plugin``: the name of the plugin
    that registered it (the module name for built-ins, the entry-point name for installed
    plugins); ``hook``: the hook it was registered through; ``value``: the object itself
    (compared by identity).
    """

    name: str
    plugin: str
    hook: str
    value: T_co = attrs.field(eq=attrs.cmp_using(eq=operator.is_), hash=False, repr=False)

    @property
    def kind(self) -> str:
        """What the contribution is, in words: ``"health rule"``, ``"metric"``, ..."""
        return _KIND.get(self.hook, "contribution")

    @property
    def description(self) -> str:
        """The contribution's one-line description."""
        return str(getattr(self.value, "description", ""))

    def __str__(self) -> str:
        return f"{self.kind} {self.name!r} of plugin {self.plugin!r}"


@attrs.frozen(slots=True)
class PluginInfo:
    """A registered plugin, for listings such as a ``custsuccess plugins`` command.

    ``source`` is ``"builtin"``, ``"entry point"`` or ``"explicit"`` (passed to the
    :class:`Registry`); ``distribution`` and ``version`` name the installed package an
    entry point came from (None otherwise); ``hooks`` are the hooks it implements.
    """

    name: str
    source: str
    hooks: tuple[str, ...]
    distribution: str | None = None
    version: str | None = None


_KIND = {
    "register_health_rules": "health rule",
    "register_churn_reasons": "churn reason classifier",
    "register_metrics": "metric",
    "register_playbooks": "playbook",
}

# hook -> (required methods, required int attributes)
_CONTRACT: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "register_health_rules": (("evaluate",), ()),
    "register_churn_reasons": (("classify",), ("precedence",)),
    "register_metrics": (("compute",), ()),
    "register_playbooks": (("recommend",), ("priority",)),
}


# --------------------------------------------------------------------------- safe calls


def _where(contribution: Contribution[Any]) -> str:
    return (
        f"plugin {contribution.plugin!r}: {contribution.kind} {contribution.name!r} "
        f"(hook {contribution.hook})"
    )


def _error(contribution: Contribution[Any], problem: str) -> PluginError:
    return PluginError(
        f"{_where(contribution)} {problem}",
        plugin=contribution.plugin,
        contribution=contribution.name,
        hook=contribution.hook,
    )


def returned_garbage(contribution: Contribution[Any], problem: str) -> PluginError:
    """The :class:`~custsuccess.errors.PluginError` for a contribution that returned
    something unusable, for checks :func:`check_array` does not cover (raise it).

    >>> c = Contribution("usage.recency", "my_plugin", "register_health_rules", object())
    >>> raise returned_garbage(c, "a dict, expected a RuleResult")
    Traceback (most recent call last):
    custsuccess.errors.PluginError: plugin 'my_plugin': health rule 'usage.recency'
    (hook register_health_rules) returned garbage: a dict, expected a RuleResult
    """
    return _error(contribution, f"returned garbage: {problem}")


@contextlib.contextmanager
def guarded(
    contribution: Contribution[Any],
    action: str | None = None,
    *,
    passthrough: tuple[type[BaseException], ...] = (),
) -> Iterator[None]:
    """Run code that calls into ``contribution``; any exception becomes a PluginError.

    The :class:`~custsuccess.errors.PluginError` names the plugin, the contribution, the
    hook and ``action`` (what was being done, e.g. ``"evaluate()"``); the original
    exception is its ``__cause__``. A PluginError raised inside passes through unchanged
    (it already names its plugin), as do exceptions of the ``passthrough`` types (for
    example :class:`~custsuccess.errors.ValidationError` when the caller's own input is
    at fault). ``KeyboardInterrupt`` and ``SystemExit`` are never wrapped.

    >>> c = Contribution("demo.broken", "my_plugin", "register_metrics", object())
    >>> with guarded(c, "compute()"):
    ...     1 / 0
    Traceback (most recent call last):
    custsuccess.errors.PluginError: plugin 'my_plugin': metric 'demo.broken'
    (hook register_metrics) raised ZeroDivisionError in compute(): division by zero
    """
    try:
        yield
    except PluginError:
        raise
    except Exception as exc:
        if passthrough and isinstance(exc, passthrough):
            raise
        during = f" in {action}" if action else ""
        raise _error(contribution, f"raised {type(exc).__name__}{during}: {exc}") from exc


def call(contribution: Contribution[Any], method: str, /, *args: Any, **kwargs: Any) -> Any:
    """``contribution.value.<method>(*args, **kwargs)`` inside :func:`guarded`.

    >>> class Answer:
    ...     name = "demo.answer"
    ...     description = "Always 42."
    ...     def compute(self, dataset, **options):
    ...         return 42
    >>> call(Contribution("demo.answer", "p", "register_metrics", Answer()), "compute", None)
    42
    """
    with guarded(contribution, f"{method}()"):
        bound = getattr(contribution.value, method)
        return bound(*args, **kwargs)


def check_array(
    result: object,
    contribution: Contribution[Any],
    expected_shape: tuple[int | None, ...],
    lo: float | None = None,
    hi: float | None = None,
    allow_nan: bool = False,
    *,
    what: str = "result",
    kinds: str = "iuf",
    allow_inf: bool = False,
) -> npt.NDArray[Any]:
    """Check that a contribution returned a sane numpy array, and return it.

    Raises a :class:`~custsuccess.errors.PluginError` naming the plugin, the
    contribution and the hook when ``result`` is not a numpy array (a number is
    accepted when ``expected_shape == ()``), has another shape (``None`` in
    ``expected_shape`` matches any length), a dtype kind outside ``kinds`` (numpy kind
    letters: ``"f"`` float, ``"i"``/``"u"`` integers, ``"b"`` bool; numbers by default),
    NaN where ``allow_nan`` is false, an infinity where ``allow_inf`` is false, or a
    value outside ``[lo, hi]`` (NaN is not checked against the bounds). ``what`` names
    the checked value in the message.

    >>> import numpy as np
    >>> c = Contribution("usage.recency", "my_plugin", "register_health_rules", object())
    >>> check_array(np.array([10.0, np.nan]), c, (2,), 0, 100, allow_nan=True)
    array([10., nan])
    >>> check_array(np.array([10.0, 120.0]), c, (2,), 0, 100, what="score")
    Traceback (most recent call last):
    custsuccess.errors.PluginError: plugin 'my_plugin': health rule 'usage.recency'
    (hook register_health_rules) returned garbage: score[1] = 120.0 is outside [0, 100]
    >>> check_array([1.0, 2.0], c, (2,))
    Traceback (most recent call last):
    custsuccess.errors.PluginError: plugin 'my_plugin': health rule 'usage.recency'
    (hook register_health_rules) returned garbage: result is a list, expected a numpy array
    """
    import numpy as np

    def bad(problem: str) -> PluginError:
        return returned_garbage(contribution, problem)

    if isinstance(result, np.ndarray):
        array: npt.NDArray[Any] = result
    elif (
        expected_shape == ()
        and isinstance(result, (int, float, np.number, np.bool_))
        and (not isinstance(result, (bool, np.bool_)) or "b" in kinds)
    ):
        array = np.asarray(result)
    else:
        expected = "a number" if expected_shape == () else "a numpy array"
        raise bad(f"{what} is a {type(result).__name__}, expected {expected}")
    shape_ok = len(array.shape) == len(expected_shape) and all(
        want is None or got == want for got, want in zip(array.shape, expected_shape, strict=True)
    )
    if not shape_ok:
        shown = tuple("*" if s is None else s for s in expected_shape)
        raise bad(f"{what} has shape {array.shape}, expected {shown}".replace("'*'", "*"))
    if array.dtype.kind not in kinds:
        raise bad(f"{what} has dtype {array.dtype}, expected one of kinds {kinds!r}")
    if array.dtype.kind in "fc":
        nan = np.isnan(array)
        if not allow_nan and nan.any():
            _raise_at(bad, what, array, nan, "is NaN")
        inf = np.isinf(array)
        if not allow_inf and inf.any():
            _raise_at(bad, what, array, inf, "is infinite")
    if lo is not None or hi is not None:
        with np.errstate(invalid="ignore"):
            outside = np.zeros(array.shape, dtype=bool)
            if lo is not None:
                outside |= array < lo
            if hi is not None:
                outside |= array > hi
        if outside.any():
            low = "-inf" if lo is None else f"{lo:g}"
            high = "inf" if hi is None else f"{hi:g}"
            _raise_at(bad, what, array, outside, f"is outside [{low}, {high}]")
    return array


def _raise_at(
    bad: Callable[[str], PluginError],
    what: str,
    array: npt.NDArray[Any],
    mask: npt.NDArray[np.bool_],
    problem: str,
) -> NoReturn:
    import numpy as np

    first = tuple(int(i) for i in np.argwhere(mask)[0])
    index = ", ".join(map(str, first))
    label = f"{what}[{index}]" if first else what
    count = int(mask.sum())
    more = f" ({count} values in all)" if count > 1 else ""
    raise bad(f"{label} = {array[first].item()!r} {problem}{more}")


def check_metric_result(result: object, contribution: Contribution[Any]) -> object:
    """Check what a metric's ``compute`` returned, and return it.

    A metric returns its own type (a number, an array, or a result object whose
    attributes are numbers and arrays), so the check is what holds for every metric:
    numbers are real (no complex, no string passing as a number) and finite, arrays have
    a numeric, boolean, time or text dtype (no complex, no ragged object arrays of
    numbers) and hold no infinities; the attributes of a result object, and the values
    of a mapping, are checked the same way (one level deep). NaN is allowed (an
    undefined rate, such as a period with no customers). A metric whose results may be
    infinite by definition (a quick ratio with nothing lost) says so with a true
    ``allow_inf`` attribute. Anything else is a :class:`~custsuccess.errors.PluginError`
    naming the plugin.

    >>> import numpy as np
    >>> c = Contribution("acme.rate", "my_plugin", "register_metrics", object())
    >>> check_metric_result(np.array([0.5, np.nan]), c)
    array([0.5, nan])
    >>> check_metric_result(complex(1, 2), c)
    Traceback (most recent call last):
    custsuccess.errors.PluginError: plugin 'my_plugin': metric 'acme.rate'
    (hook register_metrics) returned garbage: result is a complex number, expected a real one
    """
    import numpy as np

    allow_inf = getattr(contribution.value, "allow_inf", False) is True

    def check(value: object, what: str) -> None:
        if isinstance(value, (bool, np.bool_, str, type(None))):
            return
        if isinstance(value, (complex, np.complexfloating)):
            raise returned_garbage(contribution, f"{what} is a complex number, expected a real one")
        if isinstance(value, (int, float, np.number)):
            if not allow_inf and math.isinf(float(value)):
                raise returned_garbage(contribution, f"{what} = {value!r} is infinite")
            return
        if isinstance(value, np.ndarray):
            kind = value.dtype.kind
            if kind == "c" or kind not in "biufmMUSO":
                raise returned_garbage(
                    contribution, f"{what} has dtype {value.dtype}, expected real numbers"
                )
            if kind == "O" and value.size:
                numbers = [v for v in value.flat if isinstance(v, (int, float, complex))]
                if numbers and not all(isinstance(v, bool) for v in numbers):
                    raise returned_garbage(
                        contribution, f"{what} is an object array of numbers, expected a "
                        "numeric dtype"
                    )
            if kind == "f":
                check_array(value, contribution, (None,) * value.ndim, allow_nan=True,
                            allow_inf=allow_inf, what=what, kinds="f")

    check(result, "result")
    if isinstance(result, Mapping):
        for key, value in result.items():
            check(value, f"result[{key!r}]")
    elif not isinstance(result, (np.ndarray, str, bytes, int, float, complex)):
        if attrs.has(type(result)):
            names = [f.name for f in attrs.fields(cast(Any, type(result)))]
        else:
            slots = getattr(type(result), "__slots__", ())
            names = [n for n in slots if not n.startswith("_")] or [
                n for n in getattr(result, "__dict__", {}) if not n.startswith("_")
            ]
        for name in names:
            check(getattr(result, name, None), f"result.{name}")
    return result


# --------------------------------------------------------------------------- discovery


def _entry_points() -> Sequence[EntryPoint]:
    """The installed entry points of group ``custsuccess`` (tests replace this)."""
    from importlib.metadata import entry_points

    seen: set[tuple[str, str]] = set()
    found: list[EntryPoint] = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if (ep.name, ep.value) not in seen:  # a distribution seen twice on sys.path
            seen.add((ep.name, ep.value))
            found.append(ep)
    return found


def _caller_level() -> int:
    """The ``stacklevel`` that points a warning at the first caller outside this module."""
    frame = sys._getframe(1)
    level = 1
    while frame.f_back is not None and frame.f_globals.get("__name__") == __name__:
        frame = frame.f_back
        level += 1
    return level


def _autoload_disabled() -> bool:
    return bool(os.environ.get(AUTOLOAD_ENV_VAR, ""))


def _explicit_name(plugin: object) -> str:
    """A readable plugin name for an object passed to ``Registry(plugins=...)``."""
    if isinstance(plugin, ModuleType):
        return plugin.__name__
    qualname = getattr(plugin, "__qualname__", None)
    module = getattr(plugin, "__module__", None)
    if isinstance(qualname, str) and isinstance(module, str):  # a class or a function
        return f"{module}.{qualname}"
    cls = type(plugin)
    return f"{cls.__module__}.{cls.__qualname__}"


# --------------------------------------------------------------------------- registry


class Registry:
    """The plugins of one host application and the contributions they make.

    Parameters
    ----------
    plugins
        Extra plugin objects (modules, classes or instances with :data:`hookimpl`
        functions), registered after the built-ins and before entry points.
    builtins
        Register custsuccess's own plugin modules (:mod:`custsuccess.builtins`) first.
    entry_points
        Load installed plugins of entry-point group ``custsuccess``, on first use. Also
        off when the environment variable ``CUSTSUCCESS_DISABLE_PLUGIN_AUTOLOAD`` is set
        to a non-empty value when the registry is created.
    allow
        When given, only entry points with these names are loaded.
    deny
        Entry points with these names are never loaded (not even imported).
    strict
        An entry point that fails to load (an import error, ``sys.exit()`` while being
        imported, a name two distributions declare) or a plugin with a method named like
        a hook but not marked :data:`hookimpl` raises
        :class:`~custsuccess.errors.PluginError` instead of warning
        (:class:`PluginWarning`) and being skipped.

    Notes
    -----
    Contributions are collected on first access, once, and cached: a registry is meant
    to be built once by the host and shared.

    Examples
    --------
    >>> class Answer:
    ...     name = "demo.answer"
    ...     description = "Always 42."
    ...     def compute(self, dataset, **options):
    ...         return 42
    >>> class DemoPlugin:
    ...     @hookimpl
    ...     def register_metrics(self, register):
    ...         register(Answer())
    >>> registry = Registry([DemoPlugin()], builtins=False, entry_points=False)
    >>> registry.plugin_names()
    ('...DemoPlugin',)
    >>> registry.metrics()
    mappingproxy({'demo.answer': Contribution(name='demo.answer', plugin='...DemoPlugin',
                                              hook='register_metrics')})
    >>> registry.call(registry.metrics()["demo.answer"], "compute", None)
    42
    """

    def __init__(
        self,
        plugins: Sequence[object] = (),
        *,
        builtins: bool = True,
        entry_points: bool = True,
        allow: Collection[str] | None = None,
        deny: Collection[str] = (),
        strict: bool = False,
    ) -> None:
        if isinstance(plugins, (str, ModuleType)) or not isinstance(plugins, Iterable):
            raise TypeError(
                f"plugins must be a sequence of plugin objects, got {type(plugins).__name__}"
            )
        for label, names in (("allow", allow), ("deny", deny)):
            if names is None:
                continue
            if isinstance(names, str) or not all(isinstance(n, str) for n in names):
                raise TypeError(f"{label} must be a collection of entry-point names (str)")
        self._pm = pluggy.PluginManager(PROJECT_NAME)
        self._pm.add_hookspecs(hookspecs)
        self._allow = None if allow is None else frozenset(allow)
        self._deny = frozenset(deny)
        self._strict = strict
        self._entry_points = entry_points and not _autoload_disabled()
        self._entry_points_loaded = not self._entry_points
        self._load_error: PluginError | None = None
        self._info: dict[str, PluginInfo] = {}
        self._cache: dict[str, Mapping[str, Contribution[Any]]] = {}
        self._lock = threading.RLock()  # a host may share one registry between threads
        if builtins:
            for module_name in BUILTIN_PLUGIN_MODULES:
                module = importlib.import_module(module_name)
                self._register(module, module_name, "builtin")
        for plugin in plugins:
            name = _explicit_name(plugin)
            if self._pm.has_plugin(name):
                n = 2
                while self._pm.has_plugin(f"{name}#{n}"):
                    n += 1
                name = f"{name}#{n}"
            self._register(plugin, name, "explicit")
        self._check_pending()

    @classmethod
    def default(cls) -> Registry:
        """The built-ins and every installed entry-point plugin (unless disabled by
        ``CUSTSUCCESS_DISABLE_PLUGIN_AUTOLOAD``). Builds a new registry on each call."""
        return cls()

    def __repr__(self) -> str:
        state = "loaded" if self._entry_points_loaded else "entry points not loaded yet"
        return f"<Registry plugins={list(self._info)} ({state})>"

    # ------------------------------------------------------------- registration

    def _register(
        self,
        plugin: object,
        name: str,
        source: str,
        distribution: str | None = None,
        version: str | None = None,
    ) -> None:
        try:
            self._pm.register(plugin, name=name)
        except pluggy.PluginValidationError as exc:
            raise PluginError(
                f"plugin {name!r} has an invalid hook implementation: {exc}", plugin=name
            ) from exc
        except ValueError as exc:  # pluggy: name or object already registered
            raise PluginError(
                f"plugin {name!r} could not be registered: {exc}", plugin=name
            ) from exc
        hooks = tuple(sorted(caller.name for caller in self._pm.get_hookcallers(plugin) or ()))
        self._info[name] = PluginInfo(name, source, hooks, distribution, version)
        forgotten = _unmarked_hooks(plugin)
        if forgotten:
            message = (
                f"plugin {name!r} has {', '.join(forgotten)} without @custsuccess.hookimpl: "
                "custsuccess ignores "
                + ("it" if len(forgotten) == 1 else "them")
                + "; decorate each hook implementation with custsuccess.hookimpl"
            )
            if self._strict:
                raise PluginError(message, plugin=name)
            warnings.warn(message, PluginWarning, stacklevel=_caller_level())

    def _check_pending(self) -> None:
        try:
            self._pm.check_pending()
        except pluggy.PluginValidationError as exc:
            name = self._pm.get_name(exc.plugin) or repr(exc.plugin)
            known = ", ".join(sorted(_hook_names()))
            raise PluginError(
                f"plugin {name!r} implements an unknown hook: {exc} (the hooks are: {known})",
                plugin=name,
            ) from exc

    def _load_entry_points(self) -> None:
        with self._lock:
            self._load_entry_points_locked()

    def _load_entry_points_locked(self) -> None:
        if self._load_error is not None:
            raise self._load_error
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True  # once, even when one of them fails below
        try:
            self._load_each_entry_point()
        except PluginError as exc:
            self._load_error = exc  # a half-loaded registry keeps failing the same way
            raise

    def _load_each_entry_point(self) -> None:
        wanted = [
            ep
            for ep in _entry_points()
            if ep.name not in self._deny and (self._allow is None or ep.name in self._allow)
        ]
        by_name: dict[str, list[EntryPoint]] = {}
        for ep in wanted:
            by_name.setdefault(ep.name, []).append(ep)
        for name, eps in by_name.items():
            if len(eps) > 1:  # which one is meant is anybody's guess: import neither
                self._skip(
                    f"plugin {name!r}: entry point name {name!r} of group "
                    f"{ENTRY_POINT_GROUP!r} is declared by "
                    + " and ".join(_declared_by(ep) for ep in eps)
                    + ": none of them is loaded; uninstall all but one",
                    name,
                )
                continue
            (ep,) = eps
            try:
                plugin = ep.load()
            except (Exception, SystemExit) as exc:  # SystemExit: sys.exit() on import
                problem = (
                    f"called sys.exit({exc.code!r}) while being imported"
                    if isinstance(exc, SystemExit)
                    else f"failed to load: {type(exc).__name__}: {exc}"
                )
                self._skip(
                    f"plugin {ep.name!r} (entry point {ep.value!r} of group "
                    f"{ENTRY_POINT_GROUP!r}) {problem}",
                    ep.name,
                    exc,
                )
                continue
            if self._pm.is_registered(plugin):
                continue  # the host also passed this object in ``plugins``
            dist = getattr(ep, "dist", None)
            self._register(
                plugin,
                ep.name,
                "entry point",
                getattr(dist, "name", None),
                getattr(dist, "version", None),
            )
        self._check_pending()

    def _skip(self, message: str, plugin: str, cause: BaseException | None = None) -> None:
        """Report an entry point that is not loaded: a warning, or an error when strict."""
        if self._strict:
            raise PluginError(message, plugin=plugin) from cause
        warnings.warn(message + "; skipped", PluginWarning, stacklevel=_caller_level())

    # ------------------------------------------------------------- listing

    def plugin_names(self) -> tuple[str, ...]:
        """Names of the registered plugins, in registration order (built-ins first).

        Loads entry points if that has not happened yet.
        """
        self._load_entry_points()
        return tuple(self._info)

    def plugins(self) -> tuple[PluginInfo, ...]:
        """Every registered plugin with its source and hooks, in registration order."""
        self._load_entry_points()
        return tuple(self._info.values())

    def contributions(self) -> tuple[Contribution[object], ...]:
        """Every contribution of every collecting hook, ordered by hook then name."""
        out: list[Contribution[object]] = []
        for hook in _KIND:
            out.extend(self._collect(hook).values())
        return tuple(out)

    # ------------------------------------------------------------- contributions

    def health_rules(self) -> Mapping[str, Contribution[HealthRule]]:
        """The health rules by name (read-only, sorted by name)."""
        return self._collect("register_health_rules")

    def churn_reasons(self) -> Mapping[str, Contribution[ChurnReasonClassifier]]:
        """The churn-reason classifiers by name (read-only, sorted by name)."""
        return self._collect("register_churn_reasons")

    def metrics(self) -> Mapping[str, Contribution[Metric]]:
        """The metrics by name (read-only, sorted by name)."""
        return self._collect("register_metrics")

    def playbooks(self) -> Mapping[str, Contribution[Playbook]]:
        """The playbooks by name (read-only, sorted by name)."""
        return self._collect("register_playbooks")

    def _collect(self, hook: str) -> Mapping[str, Contribution[Any]]:
        cached = self._cache.get(hook)
        if cached is not None:
            return cached
        with self._lock:
            return self._collect_locked(hook)

    def _collect_locked(self, hook: str) -> Mapping[str, Contribution[Any]]:
        cached = self._cache.get(hook)
        if cached is not None:
            return cached
        self._load_entry_points()
        found: dict[str, Contribution[Any]] = {}
        caller: Any = getattr(self._pm.hook, hook)
        for impl in caller.get_hookimpls():
            self._run_collector(hook, impl, found)
        result: Mapping[str, Contribution[Any]] = MappingProxyType(dict(sorted(found.items())))
        self._cache[hook] = result
        return result

    def _run_collector(
        self, hook: str, impl: pluggy.HookImpl, found: dict[str, Contribution[Any]]
    ) -> None:
        plugin = impl.plugin_name
        open_ = True

        def register(value: object, /) -> None:
            if not open_:
                raise PluginError(
                    f"plugin {plugin!r} called register() of hook {hook} after the hook returned",
                    plugin=plugin,
                    hook=hook,
                )
            contribution = _validate(value, plugin, hook)
            previous = found.get(contribution.name)
            if previous is not None:
                who = (
                    f"plugins {previous.plugin!r} and {plugin!r}"
                    if previous.plugin != plugin
                    else f"plugin {plugin!r} (twice)"
                )
                raise PluginError(
                    f"{contribution.kind} name {contribution.name!r} (hook {hook}) is "
                    f"registered by {who}: names must be unique",
                    plugin=plugin,
                    contribution=contribution.name,
                    hook=hook,
                )
            found[contribution.name] = contribution

        if impl.hookwrapper or getattr(impl, "wrapper", False):
            raise PluginError(
                f"plugin {plugin!r}: hook {hook} collects contributions and cannot be "
                "implemented as a wrapper",
                plugin=plugin,
                hook=hook,
            )
        arguments = {"register": register}
        try:
            returned = impl.function(*(arguments[a] for a in impl.argnames))
        except PluginError:
            raise
        except Exception as exc:
            raise PluginError(
                f"plugin {plugin!r}: its {hook} hook raised {type(exc).__name__}: {exc}",
                plugin=plugin,
                hook=hook,
            ) from exc
        finally:
            open_ = False
        if returned is not None:
            raise PluginError(
                f"plugin {plugin!r}: its {hook} hook returned {type(returned).__name__}; "
                "call register(...) for each contribution and return None",
                plugin=plugin,
                hook=hook,
            )

    # ------------------------------------------------------------- running

    @staticmethod
    def call(contribution: Contribution[Any], method: str, /, *args: Any, **kwargs: Any) -> Any:
        """``contribution.value.<method>(*args, **kwargs)``, any exception wrapped into a
        :class:`~custsuccess.errors.PluginError` naming plugin, contribution and hook
        (see :func:`guarded`)."""
        return call(contribution, method, *args, **kwargs)

    def notify_tier_changed(self, changes: Sequence[TierChange]) -> None:
        """Call every ``health_tier_changed`` implementation with ``changes``.

        Every implementation is called, even when one raises; then the first failure
        is raised as a :class:`~custsuccess.errors.PluginError` naming its plugin (and
        the other failing plugins, if any). Does nothing when ``changes`` is empty.
        """
        batch = tuple(changes)
        if not batch:
            return
        from custsuccess.typing import TierChange

        for i, change in enumerate(batch):
            if not isinstance(change, TierChange):
                raise TypeError(f"changes[{i}] must be a TierChange, got {type(change).__name__}")
        self._load_entry_points()
        hook = "health_tier_changed"
        failures: list[tuple[str, Exception]] = []
        caller: Any = getattr(self._pm.hook, hook)
        for impl in caller.get_hookimpls():
            if impl.hookwrapper or getattr(impl, "wrapper", False):
                continue
            arguments = {"changes": batch}
            try:
                impl.function(*(arguments[a] for a in impl.argnames))
            except Exception as exc:
                failures.append((impl.plugin_name, exc))
        if failures:
            plugin, first = failures[0]
            others = ""
            if len(failures) > 1:
                others = " (also failed: " + ", ".join(repr(p) for p, _ in failures[1:]) + ")"
            raise PluginError(
                f"plugin {plugin!r}: its {hook} hook raised {type(first).__name__}: "
                f"{first}{others}",
                plugin=plugin,
                hook=hook,
            ) from first


# --------------------------------------------------------------------------- validation


def _declared_by(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    name = getattr(dist, "name", None)
    version = getattr(dist, "version", None)
    who = f"distribution {name!r}" if name else "an unknown distribution"
    if name and version:
        who += f" {version}"
    return f"{who} ({ep.value!r})"


def _unmarked_hooks(plugin: object) -> list[str]:
    """Names of ``plugin``'s public callables named like a hook but not marked
    :data:`hookimpl` (a forgotten decorator, or another project's marker)."""
    marker = f"{PROJECT_NAME}_impl"
    found = []
    for name in sorted(_hook_names()):
        try:
            attribute = inspect.getattr_static(plugin, name)
        except AttributeError:
            continue
        function = getattr(attribute, "__func__", attribute)  # staticmethod / classmethod
        if callable(function) and getattr(function, marker, None) is None:
            found.append(name)
    return found


def _hook_names() -> Iterable[str]:
    return (
        name
        for name in dir(hookspecs)
        if callable(getattr(hookspecs, name))
        and hasattr(getattr(hookspecs, name), f"{PROJECT_NAME}_spec")
    )


def _validate(value: object, plugin: str, hook: str) -> Contribution[Any]:
    """Check ``value`` against the protocol of ``hook``; return its Contribution."""
    kind = _KIND[hook]
    methods, ints = _CONTRACT[hook]

    def fail(problem: str, name: str | None = None) -> PluginError:
        label = f"{kind} {name!r}" if name else f"a {kind} ({type(value).__name__})"
        return PluginError(
            f"plugin {plugin!r}: {label} registered through {hook} {problem}",
            plugin=plugin,
            contribution=name,
            hook=hook,
        )

    def get(attribute: str, name: str | None) -> Any:
        try:
            return getattr(value, attribute)
        except AttributeError:
            raise fail(f"has no {attribute!r}", name) from None
        except Exception as exc:
            raise fail(f"failed reading {attribute!r}: {type(exc).__name__}: {exc}", name) from exc

    name = get("name", None)
    if not isinstance(name, str) or not _NAME.match(name):
        raise fail(
            f"has an invalid name {name!r}: expected a non-empty dotted identifier "
            "such as 'usage.recency'"
        )
    description = get("description", name)
    if not isinstance(description, str) or not description.strip():
        raise fail(f"has an invalid description {description!r}: expected non-empty text", name)
    if "\n" in description or "\r" in description:
        raise fail("has a description of several lines: expected one line", name)
    for method in methods:
        if not callable(get(method, name)):
            raise fail(f"has a {method!r} that is not callable", name)
    for attribute in ints:
        number = get(attribute, name)
        if isinstance(number, bool) or not isinstance(number, int):
            raise fail(f"has {attribute} = {number!r}: expected an int", name)
    return Contribution(name, plugin, hook, cast(Any, value))
