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

Subcommands are registered in :data:`COMMANDS`: each entry adds its own argparse
sub-parser and names the function that runs it.

Exit status: 0 success; 1 an unexpected failure (or output that cannot be written);
2 a usage error or invalid input (bad option, malformed CSV file, invalid data), reported
as one line ``custsuccess: error: ...`` on stderr (``--debug`` shows the traceback);
130 interrupted.

>>> main(["demo", "--customers", "50", "--seed", "2", "--no-save"])  # doctest: +ELLIPSIS
custsuccess demo: 50 customers, seed 2, history up to 2026-10-31 00:00 UTC
  customers                               50
  active subscriptions                   ...
0
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import math
import os
import re
import sqlite3
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NamedTuple, TextIO

from custsuccess import __version__
from custsuccess.errors import CustSuccessError, ValidationError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from matplotlib.figure import Figure

    from custsuccess.churn.records import ChurnRecords
    from custsuccess.churn.survival import KaplanMeier
    from custsuccess.dataset import Dataset
    from custsuccess.health.report import HealthReport
    from custsuccess.metrics.nps import NpsResult
    from custsuccess.plugins import Registry

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


class InputError(ValidationError):
    """An input file the command cannot read: the message names the file, the row (as a
    spreadsheet numbers it: the header is row 1), the column and the value."""


# --------------------------------------------------------------------------- formatting


def _stamp(t: np.datetime64) -> str:
    """``2026-10-31 00:00 UTC`` (seconds shown only when there are some)."""
    seconds = t.astype("datetime64[s]")
    unit = "m" if seconds == seconds.astype("datetime64[m]") else "s"
    return str(t.astype(f"datetime64[{unit}]")).replace("T", " ") + " UTC"


def _iso(t: np.datetime64) -> str:
    import numpy as np

    return str(np.datetime_as_string(t, unit="s", timezone="UTC"))


def _pct(x: float, digits: int = 1) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{100 * x:.{digits}f}%"


