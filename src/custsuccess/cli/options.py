"""What the commands share: the command contract and exit statuses, option types, the
data-source and output options, and loading the dataset they name."""

from __future__ import annotations

import argparse
import contextlib
import os
import sqlite3
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final, NamedTuple, TextIO

from custsuccess.errors import CustSuccessError, ValidationError
from custsuccess.io.csvfiles import CSV_COLUMNS, InputError, parse_moment, read_csv_dataset

if TYPE_CHECKING:
    import numpy as np

    from custsuccess.dataset import Dataset
    from custsuccess.health import HealthModel
    from custsuccess.plugins import Registry

__all__ = [
    "DEFAULT_AS_OF_RULE",
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_INVALID",
    "EXIT_OK",
    "Command",
    "Handler",
    "UsageError",
    "add_config",
    "add_output",
    "add_source",
    "csv_columns_help",
    "default_as_of",
    "default_store_path",
    "health_model",
    "latest_moment",
    "load",
    "moment_arg",
    "non_negative_int",
    "positive_int",
    "source_seconds",
]


Handler = Callable[[argparse.Namespace, TextIO], int]

EXIT_OK: Final = 0
EXIT_FAILURE: Final = 1
EXIT_INVALID: Final = 2
EXIT_INTERRUPTED: Final = 130


class Command(NamedTuple):
    """A subcommand: its name, one-line help, and functions to configure and run it."""

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Handler


def moment_arg(text: str) -> np.datetime64:
    value = parse_moment(text)
    if value is None:
        raise argparse.ArgumentTypeError(
            f"expected a date (2024-03-31) or a date and time with Z or an offset "
            f"(2024-03-31T12:00:00Z), got {text!r}"
        )
    return value


