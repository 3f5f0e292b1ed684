"""Units of results: one rule for rates, and how a result declares the unit of each field.

The rule: **a rate is a fraction** (0.25, not 25) in every result, in JSON and in CSV.
Percent is presentation only, for people: the command line prints 0.25 as ``25.0%``
because the result *declares* that field a fraction, never because of how its name ends.
(The founding texts write rates "x 100"; that is the same number, shown in percent.)

A result declares its units in a class attribute ``units``, a mapping from field name to
one of :data:`UNITS`; :func:`units_of` reads it. Fields it does not name are plain
numbers. Plugin authors declare their results' units the same way.

```pycon
>>> from custsuccess.units import as_percent, units_of
>>> as_percent(0.25)
25.0
>>> class Flow:
...     units = {"churn_rate": "fraction", "lost": "count"}
>>> units_of(Flow())["churn_rate"]
'fraction'

```
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal

__all__ = ["UNITS", "Unit", "as_percent", "units_of"]

Unit = Literal["fraction", "money", "count", "points", "ratio", "days", "seconds", "number"]

#: The units a result field can declare: ``fraction`` (a rate or share, 0.25; printed
#: as a percent), ``money`` (currency units), ``count`` (whole numbers), ``points`` (a
#: score on its own scale, such as NPS from -100 to 100), ``ratio`` (a plain multiple,
#: such as the quick ratio), ``days``, ``seconds`` and ``number`` (anything else).
UNITS: Final[tuple[str, ...]] = (
    "fraction", "money", "count", "points", "ratio", "days", "seconds", "number",
)


def units_of(result: Any) -> dict[str, str]:
    """The declared unit of each field of ``result`` (its ``units`` mapping; empty when
    it declares none). Unknown unit names are reported as ``number``."""
    declared = getattr(result, "units", None)
    if not isinstance(declared, Mapping):
        return {}
    return {str(k): (v if v in UNITS else "number") for k, v in declared.items()}


def as_percent(fraction: Any) -> Any:
    """A fraction in percent (``fraction * 100``), for display: a number or an array."""
    return fraction * 100.0
