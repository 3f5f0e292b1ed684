"""Built-in playbooks: a plugin module on the ``register_playbooks`` hook."""

from __future__ import annotations

from custsuccess.hookspecs import hookimpl
from custsuccess.typing import RegisterPlaybook

__all__ = ["register_playbooks"]


@hookimpl
def register_playbooks(register: RegisterPlaybook) -> None:
    """Register the built-in contributions (filled in by their own issue)."""
