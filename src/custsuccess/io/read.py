"""Reading sources into a :class:`~custsuccess.dataset.Dataset`, with the quality report."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Final, Literal

import attrs
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from custsuccess.dataset import Dataset
from custsuccess.errors import ValidationError
from custsuccess.io.mapping import Mapped, Mapping, Problem, apply_mapping
from custsuccess.io.quality import Rejection, SourceReport
from custsuccess.io.sources import Source, source

__all__ = ["read_dataset", "read_table"]

Errors = Literal["raise", "skip"]
_EXAMPLES: Final = 5


@attrs.define(slots=True)
class _Read:
    """The rows of one table from all its sources, with where each row came from."""

    table: str
    sources: list[Source]
    parts: list[Mapped]

    def columns(self) -> dict[str, Any]:
        if len(self.parts) == 1:
            return dict(self.parts[0].columns)
        names: dict[str, None] = {}
        for part in self.parts:
            for key in part.columns:
                names.setdefault(key, None)
        out: dict[str, Any] = {}
        for key in names:
            pieces = [p.columns.get(key) for p in self.parts]
            out[key] = _stack(pieces, [len(p.rows) for p in self.parts])
        return out

    def where(self, i: int) -> tuple[Source, int]:
        """The source and source row of output row ``i``."""
        for src, part in zip(self.sources, self.parts, strict=True):
            if i < len(part.rows):
                return src, int(part.rows[i])
            i -= len(part.rows)
        raise IndexError(i)


def _stack(pieces: list[Any], sizes: list[int]) -> Any:
    """Concatenate one field's columns from several sources (missing where absent)."""
    kinds = {("numpy", p.dtype.kind) if isinstance(p, np.ndarray) else "arrow"
             for p in pieces if p is not None}
    if all(isinstance(p, np.ndarray) or p is None for p in pieces) and len(kinds) == 1:
        like = next(p for p in pieces if p is not None)
        fill: Any = np.datetime64("NaT", "us") if like.dtype.kind == "M" else np.nan
        return np.concatenate(
            [p if p is not None else np.full(n, fill, dtype=like.dtype)
             for p, n in zip(pieces, sizes, strict=True)]
        )
    chunks: list[Any] = []
    for p, n in zip(pieces, sizes, strict=True):
        if p is None:
            chunks.append(pa.nulls(n, pa.string()))
        elif isinstance(p, np.ndarray):
            chunks.append(pa.array(p.astype(str) if p.dtype.kind not in "OU" else p))
        else:
            arr = p.cast(p.type.value_type) if pa.types.is_dictionary(p.type) else p
            chunks.extend(arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr])
    chunks = [c.cast(pa.string()) if not pa.types.is_string(c.type) else c for c in chunks]
    return pa.chunked_array(chunks, type=pa.string())


def _as_sources(value: Any, name: str) -> list[Source]:
    if value is None:
        return []
    items = value if isinstance(value, (list, tuple)) else [value]
    out = []
    for item in items:
        out.append(item if isinstance(item, Source) else source(item))
    if name == "customers" and not out:
        raise ValidationError("read_dataset: customers needs at least one source")
    return out


def read_table(src: Source, table: str, *, errors: Errors = "raise") -> Mapped:
    """One source's rows as our fields of ``table`` (``customers``, ``subscriptions`` or
    ``events``), checked; see :func:`read_dataset`."""
    arrow = src.read(table)
    mapping = src.mapping if src.mapping is not None else Mapping.identity(arrow.column_names)
    return apply_mapping(mapping, arrow, table, src.name, raise_first=errors == "raise")


def read_dataset(
    *,
    customers: Source | Sequence[Source] | Any,
    subscriptions: Source | Sequence[Source] | Any = None,
    events: Source | Sequence[Source] | Any = None,
    errors: Errors = "raise",
) -> Dataset:
    """A :class:`~custsuccess.dataset.Dataset` from sources (each argument a
    :class:`Source` from :func:`~custsuccess.io.source` / :func:`~custsuccess.io.sql`, or
    a list of them: events usually come from several systems).

    Every check runs on whole columns. With ``errors="raise"`` (the default) the first
    problem raises one :class:`~custsuccess.errors.ValidationError` naming the source,
    the row (counted from 0, the first data row; CSV messages add the file line), the
    column and the value. With ``errors="skip"`` offending rows are left out and listed in
    the quality report: ``dataset.describe()`` shows, per source, the rows read, kept and
    rejected, with reasons and the first offending rows.
    """
    if errors not in ("raise", "skip"):
        raise ValidationError(f"errors must be 'raise' or 'skip', got {errors!r}")
    tables = {
        "customers": _as_sources(customers, "customers"),
        "subscriptions": _as_sources(subscriptions, "subscriptions"),
        "events": _as_sources(events, "events"),
    }
    reads: dict[str, _Read] = {}
    rows_read: dict[int, int] = {}
    for table, srcs in tables.items():
        parts = []
        for src in srcs:
            if src.mapping is not None:
                src.mapping.for_table(table)
            arrow = src.read(table)
            rows_read[id(src)] = arrow.num_rows
            mapping = (
                src.mapping if src.mapping is not None else Mapping.identity(arrow.column_names)
            )
            try:
                parts.append(
                    apply_mapping(mapping, arrow, table, src.name, raise_first=errors == "raise")
                )
            except ValidationError as exc:
                raise ValidationError(_with_line(str(exc), src)) from None
        reads[table] = _Read(table, srcs, parts)
    if errors == "skip":  # in "raise" mode the builder finds unknown ids (see below)
        _check_customers(reads, errors)
    for read in reads.values():
        keep = [~p.bad for p in read.parts]
        if any(not k.all() for k in keep):
            read.parts = [_keep(p, k) for p, k in zip(read.parts, keep, strict=True)]
    try:
        dataset = Dataset.from_columns(
            customers=reads["customers"].columns(),
            subscriptions=reads["subscriptions"].columns() if reads["subscriptions"].parts
            else None,
            events=reads["events"].columns() if reads["events"].parts else None,
        )
    except ValidationError as exc:
        if "unknown customer ids" in str(exc) or "customers.id has duplicates" in str(exc):
            _check_customers(reads, errors)  # names the source, row, column and value
        raise ValidationError(_locate(str(exc), reads)) from None
    reports = []
    for table, read in reads.items():
        for src, part in zip(read.sources, read.parts, strict=True):
            reports.append(
                SourceReport(
                    src.name,
                    table,
                    rows_read[id(src)],
                    len(part.rows),
                    tuple(_rejection(q, src) for q in part.problems),
                    dict(part.skipped),
                )
            )
    dataset._shared.sources = tuple(reports)
    return dataset


