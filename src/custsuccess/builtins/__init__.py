"""custsuccess's own plugins: the built-in health rules, churn reasons, metrics and
playbooks, registered through the same hooks as any third party's (see
:mod:`custsuccess.hookspecs`)."""

__all__ = ["BUILTIN_PLUGIN_MODULES"]

#: Modules registered, in this order, before any entry-point plugin.
BUILTIN_PLUGIN_MODULES = (
    "custsuccess.builtins.health_rules",
    "custsuccess.builtins.churn_reasons",
    "custsuccess.builtins.metrics",
    "custsuccess.builtins.playbooks",
)
