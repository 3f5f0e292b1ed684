"""A :class:`PartitionedDataset`: one ordinary :class:`~custsuccess.dataset.Dataset` per
Dask partition, every customer's rows in exactly one partition.

A customer's partition is ``FNV-1a(customer id) mod npartitions``
(:func:`~custsuccess.distributed._hashing.bucket_of`), stable across processes. Because a
customer's subscriptions and events sit next to its customer row, every per-customer
computation (health rules, MRR change points, churn state, RFM) runs on one partition
unchanged, and only small partial results (counts, integer money sums, event tables,
likelihood sums) cross the network to be merged.

Constructors: :func:`partition` (an in-memory dataset, for tests and examples),
:func:`from_dask` (Dask DataFrames, shuffled by the hash when needed) and
:func:`from_parquet` (a folder or any fsspec URL; partitions are built on the workers from
column batches with :meth:`Dataset.from_columns`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import attrs
import numpy as np
import numpy.typing as npt

from custsuccess.dataset import Dataset, to_datetime64
from custsuccess.distributed._dask import Delayed, compute, delayed, persist
from custsuccess.distributed._hashing import bucket_of
from custsuccess.errors import ValidationError

if TYPE_CHECKING:
    import dask.dataframe as dd
    import pandas as pd

__all__ = [
    "BUCKET_COLUMN",
    "TABLES",
    "PartitionedDataset",
    "from_dask",
    "from_parquet",
    "partition",
    "write_parquet",
]

#: The tables of a dataset, in the order the constructors take them.
TABLES: Final = ("customers", "subscriptions", "events")
#: The column (and hive directory key) :func:`write_parquet` stores the partition number in.
BUCKET_COLUMN: Final = "cs_bucket"
_ID_COLUMN: Final = {"customers": "id", "subscriptions": "customer_id", "events": "customer_id"}


def _check_npartitions(npartitions: Any) -> int:
    if (
        isinstance(npartitions, bool)
        or not isinstance(npartitions, (int, np.integer))
        or npartitions < 1
    ):
        raise ValidationError(f"npartitions must be an int >= 1, got {npartitions!r}")
    return int(npartitions)


class PartitionedDataset:
    """A dataset split by customer into Dask partitions, each an ordinary Dataset.

    ``partitions[i]`` is a :class:`dask.delayed.Delayed` that computes to the
    :class:`~custsuccess.dataset.Dataset` of the customers whose id hashes to ``i``
    (:func:`custsuccess.distributed._hashing.bucket_of`). Build one with
    :func:`partition`, :func:`from_dask` or :func:`from_parquet`; hand it to the same calls
    as a Dataset (``HealthModel.score``, ``backtest``) or to the functions of
    :mod:`custsuccess.distributed`.

    >>> import dask
    >>> from custsuccess.demo import generate
    >>> pds = partition(generate(200, seed=1), 3)
    >>> pds.npartitions, pds.partition_of("cus_0000007")
    (3, 1)
    >>> with dask.config.set(scheduler="synchronous"):
    ...     sizes = pds.sizes()
    >>> sizes, sum(sizes)
    ([69, 74, 57], 200)
    """

    #: Marks a partitioned dataset for the library's entry points without importing Dask.
    _custsuccess_partitioned: Final = True

    __slots__ = ("_partitions",)

    def __init__(self, partitions: Sequence[Delayed]) -> None:
        parts = tuple(partitions)
        if not parts:
            raise ValidationError("a PartitionedDataset needs at least one partition")
        for i, p in enumerate(parts):
            if not isinstance(p, Delayed):
                raise ValidationError(
                    f"partitions[{i}] must be a dask Delayed computing to a Dataset, "
                    f"got {type(p).__name__}"
                )
        self._partitions = parts

    @property
    def partitions(self) -> tuple[Delayed, ...]:
        """One Delayed Dataset per partition."""
        return self._partitions

    @property
    def npartitions(self) -> int:
        return len(self._partitions)

    def partition_of(self, customer_id: str) -> int:
        """The partition holding ``customer_id`` (whether or not it exists)."""
        return int(bucket_of([customer_id], self.npartitions)[0])

    def map(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> list[Delayed]:
        """``func(partition, *args, **kwargs)`` on every partition, as Delayed objects.

        ``func`` must be importable by the workers (a module-level function of an
        installed package), not a lambda from a notebook.
        """
        call = delayed(func, pure=True)
        return [call(p, *args, **kwargs) for p in self._partitions]

    def persist(self) -> PartitionedDataset:
        """The same partitions computed once and kept in memory (on the workers when a
        ``distributed.Client`` is active), so later calls do not rebuild them."""
        return PartitionedDataset(persist(*self._partitions))

    def sizes(self) -> list[int]:
        """Customers per partition."""
        return [int(n) for n in compute(*self.map(len))]

    def until(self, as_of: datetime | np.datetime64 | str) -> PartitionedDataset:
        """Every partition as :meth:`Dataset.until` sees it."""
        t = to_datetime64(as_of, "as_of")
        return PartitionedDataset(self.map(_until, t))

    def compute(self) -> Dataset:
        """The whole dataset in this process (a gather of everything: for small data)."""
        parts = compute(*self._partitions)
        return concat(list(parts))

    def __len__(self) -> int:
        return sum(self.sizes())

    def __repr__(self) -> str:
        return f"<PartitionedDataset npartitions={self.npartitions}>"


def _until(ds: Dataset, t: np.datetime64) -> Dataset:
    return ds.until(t)


# --------------------------------------------------------------------------- in memory


def split(dataset: Dataset, npartitions: int) -> list[Dataset]:
    """``dataset`` cut into ``npartitions`` datasets by the hash of the customer id.

    Each part keeps the dataset's categories, event-kind vocabulary, time window and
    observation end; customer indexes are renumbered from 0 in id order. A parent
    account in another part becomes missing (account hierarchies are not distributed).
    """
    n = _check_npartitions(npartitions)
    customers = dataset.customers
    subs = dataset.subscriptions
    events = dataset.events
    bucket = bucket_of(customers.ids, n)
    order = np.argsort(bucket, kind="stable")  # id order is kept inside each bucket
    c_bounds = np.searchsorted(bucket[order], np.arange(n + 1))
    local = np.empty(len(customers), dtype=np.int32)
    for p in range(n):
        rows = order[c_bounds[p] : c_bounds[p + 1]]
        local[rows] = np.arange(rows.size, dtype=np.int32)
    s_bucket = bucket[subs.customer]
    s_order = np.argsort(s_bucket, kind="stable")
    s_bounds = np.searchsorted(s_bucket[s_order], np.arange(n + 1))
    e_bucket = bucket[events.customer]
    e_order = np.argsort(e_bucket, kind="stable")
    e_bounds = np.searchsorted(e_bucket[e_order], np.arange(n + 1))
    lo, hi = dataset.window
    end = dataset.observation_end  # the whole dataset's, not each part's last moment
    parts = []
    for p in range(n):
        c_rows = order[c_bounds[p] : c_bounds[p + 1]]
        s_rows = s_order[s_bounds[p] : s_bounds[p + 1]]
        e_rows = e_order[e_bounds[p] : e_bounds[p + 1]]
        size = int(c_rows.size)
        s_part = subs.take(s_rows, n_customers=size)
        e_part = events.take(e_rows, n_customers=size)
        part = Dataset(
            customers.take(c_rows),
            attrs.evolve(s_part, customer=local[s_part.customer]),
            attrs.evolve(e_part, customer=local[e_part.customer]),
            validate=False,
        )
        if end is not None:
            part = part.with_observation_end(end)
        parts.append(_windowed(part, lo, hi))
    return parts


def _windowed(ds: Dataset, lo: np.datetime64 | None, hi: np.datetime64 | None) -> Dataset:
    if lo is None and hi is None:
        return ds
    if lo is None:
        assert hi is not None
        return ds.until(hi - np.timedelta64(1, "us"))
    if hi is None:
        return ds.between(lo, np.datetime64("9999-12-31T00:00:00", "us"))
    return ds.between(lo, hi)


def partition(dataset: Dataset, npartitions: int) -> PartitionedDataset:
    """An in-memory dataset as a :class:`PartitionedDataset` of ``npartitions`` parts.

    The parts are cut here and travel inside the task graph: meant for tests, examples
    and data that fits one machine. Use :func:`from_parquet` or :func:`from_dask` for
    data that does not.
    """
    if not isinstance(dataset, Dataset):
        raise ValidationError(
            f"partition(dataset, ...) needs a custsuccess Dataset, got {type(dataset).__name__}"
        )
    token = uuid.uuid4().hex
    return PartitionedDataset(
        [
            delayed(part, name=f"custsuccess-partition-{token}-{i}", traverse=False)
            for i, part in enumerate(split(dataset, npartitions))
        ]
    )


#: Columns ``Dataset.to_columns`` gives only when the data has values for them.
_OPTIONAL_COLUMNS: Final = {
    "customers": ("owner", "parent_id"),
    "subscriptions": ("billing_interval", "renews_at", "auto_renew"),
}


def _missing_column(table: str, name: str, size: int) -> npt.NDArray[Any]:
    """``size`` missing values of an optional column (its default where it has one)."""
    if name == "renews_at":
        return np.full(size, np.datetime64("NaT", "us"))
    if name == "auto_renew":
        return np.ones(size, dtype=bool)
    if name == "billing_interval":
        return np.full(size, "month", dtype=object)
    return np.full(size, None, dtype=object)


def concat(parts: Sequence[Dataset]) -> Dataset:
    """One dataset holding every customer of ``parts`` (disjoint customer sets)."""
    if not parts:
        raise ValidationError("concat needs at least one dataset")
    exported = [ds.to_columns() for ds in parts]
    joined: dict[str, dict[str, Any]] = {}
    for table in TABLES:
        # optional columns (owner, parent_id, contract terms) appear only in the parts
        # that have values: the others get missing values of the right length
        names = list(dict.fromkeys(n for cols in exported for n in cols[table]))
        joined[table] = {}
        for name in names:
            pieces = []
            for cols in exported:
                size = len(next(iter(cols[table].values()))) if cols[table] else 0
                pieces.append(cols[table].get(name, _missing_column(table, name, size)))
            joined[table][name] = np.concatenate(pieces)
    whole = Dataset.from_columns(**joined)
    lo, hi = parts[0].window
    return _windowed(whole, lo, hi)


# --------------------------------------------------------------------------- from columns


def _frame_columns(frame: pd.DataFrame | None) -> dict[str, Any] | None:
    """A pandas partition as columns that ``Dataset.from_columns`` reads fast: columns of
    a pandas string dtype without missing values become unicode arrays (no per-row
    check needed); object columns go through the Dataset's checks."""
    if frame is None:
        return None
    out: dict[str, Any] = {}
    for name in frame.columns:
        if name == BUCKET_COLUMN:
            continue
        col = frame[name]
        dtype = str(col.dtype)
        if dtype.startswith(("string", "str")) and not bool(col.isna().any()):
            out[str(name)] = np.asarray(col, dtype=object).astype(str)
        elif col.dtype.kind in "iufb":
            out[str(name)] = np.asarray(col)
        else:  # object, datetimes (tz-aware ones are converted by the Dataset)
            out[str(name)] = col
    return out


