"""Built-in playbooks: a plugin module on the ``register_playbooks`` hook.

Registers one instance of each playbook of :mod:`custsuccess.health.playbooks` with its
default parameters: ``onboarding.help`` (priority 10), ``personal.call`` (20),
``reactivation.outreach`` (25), ``success.stories`` (30), ``survey.ask`` (40) and
``referral.ask`` (50).
"""

from __future__ import annotations

from custsuccess.hookspecs import hookimpl
from custsuccess.typing import RegisterPlaybook

__all__ = ["register_playbooks"]


@hookimpl
def register_playbooks(register: RegisterPlaybook) -> None:
    """Register the built-in playbooks."""
    from custsuccess.health.playbooks import BUILTIN_PLAYBOOKS

    for cls in BUILTIN_PLAYBOOKS:
        register(cls())
