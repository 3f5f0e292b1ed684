"""The read-only policy for arrays custsuccess hands out.

Everything the library hands out that may share memory with other data (a dataset's
columns and views, ``to_columns()``, health reports, churn records, the arrays plugins
receive) is read-only: an in-place write such as ``dataset.subscriptions.mrr[:] = 0``
raises ``ValueError: assignment destination is read-only`` instead of changing the data
every other reader sees. Copying is explicit (``array.copy()``).

An array that owns its memory is frozen in place; any other array is handed out as a
read-only view, so memory somebody else owns (an array a caller passed in) is never
touched.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, TypeVar, cast

import numpy as np
import numpy.typing as npt

__all__ = ["readonly", "readonly_field", "readonly_mapping", "readonly_optional"]

A = TypeVar("A", bound="np.ndarray[Any, Any]")


def readonly(array: A) -> A:
    """``array`` made read-only (in place when it owns its memory, else as a view).

    >>> import numpy as np
    >>> a = readonly(np.arange(3.0))
    >>> a.flags.writeable
    False
    >>> a[0] = 1.0
    Traceback (most recent call last):
    ValueError: assignment destination is read-only
    >>> mine = np.zeros(2)
    >>> readonly(mine[:1]).flags.writeable, mine.flags.writeable
    (False, True)
    """
    if not isinstance(cast(object, array), np.ndarray):
        return array  # not ours to judge here: the caller's validation names the problem
    if not array.flags.writeable:
        return array
    if array.flags.owndata:
        array.flags.writeable = False
        return array
    view: A = array.view()
    view.flags.writeable = False
    return view


def readonly_field(array: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """:func:`readonly` as an attrs converter (a plain signature the attrs typing reads)."""
    return readonly(array)


def readonly_optional(array: npt.NDArray[Any] | None) -> npt.NDArray[Any] | None:
    """:func:`readonly_field` for an optional array (None passes through)."""
    return None if array is None else readonly(array)


def readonly_mapping(columns: Mapping[str, Any]) -> Mapping[str, Any]:
    """A read-only mapping whose numpy arrays are read-only (other values unchanged)."""
    if not isinstance(cast(object, columns), Mapping):
        return columns  # not ours to judge here: the caller's validation names the problem
    return MappingProxyType(
        {k: readonly(v) if isinstance(v, np.ndarray) else v for k, v in columns.items()}
    )