def _arrow_columns(table: Any) -> dict[str, Any]:
    """An Arrow table as numpy columns: strings as unicode arrays (``""`` for null),
    timestamps as ``datetime64[us]`` UTC (NaT for null), numbers as they are."""
    import pyarrow as pa
    import pyarrow.compute as pc

    out: dict[str, Any] = {}
    for name in table.column_names:
        if name == BUCKET_COLUMN:
            continue
        col = table.column(name)
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            # null as "" (missing, for the Dataset), so every text column is a unicode
            # array and skips the per-row checks of object columns
            if col.null_count:
                col = pc.fill_null(col, "")
            # through a dictionary: Arrow finds the distinct strings, numpy picks them by
            # index, and no Python string object is made per row
            encoded = pc.dictionary_encode(col.combine_chunks())
            words = encoded.dictionary.to_numpy(zero_copy_only=False).astype(str)
            if not words.size:
                words = np.empty(0, dtype="U1")
            out[name] = words[encoded.indices.to_numpy(zero_copy_only=False)]
        elif pa.types.is_timestamp(col.type):
            out[name] = pc.cast(col, pa.timestamp("us")).to_numpy(zero_copy_only=False)
        elif pa.types.is_boolean(col.type):
            # a chunk written without the flag column (all at its default, True:
            # subscriptions.auto_renew) reads back as null
            out[name] = pc.fill_null(col, True).to_numpy(zero_copy_only=False)
        elif pa.types.is_dictionary(col.type):
            out[name] = col.cast(col.type.value_type).to_numpy(zero_copy_only=False)
        else:
            out[name] = col.to_numpy(zero_copy_only=False)
    return out


