"""custsuccess's own plugins: the built-in health rules, churn reasons, metrics and
playbooks, registered through the same hooks as any third party's (see
:mod:`custsuccess.hookspecs`).

Each module here is an ordinary plugin module (like pytest's default plugins and llm's
``default_plugins``): a :class:`~custsuccess.plugins.Registry` imports it by name and
registers it, under its module name, before any entry-point plugin. Keep these modules
cheap to import: heavy libraries are imported inside the functions that need them.

>>> from custsuccess.plugins import Registry
>>> Registry(entry_points=False).plugin_names() == BUILTIN_PLUGIN_MODULES
True
"""

from __future__ import annotations

from typing import Final

__all__ = ["BUILTIN_PLUGIN_MODULES"]

#: Modules registered, in this order, before any entry-point plugin.
BUILTIN_PLUGIN_MODULES: Final[tuple[str, ...]] = (
    "custsuccess.builtins.health_rules",
    "custsuccess.builtins.churn_reasons",
    "custsuccess.builtins.metrics",
    "custsuccess.builtins.playbooks",
)
