"""What the adversarial suite drives: the public entry points and the inputs it throws at them.

Entry points are found, not listed: every name in the ``__all__`` of ``custsuccess`` and of
each of its public modules (``custsuccess.<name>`` not starting with ``_``), plus the
public methods of a few objects built from valid data (a dataset, fitted models, a survival
curve, a health model). A new public name is covered the day it is exported.

Names that take no data are skipped, each for a stated reason (SKIP and the rules in
:func:`skip_reason`); everything else is called with every argument drawn from
:func:`argument`: a plausible value for the parameter, or an adversarial one.
"""

from __future__ import annotations

import copy
import datetime as dt
import importlib
import inspect
import math
import pkgutil
import typing
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

import attrs
import numpy as np
from hypothesis import strategies as st

import custsuccess

#: modules whose names are not entry points for data
EXCLUDED_MODULES: dict[str, str] = {
    "custsuccess.cli": "the command line: argv in, exit codes out (tests/test_cli*.py)",
    "custsuccess.builtins": "plugin modules, reached through Registry and the models",
    "custsuccess.distributed": "needs a Dask cluster; its functions are the local ones "
    "per partition (tests/test_distributed*.py)",
}

#: names that take no data, by reason
SKIP: dict[str, str] = {
    "custsuccess.hookspecs.hookimpl": "a decorator marker for plugin authors",
    "custsuccess.hookspecs.hookspec": "a decorator marker for hook specifications",
    "custsuccess.hookimpl": "a decorator marker for plugin authors",
    "custsuccess.plugins.Registry": "loads plugins; driven by tests/test_plugins*.py",
    "custsuccess.Registry": "loads plugins; driven by tests/test_plugins*.py",
    "custsuccess.store.SQLiteStore": "opens a file path; driven by tests/test_store.py",
    "custsuccess.SQLiteStore": "opens a file path; driven by tests/test_store.py",
    "custsuccess.demo.generate": "a synthetic data generator (sizes are trusted)",
    "custsuccess.Dataset": "built with Dataset.from_records / from_columns (driven as methods)",
    "custsuccess.dataset.Dataset": "built with Dataset.from_records / from_columns (driven as "
    "methods)",
    "custsuccess.plugins.hookimpl": "a decorator marker for plugin authors",
    "custsuccess.plugins.check_array": "a host-side check of a plugin's contribution",
    "custsuccess.plugins.returned_garbage": "a host-side check of a plugin's contribution",
    "custsuccess.demo.generate_frames": "a synthetic data generator (sizes are trusted)",
}


def skip_reason(qualname: str, obj: Any) -> str | None:
    """Why ``obj`` is not driven with data, or None when it is."""
    if qualname in SKIP:
        return SKIP[qualname]
    if not callable(obj):
        return "a constant"
    if inspect.isclass(obj):
        if issubclass(obj, BaseException):
            return "an exception class"
        if getattr(obj, "_is_protocol", False):
            return "a typing Protocol"
        if issubclass(obj, dict) and hasattr(obj, "__annotations__") and obj is not dict:
            return "a TypedDict"
        try:
            import enum

            if issubclass(obj, enum.Enum):
                return "an enumeration"
        except TypeError:  # pragma: no cover
            pass
    if typing.get_origin(obj) is not None:
        return "a type alias"
    if inspect.isclass(obj) and attrs.has(obj) and not _validates(obj):
        return "a result type: built by the library from validated data, read by the caller"
    return None


def _validates(cls: type) -> bool:
    """Whether an attrs class checks what it is given (validators, converters or an
    ``__attrs_post_init__``): such a class is an entry point for data."""
    if hasattr(cls, "__attrs_post_init__"):
        return True
    return any(f.validator is not None or f.converter is not None for f in attrs.fields(cls))


def public_modules() -> list[str]:
    """``custsuccess`` and each public module or package directly inside it."""
    names = ["custsuccess"]
    for info in pkgutil.iter_modules(custsuccess.__path__):
        if info.name.startswith("_"):
            continue
        names.append(f"custsuccess.{info.name}")
    return [n for n in names if n not in EXCLUDED_MODULES]


def entry_points() -> Iterator[tuple[str, Any, str | None]]:
    """``(qualified name, object, skip reason or None)`` for every name in every public
    module's ``__all__``."""
    for module_name in public_modules():
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:  # an optional extra missing: reported, not hidden
            yield module_name, None, f"optional dependency missing: {exc}"
            continue
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            qualname = f"{module_name}.{name}"
            yield qualname, obj, skip_reason(qualname, obj)


# ----------------------------------------------------------------------------- inputs


@cache
def small_dataset() -> Any:
    """A small valid dataset (customers, subscriptions, events of several kinds)."""
    from custsuccess.demo import generate

    return generate(12, seed=3)


def _naive() -> dt.datetime:
    return dt.datetime(2024, 1, 1)