def _local_parents(customers: dict[str, Any]) -> dict[str, Any]:
    """Account hierarchies are kept within a partition: a parent in another partition
    becomes missing (roll-ups by parent are not distributed)."""
    if "parent_id" not in customers:
        return customers
    ids = np.asarray(customers["id"], dtype=object)
    parent = np.asarray(customers["parent_id"], dtype=object)
    here = np.isin(parent, ids)
    out = dict(customers)
    local = parent.copy()
    local[~here] = None
    out["parent_id"] = local
    return out


def build_partition(
    customers: pd.DataFrame,
    subscriptions: pd.DataFrame | None = None,
    events: pd.DataFrame | None = None,
) -> Dataset:
    """One partition's Dataset from its pandas frames (runs on a worker)."""
    c = _frame_columns(customers)
    assert c is not None
    return Dataset.from_columns(
        customers=_local_parents(c),
        subscriptions=_frame_columns(subscriptions),
        events=_frame_columns(events),
    )


def _with_bucket(frame: pd.DataFrame, id_column: str, npartitions: int) -> pd.DataFrame:
    out: pd.DataFrame = frame.copy()
    out[BUCKET_COLUMN] = bucket_of(np.asarray(frame[id_column], dtype=object), npartitions)
    return out


def _by_bucket(frame: dd.DataFrame, id_column: str, npartitions: int) -> dd.DataFrame:
    """``frame`` reshuffled so that partition ``i`` holds exactly the rows of bucket ``i``."""
    meta = frame._meta.assign(**{BUCKET_COLUMN: np.zeros(0, dtype=np.int64)})
    tagged = frame.map_partitions(  # type: ignore[no-untyped-call]
        _with_bucket, id_column, npartitions, meta=meta
    )
    # explicit divisions 0, 1, ..., n: partition i is the index range [i, i + 1)
    out: dd.DataFrame = tagged.set_index(
        BUCKET_COLUMN, divisions=list(range(npartitions + 1)), drop=False
    )
    return out


