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
    "Customer": "custsuccess.models",
    "Subscription": "custsuccess.models",
    "SubscriptionStatus": "custsuccess.models",
    "Event": "custsuccess.models",
    "EventKind": "custsuccess.models",
    "Dataset": "custsuccess.dataset",
    "Categorical": "custsuccess.dataset",
}

__all__ = ["__version__", *sorted(_EXPORTS)]

if TYPE_CHECKING:
    from custsuccess.dataset import Categorical, Dataset
    from custsuccess.errors import (
        ConvergenceError,
        CustSuccessError,
        NotFittedError,
        PluginError,
        ValidationError,
    )
    from custsuccess.models import Customer, Event, EventKind, Subscription, SubscriptionStatus


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'custsuccess' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
