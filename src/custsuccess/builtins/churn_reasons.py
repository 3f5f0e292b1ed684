"""Built-in churn reasons: a plugin module on the ``register_churn_reasons`` hook."""

from __future__ import annotations

from custsuccess.hookspecs import hookimpl
from custsuccess.typing import RegisterChurnReason

__all__ = ["register_churn_reasons"]


@hookimpl
def register_churn_reasons(register: RegisterChurnReason) -> None:
    """Register the built-in contributions (filled in by their own issue)."""