def adversarial_values() -> list[Any]:
    """Inputs that break some rule: wrong types, empty, non-finite, huge, negative, wrong
    shapes, object and string arrays, complex, out-of-range dates."""
    values: list[Any] = [
        None,
        True,
        0,
        -1,
        2**70,
        1e308,
        -1e308,
        math.nan,
        math.inf,
        -math.inf,
        1 + 2j,
        "",
        "x",
        "2024-13-45",
        b"bytes",
        {},
        {"a": 1},
        [],
        [None],
        [math.nan, 1.0],
        [math.inf],
        [1e308, 1e308],
        [-1.0, 2.0],
        ["a", "b"],
        [1, "a"],
        ["False", "True"],
        [[1.0, 2.0], [3.0, 4.0]],
        object(),
        np.array([]),
        np.array([[1.0, 2.0], [3.0, 4.0]]),
        np.array([np.nan, 1.0]),
        np.array([1.0 + 1j, 2.0]),
        np.array([1, 2], dtype=object),
        np.array(["False", "True"]),
        np.array([True, False]),
        np.array([2**62, -(2**62)], dtype=np.int64),
        np.float64("nan"),
        np.datetime64("300000-01-01"),
        np.datetime64("NaT"),
        np.array(["300000-01-01", "2024-01-01"], dtype="datetime64[D]"),
        _naive(),
        dt.datetime(9999, 12, 31, tzinfo=dt.timezone.utc),
        dt.date(2024, 1, 1),
        dt.timedelta(days=-1),
        "2024-01-01T00:00:00",  # naive ISO
        "9999-12-31T00:00:00Z",
    ]
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover
        return values
    values += [
        pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]}),
        pd.Series([1.0, np.nan]),
        pd.Series(["a", None], dtype=object),
    ]
    return values


_TIME_NAMES = ("as_of", "at", "start", "end", "observation_end", "calibration_end", "when", "date")


def plausible_values(param: inspect.Parameter) -> list[Any]:
    """Values that pass the first checks for a parameter of this name and annotation, so
    that the examples also reach deeper code."""
    name = param.name.lower()
    annotation = str(param.annotation)
    out: list[Any] = []
    if "Dataset" in annotation or name in ("dataset", "ds", "data"):
        out.append(small_dataset())
    if any(name == t or name.endswith("_" + t) or name.startswith(t) for t in _TIME_NAMES):
        out += ["2024-06-01T00:00:00Z", np.datetime64("2024-06-01T00:00:00", "us")]
    if param.default is not inspect.Parameter.empty and param.default is not None:
        out.append(param.default)
    out += [
        [1.0, 2.0, 3.0],
        np.array([0.0, 1.0, 4.0, 4.0, 9.0]),
        [0, 1, 1, 0, 1],
        ["a", "b", "a"],
        1.0,
        0.5,
        3,
    ]
    return out


def argument(param: inspect.Parameter) -> st.SearchStrategy[Any]:
    """A plausible or an adversarial value for ``param``, or random floats (with NaN and
    infinities) as a list or an array."""
    floats = st.floats(allow_nan=True, allow_infinity=True, width=64)
    random_arrays = st.lists(floats, max_size=6).flatmap(
        lambda xs: st.sampled_from([xs, np.array(xs, dtype=np.float64)])
    )
    return st.one_of(
        st.sampled_from(plausible_values(param)),
        st.sampled_from(adversarial_values()),
        random_arrays,
        floats,
        st.integers(min_value=-(2**64), max_value=2**64),
    )


# ----------------------------------------------------------------------------- checks


def snapshot(value: Any) -> Any:
    """A copy to compare with after the call (for what a call could mutate)."""
    if isinstance(value, (np.ndarray, list, dict)):
        return copy.deepcopy(value)
    if type(value).__name__ in ("DataFrame", "Series"):
        return value.copy(deep=True)
    return None


def unchanged(before: Any, after: Any) -> bool:
    """Whether a mutable input is as it was."""
    if before is None:
        return True
    if isinstance(before, np.ndarray):
        return bool(
            before.dtype == after.dtype
            and before.shape == after.shape
            and (
                np.array_equal(before, after, equal_nan=before.dtype.kind in "fc")
                if before.dtype.kind in "fc"
                else np.array_equal(before, after)
            )
        )
    if type(before).__name__ in ("DataFrame", "Series"):
        return bool(before.equals(after))
    return _same(before, after)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray):
        return unchanged(a, b)
    return bool(a is b or a == b)


def numbers_in(result: Any) -> Iterator[tuple[str, Any]]:
    """The plain numbers a call handed back: a float, or the float arrays of the result
    (top level and attrs fields), labelled for messages."""
    if isinstance(result, (float, np.floating)) or (
        isinstance(result, np.ndarray) and result.dtype.kind == "f"
    ):
        yield "result", result
    elif attrs.has(type(result)):
        for field in attrs.fields(type(result)):
            value = getattr(result, field.name, None)
            if isinstance(value, (float, np.floating)) or (
                isinstance(value, np.ndarray) and value.dtype.kind == "f"
            ):
                yield field.name, value


def finite(value: Any) -> bool:
    return bool(np.all(np.isfinite(np.asarray(value, dtype=np.float64))))


Call = Callable[..., Any]