def from_dask(
    *,
    customers: dd.DataFrame,
    subscriptions: dd.DataFrame | None = None,
    events: dd.DataFrame | None = None,
    npartitions: int | None = None,
    partitioned: bool = False,
) -> PartitionedDataset:
    """A :class:`PartitionedDataset` from Dask DataFrames with the columns of
    :meth:`Dataset.from_columns`.

    By default the frames are shuffled by the hash of the customer id into
    ``npartitions`` partitions (default: the customers frame's partition count). Pass
    ``partitioned=True`` when partition ``i`` of every frame already holds the same
    customers (for example files written by :func:`write_parquet`): no shuffle then;
    a subscription or event whose customer is not in its partition is a
    ValidationError when the partition is built.
    """
    frames = {"customers": customers, "subscriptions": subscriptions, "events": events}
    present = {k: v for k, v in frames.items() if v is not None}
    for name, frame in present.items():
        if not hasattr(frame, "map_partitions") or not hasattr(frame, "to_delayed"):
            raise ValidationError(f"{name} must be a dask DataFrame, got {type(frame).__name__}")
        column = _ID_COLUMN[name]
        if column not in frame.columns:
            raise ValidationError(
                f"{name}: missing required column {column!r}; got columns {list(frame.columns)}"
            )
    if partitioned:
        counts = {k: v.npartitions for k, v in present.items()}
        if len(set(counts.values())) > 1:
            raise ValidationError(
                f"partitioned=True needs the same number of partitions in every frame, "
                f"got {counts}"
            )
        n = customers.npartitions
    else:
        n = _check_npartitions(customers.npartitions if npartitions is None else npartitions)
        present = {k: _by_bucket(v, _ID_COLUMN[k], n) for k, v in present.items()}
    pieces = {
        k: v.to_delayed(optimize_graph=True)  # type: ignore[no-untyped-call]
        for k, v in present.items()
    }
    build = delayed(build_partition, pure=True)
    parts = [
        build(
            pieces["customers"][i],
            pieces["subscriptions"][i] if "subscriptions" in pieces else None,
            pieces["events"][i] if "events" in pieces else None,
        )
        for i in range(n)
    ]
    return PartitionedDataset(parts)


