"""Built-in health rules: a plugin module on the ``register_health_rules`` hook."""

from __future__ import annotations

from custsuccess.hookspecs import hookimpl
from custsuccess.typing import RegisterHealthRule

__all__ = ["register_health_rules"]


@hookimpl
def register_health_rules(register: RegisterHealthRule) -> None:
    """Register the built-in contributions (filled in by their own issue)."""
