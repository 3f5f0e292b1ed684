"""Sources: where rows come from (files, folders of Parquet, DataFrames, Arrow tables, SQL).

A :class:`Source` is a description, not data: nothing is read until
:func:`custsuccess.io.read_dataset` (or :meth:`Source.read`) asks for it, and then only the
columns its mapping names.
"""

from __future__ import annotations

import os
from collections.abc import Mapping as AbcMapping
from pathlib import Path
from typing import Any, Final

import attrs
import pyarrow as pa

from custsuccess.errors import ValidationError
from custsuccess.io.mapping import Mapping, load_mapping, resolve_column

__all__ = ["FORMATS", "Source", "source", "sql"]

#: The file formats :func:`source` reads, by name; ``format=`` takes one of these.
FORMATS: Final = ("csv", "tsv", "parquet", "jsonl", "ipc")
_SUFFIXES: Final = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".arrow": "ipc",
    ".feather": "ipc",
    ".ipc": "ipc",
}
_COMPRESSED: Final = {".gz": "gzip", ".zst": "zstd", ".zstd": "zstd", ".bz2": "bz2"}


@attrs.frozen(slots=True)
class Source:
    """Rows from one place, with the mapping that turns them into our fields.

    ``name`` labels the source in messages and in the quality report (the path, or
    ``"pandas DataFrame"``, ``"sql: <query>"``). Build one with :func:`source` or
    :func:`sql`.
    """

    name: str
    format: str
    data: Any = attrs.field(repr=False)
    mapping: Mapping | None = None
    params: AbcMapping[str, Any] | None = attrs.field(default=None, repr=False)

    @property
    def first_line(self) -> int:
        """The file line of data row 0 (CSV/TSV: 2, after the header), else 0."""
        return 2 if self.format in ("csv", "tsv") else 0

    def with_mapping(self, mapping: Any) -> Source:
        return attrs.evolve(self, mapping=None if mapping is None else load_mapping(mapping))

    def read(self, table: str | None = None) -> pa.Table:
        """The source's rows as an Arrow table: only the columns the mapping reads, text
        columns (ids, names) kept as text."""
        mapping = self.mapping
        wanted = None if mapping is None else mapping.columns()
        text = [] if mapping is None or table is None else mapping.text_columns(table)
        try:
            return _READERS[self.format](self, wanted, text)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OSError) as exc:
            raise ValidationError(f"{self.name}: cannot read it as {self.format}: {exc}") from None


def source(
    data: Any, *, mapping: Any = None, format: str | None = None
) -> Source:
    """A :class:`Source` for ``data``:

    * a path to a CSV, TSV, Parquet, JSON Lines or Arrow IPC/Feather file, optionally
      compressed (``.gz``, ``.zst``); the format comes from the suffix unless ``format``
      names it (one of :data:`FORMATS`);
    * a folder of Parquet files (read as one table);
    * a pandas or polars DataFrame, or a pyarrow Table;
    * a :class:`Source` (from :func:`sql`, say), to give it a mapping.

    ``mapping`` is a :class:`~custsuccess.io.mapping.Mapping`, a dict, a TOML file, or the
    name of a shipped mapping (``"stripe_customers"``); without one, the source's columns
    are our field names.
    """
    if format is not None and format not in FORMATS:
        raise ValidationError(f"format must be one of {FORMATS}, got {format!r}")
    if isinstance(data, Source):
        return data.with_mapping(mapping) if mapping is not None else data
    if isinstance(data, (str, os.PathLike)):
        path = Path(data)
        if path.is_dir():
            return Source(str(path), "folder", path).with_mapping(mapping)
        if not path.exists():
            raise ValidationError(f"{path}: no such file or folder")
        fmt = format or _format_of(path)
        return Source(str(path), fmt, path).with_mapping(mapping)
    if isinstance(data, pa.Table):
        return Source("Arrow table", "arrow", data).with_mapping(mapping)
    if isinstance(data, pa.RecordBatch):
        return Source("Arrow record batch", "arrow", pa.Table.from_batches([data])).with_mapping(
            mapping
        )
    module = type(data).__module__.split(".")[0]
    if module == "pandas" and hasattr(data, "columns"):
        return Source("pandas DataFrame", "pandas", data).with_mapping(mapping)
    if module == "polars" and hasattr(data, "to_arrow"):
        return Source("polars DataFrame", "arrow", data.to_arrow()).with_mapping(mapping)
    raise ValidationError(
        "source() takes a path, a folder of Parquet files, a pandas or polars DataFrame, a "
        f"pyarrow Table or an io.sql(...) source, got {type(data).__name__}"
    )


