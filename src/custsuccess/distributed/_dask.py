"""Typed doors to the three Dask calls this package uses (Dask's own are untyped)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dask.base import compute as _compute
from dask.base import persist as _persist
from dask.delayed import Delayed
from dask.delayed import delayed as _delayed

__all__ = ["Delayed", "compute", "delayed", "persist"]


def compute(*values: Any) -> tuple[Any, ...]:
    """``dask.compute``: the values of Delayed objects, computed together."""
    out: tuple[Any, ...] = _compute(*values)  # type: ignore[no-untyped-call]
    return out


def persist(*values: Delayed) -> tuple[Delayed, ...]:
    """``dask.persist``: the same objects, computed and kept in memory."""
    out: tuple[Delayed, ...] = _persist(*values)  # type: ignore[no-untyped-call]
    return out


def delayed(value: Callable[..., Any] | object, **options: Any) -> Any:
    """``dask.delayed``."""
    return _delayed(value, **options)