# --------------------------------------------------------------------------- Parquet


def _rename(
    mapping: Mapping[str, Mapping[str, str]] | None, table: str
) -> Mapping[str, str]:
    if mapping is None:
        return {}
    columns = mapping.get(table, {})
    if not isinstance(columns, Mapping):
        raise ValidationError(
            f"mapping[{table!r}] must map custsuccess column names to source column names, "
            f"got {columns!r}"
        )
    return columns


def _read_bucket(
    url: str, table: str, bucket: int, rename: Mapping[str, str]
) -> dict[str, Any] | None:
    """Bucket ``bucket`` of ``table`` as numpy columns (runs on a worker)."""
    import pyarrow.parquet as pq
    from fsspec.core import url_to_fs

    fs, root = url_to_fs(url)
    base = f"{root.rstrip('/')}/{table}"
    folder = f"{base}/{BUCKET_COLUMN}={bucket}"
    if fs.exists(folder):
        # chunks may leave out optional columns (written only when not at their
        # default): read every file under the union of their schemas
        import pyarrow as pa

        files = sorted(fs.glob(f"{folder}/*.parquet"))
        schema = pa.unify_schemas([pq.read_schema(f, filesystem=fs) for f in files])
        data = pq.read_table(folder, filesystem=fs, schema=schema)
    elif fs.exists(base):  # no rows of this table in this bucket
        data = pq.ParquetDataset(base, filesystem=fs).schema.empty_table()
    else:
        return None
    return _renamed(_arrow_columns(data), rename)


def _renamed(columns: dict[str, Any], rename: Mapping[str, str]) -> dict[str, Any]:
    if not rename:
        return columns
    missing = [src for src in rename.values() if src not in columns]
    if missing:
        raise ValidationError(
            f"mapping names source column(s) {missing} that are not in the data; "
            f"got columns {sorted(columns)}"
        )
    back = {src: ours for ours, src in rename.items()}
    return {back.get(name, name): col for name, col in columns.items()}


def _build_bucket(
    url: str, bucket: int, mapping: Mapping[str, Mapping[str, str]] | None
) -> Dataset:
    frames = {t: _read_bucket(url, t, bucket, _rename(mapping, t)) for t in TABLES}
    customers = frames["customers"]
    if customers is None:
        raise ValidationError(f"{url}: no customers table (expected {url}/customers/)")
    return Dataset.from_columns(
        customers=_local_parents(customers),
        subscriptions=frames["subscriptions"],
        events=frames["events"],
    )


def _bucket_count(url: str) -> int | None:
    from fsspec.core import url_to_fs

    fs, root = url_to_fs(url)
    folder = f"{root.rstrip('/')}/customers"
    if not fs.exists(folder):
        raise ValidationError(f"{url}: no customers table (expected {url}/customers/)")
    marker = f"{root.rstrip('/')}/_custsuccess_partitions"
    if fs.exists(marker):
        with fs.open(marker, "rb") as f:
            return int(f.read().decode().strip())
    return None


