"""The embedded default database: a :class:`Dataset` and its churn records in SQLite.

:class:`SQLiteStore` keeps one dataset (customers, subscriptions, events) and any number
of churn-record snapshots (one per ``as_of``) in a single SQLite file, using only the
standard library's :mod:`sqlite3`.

Layout (schema version 1; see :data:`MIGRATIONS`):

* ``customers`` and ``subscriptions``: one row per record, text as text and moments as
  int64 microseconds since 1970-01-01 UTC, for queries in plain SQL.
* ``events``, ``customer_columns`` and ``subscription_columns``: the same tables stored
  by column, in chunks of ``chunk_rows`` rows; each SQL row is one chunk of one column as
  raw little-endian numpy bytes (moments as int64 microseconds, text columns that repeat
  as int32 codes into ``column_categories``, other text as fixed-width UTF-32).
  :meth:`SQLiteStore.load` reads only these: a few hundred ``frombuffer`` copies for 20M
  events, never a Python object per row (the row tables are for SQL; reading them back
  would cost most of the load time, see docs/performance.md). ``dataset_columns`` lists
  every column with its dtype, ``event_kinds`` the event-kind vocabulary.
* ``customer_attributes``: each extra customer column as one row holding the whole
  column (raw numpy bytes for numbers, booleans and times; JSON for text and mixed
  values), so any dtype round-trips exactly.
* ``churn_records``: one row per churned customer and ``as_of``, queryable with SQL.
* ``schema_version``: the migrations applied; ``dataset_info``: counts and time window.

Every write is one transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``; any failure rolls it
back, so a reader sees the old data or the new, never half of it). The database runs in
WAL mode, so readers keep reading the last committed data while a writer writes. All SQL
is parameterised. Each thread uses its own connection (opened on first use).

>>> import tempfile, pathlib
>>> from custsuccess.churn._examples import small_dataset
>>> folder = tempfile.TemporaryDirectory()
>>> with SQLiteStore(pathlib.Path(folder.name) / "cs.db") as store:
...     store.save(small_dataset())
...     store.load().equals(small_dataset())
True
>>> folder.cleanup()
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import attrs
import numpy as np
import numpy.typing as npt

from custsuccess.dataset import (
    Categorical,
    CustomerTable,
    Dataset,
    EventTable,
    SubscriptionTable,
    require_dataset,
    to_datetime64,
)
from custsuccess.errors import CustSuccessError, ValidationError

if TYPE_CHECKING:
    from custsuccess.churn.records import ChurnRecords
    from custsuccess.health.history import HealthHistory
    from custsuccess.health.report import HealthReport
    from custsuccess.health.scorecards import ScorecardReport

__all__ = ["MIGRATIONS", "Migration", "SQLiteStore", "StoreError"]

#: int64 bit pattern of NaT: how a missing moment travels through SQL.
_NAT: Final = int(np.iinfo(np.int64).min)
_RAW_KINDS: Final = "biufcmMS"
#: Default rows per stored chunk of an event column.
DEFAULT_CHUNK_ROWS: Final = 1 << 20


class StoreError(CustSuccessError):
    """The database cannot do what was asked: it holds no dataset, or was written by a
    newer custsuccess (schema version), or the file is not a custsuccess store or is
    damaged, or another writer holds its lock longer than ``timeout``, or a query would
    change it."""


# sqlite3 authorizer actions a read-only query may take (values from sqlite3.h)
_SQLITE_READ: Final = 20
_SQLITE_SELECT: Final = 21
_SQLITE_FUNCTION: Final = 31
_SQLITE_RECURSIVE: Final = 33
_READ_ACTIONS: Final = frozenset(
    {_SQLITE_READ, _SQLITE_SELECT, _SQLITE_FUNCTION, _SQLITE_RECURSIVE}
)


def _read_only_authorizer(action: int, *_: object) -> int:
    """Allow reading only: no DML, DDL, ATTACH, PRAGMA or transaction statements."""
    return sqlite3.SQLITE_OK if action in _READ_ACTIONS else sqlite3.SQLITE_DENY


def _is_busy(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


@attrs.frozen(slots=True)
class Migration:
    """One step of the schema: ``statements`` run in one transaction, then
    ``version`` is recorded in ``schema_version``."""

    version: int
    description: str
    statements: tuple[str, ...]


#: The schema, one migration per version, applied in order by :class:`SQLiteStore`.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "customers, subscriptions, chunked events, churn records",
        (
            """CREATE TABLE dataset_info (
                key TEXT PRIMARY KEY,
                value TEXT
            )""",
            """CREATE TABLE customers (
                idx INTEGER PRIMARY KEY,
                id TEXT NOT NULL UNIQUE,
                created_at INTEGER NOT NULL,
                name TEXT,
                segment TEXT,
                plan TEXT
            )""",
            """CREATE TABLE customer_attributes (
                name TEXT PRIMARY KEY,
                position INTEGER NOT NULL,
                dtype TEXT NOT NULL,
                encoding TEXT NOT NULL,
                data BLOB NOT NULL
            )""",
            """CREATE TABLE subscriptions (
                row INTEGER PRIMARY KEY,
                id TEXT NOT NULL UNIQUE,
                customer_idx INTEGER NOT NULL,
                plan TEXT NOT NULL,
                mrr REAL NOT NULL,
                currency TEXT NOT NULL,
                started_at INTEGER NOT NULL,
                ended_at INTEGER,
                cancel_reason TEXT
            )""",
            "CREATE INDEX subscriptions_customer ON subscriptions (customer_idx)",
            "CREATE INDEX customers_segment ON customers (segment)",
            """CREATE TABLE event_kinds (
                code INTEGER PRIMARY KEY,
                name TEXT NOT NULL UNIQUE
            )""",
            """CREATE TABLE dataset_columns (
                tbl TEXT NOT NULL,
                name TEXT NOT NULL,
                position INTEGER NOT NULL,
                dtype TEXT NOT NULL,
                stored_dtype TEXT NOT NULL,
                PRIMARY KEY (tbl, name)
            )""",
            """CREATE TABLE column_categories (
                tbl TEXT NOT NULL,
                name TEXT NOT NULL,
                code INTEGER NOT NULL,
                value TEXT NOT NULL,
                PRIMARY KEY (tbl, name, code)
            )""",
            *(
                f"""CREATE TABLE {table} (
                name TEXT NOT NULL,
                chunk INTEGER NOT NULL,
                first_row INTEGER NOT NULL,
                n_rows INTEGER NOT NULL,
                data BLOB NOT NULL,
                PRIMARY KEY (name, chunk)
            )"""
                for table in ("customer_columns", "subscription_columns", "events")
            ),
            """CREATE TABLE churn_records (
                as_of INTEGER NOT NULL,
                customer_id TEXT NOT NULL,
                customer_idx INTEGER NOT NULL,
                started_at INTEGER NOT NULL,
                churned_at INTEGER NOT NULL,
                tenure_days REAL NOT NULL,
                reason TEXT NOT NULL,
                classifier TEXT NOT NULL,
                evidence TEXT,
                activity_slope REAL,
                recent_activity_rate REAL,
                lifetime_activity_rate REAL,
                recent_vs_lifetime REAL,
                last_activity_at INTEGER,
                inactivity_days REAL NOT NULL,
                mrr_lost REAL NOT NULL,
                currency TEXT,
                segment TEXT,
                plan TEXT,
                PRIMARY KEY (as_of, customer_id)
            )""",
            "CREATE INDEX churn_records_reason ON churn_records (as_of, reason)",
        ),
    ),
    Migration(
        2,
        "health report snapshots, for health over time",
        (
            """CREATE TABLE health_snapshots (
                as_of INTEGER NOT NULL,
                customer_id TEXT NOT NULL,
                score REAL,
                tier TEXT NOT NULL,
                good REAL NOT NULL,
                poor REAL NOT NULL,
                scorecard TEXT,
                PRIMARY KEY (as_of, customer_id)
            )""",
            "CREATE INDEX health_snapshots_customer ON health_snapshots (customer_id, as_of)",
        ),
    ),
)

_CHURN_COLUMNS: Final = (
    "customer_idx",
    "customer_id",
    "started_at",
    "churned_at",
    "tenure_days",
    "reason",
    "classifier",
    "evidence",
    "activity_slope",
    "recent_activity_rate",
    "lifetime_activity_rate",
    "recent_vs_lifetime",
    "last_activity_at",
    "inactivity_days",
    "mrr_lost",
    "currency",
    "segment",
    "plan",
)


def _us(times: npt.NDArray[Any]) -> list[int | None]:
    """Moments as int64 microseconds, None for NaT (a Python list for sqlite3)."""
    raw = np.asarray(times).astype("datetime64[us]").view(np.int64)
    out: list[int | None] = raw.tolist()
    if (raw == _NAT).any():
        for i in np.flatnonzero(raw == _NAT).tolist():
            out[i] = None
    return out


def _floats(values: npt.NDArray[np.float64]) -> list[float | None]:
    """Floats for sqlite3, None for NaN (SQLite would store NaN as NULL anyway)."""
    out: list[float | None] = np.asarray(values, dtype=np.float64).tolist()
    for i in np.flatnonzero(np.isnan(values)).tolist():
        out[i] = None
    return out


def _times_from(values: Sequence[int | None]) -> npt.NDArray[np.datetime64]:
    arr = np.array([_NAT if v is None else v for v in values], dtype=np.int64)
    return arr.view("datetime64[us]")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(type(value).__name__)


def _encode_attribute(name: str, column: npt.NDArray[Any]) -> tuple[str, str, bytes]:
    """(dtype, encoding, data) of one customer attribute column."""
    arr = np.asarray(column)
    if arr.ndim != 1:
        raise ValidationError(
            f"customers attribute {name!r}: only one-dimensional columns can be stored, got "
            f"shape {arr.shape}"
        )
    if arr.dtype.kind in _RAW_KINDS:
        little = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
        return little.dtype.str, "raw", np.ascontiguousarray(little).tobytes()
    values = arr.tolist()
    if arr.dtype.kind == "O":
        for i, value in enumerate(values):
            if value is not None and not isinstance(value, (str, bool, int, float, np.generic)):
                raise ValidationError(
                    f"customers attribute {name!r} row {i}: cannot store a "
                    f"{type(value).__name__} ({value!r}); store text, numbers, booleans or None"
                )
    elif arr.dtype.kind != "U":
        raise ValidationError(
            f"customers attribute {name!r}: cannot store columns of dtype {arr.dtype}"
        )
    try:
        text = json.dumps(values, default=_json_default, allow_nan=True)
    except TypeError as exc:
        raise ValidationError(
            f"customers attribute {name!r}: cannot store a value of type {exc}"
        ) from None
    return arr.dtype.str, "json", text.encode("utf-8")


def _decode_attribute(dtype: str, encoding: str, data: bytes) -> npt.NDArray[Any]:
    if encoding == "raw":
        raw: npt.NDArray[Any] = np.frombuffer(data, dtype=np.dtype(dtype)).copy()
        return raw
    values = json.loads(data.decode("utf-8"))
    if np.dtype(dtype).kind == "O":
        out = np.empty(len(values), dtype=object)
        out[:] = values
        return out
    restored: npt.NDArray[Any] = np.array(values, dtype=np.dtype(dtype))
    return restored


#: The SQL table holding the column chunks of each dataset table (constants: table
#: names cannot be SQL parameters).
_CHUNK_TABLES: Final = {
    "customers": "customer_columns",
    "subscriptions": "subscription_columns",
    "events": "events",
}

#: A stored column: its values as stored, the categories of a categorical column (else
#: None), and the dtype it is loaded as.
_Column = tuple[npt.NDArray[Any], "tuple[str, ...] | None", str]


def _little(values: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """Little-endian; fixed-width unicode as one byte per character when all is ASCII."""
    arr = np.asarray(values)
    if arr.dtype.kind == "U":
        try:
            return arr.astype(f"S{max(arr.dtype.itemsize // 4, 1)}")
        except UnicodeEncodeError:
            pass
    return arr.astype(arr.dtype.newbyteorder("<"), copy=False)


def _loaded_dtype(original: npt.NDArray[Any]) -> str:
    """The dtype a stored column is loaded as (little-endian)."""
    return str(original.dtype.newbyteorder("<").str)


def _text(values: npt.NDArray[np.object_]) -> npt.NDArray[np.str_]:
    """Optional text (None where missing) as fixed-width unicode, '' where missing."""
    if values.size == 0:
        return np.empty(0, dtype="<U1")
    missing = ~values.astype(bool)  # None is falsy; a dataset never holds '' (missing)
    text: npt.NDArray[np.str_] = np.where(missing, "", values).astype(str)
    return text


def _optional_text(values: npt.NDArray[np.str_]) -> npt.NDArray[np.object_]:
    """The inverse of :func:`_text`: '' back to None, as an object array."""
    out = values.astype(object)
    out[values == ""] = None
    return out


def _dataset_columns(
    customers: CustomerTable, subs: SubscriptionTable, events: EventTable
) -> dict[str, dict[str, _Column]]:
    """Every column of the three tables, in the form it is stored."""

    def cat(column: Categorical) -> _Column:
        return _little(column.codes.astype(np.int32, copy=False)), column.categories, "<i4"

    def plain(values: npt.NDArray[Any]) -> _Column:
        return _little(values), None, _loaded_dtype(values)

    def time(values: npt.NDArray[np.datetime64]) -> _Column:
        return _little(values.astype("datetime64[us]").view(np.int64)), None, "<i8"

    return {
        "customers": {
            "id": plain(customers.ids),
            "created_at": time(customers.created_at),
            "name": plain(_text(customers.name)),
            "segment": cat(customers.segment),
            "plan": cat(customers.plan),
            "owner": cat(customers.owner),
            "parent": plain(customers.parent.astype(np.int32, copy=False)),
            "parent_id": cat(customers.parent_id),
        },
        "subscriptions": {
            "id": plain(subs.ids),
            "customer": plain(subs.customer.astype(np.int32, copy=False)),
            "plan": cat(subs.plan),
            "mrr": plain(subs.mrr.astype(np.float64, copy=False)),
            "currency": cat(subs.currency),
            "started_at": time(subs.started_at),
            "ended_at": time(subs.ended_at),
            "cancel_reason": cat(subs.cancel_reason),
            "interval_months": plain(subs.interval_months.astype(np.int8, copy=False)),
            "renews_at": time(subs.renews_at),
            "auto_renew": plain(subs.auto_renew.astype(bool, copy=False)),
        },
        "events": {
            "customer": plain(events.customer.astype(np.int32, copy=False)),
            "kind": plain(events.kind.astype(np.int16, copy=False)),
            "time": time(events.time),
            "value": plain(events.value.astype(np.float64, copy=False)),
            **{f"property:{name}": cat(prop) for name, prop in events.properties.items()},
        },
    }


def _column_chunks(
    columns: dict[str, _Column], n: int, chunk_rows: int
) -> Iterator[tuple[str, int, int, int, bytes]]:
    """``(name, chunk, first_row, n_rows, bytes)`` rows of a column-chunk table."""
    for chunk, first in enumerate(range(0, n, chunk_rows)):
        last = min(first + chunk_rows, n)
        for name, (values, _, _) in columns.items():
            part = np.ascontiguousarray(values[first:last])
            yield name, chunk, first, last - first, part.tobytes()


def _read_columns(
    conn: sqlite3.Connection, table: str, n: int
) -> tuple[dict[str, npt.NDArray[Any]], dict[str, tuple[str, ...]]]:
    """The stored columns of dataset table ``table`` (``n`` rows) and the categories of
    its categorical columns, read with one ``frombuffer`` copy per chunk."""
    loaded: dict[str, str] = {}
    columns: dict[str, npt.NDArray[Any]] = {}
    for name, dtype, stored in conn.execute(
        "SELECT name, dtype, stored_dtype FROM dataset_columns WHERE tbl = ? ORDER BY position",
        (table,),
    ):
        columns[name] = np.empty(n, dtype=np.dtype(stored))
        loaded[name] = dtype
    categories: dict[str, list[str]] = {}
    for name, value in conn.execute(
        "SELECT name, value FROM column_categories WHERE tbl = ? ORDER BY name, code", (table,)
    ):
        categories.setdefault(name, []).append(value)
    filled = dict.fromkeys(columns, 0)
    sql_table = _CHUNK_TABLES[table]
    for name, first, rows, data in conn.execute(
        f"SELECT name, first_row, n_rows, data FROM {sql_table}"  # constant table name
    ):
        target = columns.get(name)
        if target is None or first < 0 or first + rows > n:
            raise StoreError(
                f"{sql_table}: unexpected chunk of column {name!r} at rows {first}..{first + rows}"
            )
        if not isinstance(data, bytes) or len(data) != rows * target.dtype.itemsize:
            size = len(data) if isinstance(data, bytes) else type(data).__name__
            raise StoreError(
                f"{sql_table}: the chunk of column {name!r} at rows {first}..{first + rows} "
                f"holds {size} bytes, expected {rows * target.dtype.itemsize}"
            )
        target[first : first + rows] = np.frombuffer(data, dtype=target.dtype)
        filled[name] += rows
    short = {name: count for name, count in filled.items() if count != n}
    if short:
        raise StoreError(f"{sql_table}: incomplete columns (rows found {short}, expected {n})")
    for name, dtype in loaded.items():
        if columns[name].dtype != np.dtype(dtype):  # ASCII text back to unicode
            columns[name] = columns[name].astype(dtype)
    return columns, {name: tuple(values) for name, values in categories.items()}


class SQLiteStore:
    """A custsuccess dataset and its churn records in one SQLite file.

    Parameters
    ----------
    path
        The database file (created, with its schema, when missing).
    chunk_rows
        Rows per stored chunk of an event column (default 1,048,576).
    timeout
        Seconds a writer waits for another writer's transaction to finish.
    readonly
        Open an existing store only to read it (SQLite URI ``mode=ro``; see
        :meth:`open`): nothing is created, migrated or switched to WAL, a file that is not
        a custsuccess store is left exactly as it was, and the ``save*`` methods raise
        :class:`StoreError`. A file the process may not write (``chmod 0444``) reads fine.

    Notes
    -----
    Use one store per process or thread as you like: each thread gets its own
    connection. ``close()`` (or leaving a ``with`` block) closes them all.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
        timeout: float = 30.0,
        readonly: bool = False,
    ) -> None:
        if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
            raise ValidationError(f"chunk_rows must be an integer >= 1, got {chunk_rows!r}")
        text = os.fspath(path)
        if text == ":memory:" or text.startswith("file:"):
            raise ValidationError(
                f"path must be a file path (WAL mode and several connections need a file), "
                f"got {text!r}"
            )
        self.path = Path(text)
        self.chunk_rows = chunk_rows
        self.timeout = float(timeout)
        self.readonly = bool(readonly)
        if self.readonly and not self.path.is_file():
            raise StoreError(f"{self.path}: no such store file (nothing is created read-only)")
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._closed = False
        try:
            if self.readonly:
                self._check_schema(self._connection())
            else:
                self._migrate(self._connection())
        except BaseException:
            self.close()
            raise

    @classmethod
    def open(
        cls, path: str | os.PathLike[str], *, readonly: bool = True, timeout: float = 30.0
    ) -> SQLiteStore:
        """Open an existing store, read-only by default: what read commands use.

        >>> import tempfile, pathlib
        >>> folder = tempfile.TemporaryDirectory()
        >>> path = pathlib.Path(folder.name) / "other_app.sqlite"
        >>> import sqlite3; sqlite3.connect(path).execute("CREATE TABLE users (id)").close()
        >>> before = path.read_bytes()
        >>> SQLiteStore.open(path)
        Traceback (most recent call last):
        custsuccess.store.StoreError: ...other_app.sqlite is not a custsuccess store (its tables:
        users); nothing was changed
        >>> path.read_bytes() == before
        True
        >>> folder.cleanup()
        """
        if not Path(os.fspath(path)).is_file():
            raise StoreError(f"{os.fspath(path)}: no such store file")
        return cls(path, timeout=timeout, readonly=readonly)

    # ------------------------------------------------------------------ plumbing

    def _connection(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreError(f"the store {self.path} is closed")
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            # check_same_thread=False only so close() can close every thread's connection;
            # each connection is used by the thread that opened it.
            if self.readonly:
                return self._readonly_connection()
            conn = sqlite3.connect(
                self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
            )
            try:
                self._refuse_foreign(conn)
                mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            except sqlite3.DatabaseError as exc:
                conn.close()
                if _is_busy(exc):
                    raise self._failed(exc, "opening") from None
                if "readonly" in str(exc).replace("read-only", "readonly"):
                    raise StoreError(
                        f"{self.path} cannot be written ({exc}): read it with "
                        "SQLiteStore.open(path), which opens it read-only"
                    ) from None
                raise StoreError(f"{self.path} is not a SQLite database: {exc}") from None
            if str(mode).lower() != "wal":
                conn.close()
                raise StoreError(f"{self.path}: could not switch to WAL mode (got {mode!r})")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def _readonly_connection(self) -> sqlite3.Connection:
        uri = self.path.resolve().as_uri() + "?mode=ro"
        try:
            conn = sqlite3.connect(
                uri, uri=True, timeout=self.timeout, isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise self._failed(exc, "opening read-only") from exc
        self._local.conn = conn
        with self._lock:
            self._connections.append(conn)
        return conn

    def _tables(self, conn: sqlite3.Connection) -> set[str]:
        try:
            rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        except sqlite3.DatabaseError as exc:
            if _is_busy(exc):
                raise self._failed(exc, "opening") from None
            raise StoreError(f"{self.path} is not a SQLite database: {exc}") from None
        return {str(name) for (name,) in rows}

    def _refuse_foreign(self, conn: sqlite3.Connection) -> None:
        """Before the first write: a database of another application is not touched."""
        try:
            tables = self._tables(conn)
        except StoreError:
            conn.close()
            raise
        if tables and "schema_version" not in tables:
            conn.close()
            raise StoreError(
                f"{self.path} is not a custsuccess store (its tables: "
                f"{', '.join(sorted(tables)[:8])}); nothing was changed"
            )

    def _check_schema(self, conn: sqlite3.Connection) -> None:
        """A read-only store must already be a custsuccess store of a schema we read."""
        tables = self._tables(conn)
        if not tables:
            raise StoreError(
                f"{self.path} is empty: not a custsuccess store (create one with "
                "`custsuccess demo --db PATH` or SQLiteStore(path).save(dataset)); "
                "nothing was changed"
            )
        if "schema_version" not in tables:
            raise StoreError(
                f"{self.path} is not a custsuccess store (its tables: "
                f"{', '.join(sorted(tables)[:8])}); nothing was changed"
            )
        latest = MIGRATIONS[-1].version if MIGRATIONS else 0
        try:
            row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
        except sqlite3.Error as exc:
            raise self._failed(exc, "reading the schema version") from exc
        current = int(row[0] or 0)
        if current > latest:
            raise StoreError(
                f"{self.path} has schema version {current}, newer than this custsuccess "
                f"understands ({latest}): upgrade custsuccess"
            )
        if current < latest:
            raise StoreError(
                f"{self.path} has schema version {current}, older than this custsuccess's "
                f"({latest}): open it once for writing (SQLiteStore(path)) to upgrade it"
            )

    def _failed(self, exc: sqlite3.Error, what: str) -> StoreError:
        """The StoreError for a sqlite3 error while doing ``what``."""
        if _is_busy(exc):
            return StoreError(
                f"{self.path} is locked by another connection (waited {self.timeout:g} s) "
                f"while {what}: {exc}; try again, or give a longer timeout"
            )
        return StoreError(f"{self.path}: {what} failed: {type(exc).__name__}: {exc}")

    @contextmanager
    def _transaction(self, *, write: bool) -> Iterator[sqlite3.Connection]:
        """One transaction: committed when the block ends, rolled back if it raises.

        A sqlite3 error (a lock held past ``timeout``, a damaged file) becomes a
        :class:`StoreError`.
        """
        if write and self.readonly:
            raise StoreError(f"{self.path} was opened read-only: it cannot be written")
        conn = self._connection()
        what = "writing" if write else "reading"
        try:
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        except sqlite3.Error as exc:
            raise self._failed(exc, what) from exc
        try:
            yield conn
        except BaseException as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise self._failed(exc, what) from exc
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise self._failed(exc, what) from exc

    @contextmanager
    def _reading(self, what: str) -> Iterator[None]:
        """Decoding stored data: anything that breaks on it is a damaged store."""
        try:
            yield
        except StoreError as exc:
            if str(self.path) in str(exc):
                raise
            raise StoreError(f"{self.path}: cannot read {what}: {exc}") from exc
        except sqlite3.Error as exc:
            raise self._failed(exc, f"reading {what}") from exc
        except (ValueError, KeyError, TypeError, IndexError, OverflowError) as exc:
            raise StoreError(
                f"{self.path}: cannot read {what}: the store is damaged or was not written "
                f"by custsuccess ({type(exc).__name__}: {exc})"
            ) from exc

    def _migrate(self, conn: sqlite3.Connection) -> None:
        latest = MIGRATIONS[-1].version if MIGRATIONS else 0
        # Read first: a store opened while another connection writes must not wait for
        # the write lock when its schema is already current.
        known = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
        ).fetchone()
        if known and conn.execute("SELECT max(version) FROM schema_version").fetchone()[0] == (
            latest
        ):
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version ("
                "version INTEGER PRIMARY KEY, description TEXT NOT NULL, "
                "applied_at TEXT NOT NULL)"
            )
            row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
            current = int(row[0]) if row[0] is not None else 0
            if current > latest:
                raise StoreError(
                    f"{self.path} has schema version {current}, newer than this custsuccess "
                    f"understands ({latest}): upgrade custsuccess"
                )
            for migration in MIGRATIONS:
                if migration.version <= current:
                    continue
                for statement in migration.statements:
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_version (version, description, applied_at) "
                    "VALUES (?, ?, ?)",
                    (
                        migration.version,
                        migration.description,
                        datetime.now(timezone.utc).isoformat(),
                    ),
                )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @property
    def schema_version(self) -> int:
        """The schema version of the file (the last migration applied)."""
        row = self._connection().execute("SELECT max(version) FROM schema_version").fetchone()
        return int(row[0] or 0)

    def close(self) -> None:
        """Close every connection this store opened (in any thread)."""
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
            self._closed = True

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = " read-only" if self.readonly else ""
        return f"<SQLiteStore {str(self.path)!r}{mode}>"

    def query(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one read-only SQL statement with ``?`` parameters and return its rows.

        Only reading is allowed (a SQLite authorizer refuses anything else while the
        statement is prepared): INSERT, UPDATE, DELETE, CREATE, DROP, ATTACH, PRAGMA and
        transaction statements raise :class:`StoreError`, and so does any other SQL
        error, or a lock held by a writer past ``timeout``.

        >>> import tempfile, pathlib
        >>> folder = tempfile.TemporaryDirectory()
        >>> with SQLiteStore(pathlib.Path(folder.name) / "cs.db") as store:
        ...     store.query("SELECT count(*) FROM customers WHERE segment = ?", ["smb"])
        [(0,)]
        >>> with SQLiteStore(pathlib.Path(folder.name) / "cs.db") as store:
        ...     store.query("ATTACH DATABASE 'other.db' AS other")
        Traceback (most recent call last):
        custsuccess.store.StoreError: query() only reads: "ATTACH DATABASE 'other.db' AS other"
        was refused (not authorized)
        >>> folder.cleanup()
        """
        if not isinstance(sql, str):
            raise ValidationError(f"query(sql): sql must be a str, got {type(sql).__name__}")
        conn = self._connection()
        try:
            conn.execute("BEGIN")
        except sqlite3.Error as exc:
            raise self._failed(exc, "reading") from exc
        conn.set_authorizer(_read_only_authorizer)
        try:
            return conn.execute(sql, tuple(parameters)).fetchall()
        except sqlite3.DatabaseError as exc:
            if "not authorized" in str(exc):
                raise StoreError(f"query() only reads: {sql!r} was refused ({exc})") from None
            raise self._failed(exc, f"query {sql!r}") from exc
        except sqlite3.Error as exc:
            raise self._failed(exc, f"query {sql!r}") from exc
        finally:
            conn.set_authorizer(None)
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")

    # ------------------------------------------------------------------ datasets

    def has_dataset(self) -> bool:
        """True once a dataset has been saved."""
        rows = self.query("SELECT value FROM dataset_info WHERE key = 'n_customers'")
        return bool(rows)

    def save(self, dataset: Dataset) -> None:
        """Replace the stored dataset with ``dataset``, in one transaction.

        A view (:meth:`Dataset.until`, :meth:`Dataset.between`) is saved as it looks:
        its window's events and subscriptions, and the window itself, so that
        :meth:`load` gives back an equal view. On any failure nothing changes.
        """
        require_dataset(dataset, "dataset", "save()")
        customers = dataset.customers
        subs = dataset.subscriptions
        events = dataset.events
        attributes = [
            (name, position, *_encode_attribute(name, column))
            for position, (name, column) in enumerate(customers.attributes.items())
        ]
        tables = _dataset_columns(customers, subs, events)
        sizes = {"customers": len(customers), "subscriptions": len(subs), "events": len(events)}
        lo, hi = dataset.window
        info = {
            "n_customers": str(len(customers)),
            "n_subscriptions": str(len(subs)),
            "n_events": str(len(events)),
            "window_lo": None if lo is None else str(int(lo.astype("datetime64[us]").view("i8"))),
            "window_hi": None if hi is None else str(int(hi.astype("datetime64[us]").view("i8"))),
            "saved_at": datetime.now(timezone.utc).isoformat(),
        }
        with self._transaction(write=True) as conn:
            for table in (
                "dataset_info",
                "customers",
                "customer_attributes",
                "subscriptions",
                "event_kinds",
                "dataset_columns",
                "column_categories",
                *_CHUNK_TABLES.values(),
            ):
                conn.execute(f"DELETE FROM {table}")  # constant table names
            conn.executemany(
                "INSERT INTO customers (idx, id, created_at, name, segment, plan) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                zip(
                    range(len(customers)),
                    customers.ids.tolist(),
                    _us(customers.created_at),
                    customers.name.tolist(),
                    customers.segment.decode().tolist(),
                    customers.plan.decode().tolist(),
                    strict=True,
                ),
            )
            conn.executemany(
                "INSERT INTO subscriptions (row, id, customer_idx, plan, mrr, currency, "
                "started_at, ended_at, cancel_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                zip(
                    range(len(subs)),
                    subs.ids.tolist(),
                    subs.customer.tolist(),
                    subs.plan.decode().tolist(),
                    subs.mrr.tolist(),
                    subs.currency.decode().tolist(),
                    _us(subs.started_at),
                    _us(subs.ended_at),
                    subs.cancel_reason.decode().tolist(),
                    strict=True,
                ),
            )
            conn.executemany(
                "INSERT INTO customer_attributes (name, position, dtype, encoding, data) "
                "VALUES (?, ?, ?, ?, ?)",
                attributes,
            )
            conn.executemany(
                "INSERT INTO event_kinds (code, name) VALUES (?, ?)", enumerate(events.kinds)
            )
            for table, columns in tables.items():
                conn.executemany(
                    "INSERT INTO dataset_columns (tbl, name, position, dtype, stored_dtype) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (
                        (table, name, i, loaded, values.dtype.str)
                        for i, (name, (values, _, loaded)) in enumerate(columns.items())
                    ),
                )
                conn.executemany(
                    "INSERT INTO column_categories (tbl, name, code, value) VALUES (?, ?, ?, ?)",
                    (
                        (table, name, code, value)
                        for name, (_, categories, _) in columns.items()
                        for code, value in enumerate(categories or ())
                    ),
                )
                conn.executemany(
                    f"INSERT INTO {_CHUNK_TABLES[table]} (name, chunk, first_row, n_rows, data) "
                    "VALUES (?, ?, ?, ?, ?)",  # constant table name
                    _column_chunks(columns, sizes[table], self.chunk_rows),
                )
            conn.executemany("INSERT INTO dataset_info (key, value) VALUES (?, ?)", info.items())

    def load(self, *, as_of: datetime | np.datetime64 | str | None = None) -> Dataset:
        """The stored dataset (read in one transaction: a consistent snapshot).

        ``as_of``: return ``dataset.until(as_of)`` instead. Raises :class:`StoreError`
        when no dataset was saved.
        """
        cut = None if as_of is None else to_datetime64(as_of)
        with self._reading("the dataset"):
            dataset = self._load()
        return dataset if cut is None else dataset.until(cut)

    def _load(self) -> Dataset:
        with self._transaction(write=False) as conn:
            info = dict(conn.execute("SELECT key, value FROM dataset_info").fetchall())
            if "n_customers" not in info:
                raise StoreError(f"{self.path} holds no dataset yet: save() one first")
            n = int(info["n_customers"])
            cc, ccat = _read_columns(conn, "customers", n)
            sc, scat = _read_columns(conn, "subscriptions", int(info["n_subscriptions"]))
            ec, ecat = _read_columns(conn, "events", int(info["n_events"]))
            attributes = {
                name: _decode_attribute(dtype, encoding, data)
                for name, dtype, encoding, data in conn.execute(
                    "SELECT name, dtype, encoding, data FROM customer_attributes ORDER BY position"
                )
            }
            kinds = tuple(
                name for (name,) in conn.execute("SELECT name FROM event_kinds ORDER BY code")
            )

        def cat(
            columns: dict[str, npt.NDArray[Any]], cats: dict[str, tuple[str, ...]], name: str
        ) -> Categorical:
            return Categorical(columns[name], cats.get(name, ()))

        def times(values: npt.NDArray[Any]) -> npt.NDArray[np.datetime64]:
            return values.view("datetime64[us]")

        # the account and contract columns: absent from stores written before them
        account: dict[str, Any] = {}
        if "owner" in cc:
            account["owner"] = cat(cc, ccat, "owner")
        if "parent" in cc:
            account["parent"] = cc["parent"]
        if "parent_id" in cc:
            account["parent_id"] = cat(cc, ccat, "parent_id")
        customers = CustomerTable(
            cc["id"],
            times(cc["created_at"]),
            _optional_text(cc["name"]),
            cat(cc, ccat, "segment"),
            cat(cc, ccat, "plan"),
            attributes,
            **account,
        )
        contract: dict[str, Any] = {}
        if "interval_months" in sc:
            contract["interval_months"] = sc["interval_months"]
        if "renews_at" in sc:
            contract["renews_at"] = times(sc["renews_at"])
        if "auto_renew" in sc:
            contract["auto_renew"] = sc["auto_renew"]
        subscriptions = SubscriptionTable(
            sc["id"],
            sc["customer"],
            cat(sc, scat, "plan"),
            sc["mrr"],
            cat(sc, scat, "currency"),
            times(sc["started_at"]),
            times(sc["ended_at"]),
            cat(sc, scat, "cancel_reason"),
            n,
            **contract,
        )
        properties = {
            name.removeprefix("property:"): cat(ec, ecat, name)
            for name in ec
            if name.startswith("property:")
        }
        events = EventTable(
            ec["customer"], ec["kind"], times(ec["time"]), ec["value"], properties, kinds, n
        )
        dataset = Dataset(customers, subscriptions, events)
        lo = info.get("window_lo")
        hi = info.get("window_hi")
        if lo is not None and hi is not None:
            dataset = dataset.between(np.datetime64(int(lo), "us"), np.datetime64(int(hi), "us"))
        elif hi is not None:
            dataset = dataset.until(np.datetime64(int(hi), "us") - np.timedelta64(1, "us"))
        elif lo is not None:
            raise StoreError(f"{self.path}: a stored window has a start but no end")
        return dataset

    # ------------------------------------------------------------------ churn records

    def save_churn_records(self, churn: ChurnRecords) -> None:
        """Store ``churn`` as the snapshot of its ``as_of`` (replacing an earlier one of
        the same date), in one transaction."""
        from custsuccess.churn.records import ChurnRecords

        if not isinstance(churn, ChurnRecords):
            raise ValidationError(
                f"save_churn_records() needs ChurnRecords, got {type(churn).__name__}"
            )
        as_of = int(np.asarray(churn.as_of).astype("datetime64[us]").view("i8"))
        rows = zip(
            [as_of] * len(churn),
            churn.customer.tolist(),
            churn.customer_id.tolist(),
            _us(churn.started_at),
            _us(churn.churned_at),
            churn.tenure_days.tolist(),
            churn.reason.decode().tolist(),
            churn.classifier.decode().tolist(),
            churn.evidence_text().tolist(),
            _floats(churn.activity_slope),
            _floats(churn.recent_activity_rate),
            _floats(churn.lifetime_activity_rate),
            _floats(churn.recent_vs_lifetime),
            _us(churn.last_activity_at),
            churn.inactivity_days.tolist(),
            churn.mrr_lost.tolist(),
            churn.currency.decode().tolist(),
            churn.segment.decode().tolist(),
            churn.plan.decode().tolist(),
            strict=True,
        )
        placeholders = ", ".join("?" * (len(_CHURN_COLUMNS) + 1))
        with self._transaction(write=True) as conn:
            conn.execute("DELETE FROM churn_records WHERE as_of = ?", (as_of,))
            conn.executemany(
                f"INSERT INTO churn_records (as_of, {', '.join(_CHURN_COLUMNS)}) "
                f"VALUES ({placeholders})",
                rows,
            )

    def churn_snapshots(self) -> list[np.datetime64]:
        """The ``as_of`` dates of the stored churn-record snapshots, oldest first."""
        rows = self.query("SELECT DISTINCT as_of FROM churn_records ORDER BY as_of")
        return [np.datetime64(int(v), "us") for (v,) in rows]

    def load_churn_records(
        self, as_of: datetime | np.datetime64 | str | None = None
    ) -> ChurnRecords:
        """The churn-record snapshot of ``as_of`` (default: the latest one).

        Evidence comes back as the text it was saved as.
        """
        wanted = None if as_of is None else int(to_datetime64(as_of).view("i8"))
        with self._reading("churn records"):
            return self._load_churn_records(wanted)

    def _load_churn_records(self, wanted: int | None) -> ChurnRecords:
        from custsuccess.churn.records import ChurnRecords
        from custsuccess.typing import Reasons

        as_of = wanted
        with self._transaction(write=False) as conn:
            if wanted is None:
                (latest,) = conn.execute("SELECT max(as_of) FROM churn_records").fetchone()
                if latest is None:
                    raise StoreError(f"{self.path} holds no churn records")
                at = int(latest)
            else:
                at = wanted
            rows = conn.execute(
                f"SELECT {', '.join(_CHURN_COLUMNS)} FROM churn_records WHERE as_of = ? "
                "ORDER BY customer_idx",
                (at,),
            ).fetchall()
        if (
            not rows
            and as_of is not None
            and at not in {int(t.view("i8")) for t in self.churn_snapshots()}
        ):
            raise StoreError(f"{self.path} holds no churn records as of {np.datetime64(at, 'us')}")
        values = zip(*rows, strict=True) if rows else [()] * len(_CHURN_COLUMNS)
        cols: dict[str, Any] = dict(zip(_CHURN_COLUMNS, values, strict=True))

        def floats(name: str) -> npt.NDArray[np.float64]:
            return np.array([math.nan if v is None else v for v in cols[name]], dtype=np.float64)

        def text(name: str) -> Categorical:
            return Categorical.encode(np.array(cols[name], dtype=object), name)

        evidence = np.array(cols["evidence"], dtype=object)
        has = np.array([v is not None for v in evidence.tolist()], dtype=bool)
        return ChurnRecords(
            as_of=np.datetime64(at, "us"),
            customer=np.array(cols["customer_idx"], dtype=np.intp),
            customer_id=np.array(cols["customer_id"], dtype=str) if rows else np.empty(0, "U1"),
            started_at=_times_from(cols["started_at"]),
            churned_at=_times_from(cols["churned_at"]),
            tenure_days=floats("tenure_days"),
            reason=text("reason"),
            classifier=text("classifier"),
            evidence=Reasons(("{text}",), np.where(has, 0, -1).astype(np.int8), {"text": evidence}),
            activity_slope=floats("activity_slope"),
            recent_activity_rate=floats("recent_activity_rate"),
            lifetime_activity_rate=floats("lifetime_activity_rate"),
            recent_vs_lifetime=floats("recent_vs_lifetime"),
            last_activity_at=_times_from(cols["last_activity_at"]),
            inactivity_days=floats("inactivity_days"),
            mrr_lost=floats("mrr_lost"),
            currency=text("currency"),
            segment=text("segment"),
            plan=text("plan"),
        )

    # ------------------------------------------------------------------ health over time

    def save_report(self, report: HealthReport | ScorecardReport) -> None:
        """Store the scores and tiers of ``report`` as the snapshot of its ``as_of``
        (replacing an earlier snapshot of the same moment), in one transaction.

        Read them back with :meth:`history`.
        """
        from custsuccess.health.report import HealthReport
        from custsuccess.health.scorecards import ScorecardReport

        if not isinstance(report, (HealthReport, ScorecardReport)):
            raise ValidationError(
                f"save_report() needs a HealthReport, got {type(report).__name__}"
            )
        m = len(report)
        as_of = int(np.asarray(report.as_of).astype("datetime64[us]").view("i8"))
        good = np.broadcast_to(np.asarray(report.good, dtype=np.float64), (m,))
        poor = np.broadcast_to(np.asarray(report.poor, dtype=np.float64), (m,))
        scorecard = (
            report.scorecard.tolist() if isinstance(report, ScorecardReport) else [None] * m
        )
        rows = zip(
            [as_of] * m,
            report.customer_ids.tolist(),
            _floats(report.score),
            report.tier.tolist(),
            good.tolist(),
            poor.tolist(),
            scorecard,
            strict=True,
        )
        with self._transaction(write=True) as conn:
            conn.execute("DELETE FROM health_snapshots WHERE as_of = ?", (as_of,))
            conn.executemany(
                "INSERT INTO health_snapshots "
                "(as_of, customer_id, score, tier, good, poor, scorecard) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def report_snapshots(self) -> list[np.datetime64]:
        """The ``as_of`` moments of the stored health snapshots, oldest first."""
        rows = self.query("SELECT DISTINCT as_of FROM health_snapshots ORDER BY as_of")
        return [np.datetime64(int(v), "us") for (v,) in rows]

    def history(
        self,
        customer_ids: Sequence[str] | None = None,
        since: datetime | np.datetime64 | str | None = None,
    ) -> HealthHistory:
        """The stored health snapshots (of ``customer_ids``, default all; from ``since``
        on, default all), as a :class:`~custsuccess.health.history.HealthHistory` sorted
        by (customer id, date).

        >>> import tempfile, pathlib
        >>> from datetime import datetime, timedelta, timezone
        >>> from custsuccess import Customer, Dataset, Event
        >>> from custsuccess.health import HealthModel
        >>> from custsuccess.health.rules import RecencyRule
        >>> t = datetime(2024, 1, 1, tzinfo=timezone.utc)
        >>> ds = Dataset.from_records([Customer("a", t)], events=[Event("a", "login", t)])
        >>> model = HealthModel([RecencyRule()])
        >>> folder = tempfile.TemporaryDirectory()
        >>> with SQLiteStore(pathlib.Path(folder.name) / "cs.db") as store:
        ...     for days in (1, 20, 40):
        ...         store.save_report(model.score(ds, t + timedelta(days=days)))
        ...     summary = store.history(["a"]).summary()
        >>> folder.cleanup()

        Recency falls from 100 (1 day after the last login) to 34.5 (20 days) to 0 (40
        days): poor since day 20. 30 days before day 40 is day 10, whose latest snapshot
        is day 1's: a change of 0 - 100; nothing is 90 days old:

        >>> summary.tier.tolist(), summary.days_in_tier.tolist()
        (['poor'], [20.0])
        >>> summary.change_30.tolist(), summary.change_90.tolist()
        ([-100.0], [nan])
        """

        where: list[str] = []
        params: list[Any] = []
        if customer_ids is not None:
            if isinstance(customer_ids, str):
                customer_ids = [customer_ids]
            wanted = list(customer_ids)
            for i, c in enumerate(wanted):
                if not isinstance(c, str) or not c:
                    raise ValidationError(f"customer_ids[{i}] must be a customer id, got {c!r}")
            where.append(f"customer_id IN ({', '.join('?' * len(wanted))})" if wanted else "0")
            params.extend(wanted)
        if since is not None:
            where.append("as_of >= ?")
            params.append(int(to_datetime64(since, "since").view("i8")))
        sql = "SELECT customer_id, as_of, score, tier, good, poor FROM health_snapshots"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY customer_id, as_of"
        rows = self.query(sql, params)
        with self._reading("health snapshots"):
            return self._history(rows)

    @staticmethod
    def _history(rows: list[tuple[Any, ...]]) -> HealthHistory:
        from custsuccess.health.history import HealthHistory

        names = {"good": 0, "average": 1, "poor": 2, "unscored": 3}
        if not rows:
            return HealthHistory(np.empty(0, "U1"), np.empty(0, "datetime64[us]"),
                                 np.empty(0), np.empty(0, np.int8), np.empty(0), np.empty(0))
        ids, at, score, tier, good, poor = zip(*rows, strict=True)
        id_array = np.array(ids, dtype=str)
        order = np.lexsort((np.array(at, dtype=np.int64), id_array))  # SQL text order may differ
        return HealthHistory(
            id_array[order],
            np.array(at, dtype=np.int64).view("datetime64[us]")[order],
            np.array([math.nan if v is None else v for v in score], dtype=np.float64)[order],
            np.array([names[v] for v in tier], dtype=np.int8)[order],
            np.array(good, dtype=np.float64)[order],
            np.array(poor, dtype=np.float64)[order],
        )
