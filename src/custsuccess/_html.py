"""Compact HTML tables for notebooks (``_repr_html_``): plain markup, numbers formatted
by their declared units (:mod:`custsuccess.units`), no styles or scripts."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from html import escape
from typing import Any

__all__ = ["cell", "result_html", "table", "to_pandas_renamed"]

MAX_ROWS = 12


def cell(value: Any, unit: str | None = None) -> str:
    """One value as table-cell text: fractions in percent, money with separators."""
    if value is None:
        return "n/a"
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        if unit == "fraction":
            return f"{100 * value:.1f}%"
        if unit == "money":
            return f"{value:,.2f}"
        return f"{value:,.4g}" if abs(value) < 1e6 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return escape(str(value))


def table(caption: str, headers: Sequence[str], rows: Sequence[Sequence[str]],
          more: int = 0) -> str:
    """An HTML table; ``rows`` hold ready cell text, ``more`` rows left out are counted."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    foot = f"<p>... and {more:,} more rows</p>" if more > 0 else ""
    return (f"<div><table><caption>{escape(caption)}</caption><thead><tr>{head}</tr>"
            f"</thead><tbody>{body}</tbody></table>{foot}</div>")


def result_html(self: Any) -> str:
    """A result with one row per period (or channel) as a table: each one-dimensional
    array field of that length a column, in its declared unit."""
    import attrs
    import numpy as np

    from custsuccess.units import units_of

    units: Mapping[str, str] = units_of(self)
    fields = {f.name: getattr(self, f.name) for f in attrs.fields(type(self))}
    labels = list(getattr(fields.get("periods"), "labels", None) or fields.get("channels")
                  or [])
    columns = [(name, value) for name, value in fields.items()
               if isinstance(value, np.ndarray) and value.ndim == 1
               and value.shape[0] == len(labels) and value.dtype.kind in "fiub"]
    shown = labels[-MAX_ROWS:]
    start = len(labels) - len(shown)
    rows = [[escape(str(label)), *[cell(v[start + i], units.get(n)) for n, v in columns]]
            for i, label in enumerate(shown)]
    return table(type(self).__name__, ["", *[n for n, _ in columns]], rows, more=start)


def to_pandas_renamed() -> Callable[..., Any]:
    """The old ``to_frame()``, kept as a deprecated alias of ``to_pandas()``."""

    def to_frame(self: Any, *args: Any, **kwargs: Any) -> Any:
        """Deprecated: the old name of ``to_pandas()``, the library's one name for a
        DataFrame."""
        import warnings

        warnings.warn(
            f"{type(self).__name__}.to_frame() is deprecated; use to_pandas()",
            DeprecationWarning, stacklevel=2,
        )
        return self.to_pandas(*args, **kwargs)

    return to_frame
