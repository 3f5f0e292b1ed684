"""Built-in health rules: a plugin module on the ``register_health_rules`` hook.

Registers one instance of each rule of :mod:`custsuccess.health.rules` with its default
parameters: ``usage.recency``, ``usage.frequency``, ``usage.trend``, ``usage.volume``,
``onboarding.progress``, ``survey.nps``, ``support.responsiveness``,
``billing.payment_failures``, ``advocacy.referrals`` and ``adoption.breadth``; and the
user rules of :mod:`custsuccess.health.user_rules` (``users.stickiness``,
``users.breadth``, ``users.seat_utilisation``, ``users.champion``, default weight 0:
switched on by a host whose events carry ``user_id``); and the survey rules of
:mod:`custsuccess.health.service_rules` (``survey.csat``, ``survey.ces``, default weight 0).
"""

from __future__ import annotations

from custsuccess.hookspecs import hookimpl
from custsuccess.typing import RegisterHealthRule

__all__ = ["register_health_rules"]


@hookimpl
def register_health_rules(register: RegisterHealthRule) -> None:
    """Register the built-in health rules."""
    from custsuccess.health.rules import BUILTIN_RULES
    from custsuccess.health.service_rules import SERVICE_RULES
    from custsuccess.health.user_rules import USER_RULES

    for cls in BUILTIN_RULES:
        register(cls())
    for user_rule in USER_RULES:
        register(user_rule())
    for survey_rule in SERVICE_RULES:
        register(survey_rule())
