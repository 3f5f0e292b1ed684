"""Built-in churn reasons: a plugin module on the ``register_churn_reasons`` hook.

Registers one instance of each classifier of :mod:`custsuccess.churn.reasons` with its
default parameters and precedence (``given`` 10, ``involuntary`` 20,
``never_onboarded`` 30, ``support_friction`` 40, ``downgrade_path`` 50,
``disengaged`` 60).
"""

from __future__ import annotations

from custsuccess.hookspecs import hookimpl
from custsuccess.typing import RegisterChurnReason

__all__ = ["register_churn_reasons"]


@hookimpl
def register_churn_reasons(register: RegisterChurnReason) -> None:
    """Register the built-in churn-reason classifiers."""
    from custsuccess.churn.reasons import builtin_classifiers

    for classifier in builtin_classifiers():
        register(classifier)