def default_store_path() -> Path:
    """Where ``custsuccess demo`` keeps its database: ``demo.sqlite`` in the user's cache
    directory: ``$XDG_CACHE_HOME/custsuccess`` when that variable is set, else
    ``%LOCALAPPDATA%\\custsuccess\\Cache`` on Windows, ``~/Library/Caches/custsuccess``
    on macOS and ``~/.cache/custsuccess`` elsewhere."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        base = Path(xdg) / "custsuccess"
    elif sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        base = Path(os.environ["LOCALAPPDATA"]) / "custsuccess" / "Cache"
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches" / "custsuccess"
    else:
        base = Path.home() / ".cache" / "custsuccess"
    return base / "demo.sqlite"


def csv_columns_help() -> str:
    """The columns of each CSV input file, as ``--help`` lists them."""
    lines = ["CSV files (UTF-8, a header row; times ISO 8601 with Z or an offset, or dates):"]
    for table, (required, optional) in CSV_COLUMNS.items():
        extra = "any other column: a customer attribute" if table == "customers" else (
            "any other column: a text property" if table == "events" else "")
        rest = ", ".join([*optional, *([extra] if extra else [])])
        lines.append(f"  {table}: {', '.join(required)}" + (f" (optional: {rest})" if rest else ""))
    return "\n".join(lines)


def add_source(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = csv_columns_help()
    group = parser.add_argument_group(
        "data", "read the data from CSV files (their columns are listed below), from the "
        "sources a TOML file names (any export, with mappings: see the documentation's "
        "'Bring your own data' page) or from a store"
    )
    group.add_argument("--customers", metavar="CSV", help="customers file (required with CSV)")
    group.add_argument("--subscriptions", metavar="CSV", help="subscriptions file")
    group.add_argument("--events", metavar="CSV", help="events file")
    group.add_argument("--db", metavar="PATH", help="a SQLite store (custsuccess demo makes one)")
    group.add_argument(
        "--sources", metavar="TOML",
        help="a sources file (TOML): files, folders, SQL queries and their mappings (the "
        "documentation's 'Bring your own data' page; examples ship in custsuccess/mappings)",
    )
    parser.add_argument(
        "--as-of", type=moment_arg, metavar="DATE",
        help="the moment of the analysis: 2024-03-31 (midnight UTC) or 2024-03-31T12:00Z "
        f"(default: {DEFAULT_AS_OF_RULE})",
    )


def add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", metavar="TOML",
        help="health model settings in TOML: rule weights, tier thresholds, rule parameters "
        "(default: every installed rule at its default weight)",
    )


def health_model(config: str | None, registry: Registry) -> HealthModel:
    """The health model of ``--config`` (a TOML file), else the default model."""
    from custsuccess.health import HealthModel

    if config is None:
        return HealthModel.default(registry)
    if not Path(config).is_file():
        raise InputError(f"{config}: no such health config file")
    return HealthModel.from_toml(config, registry=registry)


#: The rule for the moment of the analysis when ``--as-of`` is not given, the same for
#: every command (and the demo).
DEFAULT_AS_OF_RULE: Final = (
    "midnight UTC at or after the last moment the data records (its latest signup, event, "
    "subscription start or end), so every command, demo included, reads the same data "
    "the same way"
)


def default_as_of(dataset: Dataset) -> np.datetime64:
    """The moment of the analysis when none is given: :data:`DEFAULT_AS_OF_RULE`."""
    import numpy as np

    latest = latest_moment(dataset)
    day = latest.astype("datetime64[D]")
    start: np.datetime64 = day.astype("datetime64[us]")
    if start == latest:
        return start
    end: np.datetime64 = (day + np.timedelta64(1, "D")).astype("datetime64[us]")
    return end


def latest_moment(dataset: Dataset) -> np.datetime64:
    import numpy as np

    subs = dataset.subscriptions
    parts = [
        dataset.customers.created_at, dataset.events.time, subs.started_at,
        subs.ended_at[~np.isnat(subs.ended_at)],
    ]
    latest = [p.max() for p in parts if p.size]
    if not latest:
        raise ValidationError("the data holds no customers: nothing to analyse")
    latest_moment: np.datetime64 = max(latest)
    return latest_moment


def load(args: argparse.Namespace) -> tuple[Dataset, np.datetime64]:
    """The dataset of the source options and the moment of the analysis."""
    csv_given = [o for o in ("customers", "subscriptions", "events") if getattr(args, o)]
    sources = getattr(args, "sources", None)
    chosen = [o for o, on in (("--db", args.db), ("--sources", sources)) if on]
    if csv_given:
        chosen.append(f"--{csv_given[0]}")
    if args.db and csv_given and not sources:
        raise UsageError(
            f"give either --db or CSV files, not both (got --db and --{csv_given[0]})"
        )
    if len(chosen) > 1:
        raise UsageError(
            f"give one of --db, --sources or CSV files (got {' and '.join(chosen)})"
        )
    if sources:
        dataset = _read_sources(sources)
    elif args.db:
        from custsuccess.store import SQLiteStore, StoreError

        path = Path(args.db)
        if not path.is_file():
            raise InputError(f"{args.db}: no such database file")
        try:
            with SQLiteStore.open(path) as store:  # read-only: the file is never changed
                dataset = store.load()
        except (StoreError, sqlite3.DatabaseError) as exc:
            raise InputError(f"{args.db}: not a readable custsuccess database ({exc})") from None
    elif args.customers:
        dataset = read_csv_dataset(args.customers, args.subscriptions, args.events)
    elif csv_given:
        raise UsageError(f"--{csv_given[0]} needs --customers too")
    else:
        raise UsageError("no data: give --customers CSV (with --subscriptions and --events) "
                          "or --db PATH")
    as_of = args.as_of if args.as_of is not None else default_as_of(dataset)
    return dataset, as_of


def _read_sources(path: str) -> Dataset:
    """The dataset of a sources file; its quality report goes to standard error."""
    from custsuccess.io.config import read_sources

    if not Path(path).is_file():
        raise InputError(f"{path}: no such sources file")
    try:
        dataset = read_sources(path)
    except ImportError as exc:
        raise InputError(
            f"{path}: reading sources needs pyarrow: pip install 'custsuccess[io]' ({exc})"
        ) from None
    print(dataset.describe(), file=sys.stderr)
    return dataset


class UsageError(CustSuccessError):
    """Options that do not go together (exit status 2, like argparse's own errors)."""


def add_output(parser: argparse.ArgumentParser, formats: Sequence[str]) -> None:
    parser.add_argument(
        "--format", choices=formats, default=formats[0],
        help=f"output format (default: {formats[0]})",
    )
    parser.add_argument("--out", metavar="FILE", help="write to FILE instead of stdout")


def source_seconds(args: argparse.Namespace) -> float:
    """A rough guess of the seconds reading and analysing the source takes."""
    size = 0
    for option in ("customers", "subscriptions", "events", "db"):
        path = getattr(args, option, None)
        if isinstance(path, str):
            with contextlib.suppress(OSError):
                size += os.path.getsize(path)
    return size / 4e6


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value


def positive_int(text: str) -> int:
    value = non_negative_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value
