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
    """Contribute health rules: call ``register(rule)`` for each.

    A rule satisfies :class:`custsuccess.typing.HealthRule`: a unique dotted ``name``, a
    one-line ``description`` and ``evaluate(dataset, as_of) -> RuleResult`` giving every
    customer a score in [0, 100], or NaN where the rule does not apply.
    """


@hookspec
def register_churn_reasons(register: RegisterChurnReason) -> None:
    """Contribute churn-reason classifiers: call ``register(classifier)`` for each.

    A classifier satisfies :class:`custsuccess.typing.ChurnReasonClassifier`; its
    ``precedence`` orders it among the others (lowest is asked first).
    """


@hookspec
def register_metrics(register: RegisterMetric) -> None:
    """Contribute metrics computable on a dataset by name: call ``register(metric)``.

    A metric satisfies :class:`custsuccess.typing.Metric`.
    """


@hookspec
def register_playbooks(register: RegisterPlaybook) -> None:
    """Contribute playbooks, the recommended next actions attached to accounts of a
    health report: call ``register(playbook)`` for each.

    A playbook satisfies :class:`custsuccess.typing.Playbook`.
    """


@hookspec
def health_tier_changed(changes: Sequence[TierChange]) -> None:
    """Notification: accounts moved between health tiers.

    Called by ``HealthReport.changes_since(previous)`` with every account whose tier
    differs between the two reports. Host applications implement it to react, for
    example by opening a task for the account's success manager. Return value ignored.
    """