def _keep(part: Mapped, keep: npt.NDArray[np.bool_]) -> Mapped:
    index = np.flatnonzero(keep)
    columns = {
        k: v[index] if isinstance(v, np.ndarray) else v.take(pa.array(index))
        for k, v in part.columns.items()
    }
    return Mapped(columns, part.rows[index], part.bad[index], part.problems, part.skipped)


def _rejection(problem: Problem, src: Source) -> Rejection:
    examples = tuple(
        (int(r), v) for r, v in zip(problem.rows[:_EXAMPLES].tolist(), problem.values, strict=False)
    )
    return Rejection(problem.reason, problem.column, int(problem.rows.size), examples)


def _check_customers(reads: dict[str, _Read], errors: Errors) -> None:
    """Duplicate customer ids, and rows of other tables naming unknown customers."""
    customers = reads["customers"]
    ids = pa.chunked_array(
        [_text(p.columns["id"]) for p in customers.parts], type=pa.string()
    ) if customers.parts else pa.chunked_array([], type=pa.string())
    known = pc.unique(ids)
    for table in ("subscriptions", "events"):
        read = reads[table]
        for src, part in zip(read.sources, read.parts, strict=True):
            column = part.columns.get("customer_id")
            if column is None:
                continue
            unknown = _unknown(column, known)
            rows = np.flatnonzero(unknown & ~part.bad)
            if not rows.size:
                continue
            column_name = _source_column(src, "customer_id")
            text = _text(column)
            value = text[int(rows[0])].as_py()
            if errors == "raise":
                more = f" ({rows.size} rows in all)" if rows.size > 1 else ""
                raise ValidationError(
                    _with_line(
                        f"{src.name}: row {int(part.rows[rows[0]])}, column {column_name!r}: "
                        f"no customer has this id, got {value!r}{more}",
                        src,
                    )
                )
            part.bad[rows] = True
            part.problems.append(
                Problem(
                    "no customer has this id",
                    column_name,
                    part.rows[rows].astype(np.int64),
                    tuple(text[int(r)].as_py() for r in rows[:_EXAMPLES]),
                )
            )


def _unknown(column: Any, known: Any) -> npt.NDArray[np.bool_]:
    """Rows whose (present) id is not in ``known``; a dictionary column is checked once
    per distinct id."""
    if isinstance(column, np.ndarray) or not pa.types.is_dictionary(column.type):
        text = _text(column)
        found = pc.is_in(text, value_set=known)
        missing = np.asarray(pc.is_null(text).to_numpy(zero_copy_only=False), dtype=bool)
        unknown: npt.NDArray[np.bool_] = (
            ~np.asarray(pc.fill_null(found, True).to_numpy(False), bool) & ~missing
        )
        return unknown
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    parts = []
    for chunk in chunks:
        per_value = _unknown(chunk.dictionary, known)
        index = np.asarray(chunk.indices.fill_null(-1).to_numpy(zero_copy_only=False))
        parts.append(np.append(per_value, False)[index])
    return np.concatenate(parts) if parts else np.zeros(0, dtype=bool)


def _source_column(src: Source, field: str) -> str | None:
    if src.mapping is None:
        return field
    for entry in src.mapping.entries:
        spec = entry.get(field)
        if spec is not None and spec.column is not None:
            return spec.column
    return None


def _text(column: Any) -> Any:
    if isinstance(column, np.ndarray):
        return pa.array(column.astype(str) if column.dtype.kind != "O" else column)
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    return column.cast(pa.string()) if not pa.types.is_string(column.type) else column


_LINE: Final = re.compile(r"^(?P<name>.*?): row (?P<row>\d+)")


def _with_line(message: str, src: Source) -> str:
    """Add the file line to a CSV row: ``row 3`` -> ``row 3 (line 5)``."""
    if not src.first_line:
        return message
    match = _LINE.match(message)
    if match is None or match.group("name") != src.name:
        return message
    row = int(match.group("row"))
    end = match.end()
    return f"{message[:end]} (line {row + src.first_line}){message[end:]}"


_TABLE_ROW: Final = re.compile(r"^(customers|subscriptions|events)\b.*?\brow (\d+)")


def _locate(message: str, reads: dict[str, _Read]) -> str:
    """Name the source and its row in a message of the Dataset builders (``events row
    12 ...`` counts rows over all sources of a table)."""
    match = _TABLE_ROW.match(message)
    if match is None:
        return message
    read = reads[match.group(1)]
    try:
        src, row = read.where(int(match.group(2)))
    except IndexError:
        return message
    return _with_line(f"{src.name}: row {row}: {message}", src)