def from_parquet(
    url: str,
    *,
    mapping: Mapping[str, Mapping[str, str]] | None = None,
    npartitions: int | None = None,
) -> PartitionedDataset:
    """A :class:`PartitionedDataset` from Parquet tables under ``url``.

    ``url`` is a local folder or any fsspec URL (``s3://bucket/path``, ``gs://...``)
    holding ``customers/``, ``subscriptions/`` and ``events/`` (Parquet files or
    folders of them). ``mapping`` renames columns per table:
    ``{"events": {"occurred_at": "ts", "customer_id": "account"}}`` (custsuccess name ->
    source name).

    Data written by :func:`write_parquet` is already split by the customer hash (a
    ``cs_bucket=i`` folder per partition): each worker reads its own folders and builds
    its Dataset from the column batches, with no shuffle. Other Parquet data is read
    with ``dask.dataframe.read_parquet`` and shuffled by the hash (:func:`from_dask`).
    """
    buckets = _bucket_count(url)
    if buckets is not None:
        if npartitions is not None and npartitions != buckets:
            raise ValidationError(
                f"{url} is written in {buckets} partitions; npartitions={npartitions} "
                "would need a shuffle: leave npartitions out"
            )
        build = delayed(_build_bucket, pure=True)
        return PartitionedDataset([build(url, i, mapping) for i in range(buckets)])
    import dask.dataframe as dd
    from fsspec.core import url_to_fs

    fs, root = url_to_fs(url)
    frames: dict[str, Any] = {}
    for table in TABLES:
        path = f"{url.rstrip('/')}/{table}"
        if not fs.exists(f"{root.rstrip('/')}/{table}"):
            continue
        frame = dd.read_parquet(path)
        rename = _rename(mapping, table)
        if rename:
            frame = frame.rename(columns={src: ours for ours, src in rename.items()})
        frames[table] = frame
    if "customers" not in frames:
        raise ValidationError(f"{url}: no customers table (expected {url}/customers/)")
    return from_dask(npartitions=npartitions, **frames)


def _arrow_table(columns: Mapping[str, npt.NDArray[Any]]) -> Any:
    """Columns as an Arrow table with fixed types, so every chunk has one schema."""
    import pyarrow as pa

    arrays = {}
    for name, col in columns.items():
        if col.dtype.kind == "M":
            ticks = col.astype("datetime64[us]").astype(np.int64)
            arrays[name] = pa.array(ticks, mask=np.isnat(col), type=pa.timestamp("us", tz="UTC"))
        elif col.dtype.kind in "OU":
            arrays[name] = pa.array(col.astype(object), type=pa.string())
        else:
            arrays[name] = pa.array(col)
    return pa.table(arrays)


def write_parquet(
    chunks: Iterable[Dataset] | Dataset, url: str, npartitions: int
) -> None:
    """Write datasets as Parquet under ``url``, split by the customer hash.

    ``chunks`` is a Dataset or an iterable of them with disjoint customers (for
    example a generator producing one slice of a population at a time): each chunk is
    split and appended as ``<table>/cs_bucket=<i>/chunk-<k>.parquet``, so nothing larger
    than a chunk is ever held in memory. :func:`from_parquet` reads it back with one
    partition per bucket.
    """
    import pyarrow.parquet as pq
    from fsspec.core import url_to_fs

    n = _check_npartitions(npartitions)
    fs, root = url_to_fs(url)
    root = root.rstrip("/")
    marker = f"{root}/_custsuccess_partitions"
    if fs.exists(marker):
        with fs.open(marker, "rb") as f:
            existing = int(f.read().decode().strip())
        if existing != n:
            raise ValidationError(
                f"{url} already holds data written in {existing} partitions, not {n}"
            )
    fs.makedirs(root, exist_ok=True)
    items = [chunks] if isinstance(chunks, Dataset) else chunks
    for k, ds in enumerate(items):
        tag = uuid.uuid4().hex[:12]
        for i, part in enumerate(split(ds, n)):
            columns = part.to_columns()
            for table, optional in _OPTIONAL_COLUMNS.items():
                # the same columns in every chunk, whether or not it has values for them
                size = len(next(iter(columns[table].values()))) if columns[table] else 0
                for name in optional:
                    if name not in columns[table]:
                        columns[table][name] = _missing_column(table, name, size)
            for table in TABLES:
                folder = f"{root}/{table}/{BUCKET_COLUMN}={i}"
                fs.makedirs(folder, exist_ok=True)
                with fs.open(f"{folder}/chunk-{k:05d}-{tag}.parquet", "wb") as f:
                    pq.write_table(_arrow_table(columns[table]), f)
    with fs.open(marker, "wb") as f:
        f.write(str(n).encode())
