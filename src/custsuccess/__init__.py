"""custsuccess: customer-success numbers for SaaS, from records to explainable results.

The public API is re-exported here and loaded lazily, so ``import custsuccess`` stays fast
for web backends: numpy and the rest are imported on first use of a name that needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# name -> module that defines it
_EXPORTS: dict[str, str] = {
    "CustSuccessError": "custsuccess.errors",
    "ValidationError": "custsuccess.errors",
    "PluginError": "custsuccess.errors",
    "ConvergenceError": "custsuccess.errors",
    "NotFittedError": "custsuccess.errors",
    "NumericalError": "custsuccess.errors",
    "Customer": "custsuccess.models",
    "Subscription": "custsuccess.models",
    "SubscriptionStatus": "custsuccess.models",
    "Event": "custsuccess.models",
    "EventKind": "custsuccess.models",
    "Dataset": "custsuccess.dataset",
    "Categorical": "custsuccess.dataset",
    "hookimpl": "custsuccess.hookspecs",
    "Registry": "custsuccess.plugins",
    "Contribution": "custsuccess.plugins",
    "PluginWarning": "custsuccess.plugins",
    "HealthModel": "custsuccess.health",
    "HealthReport": "custsuccess.health",
    "rfm_summary": "custsuccess.clv",
    "rfm_from_dataset": "custsuccess.clv",
    "BetaGeoModel": "custsuccess.clv",
    "ParetoNBDModel": "custsuccess.clv",
    "GammaGammaModel": "custsuccess.clv",
    "ShiftedBetaGeometricModel": "custsuccess.clv",
    "ChurnRecords": "custsuccess.churn",
    "KaplanMeier": "custsuccess.churn",
    "kaplan_meier": "custsuccess.churn",
    "SQLiteStore": "custsuccess.store",
}

__all__ = ["__version__", *sorted(_EXPORTS)]

if TYPE_CHECKING:  # explicit "X as X" re-exports, so type checkers see the lazy names
    from custsuccess.churn import ChurnRecords as ChurnRecords
    from custsuccess.churn import KaplanMeier as KaplanMeier
    from custsuccess.churn import kaplan_meier as kaplan_meier
    from custsuccess.clv import BetaGeoModel as BetaGeoModel
    from custsuccess.clv import GammaGammaModel as GammaGammaModel
    from custsuccess.clv import ParetoNBDModel as ParetoNBDModel
    from custsuccess.clv import ShiftedBetaGeometricModel as ShiftedBetaGeometricModel
    from custsuccess.clv import rfm_from_dataset as rfm_from_dataset
    from custsuccess.clv import rfm_summary as rfm_summary
    from custsuccess.dataset import Categorical as Categorical
    from custsuccess.dataset import Dataset as Dataset
    from custsuccess.errors import ConvergenceError as ConvergenceError
    from custsuccess.errors import CustSuccessError as CustSuccessError
    from custsuccess.errors import NotFittedError as NotFittedError
    from custsuccess.errors import NumericalError as NumericalError
    from custsuccess.errors import PluginError as PluginError
    from custsuccess.errors import ValidationError as ValidationError
    from custsuccess.health import HealthModel as HealthModel
    from custsuccess.health import HealthReport as HealthReport
    from custsuccess.hookspecs import hookimpl as hookimpl
    from custsuccess.models import Customer as Customer
    from custsuccess.models import Event as Event
    from custsuccess.models import EventKind as EventKind
    from custsuccess.models import Subscription as Subscription
    from custsuccess.models import SubscriptionStatus as SubscriptionStatus
    from custsuccess.plugins import Contribution as Contribution
    from custsuccess.plugins import PluginWarning as PluginWarning
    from custsuccess.plugins import Registry as Registry
    from custsuccess.store import SQLiteStore as SQLiteStore


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'custsuccess' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
