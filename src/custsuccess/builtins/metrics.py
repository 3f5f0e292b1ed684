"""Built-in metrics: a plugin module on the ``register_metrics`` hook."""

from __future__ import annotations

from custsuccess.hookspecs import hookimpl
from custsuccess.typing import RegisterMetric

__all__ = ["register_metrics"]


@hookimpl
def register_metrics(register: RegisterMetric) -> None:
    """Register the built-in contributions (filled in by their own issue)."""
