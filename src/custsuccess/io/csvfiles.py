"""Datasets from CSV files in custsuccess's own columns, and back: what the command
line's ``--customers``/``--subscriptions``/``--events`` read and ``custsuccess demo --csv``
writes (columns in the command-line documentation). Needs numpy only; files in any other
shape go through :func:`custsuccess.io.source` with a mapping."""

from __future__ import annotations

import contextlib
import csv
import itertools
import os
import re
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from custsuccess.errors import ValidationError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from custsuccess.dataset import Dataset

__all__ = [
    "CSV_COLUMNS",
    "InputError",
    "parse_moment",
    "read_csv_dataset",
    "write_csv_dataset",
]


class InputError(ValidationError):
    """An input file the command cannot read: the message names the file, the row (as a
    spreadsheet numbers it: the header is row 1), the column and the value."""


_FRACTION: Final = re.compile(r"\.(\d+)")


def parse_moment(text: str) -> np.datetime64 | None:
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
    rows: Any  # int64 array: the spreadsheet row number of each record (header: row 1)


#: The longest line a CSV file may have, in characters: longer is not a file of records
#: (a binary file, or a device such as /dev/zero that never ends a line).
MAX_LINE: Final = 1 << 20
#: Records converted to arrays at a time: memory holds one chunk of text, not the file.
_CHUNK: Final = 1 << 16


def _where(path: str, row: int, column: str | None = None) -> str:
    return f"{path}, row {row}" + (f", column {column!r}" if column else "")


def _lines(handle: Any, path: str, table: str) -> Iterator[str]:
    """The lines of ``handle``, each at most :data:`MAX_LINE` characters, so a file
    without line ends (or endless, like /dev/zero) fails fast instead of filling memory."""
    number = 0
    while True:
        line = handle.readline(MAX_LINE)
        if not line:
            return
        number += 1
        if "\x00" in line:
            raise InputError(
                f"{path}, line {number}: NUL bytes: the {table} file is not CSV text "
                "(a binary file or a device?)"
            )
        if len(line) >= MAX_LINE and not line.endswith(("\n", "\r")):
            raise InputError(
                f"{path}, line {number}: longer than {MAX_LINE:,} characters: the {table} "
                "file is not CSV records (a binary file or a device?)"
            )
        yield line


def _read_table(path: str, table: str) -> _CsvTable:
    """Read ``path`` a chunk of records at a time, each chunk converted to arrays (times,
    numbers, text) before the next is read."""
    import numpy as np

    try:
        handle = open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115
    except OSError as exc:
        raise InputError(f"{path}: cannot read the {table} file: {exc.strerror or exc}") from None
    with handle:
        reader = csv.reader(_lines(handle, path, table), strict=True)
        try:
            first = next(reader, None)
            if first is None:
                raise InputError(f"{path}: the {table} file is empty (expected a header row)")
            header = _check_header([h.strip() for h in first], path, table)
            chunks: list[tuple[Any, dict[str, Any]]] = []
            record = 0
            while True:
                rows = list(itertools.islice(reader, _CHUNK))
                if not rows:
                    break
                chunks.append(_convert(rows, record, header, path, table))
                record += len(rows)
        except csv.Error as exc:
            raise InputError(
                f"{_where(path, reader.line_num)}: not valid CSV: {exc}"
            ) from None
        except UnicodeDecodeError as exc:
            raise InputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if not chunks:
        chunks.append(_convert([], 0, header, path, table))
    numbers = np.concatenate([c[0] for c in chunks])
    columns = {
        name: chunks[0][1][name] if len(chunks) == 1
        else np.concatenate([c[1][name] for c in chunks])
        for name in header
    }
    required, optional = CSV_COLUMNS[table]
    for name in header:  # extra customer columns: typed once the whole column is read
        if table == "customers" and name not in required and name not in optional:
            columns[name] = _attribute(columns[name])
    return _CsvTable(path, columns, numbers)


def _check_header(header: list[str], path: str, table: str) -> list[str]:
    required, _ = CSV_COLUMNS[table]
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
    return header


def _convert(
    rows: list[list[str]], first: int, header: list[str], path: str, table: str
) -> tuple[Any, dict[str, Any]]:
    """Records ``first``, ``first + 1``, ... as (spreadsheet row numbers, columns)."""
    import numpy as np

    required, optional = CSV_COLUMNS[table]
    width = len(header)
    numbers: list[int] = []
    kept: list[list[str]] = []
    for i, row in enumerate(rows, first):
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
        elif (table, name) == ("subscriptions", "auto_renew"):
            columns[name] = _parse_flags(cells, path, name, numbers)
        elif (table, name) in _NUMBER_COLUMNS:
            columns[name] = _parse_numbers(cells, path, name, numbers)
        elif name in required or (table == "customers" and name not in optional):
            # required text, and extra customer columns (typed once all chunks are read)
            columns[name] = np.array(cells, dtype=np.str_) if cells else np.empty(0, "U1")
        else:
            columns[name] = np.array([c or None for c in cells], dtype=object)
    return np.array(numbers, dtype=np.int64), columns


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
        value = parse_moment(cell)
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


_FLAGS: Final = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def _parse_flags(
    cells: Any, path: str, column: str, rows: list[int]
) -> npt.NDArray[np.bool_]:
    """True/False cells (as ``write_csv_dataset`` writes them); empty cells are True."""
    import numpy as np

    raw = np.asarray(cells, dtype=np.str_) if len(cells) else np.empty(0, "U1")
    text = np.char.lower(np.char.strip(raw))
    known = np.isin(text, [*_FLAGS, ""])
    if not known.all():
        i = int(np.flatnonzero(~known)[0])
        raise InputError(f"{_where(path, rows[i], column)}: {str(raw[i])!r} is not True or False")
    flags: npt.NDArray[np.bool_] = ~np.isin(text, [k for k, v in _FLAGS.items() if not v])
    return flags


def _attribute(text: npt.NDArray[np.str_]) -> npt.NDArray[Any]:
    """An extra customer column: whole numbers (int64) when every cell is one, else
    numbers (float64, empty cells NaN) when every non-empty cell is one, else text."""
    import numpy as np

    with contextlib.suppress(ValueError, OverflowError):
        return text.astype(np.int64)
    try:
        return np.where(text == "", "nan", text).astype(np.float64)
    except ValueError:
        return np.array([c or None for c in text.tolist()], dtype=object)


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