def _money(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:,.0f}"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, indent: int = 2) -> str:
    """Aligned columns: text left, numbers (cells starting with a digit, sign or n/a) right."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    numeric = [
        bool(rows) and all(re.match(r"^[-+]?[\d.,]+%?$|^n/a$|^$", r[j]) for r in rows)
        for j in range(len(headers))
    ]

    def line(cells: Sequence[str]) -> str:
        parts = [
            c.rjust(w) if num else c.ljust(w)
            for c, w, num in zip(cells, widths, numeric, strict=True)
        ]
        return (" " * indent + "  ".join(parts)).rstrip()

    return "\n".join([line(headers), *(line(r) for r in rows)])


_FORMULA_PREFIXES: Final = ("=", "+", "-", "@", "\t", "\r")


def neutralize(text: str) -> str:
    """A text cell made safe for spreadsheets: a leading ``=``, ``+``, ``-``, ``@``,
    tab or carriage return (which Excel, LibreOffice and Google Sheets read as the start
    of a formula) gets a ``'`` in front, as OWASP recommends for CSV injection.

    >>> neutralize("=HYPERLINK(\\"http://x\\")"), neutralize("-2+3"), neutralize("acme")
    ('\\'=HYPERLINK("http://x")', "'-2+3", 'acme')
    """
    return "'" + text if text.startswith(_FORMULA_PREFIXES) else text


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str):
        return neutralize(value)
    if isinstance(value, float) and math.isnan(value):
        return ""
    return value


def _write_csv(out: TextIO, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([neutralize(h) for h in headers])
    for row in rows:
        writer.writerow([_csv_cell(v) for v in row])


def _json_value(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.datetime64):
        return None if np.isnat(value) else _iso(value)
    return value


def _write_json(out: TextIO, payload: Any) -> None:
    json.dump(payload, out, indent=2, default=_json_value, allow_nan=False)
    out.write("\n")


def _clean(value: Any) -> Any:
    """NaN and inf -> None, numpy scalars -> Python, recursively (for ``allow_nan=False``)."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return _json_value(value)


# --------------------------------------------------------------------------- times


_FRACTION: Final = re.compile(r"\.(\d+)")


def _parse_moment(text: str) -> np.datetime64 | None:
    """A moment from ISO 8601 text: a date (midnight UTC) or a date and time with ``Z``
    or an offset. None when the text is not one."""
    import numpy as np

    s = text.strip()
    if len(s) == 10:
        try:
            day = datetime.strptime(s, "%Y-%m-%d")
        except ValueError:
            return None
        return np.datetime64(day, "us")
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    # Python 3.10's fromisoformat takes 3 or 6 digits of fraction only: pad or cut to 6
    s = _FRACTION.sub(lambda m: "." + (m.group(1) + "00000")[:6], s, count=1)
    try:
        moment = datetime.fromisoformat(s)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    utc = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return np.datetime64(utc, "us")


def _moment_arg(text: str) -> np.datetime64:
    value = _parse_moment(text)
    if value is None:
        raise argparse.ArgumentTypeError(
            f"expected a date (2024-03-31) or a date and time with Z or an offset "
            f"(2024-03-31T12:00:00Z), got {text!r}"
        )
    return value


# --------------------------------------------------------------------------- CSV input

#: CSV columns of each input file: (required, optional); documented in docs/cli.md.
CSV_COLUMNS: Final[Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {
    "customers": (("id", "created_at"), ("name", "segment", "plan")),
    "subscriptions": (
        ("id", "customer_id", "plan", "mrr", "currency", "started_at"),
        ("ended_at", "cancel_reason"),
    ),
    "events": (("customer_id", "kind", "occurred_at"), ("value",)),
}
_TIME_COLUMNS: Final = {"created_at", "started_at", "ended_at", "occurred_at"}
_NUMBER_COLUMNS: Final = {("subscriptions", "mrr"), ("events", "value")}


class _CsvTable(NamedTuple):
    path: str
    columns: dict[str, Any]
    rows: list[int]  # the spreadsheet row number of each record (the header is row 1)


def _where(path: str, row: int, column: str | None = None) -> str:
    return f"{path}, row {row}" + (f", column {column!r}" if column else "")


def _read_rows(path: str, table: str) -> tuple[list[str], list[list[str]]]:
    try:
        handle = open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115
    except OSError as exc:
        raise InputError(f"{path}: cannot read the {table} file: {exc.strerror or exc}") from None
    with handle:
        reader = csv.reader(handle, strict=True)
        try:
            header = next(reader, None)
            if header is None:
                raise InputError(f"{path}: the {table} file is empty (expected a header row)")
            rows = list(reader)
        except csv.Error as exc:
            raise InputError(
                f"{_where(path, reader.line_num)}: not valid CSV: {exc}"
            ) from None
        except UnicodeDecodeError as exc:
            raise InputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return [h.strip() for h in header], rows


def _read_table(path: str, table: str) -> _CsvTable:
    import numpy as np

    header, rows = _read_rows(path, table)
    required, optional = CSV_COLUMNS[table]
    seen: set[str] = set()
    for j, name in enumerate(header):
        if not name:
            raise InputError(f"{_where(path, 1)}: column {j + 1} has no name in the header")
        if name in seen:
            raise InputError(f"{_where(path, 1)}: column {name!r} appears twice in the header")
        seen.add(name)
    missing = [c for c in required if c not in seen]
    if missing:
        raise InputError(
            f"{_where(path, 1)}: missing column(s) {', '.join(map(repr, missing))} "
            f"(required: {', '.join(required)}; found: {', '.join(header) or 'none'})"
        )
    width = len(header)
    numbers: list[int] = []
    kept: list[list[str]] = []
    for i, row in enumerate(rows):
        if not any(cell.strip() for cell in row):
            continue  # a blank line, or a row of empty cells: skipped
        if len(row) != width:
            raise InputError(
                f"{_where(path, i + 2)}: {len(row)} value(s), expected {width} "
                f"(one per header column)"
            )
        numbers.append(i + 2)
        kept.append(row)
    columns: dict[str, Any] = {}
    for j, name in enumerate(header):
        cells = [r[j].strip() for r in kept]
        if name in required:
            empty = next((k for k, c in enumerate(cells) if not c), None)
            if empty is not None:
                raise InputError(
                    f"{_where(path, numbers[empty], name)}: empty value; {name} is required"
                )
        if name in _TIME_COLUMNS:
            columns[name] = _parse_times(cells, path, name, numbers)
        elif (table, name) in _NUMBER_COLUMNS:
            columns[name] = _parse_numbers(cells, path, name, numbers)
        elif table == "customers" and name not in required and name not in optional:
            columns[name] = _attribute(cells)
        elif name in required:
            columns[name] = np.array(cells, dtype=np.str_) if cells else np.empty(0, "U1")
        else:
            columns[name] = np.array([c or None for c in cells], dtype=object)
    return _CsvTable(path, columns, numbers)


def _parse_times(
    cells: list[str], path: str, column: str, rows: list[int]
) -> npt.NDArray[np.datetime64]:
    import numpy as np

    out = np.full(len(cells), np.datetime64("NaT"), dtype="datetime64[us]")
    if not cells:
        return out
    text = np.array(cells, dtype=np.str_)
    # fast path: dates and UTC times ending in Z (starting "dddd-"), which numpy parses
    # as they are; anything else, or any failure, goes through the exact parser below
    length = np.char.str_len(text)
    dated = np.char.isdigit(text.astype("U4")) & (np.char.str_len(text.astype("U4")) == 4)
    dated &= np.char.endswith(text.astype("U5"), "-")
    fast = dated & ((length == 10) | ((length > 10) & np.char.endswith(text, "Z")))
    done = np.zeros(len(cells), dtype=bool)
    if fast.any():
        try:
            out[fast] = np.array(np.char.rstrip(text[fast], "Z"), dtype="datetime64[us]")
            done = fast
        except ValueError:
            pass
    for i in np.flatnonzero(~done).tolist():
        cell = cells[i]
        if not cell:
            continue
        value = _parse_moment(cell)
        if value is None:
            hint = (
                "a time without Z or an offset is ambiguous; add one (2024-03-31T12:00:00Z)"
                if _parse_naive(cell) else
                "expected an ISO 8601 date (2024-03-31) or date and time with Z or an "
                "offset (2024-03-31T12:00:00+02:00)"
            )
            raise InputError(
                f"{_where(path, rows[i], column)}: {cell!r} is not a moment: {hint}"
            )
        out[i] = value
    return out


def _parse_naive(cell: str) -> bool:
    try:
        return datetime.fromisoformat(cell).tzinfo is None
    except ValueError:
        return False


def _parse_numbers(
    cells: list[str], path: str, column: str, rows: list[int]
) -> npt.NDArray[np.float64]:
    import numpy as np

    try:
        return np.array([c or "nan" for c in cells], dtype=np.str_).astype(np.float64)
    except ValueError:
        pass
    for i, cell in enumerate(cells):
        try:
            float(cell or "nan")
        except ValueError:
            raise InputError(
                f"{_where(path, rows[i], column)}: {cell!r} is not a number"
            ) from None
    raise AssertionError("unreachable")  # pragma: no cover


def _attribute(cells: list[str]) -> npt.NDArray[Any]:
    """An extra customer column: whole numbers (int64) when every cell is one, else
    numbers (float64, empty cells NaN) when every non-empty cell is one, else text."""
    import numpy as np

    text = np.array(cells, dtype=np.str_) if cells else np.empty(0, "U1")
    with contextlib.suppress(ValueError, OverflowError):
        return text.astype(np.int64)
    try:
        return np.where(text == "", "nan", text).astype(np.float64)
    except ValueError:
        return np.array([c or None for c in cells], dtype=object)


def write_csv_dataset(dataset: Dataset, folder: str | os.PathLike[str]) -> list[Path]:
    """Write ``dataset`` as ``customers.csv``, ``subscriptions.csv`` and ``events.csv`` in
    ``folder`` (created if missing), in the columns :func:`read_csv_dataset` reads: times
    as ISO 8601 UTC (``2024-03-31T12:00:00.000000Z``), missing values as empty cells. Text
    is written as it is (these files are inputs, not spreadsheets). Returns the paths."""
    import numpy as np

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for table, columns in dataset.to_columns().items():
        cells: list[list[Any]] = []
        for name, column in columns.items():
            array = np.asarray(column)
            if array.dtype.kind == "M":
                text = np.char.add(np.datetime_as_string(array, unit="us"), "Z").astype(object)
                text[np.isnat(array)] = ""
            elif array.dtype.kind == "f":
                text = array.astype(object)
                text[np.isnan(array)] = ""
                if name == "mrr" or name == "value":
                    text[~np.isnan(array)] = [repr(float(v)) for v in array[~np.isnan(array)]]
            else:
                text = np.array(["" if v is None else str(v) for v in array.tolist()],
                                dtype=object)
            cells.append(text.tolist())
        path = out / f"{table}.csv"
        with open(path, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(list(columns))
            writer.writerows(zip(*cells, strict=True))
        paths.append(path)
    return paths


_TABLE_OF_MESSAGE: Final = re.compile(r"^(customers|subscriptions|events)\b")
_ROW_IN_MESSAGE: Final = re.compile(r"\brow (\d+)")


def read_csv_dataset(
    customers: str, subscriptions: str | None = None, events: str | None = None
) -> Dataset:
    """A :class:`~custsuccess.dataset.Dataset` from CSV files (columns in ``docs/cli.md``).

    Any problem raises :class:`InputError` naming the file, the row (the header is row 1),
    the column and the value.
    """
    from custsuccess.dataset import Dataset

    tables = {"customers": _read_table(customers, "customers")}
    if subscriptions is not None:
        tables["subscriptions"] = _read_table(subscriptions, "subscriptions")
    if events is not None:
        tables["events"] = _read_table(events, "events")
    try:
        return Dataset.from_columns(**{name: t.columns for name, t in tables.items()})
    except ValidationError as exc:
        message = str(exc)
        match = _TABLE_OF_MESSAGE.match(message)
        if match is None or match.group(1) not in tables:
            raise InputError(message) from None
        table = tables[match.group(1)]

        def spreadsheet_row(m: re.Match[str]) -> str:
            k = int(m.group(1))
            return f"row {table.rows[k]}" if k < len(table.rows) else m.group(0)

        located = _ROW_IN_MESSAGE.sub(spreadsheet_row, message)
        raise InputError(f"{table.path}: {located}") from None


# --------------------------------------------------------------------------- sources


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


def _add_source(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "data", "read the data from CSV files (columns in docs/cli.md) or from a store"
    )
    group.add_argument("--customers", metavar="CSV", help="customers file (required with CSV)")
    group.add_argument("--subscriptions", metavar="CSV", help="subscriptions file")
    group.add_argument("--events", metavar="CSV", help="events file")
    group.add_argument("--db", metavar="PATH", help="a SQLite store (custsuccess demo makes one)")
    parser.add_argument(
        "--as-of", type=_moment_arg, metavar="DATE",
        help="the moment of the analysis: 2024-03-31 (midnight UTC) or 2024-03-31T12:00Z "
        "(default: the latest moment in the data)",
    )


def _latest(dataset: Dataset) -> np.datetime64:
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


def _load(args: argparse.Namespace) -> tuple[Dataset, np.datetime64]:
    """The dataset of the source options and the moment of the analysis."""
    csv_given = [o for o in ("customers", "subscriptions", "events") if getattr(args, o)]
    if args.db and csv_given:
        raise _UsageError(
            f"give either --db or CSV files, not both (got --db and --{csv_given[0]})"
        )
    if args.db:
        from custsuccess.store import SQLiteStore

        path = Path(args.db)
        if not path.is_file():
            raise InputError(f"{args.db}: no such database file")
        try:
            with SQLiteStore(path) as store:
                dataset = store.load()
        except sqlite3.DatabaseError as exc:
            raise InputError(f"{args.db}: not a readable custsuccess database ({exc})") from None
    elif args.customers:
        dataset = read_csv_dataset(args.customers, args.subscriptions, args.events)
    elif csv_given:
        raise _UsageError(f"--{csv_given[0]} needs --customers too")
    else:
        raise _UsageError("no data: give --customers CSV (with --subscriptions and --events) "
                          "or --db PATH")
    as_of = args.as_of if args.as_of is not None else _latest(dataset)
    return dataset, as_of


class _UsageError(CustSuccessError):
    """Options that do not go together (exit status 2, like argparse's own errors)."""


@contextlib.contextmanager
def _output(path: str | None) -> Iterator[TextIO]:
    if path is None or path == "-":
        yield sys.stdout
        return
    try:
        handle = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115
    except OSError as exc:
        raise _OutputError(f"{path}: cannot write: {exc.strerror or exc}") from None
    with handle:
        yield handle


class _OutputError(CustSuccessError):
    """The output file cannot be written (exit status 1)."""


def _add_output(parser: argparse.ArgumentParser, formats: Sequence[str]) -> None:
    parser.add_argument(
        "--format", choices=formats, default=formats[0],
        help=f"output format (default: {formats[0]})",
    )
    parser.add_argument("--out", metavar="FILE", help="write to FILE instead of stdout")


# --------------------------------------------------------------------------- progress


class _Progress:
    """Steps of a long command shown as a transient rich progress bar on stderr.

    Shown only when stderr is a terminal, the work is expected to take over about a
    second and rich is installed (``pip install 'custsuccess[cli]'``); a no-op otherwise.
    """

    def __init__(self, steps: int, *, expected_seconds: float, stream: TextIO | None = None):
        self.stream = sys.stderr if stream is None else stream
        self.steps = steps
        self.enabled = expected_seconds >= 1.0 and _isatty(self.stream)
        self._bar: Any = None
        self._task: Any = None
        self._done = 0

    def __enter__(self) -> _Progress:
        if not self.enabled:
            return self
        try:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
        except ImportError:
            self.enabled = False
            return self
        self._bar = Progress(
            TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
            console=Console(file=self.stream, force_terminal=True), transient=True,
        )
        self._bar.start()
        self._task = self._bar.add_task("starting", total=self.steps)
        return self

    def step(self, description: str) -> None:
        """Start the next step (the previous one counts as done)."""
        if self._bar is not None:
            self._bar.update(self._task, description=description, completed=self._done)
            self._bar.refresh()
        self._done += 1

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=self.steps)
            self._bar.stop()


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


# --------------------------------------------------------------------------- demo


class DemoSummary(NamedTuple):
    """The figures ``custsuccess demo`` prints, computed from a dataset."""

    customers: int
    active_subscriptions: int
    mrr: float
    churned_customers: int
    events_by_kind: dict[str, int]


def summarize(dataset: Dataset) -> DemoSummary:
    """Headline figures of ``dataset`` at the last moment it covers.

    "Now" is the dataset's ``as_of`` when it is a view made by ``until``, else the moment
    of its latest event or subscription change. A churned customer had a subscription and
    has none running now.

    >>> from custsuccess.demo import generate
    >>> s = summarize(generate(100, seed=3))
    >>> s.customers, s.active_subscriptions + s.churned_customers <= 100
    (100, True)
    """
    import numpy as np

    subs = dataset.subscriptions
    events = dataset.events
    now = dataset.as_of
    if now is None:
        moments = [events.time, subs.started_at, subs.ended_at[~np.isnat(subs.ended_at)]]
        latest = [m.max() for m in moments if m.size]
        now = max(latest) if latest else np.datetime64(0, "us")
    active = subs.active_at(now)
    paying = np.zeros(dataset.n_customers, dtype=bool)
    paying[subs.customer[active]] = True
    ever = np.zeros(dataset.n_customers, dtype=bool)
    ever[subs.customer[subs.started_at <= now]] = True
    counts = np.bincount(events.kind, minlength=len(events.kinds))
    return DemoSummary(
        customers=dataset.n_customers,
        active_subscriptions=int(active.sum()),
        mrr=float(subs.mrr[active].sum()),
        churned_customers=int((ever & ~paying).sum()),
        events_by_kind={
            kind: int(c) for kind, c in zip(events.kinds, counts.tolist(), strict=True) if c
        },
    )


class AtRisk(NamedTuple):
    """One account of the report's at-risk list."""

    customer_id: str
    name: str | None
    segment: str | None
    mrr: float
    score: float
    tier: str
    reasons: tuple[str, ...]
    playbook: str | None


class DemoReport(NamedTuple):
    """Everything ``custsuccess demo`` prints after the dataset summary."""

    as_of: np.datetime64
    tier_counts: dict[str, int]
    at_risk: tuple[AtRisk, ...]
    nps_period: str
    nps: NpsResult
    month: str
    customers_start: int
    customers_new: int
    customers_lost: int
    customers_end: int
    churn_rate: float
    retention_rate: float
    movements: dict[str, float]
    movement_counts: dict[str, int]
    reasons_since: np.datetime64
    reasons: tuple[tuple[str, int, float, float], ...]  # reason, count, share, MRR lost
    churned: int
    lifetime: KaplanMeier


def _previous_period(as_of: np.datetime64, freq: str) -> np.datetime64:
    """Start of the last calendar period (month or quarter) that ended at or before as_of."""
    import numpy as np

    month = as_of.astype("datetime64[M]")
    if freq == "quarter":
        m = int(month.astype(np.int64))  # months since 1970-01
        month = np.datetime64(m - m % 3, "M")
        step = 3
    else:
        step = 1
    start: np.datetime64 = (month - np.timedelta64(step, "M")).astype("datetime64[us]")
    return start


def _main_reasons(report: HealthReport, row: int, limit: int = 2) -> tuple[str, ...]:
    """The reasons of the rules that pull the account's score down most."""
    explanation = report.explain(str(report.customer_ids[row]))
    out = [
        r.reason for r in explanation.rules
        if r.applicable and r.effect is not None and r.effect < 0 and r.reason
    ]
    return tuple(out[:limit])


def demo_report(
    dataset: Dataset,
    as_of: Any,
    *,
    registry: Registry | None = None,
    report: HealthReport | None = None,
    records: ChurnRecords | None = None,
    progress: _Progress | None = None,
) -> DemoReport:
    """The figures of the ``custsuccess demo`` report for ``dataset`` at ``as_of``.

    The health report (``report``, else the default model of ``registry``), the 10
    lowest-scored accounts with their two main reasons and first recommended playbook,
    the NPS of the last full quarter, customer churn and retention of the last full
    month, that month's MRR movements, the churn reasons of the last 12 months with the
    MRR they lost (from ``records``, else :func:`custsuccess.churn.records` at
    ``as_of``), and the Kaplan-Meier curve of customer lifetimes.
    """
    import numpy as np

    from custsuccess import churn, metrics
    from custsuccess.dataset import to_datetime64
    from custsuccess.health import HealthModel
    from custsuccess.plugins import Registry

    step = progress.step if progress is not None else (lambda _d: None)
    t = to_datetime64(as_of, "as_of")
    view = dataset.until(t)
    registry = Registry.default() if registry is None else registry
    if report is None:
        step("scoring health")
        report = HealthModel.default(registry).score(dataset, t)
    step("computing metrics")
    risky = report.at_risk(10)
    mrr_now = metrics.customer_mrr(view, t)
    names = dataset.customers.name
    segments = dataset.customers.segment.decode()
    at_risk = []
    for row in range(len(risky)):
        i = int(risky.index[row])
        playbooks = risky.recommendations(str(risky.customer_ids[row]))
        name = names[i]
        segment = segments[i]
        at_risk.append(AtRisk(
            str(risky.customer_ids[row]), None if name is None else str(name),
            None if segment is None else str(segment), float(mrr_now[i]),
            float(risky.score[row]), str(risky.tier[row]), _main_reasons(risky, row),
            playbooks[0] if playbooks else None,
        ))
    quarter = _previous_period(t, "quarter")
    nps = metrics.nps_by_period(view, start=quarter, end=quarter)
    month = _previous_period(t, "month")
    flow = metrics.customer_flow(view, start=month, end=month)
    moves = metrics.mrr_movements(view, start=month, end=month)
    kinds = ("new", "expansion", "reactivation", "contraction", "churn")
    movements = {"opening": float(moves.opening[0])}
    movements.update({k: float(getattr(moves, k)[0]) for k in kinds})
    movements["closing"] = float(moves.closing[0])
    counts = dict(zip(metrics.MOVEMENT_KINDS, moves.counts[0].tolist(), strict=True))
    step("analysing churn")
    if records is None:
        records = churn.records(dataset, t, registry=registry)
    since = (t.astype("datetime64[D]") - np.timedelta64(365, "D")).astype("datetime64[us]")
    recent = records.take(records.churned_at > since)
    dist = churn.reason_distribution(recent)
    reasons = tuple(
        (str(r), int(c), float(s), float(m))
        for r, c, s, m in zip(dist.reason, dist.count, dist.share, dist.mrr_lost, strict=True)
    )
    lifetime = churn.lifetimes_from(dataset, t).kaplan_meier()
    return DemoReport(
        as_of=t,
        tier_counts=report.tier_counts(),
        at_risk=tuple(at_risk),
        nps_period=nps.periods.labels[0],
        nps=nps[0],
        month=flow.periods.labels[0],
        customers_start=int(flow.customers_start[0]),
        customers_new=int(flow.new[0]),
        customers_lost=int(flow.lost[0]),
        customers_end=int(flow.customers_end[0]),
        churn_rate=float(flow.churn_rate[0]),
        retention_rate=float(flow.retention_rate[0]),
        movements=movements,
        movement_counts={k: int(v) for k, v in counts.items()},
        reasons_since=since,
        reasons=reasons,
        churned=len(recent),
        lifetime=lifetime,
    )


def render_demo_report(report: DemoReport, *, top_reasons: int = 6) -> str:
    """The report as the text ``custsuccess demo`` prints (after the dataset summary)."""
    lines: list[str] = []
    total = sum(report.tier_counts.values())
    lines.append(f"Health at {_stamp(report.as_of)}: {total:,} accounts scored")
    lines.append(_table(
        ["tier", "accounts", "share"],
        [[tier, f"{n:,}", _pct(n / total if total else math.nan)]
         for tier, n in report.tier_counts.items()],
    ))
    lines.append("")
    lines.append(f"The {len(report.at_risk)} accounts most at risk")
    for k, a in enumerate(report.at_risk, 1):
        who = a.customer_id + (f"  {a.name}" if a.name else "")
        facts = ", ".join(x for x in (a.segment, f"MRR {_money(a.mrr)}") if x)
        lines.append(f"  {k:>2}. {who} ({facts})  score {a.score:.1f}, {a.tier}")
        lines.append(
            "      why: " + ("; ".join(a.reasons) if a.reasons else "no single rule stands out")
        )
        lines.append(f"      next: {a.playbook or 'no playbook applies'}")
    lines.append("")
    nps = report.nps
    if nps.n:
        lines.append(
            f"NPS, {report.nps_period}: {nps.score:+.1f} from {nps.n:,} answers "
            f"({nps.promoters:,} promoters, {nps.passives:,} passives, "
            f"{nps.detractors:,} detractors)"
        )
    else:
        lines.append(f"NPS, {report.nps_period}: no answers")
    lines.append("")
    lines.append(f"Customers, {report.month}")
    lines.append(_table(
        ["at start", "new", "lost", "at end", "churn rate", "retention rate"],
        [[f"{report.customers_start:,}", f"{report.customers_new:,}",
          f"{report.customers_lost:,}", f"{report.customers_end:,}",
          _pct(report.churn_rate, 2), _pct(report.retention_rate / 100, 2)]],
    ))
    lines.append("")
    lines.append(f"MRR movements, {report.month}")
    rows = [["opening", "", _money(report.movements["opening"])]]
    for kind in ("new", "expansion", "reactivation", "contraction", "churn"):
        sign = "-" if kind in ("contraction", "churn") else "+"
        rows.append([kind, f"{report.movement_counts[kind]:,}",
                     sign + _money(report.movements[kind])])
    rows.append(["closing", "", _money(report.movements["closing"])])
    lines.append(_table(["movement", "customers", "MRR"], rows))
    lines.append("")
    since = str(report.reasons_since.astype("datetime64[D]"))
    lines.append(
        f"Top churn reasons since {since}: {report.churned:,} customers churned"
    )
    if report.reasons:
        lines.append(_table(
            ["reason", "customers", "share", "MRR lost"],
            [[r, f"{c:,}", _pct(s), _money(m)] for r, c, s, m in report.reasons[:top_reasons]],
        ))
    lines.append("")
    km = report.lifetime
    if math.isinf(km.median):
        lines.append(
            f"Median customer lifetime: not reached (over half of {km.n:,} customers "
            "still subscribed)"
        )
    else:
        upper = "not reached" if math.isinf(km.median_upper) else f"{km.median_upper:,.0f}"
        lines.append(
            f"Median customer lifetime: {km.median:,.0f} days (95% CI {km.median_lower:,.0f}"
            f" to {upper}; {km.n:,} customers, {int(km.events.sum()):,} churned)"
        )
    return "\n".join(lines)


def _configure_demo(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--customers", type=_non_negative_int, default=5000, metavar="N",
        help="number of customers to generate (default: 5000)",
    )
    parser.add_argument(
        "--seed", type=_non_negative_int, default=0, metavar="S", help="random seed (default: 0)"
    )
    parser.add_argument(
        "--db", metavar="PATH",
        help=f"save the dataset and its churn records here (default: {default_store_path()})",
    )
    parser.add_argument(
        "--no-save", action="store_true", help="do not save the dataset in a store"
    )
    parser.add_argument(
        "--csv", metavar="DIR",
        help="also write the dataset as customers.csv, subscriptions.csv and events.csv "
        "in DIR (inputs for `custsuccess score --customers ...`)",
    )
    parser.add_argument(
        "--plots", metavar="DIR",
        help="also draw the report's figures as PNG files in DIR (needs matplotlib: "
        "pip install 'custsuccess[plot]')",
    )


def _run_demo(args: argparse.Namespace, out: TextIO) -> int:
    import custsuccess.demo
    from custsuccess import churn
    from custsuccess.dataset import to_datetime64
    from custsuccess.health import HealthModel
    from custsuccess.plugins import Registry

    if args.db and args.no_save:
        raise _UsageError("--db and --no-save contradict each other")
    if args.plots:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise _UsageError(
                "--plots needs matplotlib: pip install 'custsuccess[plot]'"
            ) from None
    end = to_datetime64(custsuccess.demo.DEFAULT_END, "end")
    steps = 4 + (not args.no_save) + bool(args.csv) + bool(args.plots)
    with _Progress(steps, expected_seconds=args.customers / 2500) as progress:
        progress.step("generating the demo data")
        dataset = custsuccess.demo.generate(args.customers, args.seed)
        summary = summarize(dataset.until(end - 1))
        registry = Registry.default()
        records = churn.records(dataset, end, registry=registry)
        saved = None
        if not args.no_save:
            progress.step("saving to the store")
            saved = Path(args.db) if args.db else default_store_path()
            _save_demo(saved, dataset, records, is_cache=not args.db)
        if args.csv:
            progress.step("writing CSV files")
            try:
                written = write_csv_dataset(dataset, args.csv)
            except OSError as exc:
                raise _OutputError(f"{args.csv}: cannot write: {exc.strerror or exc}") from None
        progress.step("scoring health")
        health = HealthModel.default(registry).score(dataset, end)
        report = demo_report(
            dataset, end, registry=registry, report=health, records=records, progress=progress
        )
        drawn: list[Path] = []
        if args.plots:
            progress.step("drawing the figures")
            drawn = _draw_demo(Path(args.plots), dataset, end, health)
    rows = [
        ("customers", f"{summary.customers:,}"),
        ("active subscriptions", f"{summary.active_subscriptions:,}"),
        ("MRR (USD)", f"{summary.mrr:,.2f}"),
        ("churned customers", f"{summary.churned_customers:,}"),
        ("events", f"{sum(summary.events_by_kind.values()):,}"),
    ]
    rows += [(f"  {kind}", f"{count:,}") for kind, count in summary.events_by_kind.items()]
    lines = [
        f"custsuccess demo: {summary.customers} customers, seed {args.seed}, "
        f"history up to {_stamp(end)}"
    ]
    lines += [f"  {label:<26}{text:>16}" for label, text in rows]
    print("\n".join(lines), file=out)
    print("", file=out)
    if saved is not None:
        print(f"Saved to {saved} (use it with --db)", file=out)
    if args.csv:
        print(f"Wrote {', '.join(str(p) for p in written)}", file=out)
    if drawn:
        print(f"Drew {', '.join(str(p) for p in drawn)}", file=out)
    if saved is not None or args.csv or drawn:
        print("", file=out)
    print(render_demo_report(report), file=out)
    return EXIT_OK


def _draw_demo(
    folder: Path, dataset: Dataset, end: np.datetime64, health: HealthReport
) -> list[Path]:
    """The report's figures as PNG files: health tiers, cohorts of the last 12 months,
    lifetimes by segment, the last full month's MRR movements and NPS per quarter."""
    import numpy as np

    from custsuccess import churn, metrics, plot

    view = dataset.until(end)
    month = _previous_period(end, "month")
    year_ago = month.astype("datetime64[M]") - np.timedelta64(11, "M")
    figures: dict[str, Callable[[], Figure]] = {
        "health.png": lambda: plot.health_distribution(health),
        "cohorts.png": lambda: plot.cohort_heatmap(
            metrics.cohort_retention(view, start=year_ago.astype("datetime64[us]"), end=month)
        ),
        "survival.png": lambda: plot.survival_curves(
            churn.lifetimes_from(dataset, end).kaplan_meier_by("segment")
        ),
        "mrr.png": lambda: plot.mrr_waterfall(
            metrics.mrr_movements(view, start=month, end=month)
        ),
        "nps.png": lambda: plot.nps_over_time(metrics.nps_by_period(view, end=end)),
    }
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _OutputError(f"{folder}: cannot create the folder: {exc.strerror}") from None
    paths = []
    for name, draw in figures.items():
        path = folder / name
        try:
            draw().savefig(path, dpi=100)
        except OSError as exc:
            raise _OutputError(f"{path}: cannot write: {exc.strerror or exc}") from None
        paths.append(path)
    return paths


def _save_demo(
    path: Path, dataset: Dataset, records: ChurnRecords, *, is_cache: bool
) -> None:
    """Save the demo data. The default file is a cache: when it is unusable (not a
    database, an older development layout, a newer schema) it is rebuilt; a file the user
    named with --db is never deleted."""
    from custsuccess.store import SQLiteStore, StoreError

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _OutputError(f"{path.parent}: cannot create the folder: {exc.strerror}") from None

    def save() -> None:
        with SQLiteStore(path) as store:
            store.save(dataset)
            store.save_churn_records(records)

    try:
        save()
    except sqlite3.OperationalError as exc:  # read-only, locked, disk full, cannot open
        if not (is_cache and "no such table" in str(exc)):
            raise _OutputError(f"{path}: cannot save the demo data: {exc}") from None
        _rebuild_cache(path, save)
    except (StoreError, sqlite3.DatabaseError):
        if not is_cache:
            raise  # the store's own message says what is wrong with the user's file
        _rebuild_cache(path, save)


def _rebuild_cache(path: Path, save: Callable[[], None]) -> None:
    for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)
    try:
        save()
    except (sqlite3.DatabaseError, CustSuccessError) as exc:
        raise _OutputError(f"{path}: cannot save the demo data: {exc}") from None


# --------------------------------------------------------------------------- score


def _configure_score(parser: argparse.ArgumentParser) -> None:
    _add_source(parser)
    parser.add_argument(
        "--config", metavar="TOML",
        help="health model settings: weights, tiers, rule parameters (docs/health.md)",
    )
    parser.add_argument(
        "--at-risk", type=_non_negative_int, metavar="N",
        help="only the N accounts with the lowest scores, lowest first",
    )
    parser.add_argument(
        "--customer", action="append", metavar="ID", default=[],
        help="only this account (repeat for several)",
    )
    parser.add_argument(
        "--include-churned", action="store_true",
        help="also score accounts whose subscriptions have all ended",
    )
    _add_output(parser, ("table", "json", "csv"))


def _main_reason_column(report: HealthReport) -> list[str | None]:
    """The reason of the rule with the largest effect on each account's score."""
    import numpy as np

    if not len(report):
        return []
    scores = report.rule_scores
    applicable = ~np.isnan(scores)
    weights = np.where(applicable, report.weights[None, :], 0.0)
    total = weights.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        effect = np.where(applicable, weights / total * (scores - 50.0), 0.0)
    # the reason of the largest |effect| among the rules that have a reason
    has_reason = np.stack([r.codes >= 0 for r in report.reasons], axis=1) & applicable
    strength = np.where(has_reason, np.abs(effect), -1.0)
    best = strength.argmax(axis=1)
    return [
        report.reasons[int(j)].format(i) if strength[i, j] >= 0 else None
        for i, j in enumerate(best.tolist())
    ]


def _run_score(args: argparse.Namespace, out: TextIO) -> int:
    import numpy as np

    from custsuccess.health import HealthModel
    from custsuccess.plugins import Registry

    with _Progress(3, expected_seconds=_source_seconds(args)) as progress:
        progress.step("reading the data")
        dataset, as_of = _load(args)
        progress.step("scoring")
        registry = Registry.default()
        if args.config:
            if not Path(args.config).is_file():
                raise InputError(f"{args.config}: no such health config file")
            model = HealthModel.from_toml(args.config, registry=registry)
        else:
            model = HealthModel.default(registry)
        report = model.score(dataset, as_of, include_churned=args.include_churned)
    if args.customer:
        rows = [report.row(c) for c in args.customer]
        report = report.take(np.asarray(rows, dtype=np.intp))
    if args.at_risk is not None:
        report = report.at_risk(args.at_risk)
    with _output(args.out) as stream:
        if args.format == "json":
            _write_json(stream, _clean({
                "as_of": _iso(report.as_of),
                "thresholds": {"good": report.good, "poor": report.poor},
                "tier_counts": report.tier_counts(),
                "accounts": report.to_records(),
            }))
            return EXIT_OK
        reasons = _main_reason_column(report)
        playbooks = [
            ";".join(p for p, on in zip(report.playbooks, row, strict=True) if on)
            for row in report.recommended.tolist()
        ] if report.playbooks else [""] * len(report)
        if args.format == "csv":
            headers = ["customer_id", "as_of", "score", "tier", "playbooks", "main_reason"]
            headers += list(report.rule_names)
            iso = _iso(report.as_of)
            rule_scores = report.rule_scores.tolist()
            body = [
                [cid, iso, None if math.isnan(s) else round(s, 4), tier, pb, reason,
                 *[None if math.isnan(v) else round(v, 4) for v in rs]]
                for cid, s, tier, pb, reason, rs in zip(
                    report.customer_ids.tolist(), report.score.tolist(), report.tier.tolist(),
                    playbooks, reasons, rule_scores, strict=True,
                )
            ]
            _write_csv(stream, headers, body)
            return EXIT_OK
        counts = ", ".join(f"{k} {v:,}" for k, v in report.tier_counts().items())
        print(f"Health at {_stamp(report.as_of)}: {len(report):,} accounts ({counts})",
              file=stream)
        table_rows = [
            [cid, "n/a" if math.isnan(s) else f"{s:.1f}", tier, pb.replace(";", ", "),
             reason or ""]
            for cid, s, tier, pb, reason in zip(
                report.customer_ids.tolist(), report.score.tolist(), report.tier.tolist(),
                playbooks, reasons, strict=True,
            )
        ]
        print(_table(["customer", "score", "tier", "playbooks", "main reason"], table_rows,
                     indent=0), file=stream)
    return EXIT_OK


def _source_seconds(args: argparse.Namespace) -> float:
    """A rough guess of the seconds reading and analysing the source takes."""
    size = 0
    for option in ("customers", "subscriptions", "events", "db"):
        path = getattr(args, option, None)
        if isinstance(path, str):
            with contextlib.suppress(OSError):
                size += os.path.getsize(path)
    return size / 4e6


# --------------------------------------------------------------------------- metrics

_SPAN_DAYS: Final = {"month": 31, "quarter": 92, "year": 366}


def _configure_metrics(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "names", nargs="*", metavar="NAME",
        help="registered metrics to compute (see `custsuccess plugins`); "
        "default: the dashboard of churn, retention, MRR and NPS per period",
    )
    _add_source(parser)
    parser.add_argument("--freq", choices=("month", "quarter", "year"), default="month",
                        help="dashboard periods (default: month)")
    parser.add_argument("--periods", type=_positive_int, default=12, metavar="N",
                        help="dashboard: the last N periods up to --as-of (default: 12)")
    parser.add_argument(
        "--option", action="append", default=[], metavar="KEY=VALUE",
        help="an option passed to the named metrics (VALUE read as JSON when it is, "
        "else as text), e.g. --option freq=quarter",
    )
    _add_output(parser, ("table", "json", "csv"))


def _dashboard(dataset: Dataset, as_of: np.datetime64, freq: str, n: int) -> tuple[
    list[str], list[list[Any]], list[str]
]:
    """Per-period figures: (headers, rows, labels of periods still running)."""
    import numpy as np

    from custsuccess import metrics

    span = np.timedelta64(_SPAN_DAYS[freq] * n, "D")
    created = dataset.customers.created_at
    if created.size and created.min() > as_of:
        raise ValidationError(
            f"no metrics as of {_stamp(as_of)}: the first customer was created at "
            f"{_stamp(created.min())}"
        )
    first = max(as_of - span, created.min()) if created.size else as_of - span
    periods = metrics.calendar_periods(first, as_of, freq=freq)  # type: ignore[arg-type]
    start = periods.starts[-n:][0]  # the last n periods, none before the first signup
    view = dataset.until(as_of)
    options: dict[str, Any] = {"freq": freq, "start": start, "end": as_of}
    flow = metrics.customer_flow(view, **options)
    rates = metrics.revenue_rates(view, **options)
    series = metrics.mrr_series(view, **options)
    nps = metrics.nps_by_period(view, **options)
    m = rates.movements
    headers = [
        "period", "customers_start", "new_customers", "lost_customers", "customers_end",
        "churn_rate", "retention_rate", "opening_mrr", "new_mrr", "expansion_mrr",
        "reactivation_mrr", "contraction_mrr", "churned_mrr", "closing_mrr", "grr", "nrr",
        "arpa", "nps", "nps_answers",
    ]
    rows = []
    for i, label in enumerate(flow.periods.labels):
        rows.append([
            label, int(flow.customers_start[i]), int(flow.new[i]), int(flow.lost[i]),
            int(flow.customers_end[i]), float(flow.churn_rate[i]),
            float(flow.retention_rate[i]) / 100, float(m.opening[i]), float(m.new[i]),
            float(m.expansion[i]), float(m.reactivation[i]), float(m.contraction[i]),
            float(m.churn[i]), float(m.closing[i]), float(rates.grr[i]), float(rates.nrr[i]),
            float(series.arpa[i]), float(nps.score[i]), int(nps.n[i]),
        ])
    running = [
        label for label, end in zip(flow.periods.labels, flow.periods.ends, strict=True)
        if end > as_of + np.timedelta64(1, "us")
    ]
    return headers, rows, running


def _run_metrics(args: argparse.Namespace, out: TextIO) -> int:
    from custsuccess.plugins import Registry

    options = dict(_key_value(o) for o in args.option)
    if options and not args.names:
        raise _UsageError("--option applies to named metrics: give their NAMEs")
    with _Progress(2, expected_seconds=_source_seconds(args)) as progress:
        progress.step("reading the data")
        dataset, as_of = _load(args)
        progress.step("computing metrics")
        if not args.names:
            headers, rows, running = _dashboard(dataset, as_of, args.freq, args.periods)
            results = None
        else:
            from custsuccess.metrics import compute

            registry = Registry.default()
            view = dataset.until(as_of)
            results = {
                name: compute(name, view, registry=registry, **options) for name in args.names
            }
    with _output(args.out) as stream:
        if results is None:
            _print_dashboard(stream, args.format, as_of, headers, rows, running)
        else:
            _print_named(stream, args.format, as_of, results)
    return EXIT_OK


def _key_value(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise _UsageError(f"--option expects KEY=VALUE, got {text!r}")
    try:
        parsed: Any = json.loads(value)
    except ValueError:
        parsed = value
    return key.strip(), parsed


def _fmt(header: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float):
        if header.endswith(("_rate", "grr", "nrr", "churn")) or header in ("share",):
            return _pct(value)
        if "mrr" in header or header == "arpa" or header.startswith("mrr"):
            return _money(value)
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _print_dashboard(
    stream: TextIO, fmt: str, as_of: np.datetime64, headers: list[str],
    rows: list[list[Any]], running: list[str],
) -> None:
    if fmt == "csv":
        _write_csv(stream, headers, rows)
        return
    if fmt == "json":
        _write_json(stream, _clean({
            "as_of": _iso(as_of), "running": running,
            "periods": [dict(zip(headers, r, strict=True)) for r in rows],
        }))
        return
    index = {h: j for j, h in enumerate(headers)}
    labels = [r[0] + ("*" if r[0] in running else "") for r in rows]
    groups = [
        ("Customers", ["customers_start", "new_customers", "lost_customers", "customers_end",
                       "churn_rate", "retention_rate"]),
        ("MRR", ["opening_mrr", "new_mrr", "expansion_mrr", "reactivation_mrr",
                 "contraction_mrr", "churned_mrr", "closing_mrr", "grr", "nrr", "arpa"]),
        ("NPS", ["nps", "nps_answers"]),
    ]
    print(f"Metrics as of {_stamp(as_of)}", file=stream)
    for title, names in groups:
        print(f"\n{title}", file=stream)
        short = [n.replace("_customers", "").replace("_mrr", "") for n in names]
        body = [[label, *[_fmt(n, r[index[n]]) for n in names]]
                for label, r in zip(labels, rows, strict=True)]
        print(_table(["period", *short], body), file=stream)
    if running:
        print(f"\n* still running at {_stamp(as_of)}: figures to date", file=stream)


def _result_table(result: Any) -> tuple[list[str], list[list[Any]], dict[str, Any]] | None:
    """A registered metric's result as (headers, rows, scalar facts), or None for a
    plain number. Rows are periods (``periods.labels``) or channels; columns are the
    one-dimensional arrays of that length."""
    import attrs
    import numpy as np

    if not attrs.has(type(result)):
        return None
    fields = {f.name: getattr(result, f.name) for f in attrs.fields(type(result))}
    labels: Sequence[str] | None = None
    label_name = "row"
    if "periods" in fields and hasattr(fields["periods"], "labels"):
        labels, label_name = fields["periods"].labels, "period"
    elif isinstance(fields.get("channels"), tuple):
        labels, label_name = fields["channels"], "channel"
    facts: dict[str, Any] = {}
    headers: list[str] = [label_name] if labels is not None else []
    columns: list[Any] = []
    k = len(labels) if labels is not None else -1
    for name, value in fields.items():
        if isinstance(value, np.ndarray):
            if value.ndim == 1 and value.shape[0] == k:
                headers.append(name)
                columns.append(value.tolist())
            elif value.ndim == 2 and value.shape[0] == k and name == "customer_rate":
                for j in range(value.shape[1]):  # cohort matrices: one column per offset
                    headers.append(f"{name}[{j}]")
                    columns.append(value[:, j].tolist())
        elif isinstance(value, (str, int, float, bool)) or value is None:
            facts[name] = value
    if labels is None:
        return [], [], facts
    rows = [[label, *(c[i] for c in columns)] for i, label in enumerate(labels)]
    return headers, rows, facts


def _print_named(stream: TextIO, fmt: str, as_of: np.datetime64, results: dict[str, Any]) -> None:
    tables = {name: _result_table(value) for name, value in results.items()}
    if fmt == "json":
        payload: dict[str, Any] = {"as_of": _iso(as_of), "metrics": {}}
        for name, value in results.items():
            table = tables[name]
            if table is None:
                payload["metrics"][name] = value
            else:
                headers, rows, facts = table
                entry = dict(facts)
                if headers:
                    entry["rows"] = [dict(zip(headers, r, strict=True)) for r in rows]
                payload["metrics"][name] = entry
        _write_json(stream, _clean(payload))
        return
    if fmt == "csv":
        # one long table: metric, row label, column, value
        body: list[list[Any]] = []
        for name, value in results.items():
            table = tables[name]
            if table is None:
                body.append([name, "", "value", _json_value(value)])
                continue
            headers, rows, facts = table
            body += [[name, "", k, v] for k, v in facts.items()]
            for r in rows:
                body += [[name, r[0], h, _json_value(v)] for h, v in zip(headers[1:], r[1:],
                                                                          strict=True)]
        _write_csv(stream, ["metric", "row", "column", "value"], body)
        return
    print(f"Metrics as of {_stamp(as_of)}", file=stream)
    for name, value in results.items():
        table = tables[name]
        if table is None:
            print(f"\n{name}: {_fmt(name, _json_value(value))}", file=stream)
            continue
        headers, rows, facts = table
        print(f"\n{name}", file=stream)
        for k, v in facts.items():
            print(f"  {k}: {_fmt(k, v)}", file=stream)
        if headers:
            body_rows = [[str(r[0]), *[_fmt(h, _json_value(v)) for h, v in
                                       zip(headers[1:], r[1:], strict=True)]] for r in rows]
            print(_table(headers, body_rows), file=stream)


# --------------------------------------------------------------------------- churn


def _configure_churn(parser: argparse.ArgumentParser) -> None:
    _add_source(parser)
    parser.add_argument(
        "--since", type=_moment_arg, metavar="DATE",
        help="only customers who churned at or after DATE (default: all)",
    )
    parser.add_argument(
        "--records", action="store_true",
        help="print the churn database itself: one row per churned customer",
    )
    parser.add_argument("--by", choices=("segment", "plan"), default="segment",
                        help="group lifetimes by (default: segment)")
    _add_output(parser, ("table", "json", "csv"))


def _run_churn(args: argparse.Namespace, out: TextIO) -> int:
    import numpy as np

    from custsuccess import churn
    from custsuccess.plugins import Registry

    with _Progress(3, expected_seconds=_source_seconds(args)) as progress:
        progress.step("reading the data")
        dataset, as_of = _load(args)
        progress.step("classifying churn")
        records = churn.records(dataset, as_of, registry=Registry.default())
        if args.since is not None:
            records = records.take(records.churned_at >= args.since)
        progress.step("lifetimes")
        life = churn.lifetimes_from(dataset, as_of)
        overall = life.kaplan_meier()
        groups = life.kaplan_meier_by(args.by)
    with _output(args.out) as stream:
        if args.records:
            rows = records.to_records()
            if args.format == "json":
                _write_json(stream, _clean({"as_of": _iso(as_of), "records": rows}))
            elif args.format == "csv":
                headers = list(rows[0]) if rows else list(records.columns())
                _write_csv(stream, headers, [list(r.values()) for r in rows])
            else:
                keys = ["customer_id", "churned_at", "tenure_days", "reason", "mrr_lost",
                        "segment", "plan"]
                body = [[str(r["customer_id"]), str(r["churned_at"])[:10],
                         _fmt("tenure", r["tenure_days"]), str(r["reason"]),
                         _money(r["mrr_lost"]), str(r["segment"] or ""), str(r["plan"] or "")]
                        for r in rows]
                print(_table(keys, body, indent=0), file=stream)
            return EXIT_OK
        dist = churn.reason_distribution(records)
        tenure = churn.tenure_by_reason(records)
        lifetimes = {"all": overall, **groups}
        if args.format == "json":
            _write_json(stream, _clean({
                "as_of": _iso(as_of),
                "since": None if args.since is None else _iso(args.since),
                "churned": len(records),
                "mrr_lost": float(np.nansum(records.mrr_lost)),
                "reasons": dist.to_records(),
                "tenure_by_reason": tenure.to_records(),
                "lifetime": {
                    name: {"n": km.n, "churned": int(km.events.sum()), "median_days": km.median,
                           "median_lower": km.median_lower, "median_upper": km.median_upper}
                    for name, km in lifetimes.items()
                },
            }))
            return EXIT_OK
        if args.format == "csv":
            headers = ["reason", "count", "share", "mrr_lost", "mrr_share",
                       "tenure_q1", "tenure_median", "tenure_q3", "tenure_mean"]
            by_reason = {r["reason"]: r for r in tenure.to_records()}
            body2 = []
            for r in dist.to_records():
                t = by_reason.get(r["reason"], {})
                body2.append([r["reason"], r["count"], r["share"], r["mrr_lost"],
                              r["mrr_share"], t.get("q1"), t.get("median"), t.get("q3"),
                              t.get("mean")])
            _write_csv(stream, headers, body2)
            return EXIT_OK
        since = "" if args.since is None else f" since {_stamp(args.since)}"
        print(f"Churn as of {_stamp(as_of)}{since}: {len(records):,} customers churned, "
              f"MRR lost {_money(float(np.nansum(records.mrr_lost)))}", file=stream)
        print("\nReasons", file=stream)
        print(_table(["reason", "customers", "share", "MRR lost", "MRR share"], [
            [str(r["reason"]), f"{r['count']:,}", _pct(r["share"]), _money(r["mrr_lost"]),
             _pct(r["mrr_share"] if r["mrr_share"] is not None else math.nan)]
            for r in dist.to_records()
        ]), file=stream)
        print("\nTenure at churn (days)", file=stream)
        print(_table(["reason", "customers", "q1", "median", "q3", "mean"], [
            [str(r["reason"]), f"{r['count']:,}", *[
                _fmt("days", r[k]) for k in ("q1", "median", "q3", "mean")
            ]] for r in tenure.to_records()
        ]), file=stream)
        print(f"\nCustomer lifetime (Kaplan-Meier, by {args.by})", file=stream)

        def days(x: float) -> str:
            return "not reached" if math.isinf(x) else f"{x:,.0f}"

        print(_table([args.by, "customers", "churned", "median days", "95% CI"], [
            [name, f"{km.n:,}", f"{int(km.events.sum()):,}", days(km.median),
             "n/a" if math.isinf(km.median_lower)
             else f"{days(km.median_lower)} to {days(km.median_upper)}"]
            for name, km in lifetimes.items()
        ]), file=stream)
    return EXIT_OK


# --------------------------------------------------------------------------- plugins


def _configure_plugins(parser: argparse.ArgumentParser) -> None:
    _add_output(parser, ("table", "json"))


def _run_plugins(args: argparse.Namespace, out: TextIO) -> int:
    from custsuccess.plugins import Registry

    registry = Registry.default()
    plugins = registry.plugins()
    contributions = registry.contributions()
    with _output(args.out) as stream:
        if args.format == "json":
            _write_json(stream, {
                "plugins": [
                    {"name": p.name, "source": p.source, "hooks": list(p.hooks),
                     "distribution": p.distribution, "version": p.version}
                    for p in plugins
                ],
                "contributions": [
                    {"kind": c.kind, "name": c.name, "plugin": c.plugin, "hook": c.hook,
                     "description": c.description}
                    for c in contributions
                ],
            })
            return EXIT_OK
        print("Plugins", file=stream)
        print(_table(["plugin", "source", "package"], [
            [p.name, p.source,
             f"{p.distribution} {p.version}" if p.distribution else ""]
            for p in plugins
        ]), file=stream)
        titles = {
            "health rule": "Health rules", "churn reason classifier": "Churn reasons",
            "metric": "Metrics", "playbook": "Playbooks",
        }
        for kind, title in titles.items():
            mine = [c for c in contributions if c.kind == kind]
            print(f"\n{title} ({len(mine)})", file=stream)
            print(_table(["name", "plugin", "description"], [
                [c.name, c.plugin, c.description] for c in mine
            ]), file=stream)
    return EXIT_OK


# --------------------------------------------------------------------------- wiring

#: The subcommands, in the order ``--help`` lists them.
COMMANDS: tuple[Command, ...] = (
    Command(
        "demo",
        "generate the demo dataset, save it and print a customer-success report",
        _configure_demo,
        _run_demo,
    ),
    Command("score", "health score of every account", _configure_score, _run_score),
    Command(
        "metrics", "churn, retention, MRR and NPS per period, or named metrics",
        _configure_metrics, _run_metrics,
    ),
    Command(
        "churn", "churn reasons, MRR lost, tenure and lifetimes, or the churn records",
        _configure_churn, _run_churn,
    ),
    Command(
        "plugins", "every registered health rule, churn reason, metric and playbook",
        _configure_plugins, _run_plugins,
    ),
)


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    value = _non_negative_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand of :data:`COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="custsuccess",
        description="Customer-success numbers for SaaS: health, churn, retention, revenue.",
        epilog="Exit status: 0 success, 1 unexpected failure, 2 usage error or invalid input.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of an error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        child = sub.add_parser(command.name, help=command.help, description=command.help)
        command.configure(child)
        child.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                           help="show the traceback of an error")
        child.set_defaults(handler=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); returns the exit status.

    Usage errors exit with status 2 (argparse's convention); invalid input found while
    running prints one line ``custsuccess: error: ...`` and returns 2; an output file
    that cannot be written, 1; any other failure prints one line (the traceback with
    ``--debug``) and returns 1.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_INVALID
    debug = bool(getattr(args, "debug", False))
    started = time.perf_counter()
    try:
        return handler(args, sys.stdout)
    except KeyboardInterrupt:
        if debug:
            raise
        print("custsuccess: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader went away (`custsuccess score ... | head`): stop quietly
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return EXIT_FAILURE
    except _OutputError as exc:
        if debug:
            raise
        print(f"custsuccess: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except CustSuccessError as exc:
        if debug:
            raise
        print(f"custsuccess: error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except Exception as exc:
        if debug:
            raise
        where = traceback.extract_tb(exc.__traceback__)[-1]
        print(
            f"custsuccess: internal error: {type(exc).__name__}: {exc} "
            f"(at {Path(where.filename).name}:{where.lineno}; run with --debug for the "
            f"traceback, and please report it)",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    finally:
        if debug:
            print(f"custsuccess: {time.perf_counter() - started:.2f} s", file=sys.stderr)

