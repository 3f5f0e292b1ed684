"""Data in: files, DataFrames, Arrow tables and SQL databases, through a declarative mapping,
into a :class:`~custsuccess.dataset.Dataset`.

This is the one way data comes into custsuccess from outside Python objects::

    from custsuccess import io

    dataset = io.read_dataset(
        customers=io.source("stripe_customers.csv", mapping="stripe_customers"),
        subscriptions=io.source("stripe_subscriptions.csv", mapping="stripe_subscriptions"),
        events=[
            io.source("amplitude.jsonl.gz", mapping="amplitude_events"),
            io.source("tickets.csv", mapping="zendesk_tickets"),
        ],
    )
    print(dataset.describe())

pyarrow (the ``io`` extra) reads files and encodes columns; SQLAlchemy (the ``sql`` extra)
reaches databases. Neither is imported by ``import custsuccess``, nor by ``import
custsuccess.io``: only when a source is read. :mod:`custsuccess.io.quality` and
:mod:`custsuccess.io.csvfiles` (CSV files already in our columns) work without either.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    "Source": "custsuccess.io.sources",
    "source": "custsuccess.io.sources",
    "sql": "custsuccess.io.sources",
    "Mapping": "custsuccess.io.mapping",
    "load_mapping": "custsuccess.io.mapping",
    "shipped_mappings": "custsuccess.io.mapping",
    "read_dataset": "custsuccess.io.read",
    "read_table": "custsuccess.io.read",
    "read_sources": "custsuccess.io.config",
    "sources_from_toml": "custsuccess.io.config",
    "read_csv_dataset": "custsuccess.io.csvfiles",
    "write_csv_dataset": "custsuccess.io.csvfiles",
    "DataQuality": "custsuccess.io.quality",
    "SourceReport": "custsuccess.io.quality",
    "Rejection": "custsuccess.io.quality",
    "KindUsage": "custsuccess.io.quality",
    "BlindModelWarning": "custsuccess.io.quality",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from custsuccess.io.config import read_sources as read_sources
    from custsuccess.io.config import sources_from_toml as sources_from_toml
    from custsuccess.io.csvfiles import read_csv_dataset as read_csv_dataset
    from custsuccess.io.csvfiles import write_csv_dataset as write_csv_dataset
    from custsuccess.io.mapping import Mapping as Mapping
    from custsuccess.io.mapping import load_mapping as load_mapping
    from custsuccess.io.mapping import shipped_mappings as shipped_mappings
    from custsuccess.io.quality import BlindModelWarning as BlindModelWarning
    from custsuccess.io.quality import DataQuality as DataQuality
    from custsuccess.io.quality import KindUsage as KindUsage
    from custsuccess.io.quality import Rejection as Rejection
    from custsuccess.io.quality import SourceReport as SourceReport
    from custsuccess.io.read import read_dataset as read_dataset
    from custsuccess.io.read import read_table as read_table
    from custsuccess.io.sources import Source as Source
    from custsuccess.io.sources import source as source
    from custsuccess.io.sources import sql as sql


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'custsuccess.io' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
