"""The exception hierarchy of custsuccess.

Every exception the library raises on purpose derives from :class:`CustSuccessError`,
so a host can catch the library's errors without catching its own bugs.
"""

from __future__ import annotations

__all__ = [
    "ConvergenceError",
    "CustSuccessError",
    "NotFittedError",
    "NumericalError",
    "PluginError",
    "ValidationError",
]


class CustSuccessError(Exception):
    """Base class of every error custsuccess raises on purpose."""


class ValidationError(CustSuccessError, ValueError):
    """Input that breaks a documented rule: the message names the field, the row or
    customer, and the offending value."""


class PluginError(CustSuccessError):
    """A plugin, or one of its contributions, misbehaved.

    The message always names the plugin; ``plugin``, ``contribution`` and ``hook`` carry
    the same facts for programs.
    """

    def __init__(
        self,
        message: str,
        *,
        plugin: str | None = None,
        contribution: str | None = None,
        hook: str | None = None,
    ) -> None:
        super().__init__(message)
        self.plugin = plugin
        self.contribution = contribution
        self.hook = hook


class ConvergenceError(CustSuccessError, RuntimeError):
    """An optimiser did not converge; the message carries the optimiser's own message."""


class NotFittedError(CustSuccessError, RuntimeError):
    """A model's prediction was asked for before ``fit`` was called."""


class NumericalError(CustSuccessError, ArithmeticError):
    """A number could not be computed in double precision for these inputs or fitted
    parameters; raised instead of returning NaN or infinity."""