def _format_of(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSED:
        suffixes = suffixes[:-1]
    fmt = _SUFFIXES.get(suffixes[-1]) if suffixes else None
    if fmt is None:
        raise ValidationError(
            f"{path}: cannot tell the format from the name; pass format= (one of {FORMATS})"
        )
    return fmt


def sql(
    url_or_engine: Any,
    query: str | None = None,
    *,
    table: str | None = None,
    schema: str | None = None,
    params: AbcMapping[str, Any] | None = None,
    mapping: Any = None,
) -> Source:
    """A :class:`Source` reading a SQL database through SQLAlchemy (the ``sql`` extra).

    ``url_or_engine`` is a database URL (``postgresql+psycopg://user@host/db``,
    ``sqlite:///data.db``) or a SQLAlchemy Engine. Give either ``query`` (SQL text whose
    values are bound parameters, ``:name``, filled from ``params``) or ``table`` (and
    ``schema``): then only the columns the mapping names are selected, every identifier
    quoted by SQLAlchemy. The connection is read-only where the driver allows it
    (PostgreSQL: a read-only transaction; SQLite: ``query_only``).
    """
    if (query is None) == (table is None):
        raise ValidationError("sql() needs exactly one of query or table")
    label = f"sql: {query}" if query is not None else f"sql table {table!r}"
    spec = {"url": url_or_engine, "query": query, "table": table, "schema": schema}
    return Source(label, "sql", spec, params=params).with_mapping(mapping)


# --------------------------------------------------------------------------- readers


def _resolve(names: list[str], wanted: list[str] | None, src: Source) -> list[str] | None:
    if wanted is None:
        return None
    table = pa.schema([(n, pa.null()) for n in names]).empty_table()
    mapping = src.mapping
    return [
        resolve_column(table, w, src.name, mapping.field_of(w) if mapping else w)
        for w in wanted
    ]


def _read_delimited(src: Source, wanted: list[str] | None, text: list[str]) -> pa.Table:
    import pyarrow.csv as pcsv

    delimiter = "\t" if src.format == "tsv" else ","
    parse = pcsv.ParseOptions(delimiter=delimiter)
    read = pcsv.ReadOptions(use_threads=True)
    with pcsv.open_csv(src.data, read_options=read, parse_options=parse) as reader:
        names = reader.schema.names
    include = _resolve(names, wanted, src)
    text_cols = _resolve(names, text, src) or []
    convert = pcsv.ConvertOptions(
        include_columns=include,
        column_types={c: pa.string() for c in text_cols},
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
    )
    return pcsv.read_csv(src.data, read_options=read, parse_options=parse, convert_options=convert)


def _read_parquet(src: Source, wanted: list[str] | None, text: list[str]) -> pa.Table:
    import pyarrow.parquet as pq

    if src.format == "folder":
        import pyarrow.dataset as pds

        dataset = pds.dataset(src.data, format="parquet")
        columns = _resolve(dataset.schema.names, wanted, src)
        return dataset.to_table(columns=columns)
    schema = pq.read_schema(src.data)
    names = schema.names
    columns = _resolve(names, wanted, src)
    # text read as dictionaries: ids and kinds repeat, and the Dataset wants codes anyway
    if src.mapping is None:
        dictionary = [f.name for f in schema if pa.types.is_string(f.type)
                      or pa.types.is_large_string(f.type)]
    else:
        dictionary = _resolve(names, text, src) or []
    return pq.read_table(src.data, columns=columns, read_dictionary=dictionary)


def _read_jsonl(src: Source, wanted: list[str] | None, text: list[str]) -> pa.Table:
    import pyarrow.json as pjson

    table = pjson.read_json(src.data)
    return _select(table, wanted, src)


def _read_ipc(src: Source, wanted: list[str] | None, text: list[str]) -> pa.Table:
    import pyarrow.feather as feather

    table = feather.read_table(src.data)
    return _select(table, wanted, src)


def _read_arrow(src: Source, wanted: list[str] | None, text: list[str]) -> pa.Table:
    return _select(src.data, wanted, src)


def _read_pandas(src: Source, wanted: list[str] | None, text: list[str]) -> pa.Table:
    frame = src.data
    names = [str(c) for c in frame.columns]
    columns = _resolve(names, wanted, src)
    if columns is not None:
        frame = frame[columns]
    arrays = {}
    for name in frame.columns:
        try:
            arrays[str(name)] = pa.array(frame[name], from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise ValidationError(
                f"{src.name}: column {str(name)!r} mixes types (text and numbers?): {exc}"
            ) from None
    return pa.table(arrays) if arrays else pa.table({})


def _select(table: pa.Table, wanted: list[str] | None, src: Source) -> pa.Table:
    columns = _resolve(table.column_names, wanted, src)
    return table if columns is None else table.select(columns)


def _read_sql(src: Source, wanted: list[str] | None, text: list[str]) -> pa.Table:
    try:
        import sqlalchemy as sa
    except ImportError:
        raise ValidationError(
            "SQL sources need SQLAlchemy: pip install 'custsuccess[sql]'"
        ) from None
    spec = src.data
    engine = spec["url"]
    owned = isinstance(engine, str)
    if owned:
        engine = sa.create_engine(engine)
    try:
        with engine.connect() as conn:
            _read_only(conn, True)
            try:
                if spec["query"] is not None:
                    statement: Any = sa.text(spec["query"])
                    result = conn.execute(statement, dict(src.params or {}))
                else:
                    result = conn.execute(_select_statement(sa, conn, spec, wanted, src))
                names = list(result.keys())
                rows = result.fetchall()
            finally:
                conn.rollback()
                _read_only(conn, False)
    except sa.exc.SQLAlchemyError as exc:
        raise ValidationError(f"{src.name}: the database refused the query: {exc}") from None
    finally:
        if owned:
            engine.dispose()
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    table = pa.table({n: pa.array(list(c)) for n, c in zip(names, columns, strict=True)})
    return _select(table, wanted, src)


def _select_statement(
    sa: Any, conn: Any, spec: AbcMapping[str, Any], wanted: list[str] | None, src: Source
) -> Any:
    """``SELECT <the mapping's columns> FROM <schema>.<table>``, identifiers quoted."""
    inspector = sa.inspect(conn)
    try:
        names = [c["name"] for c in inspector.get_columns(spec["table"], schema=spec["schema"])]
    except sa.exc.NoSuchTableError:
        raise ValidationError(f"{src.name}: no such table") from None
    columns = _resolve(names, wanted, src) or names
    table = sa.table(spec["table"], *(sa.column(c) for c in columns), schema=spec["schema"])
    return sa.select(*(table.c[c] for c in columns))


def _read_only(conn: Any, on: bool) -> None:
    """Make the connection read-only (``on``) where the database lets a client ask for it,
    and give a pooled SQLite connection back as it was (``on=False``)."""
    dialect = conn.dialect.name
    if on and dialect in ("postgresql", "mysql", "mariadb"):
        conn.exec_driver_sql("SET TRANSACTION READ ONLY")  # this transaction only
    elif dialect == "sqlite":
        conn.exec_driver_sql(f"PRAGMA query_only = {'ON' if on else 'OFF'}")


_READERS: Final = {
    "csv": _read_delimited,
    "tsv": _read_delimited,
    "parquet": _read_parquet,
    "folder": _read_parquet,
    "jsonl": _read_jsonl,
    "ipc": _read_ipc,
    "arrow": _read_arrow,
    "pandas": _read_pandas,
    "sql": _read_sql,
}
