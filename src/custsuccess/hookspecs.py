"""The pluggy hook specifications of custsuccess: the plugin author's reference.

A plugin is a module or object with functions decorated by :data:`hookimpl` whose names
match the specifications below. custsuccess's own rules, reasons, metrics and playbooks
are plugins on these same hooks (:mod:`custsuccess.builtins`).

Collecting hooks receive a ``register`` callback: call it once per contribution. The
registry validates each contribution, rejects duplicate names and records which plugin
made it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from custsuccess.typing import (
        RegisterChurnReason,
        RegisterHealthRule,
        RegisterMetric,
        RegisterPlaybook,
        TierChange,
    )

__all__ = ["PROJECT_NAME", "hookimpl", "hookspec"]

#: The pluggy project name, and the entry-point group plugins are discovered in.
PROJECT_NAME = "custsuccess"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
#: The marker plugin authors put on their hook implementations.
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def register_health_rules(register: RegisterHealthRule) -> None:
    """Contribute health rules: call ``register(rule)`` once for each rule.

    A rule satisfies :class:`custsuccess.typing.HealthRule`: a unique dotted ``name``
    (prefix it with your plugin's name, e.g. ``acme.logins_30d``), a one-line
    ``description`` and ``evaluate(dataset, as_of) -> RuleResult``. ``evaluate`` receives
    a dataset view already ending at ``as_of`` and returns, for every customer at once, a
    float64 score in [0, 100], or NaN where the rule does not apply to that account
    (it is then left out of the account's weighted mean), plus a ``Reasons`` per
    customer.

    The registry calls this hook once, the first time its health rules are asked for.
    ``register`` validates the rule on the spot: a missing or malformed attribute, or a
    name another plugin already registered, raises ``PluginError`` naming your plugin.
    Return None.
    """


@hookspec
def register_churn_reasons(register: RegisterChurnReason) -> None:
    """Contribute churn-reason classifiers: call ``register(classifier)`` once for each.

    A classifier satisfies :class:`custsuccess.typing.ChurnReasonClassifier`: a unique
    dotted ``name``, a one-line ``description``, an int ``precedence`` and
    ``classify(dataset, churned) -> ReasonResult``, which says, for every churned account
    of ``churned`` at once, which reason it claims (code -1: no claim) and why.
    Classifiers are asked in order of ``precedence``, lowest first; the first one that
    claims an account decides its reason.

    Called once per registry, on first use; ``register`` validates each classifier and
    raises ``PluginError`` naming your plugin when it is malformed or its name is taken.
    Return None.
    """


@hookspec
def register_metrics(register: RegisterMetric) -> None:
    """Contribute metrics computable on a dataset by name: call ``register(metric)``.

    A metric satisfies :class:`custsuccess.typing.Metric`: a unique dotted ``name``, a
    one-line ``description`` and ``compute(dataset, **options)``, which returns the
    metric's own result (a number, an array or a table) as its docstring documents, and
    raises ``ValidationError`` for options it does not understand.

    Called once per registry, on first use; ``register`` validates each metric and
    raises ``PluginError`` naming your plugin when it is malformed or its name is taken.
    Return None.
    """


@hookspec
def register_playbooks(register: RegisterPlaybook) -> None:
    """Contribute playbooks, the recommended next actions attached to accounts of a
    health report: call ``register(playbook)`` once for each.

    A playbook satisfies :class:`custsuccess.typing.Playbook`: a unique dotted ``name``, a
    one-line ``description``, an int ``priority`` (lowest first when several apply) and
    ``recommend(dataset, report)``, returning a boolean mask with one entry per customer
    of the report.

    Called once per registry, on first use; ``register`` validates each playbook and
    raises ``PluginError`` naming your plugin when it is malformed or its name is taken.
    Return None.
    """


@hookspec
def health_tier_changed(changes: Sequence[TierChange]) -> None:
    """Notification: accounts moved between health tiers.

    Called by ``HealthReport.changes_since(previous)`` (through
    ``Registry.notify_tier_changed``) with every account whose tier differs between the
    two reports, as a tuple of :class:`custsuccess.typing.TierChange` (``customer_id``,
    ``previous_tier``, ``tier``, ``previous_score``, ``score``). Host applications
    implement it to react, for example by opening a task for the account's success
    manager. Every implementation is called even when one raises; the failure is then
    raised as ``PluginError`` naming the plugin. The return value is ignored.
    """
