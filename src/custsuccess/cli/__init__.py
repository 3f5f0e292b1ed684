"""The ``custsuccess`` command (also ``python -m custsuccess``).

Subcommands (each documented in ``docs/cli.md``):

* ``demo``: build the seeded demo dataset, save it in the SQLite store and print a
  customer-success report (health tiers, accounts at risk, NPS, churn and retention,
  MRR movements, churn reasons, customer lifetime);
* ``score``: health scores of every account of a dataset read from CSV files or a
  store, as a table, JSON or CSV;
* ``metrics``: churn, retention, MRR and NPS per period, or any registered metric by name;
* ``churn``: the churn database: reasons, MRR lost, tenure and lifetimes, or its rows;
* ``plugins``: every registered health rule, churn reason, metric and playbook with the
  plugin that provides it.

Each subcommand lives in a module of its own (``custsuccess.cli.demo``, ``.score``,
``.metrics``, ``.churn``, ``.plugins``) that defines its ``COMMAND``; :data:`COMMANDS` lists
them. Shared pieces: ``custsuccess.cli.output`` (formats, tables, CSV and JSON writers,
progress), ``custsuccess.cli.options`` (option helpers, loading the data) and
``custsuccess.io.csvfiles`` (reading and writing CSV datasets).

Exit status: 0 success; 1 an unexpected failure (or output that cannot be written);
2 a usage error or invalid input (bad option, malformed CSV file, invalid data), reported
as one line ``custsuccess: error: ...`` on stderr (``--debug`` shows the traceback);
130 interrupted.

>>> main(["demo", "--demo-size", "50", "--seed", "2", "--no-save"])  # doctest: +ELLIPSIS
custsuccess demo: 50 customers, seed 2, history up to 2026-10-... UTC
  customers                               50
  active subscriptions                   ...
0
"""

from __future__ import annotations

# _parse_moment, _previous_period and _Progress stay importable from here for older code
from custsuccess.cli.app import COMMANDS, build_parser, main
from custsuccess.cli.demo import (
    AtRisk,
    DemoReport,
    DemoSummary,
    demo_report,
    render_demo_report,
    summarize,
)
from custsuccess.cli.demo import previous_period as _previous_period  # noqa: F401
from custsuccess.cli.options import Command, default_store_path
from custsuccess.cli.output import Progress as _Progress  # noqa: F401
from custsuccess.cli.output import neutralize
from custsuccess.io.csvfiles import CSV_COLUMNS, InputError, read_csv_dataset, write_csv_dataset
from custsuccess.io.csvfiles import parse_moment as _parse_moment  # noqa: F401

__all__ = [
    "COMMANDS",
    "CSV_COLUMNS",
    "AtRisk",
    "Command",
    "DemoReport",
    "DemoSummary",
    "InputError",
    "build_parser",
    "default_store_path",
    "demo_report",
    "main",
    "neutralize",
    "read_csv_dataset",
    "render_demo_report",
    "summarize",
    "write_csv_dataset",
]
