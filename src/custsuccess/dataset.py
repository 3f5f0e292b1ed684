"""The columnar :class:`Dataset` that every rule, metric and model reads.

A Dataset holds three tables of numpy arrays:

* :class:`CustomerTable`: one row per customer, sorted by customer id; a customer's
  position in it is its *customer index*, the key every other table uses.
* :class:`SubscriptionTable`: sorted by (customer index, start, id), with per-customer
  offsets.
* :class:`EventTable`: sorted by (customer index, time), with per-customer offsets; the
  event kind is a small-integer code into a vocabulary whose first entries are the
  built-in :class:`~custsuccess.models.EventKind` values in declaration order, so a
  built-in kind has the same code in every dataset.

All timestamps are ``datetime64[us]`` in UTC. Text columns that repeat (plan, segment,
currency, event properties) are :class:`Categorical`: integer codes into sorted categories,
``-1`` meaning missing.

A Dataset is built once (:meth:`Dataset.from_records`, :meth:`Dataset.from_columns`) and
then only read. :meth:`Dataset.until`, :meth:`Dataset.between` and :meth:`Dataset.customer`
return views sharing the same arrays: a time window is applied when a table is read.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Final

import attrs
import numpy as np
import numpy.typing as npt

from custsuccess._readonly import readonly, readonly_field, readonly_mapping
from custsuccess.errors import ValidationError
from custsuccess.models import (
    Customer,
    Event,
    EventKind,
    Subscription,
    event_value_problem,
)

if TYPE_CHECKING:
    from typing_extensions import Protocol

    from custsuccess.io.quality import DataQuality

    class ColumnSource(Protocol):
        """A mapping of column name to array-like: a dict, or a pandas DataFrame."""

        def keys(self) -> Iterable[str]: ...
        def __getitem__(self, key: str, /) -> Any: ...

else:
    ColumnSource = Any

__all__ = [
    "BUILTIN_KINDS",
    "Categorical",
    "CustomerTable",
    "Dataset",
    "EventTable",
    "SubscriptionTable",
    "require_dataset",
    "to_datetime64",
]

DT64: Final = "datetime64[us]"
NAT: Final = np.datetime64("NaT", "us")
ONE_US: Final = np.timedelta64(1, "us")
#: The built-in kinds, in the order that fixes their codes in every dataset.
BUILTIN_KINDS: Final[tuple[str, ...]] = tuple(k.value for k in EventKind)
_EXAMPLES: Final = 3  # how many offenders an error message lists
#: Event tables up to this size index every kind at once (one sort); bigger ones index
#: each kind when first asked for (one pass each, only over the kinds used).
_INDEX_ALL_KINDS_UP_TO: Final = 1 << 16

IntArray = npt.NDArray[np.int64]
I32Array = npt.NDArray[np.int32]
FloatArray = npt.NDArray[np.float64]
TimeArray = npt.NDArray[np.datetime64]
StrArray = npt.NDArray[np.str_]
ObjArray = npt.NDArray[np.object_]


# --------------------------------------------------------------------------- helpers


#: the moments the library accepts: Python's datetime range (years 1 to 9999), which every
#: calendar computation (periods, time zones, labels) relies on
EARLIEST: Final = np.datetime64("0001-01-01T00:00:00", "us")
LATEST: Final = np.datetime64("9999-12-31T23:59:59.999999", "us")


def as_microseconds(values: Any, field: str) -> TimeArray:
    """``datetime64`` values (any unit) as ``datetime64[us]``, refusing out-of-range dates.

    numpy converts a coarser unit to microseconds by integer multiplication, which wraps
    around silently beyond about +-290,000 years (``np.datetime64("300000-01-01")``
    becomes year -284555). Moments outside years 1 to 9999 (Python's ``datetime`` range,
    which calendar periods need) raise a :class:`ValidationError` naming the field, the
    position and the value. Finer units only lose digits (truncated to the microsecond).
    """
    arr = np.asarray(values)
    out: TimeArray = arr.astype(DT64)
    bad = ~np.isnat(out) & ((out < EARLIEST) | (out > LATEST))
    unit, _ = np.datetime_data(arr.dtype)
    if unit in ("Y", "M", "W", "D", "h", "m", "s", "ms", "generic"):
        bad |= (out.astype(arr.dtype) != arr) & ~np.isnat(arr)  # wrapped around
    if np.any(bad):
        i = int(np.flatnonzero(np.atleast_1d(bad))[0])
        where = f" at position {i}" if arr.ndim else ""
        raise ValidationError(
            f"{field} must be a moment in years 1 to 9999, got {np.atleast_1d(arr)[i]}{where}"
        )
    return out


def to_datetime64(value: datetime | np.datetime64 | str, field: str = "as_of") -> np.datetime64:
    """One moment as ``datetime64[us]`` UTC.

    Accepts a timezone-aware datetime, an ISO 8601 string with an offset, or a
    ``numpy.datetime64`` (which carries no zone and is read as UTC).

    >>> to_datetime64("2024-03-01T12:00:00+01:00")
    np.datetime64('2024-03-01T11:00:00.000000')
    """
    if isinstance(value, np.datetime64):
        if np.isnat(value):
            raise ValidationError(f"{field} must be a moment, got NaT")
        converted: np.datetime64 = as_microseconds(value, field)[()]  # type: ignore[assignment]
        return converted
    if isinstance(value, str):
        value = _parse_iso(value, field)
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValidationError(
                f"{field} must be timezone-aware (naive datetimes are ambiguous), got {value!r}"
            )
        naive = value.astimezone(timezone.utc).replace(tzinfo=None)
        return np.datetime64(naive, "us")
    raise ValidationError(f"{field} must be a timezone-aware datetime, got {value!r}")


def require_dataset(value: object, param: str = "dataset", where: str | None = None) -> Dataset:
    """``value`` when it is a :class:`Dataset`; else a ValidationError that says what to
    pass instead. The one boundary check of every function that reads a dataset.

    >>> require_dataset({"id": ["a"]}, where="records()")
    Traceback (most recent call last):
    custsuccess.errors.ValidationError: records(): dataset must be a custsuccess Dataset, got a
    dict; build one with Dataset.from_columns(customers=..., subscriptions=..., events=...)
    """
    if isinstance(value, Dataset):
        return value
    kind = type(value)
    module = kind.__module__.split(".")[0]
    if value is None:
        got = "None"
    elif module == "pandas" and kind.__name__ == "DataFrame":
        got = "a pandas DataFrame"
    else:
        article = "an" if kind.__name__[:1].lower() in "aeiou" else "a"
        got = f"{article} {kind.__name__}"
    if module == "pandas" or isinstance(value, Mapping):
        hint = (
            "build one with Dataset.from_columns(customers=..., subscriptions=..., "
            "events=...)"
        )
        if module == "pandas":
            hint += " (each a DataFrame or a dict of columns)"
    elif isinstance(value, (list, tuple)):
        hint = "build one with Dataset.from_records(customers, subscriptions, events)"
    else:
        hint = (
            "build one with Dataset.from_columns(...) or Dataset.from_records(...)"
        )
    if _has_io():
        hint += ", or read files with custsuccess.io.read_dataset(...)"
    label = f"{where}: " if where else ""
    raise ValidationError(f"{label}{param} must be a custsuccess Dataset, got {got}; {hint}")


def _has_io() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("custsuccess.io") is not None
    except (ImportError, ValueError):  # pragma: no cover
        return False


def _parse_iso(text: str, field: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(f"{field} is not an ISO 8601 date-time: {text!r}") from None
    if parsed.tzinfo is None:
        raise ValidationError(
            f"{field} must carry a UTC offset (naive times are ambiguous), got {text!r}"
        )
    return parsed


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    if isinstance(value, np.datetime64) and np.isnat(value):
        return True
    # pandas.NA / pandas.NaT without importing pandas
    return type(value).__name__ in {"NAType", "NaTType"}


def _time_column(column: Any, field: str, *, allow_missing: bool) -> TimeArray:
    """A column of moments as ``datetime64[us]``; tz-aware pandas columns are converted."""
    dt = getattr(column, "dt", None)
    if dt is not None and getattr(dt, "tz", None) is not None:
        column = dt.tz_convert("UTC").dt.tz_localize(None)
    arr = np.asarray(column)
    if arr.dtype.kind == "M":
        out = as_microseconds(arr, field)
    elif arr.dtype.kind in "OU" or arr.size == 0:
        out = np.empty(arr.shape, dtype=DT64)
        for i, item in enumerate(arr.tolist()):
            if _is_missing(item):
                out[i] = NAT
            else:
                out[i] = to_datetime64(item, f"{field} row {i}")
    else:
        raise ValidationError(
            f"{field} must hold timezone-aware datetimes or datetime64 values, "
            f"got an array of dtype {arr.dtype}"
        )
    if out.ndim != 1:
        raise ValidationError(f"{field} must be one-dimensional, got shape {out.shape}")
    if not allow_missing:
        bad = np.flatnonzero(np.isnat(out))
        if bad.size:
            raise ValidationError(f"{field} is missing at row {int(bad[0])}")
    return out


def _string_column(column: Any, field: str, *, allow_missing: bool) -> StrArray:
    """A column of strings as a fixed-width unicode array, ``""`` where missing.

    Unicode arrays pass through as they are; anything else is factorised first (see
    :func:`_factorize`), so a number is never quietly turned into text and no Python code
    runs per row.
    """
    if isinstance(column, np.ndarray) and column.dtype.kind == "U":
        arr = column
        if arr.ndim != 1:
            raise ValidationError(f"{field} must be one-dimensional, got shape {arr.shape}")
    else:
        codes, uniques = _factorize(column, field)
        arr = np.append(uniques, np.array([""], dtype=uniques.dtype))[codes]
    if not allow_missing:
        empty = np.flatnonzero(np.char.str_len(arr) == 0) if arr.size else arr
        if empty.size:
            i = int(empty[0])
            got = _py(_item(column, i))
            raise ValidationError(f"{field} must be a non-empty string, got {got!r} at row {i}")
    return arr


def _item(column: Any, i: int) -> Any:
    """Row ``i`` of any column we accept (numpy, pandas, Arrow, list), for messages."""
    if hasattr(column, "iloc"):
        return column.iloc[i]
    value = column[i]
    as_py = getattr(value, "as_py", None)  # an Arrow scalar
    return as_py() if as_py is not None else value


def _arrow_module() -> Any:
    """pyarrow when it is installed (the fast path for text columns), else None."""
    try:
        import pyarrow
    except ImportError:
        return None
    return pyarrow


def _is_arrow(column: Any) -> bool:
    return type(column).__module__.startswith("pyarrow")


def _factorize(column: Any, field: str) -> tuple[I32Array, StrArray]:
    """``(codes, uniques)`` of a text column: ``uniques`` sorted and distinct, ``codes``
    indexes into them with ``-1`` where a value is missing (None, NaN, NA or ``""``).

    Arrow arrays, pandas columns, object arrays and lists are dictionary-encoded by
    pyarrow when it is installed, else by whole-array numpy operations; either way only
    the distinct values are ever Python objects. Anything but text is a ValidationError
    naming the first offending row.
    """
    if isinstance(column, np.ndarray) and column.dtype.kind == "U":
        if column.ndim != 1:
            raise ValidationError(f"{field} must be one-dimensional, got shape {column.shape}")
        return _factorize_unicode(column)
    pa = _arrow_module()
    if (pa is not None and not isinstance(column, (list, tuple))) or _is_arrow(column):
        factorized = _factorize_arrow(pa, column, field)
        if factorized is not None:
            return factorized
    return _factorize_objects(column, field)


def _factorize_unicode(text: StrArray) -> tuple[I32Array, StrArray]:
    uniques, inverse = np.unique(text, return_inverse=True)
    codes = inverse.astype(np.int32).reshape(text.shape)
    if uniques.size and uniques[0] == "":  # "" sorts first: it is the missing value
        codes -= 1
        uniques = uniques[1:]
    return codes, uniques


def _sorted_codes(indices: I32Array, dictionary: StrArray) -> tuple[I32Array, StrArray]:
    """Re-point ``indices`` (``-1`` missing) at the sorted ``dictionary`` without ``""``."""
    order = np.argsort(dictionary, kind="stable")
    uniques = dictionary[order]
    rank = np.empty(dictionary.size + 1, dtype=np.int32)
    rank[order] = np.arange(dictionary.size, dtype=np.int32)
    rank[-1] = -1  # index -1 (missing) stays missing
    if uniques.size and uniques[0] == "":
        rank -= (rank >= 0).astype(np.int32)
        rank[order[0]] = -1
        uniques = uniques[1:]
    return rank[indices], uniques


def _factorize_arrow(pa: Any, column: Any, field: str) -> tuple[I32Array, StrArray] | None:
    """Dictionary-encode with pyarrow; None when pyarrow cannot read the column as text
    (mixed types), so the numpy path names the offending row."""
    import pyarrow.compute as pc

    try:
        if _is_arrow(column):
            arr = column
        elif hasattr(column, "dtype") and hasattr(column, "iloc"):  # pandas
            arr = pa.array(column, from_pandas=True)
        else:
            arr = pa.array(np.asarray(column), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    if not isinstance(arr, pa.ChunkedArray):
        arr = pa.chunked_array([arr], type=arr.type)
    if pa.types.is_dictionary(arr.type) and not _is_text(pa, arr.type.value_type):
        arr = arr.cast(arr.type.value_type)
    if not pa.types.is_dictionary(arr.type):
        if len(arr) and not _is_text(pa, arr.type) and not pa.types.is_null(arr.type):
            valid = np.flatnonzero(np.asarray(pc.is_valid(arr)))
            if valid.size:
                i = int(valid[0])
                raise ValidationError(
                    f"{field} must hold strings, got {arr[i].as_py()!r} at row {i}"
                )
        arr = arr.cast(pa.string())
    if arr.num_chunks == 0:
        return np.empty(0, dtype=np.int32), np.empty(0, dtype="U1")
    # Distinct values by one hash pass, then each row's (or each dictionary entry's)
    # position among them: cheaper than unifying per-chunk dictionaries.
    if pa.types.is_dictionary(arr.type):
        values = pc.drop_null(pc.unique(pa.chunked_array([c.dictionary for c in arr.chunks])))
        parts = []
        for chunk in arr.chunks:
            where = pc.fill_null(pc.index_in(chunk.dictionary, value_set=values), -1)
            remap = np.append(np.asarray(where.to_numpy(zero_copy_only=False)), -1)
            rows = np.asarray(chunk.indices.fill_null(-1).to_numpy(zero_copy_only=False))
            parts.append(remap[rows])
        indices = np.concatenate(parts).astype(np.int32, copy=False)
    else:
        values = pc.drop_null(pc.unique(arr))
        where = pc.fill_null(pc.index_in(arr, value_set=values), -1)
        indices = np.asarray(where.to_numpy(), dtype=np.int32)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    names = values.to_numpy(zero_copy_only=False)
    dictionary = names.astype(str) if names.size else np.empty(0, dtype="U1")
    return _sorted_codes(indices, dictionary)


def _is_text(pa: Any, arrow_type: Any) -> bool:
    return bool(pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type)) or (
        getattr(pa.types, "is_string_view", lambda _: False)(arrow_type)
    )


def _factorize_objects(column: Any, field: str) -> tuple[I32Array, StrArray]:
    """The numpy fallback of :func:`_factorize`: whole-array comparisons, no row loop."""
    isna = getattr(column, "isna", None)
    obj = np.asarray(column, dtype=object)
    if obj.ndim != 1:
        raise ValidationError(f"{field} must be one-dimensional, got shape {obj.shape}")
    if isna is not None:
        missing = np.asarray(isna(), dtype=bool)
    else:
        try:
            missing = np.asarray((obj == None) | (obj != obj), dtype=bool)  # noqa: E711 (NaN != NaN)
        except TypeError:  # an element whose comparison is ambiguous (pandas.NA)
            missing = np.array([_is_missing(v) for v in obj.tolist()], dtype=bool)
    present = obj[~missing]
    text = present.astype(str) if present.size else np.empty(0, dtype="U1")
    # str(3) == "3" but "3" != 3: anything that is not already text fails the round trip
    same = np.asarray(text.astype(object) == present, dtype=bool)
    if not same.all():
        i = int(np.flatnonzero(~missing)[np.flatnonzero(~same)[0]])
        raise ValidationError(f"{field} must hold strings, got {_py(obj[i])!r} at row {i}")
    codes = np.full(obj.shape, -1, dtype=np.int32)
    present_codes, uniques = _factorize_unicode(text)
    codes[~missing] = present_codes
    return codes, uniques


def _optional_text(values: StrArray) -> ObjArray:
    """Text with ``""`` for missing as an object array with None for missing."""
    out = values.astype(object)
    out[values == ""] = None
    return out


def _float_column(column: Any, field: str) -> FloatArray:
    isna = getattr(column, "isna", None)
    arr = np.asarray(column)
    if arr.dtype.kind == "c":  # astype(float) would drop the imaginary part silently
        raise ValidationError(f"{field} must hold real numbers, got complex values")
    if arr.dtype.kind == "O":
        arr = arr.copy()
        try:
            missing = (
                np.asarray(isna(), dtype=bool)
                if isna is not None
                else np.asarray((arr == None) | (arr != arr), dtype=bool)  # noqa: E711
            )
        except TypeError:  # pandas.NA in a plain object array
            missing = np.array([_is_missing(v) for v in arr.tolist()], dtype=bool)
        arr[missing] = np.nan
    try:
        out = arr.astype(np.float64)
    except (TypeError, ValueError):
        raise ValidationError(f"{field} must hold numbers, got dtype {arr.dtype}") from None
    if out.ndim != 1:
        raise ValidationError(f"{field} must be one-dimensional, got shape {out.shape}")
    return out


def _first_rows(rows: npt.NDArray[Any], labels: Any) -> str:
    shown = ", ".join(f"row {int(r)}: {_py(labels[int(r)])!r}" for r in rows[:_EXAMPLES])
    more = f" (and {rows.size - _EXAMPLES} more)" if rows.size > _EXAMPLES else ""
    return shown + more


def _check_lengths(table: str, columns: Mapping[str, npt.NDArray[Any]]) -> int:
    lengths = {name: len(col) for name, col in columns.items()}
    if len(set(lengths.values())) > 1:
        raise ValidationError(f"{table}: columns have different lengths: {lengths}")
    return next(iter(lengths.values()), 0)


def _read_columns(
    source: ColumnSource | None, table: str, required: Sequence[str]
) -> dict[str, Any]:
    if source is None:
        if required:
            return {name: np.empty(0, dtype=object) for name in required}
        return {}
    names = [str(k) for k in source.keys()]  # noqa: SIM118 (DataFrames too)
    missing = [name for name in required if name not in names]
    if missing:
        raise ValidationError(f"{table}: missing required column(s) {missing}; got columns {names}")
    return {name: source[name] for name in names}


def _offsets(codes: npt.NDArray[np.integer[Any]], n: int) -> IntArray:
    """Start offsets of each group in codes sorted ascending, plus the total at the end."""
    return np.searchsorted(codes, np.arange(n + 1), side="left").astype(np.int64)


# --------------------------------------------------------------------------- tables


@attrs.frozen(slots=True, eq=False)
class Categorical:
    """Integer codes into sorted ``categories``; code ``-1`` means missing.

    >>> c = Categorical.encode(["pro", None, "basic", "pro"], "plan")
    >>> c.categories, c.codes.tolist()
    (('basic', 'pro'), [1, -1, 0, 1])
    >>> c.decode().tolist()
    ['pro', None, 'basic', 'pro']
    """

    codes: I32Array = attrs.field(converter=readonly_field)
    categories: tuple[str, ...]

    @classmethod
    def encode(cls, values: Any, field: str = "values") -> Categorical:
        """Encode strings (None, NaN or '' for missing); categories come out sorted."""
        codes, uniques = _factorize(values, field)
        return cls(codes, tuple(uniques.tolist()))

    @classmethod
    def missing(cls, n: int) -> Categorical:
        """A column of ``n`` missing values."""
        return cls(np.full(n, -1, dtype=np.int32), ())

    def __len__(self) -> int:
        return len(self.codes)

    def code_of(self, value: str) -> int:
        """The code of ``value``, or -1 when it does not occur."""
        i = (
            int(np.searchsorted(np.asarray(self.categories, dtype=str), value))
            if self.categories
            else 0
        )
        return i if i < len(self.categories) and self.categories[i] == value else -1

    def decode(self) -> ObjArray:
        """The values as an object array, None where missing."""
        table = np.array([*self.categories, None], dtype=object)
        return table[self.codes]  # -1 picks the trailing None

    def take(self, index: Any) -> Categorical:
        """The rows at ``index`` (an integer array, a slice or a boolean mask)."""
        return Categorical(self.codes[index], self.categories)

    def equals(self, other: Categorical) -> bool:
        """Same values row by row (categories and codes)."""
        return self.categories == other.categories and np.array_equal(self.codes, other.codes)


@attrs.frozen(slots=True, eq=False)
class CustomerTable:
    """One row per customer, sorted by ``ids``. Every array is read-only."""

    ids: StrArray = attrs.field(converter=readonly_field)
    created_at: TimeArray = attrs.field(converter=readonly_field)
    name: ObjArray = attrs.field(converter=readonly_field)
    segment: Categorical
    plan: Categorical
    attributes: Mapping[str, npt.NDArray[Any]] = attrs.field(
        factory=dict, converter=readonly_mapping
    )
    #: The account's success manager (all missing when the data names none).
    owner: Categorical = attrs.field(
        default=attrs.Factory(lambda self: Categorical.missing(len(self.ids)), takes_self=True)
    )
    #: Customer index of the parent account, -1 for a top-level account or a parent
    #: outside this table. The parent links of a built dataset form a forest (no cycles).
    parent: I32Array = attrs.field(
        default=attrs.Factory(
            lambda self: np.full(len(self.ids), -1, dtype=np.int32), takes_self=True
        ),
        converter=readonly_field,
    )
    #: The parent ids as given, kept even when the parent is not in this table (a
    #: partition of a larger book, a slice): exports and concatenations keep every link.
    parent_id: Categorical = attrs.field(
        default=attrs.Factory(
            lambda self: _parent_text(self.ids, self.parent), takes_self=True
        )
    )

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, index: Any) -> CustomerTable:
        """The rows at ``index``; a parent outside them becomes -1 (not in the table)."""
        parent = self.parent[index]
        if (parent >= 0).any():
            kept = np.arange(len(self.ids), dtype=np.int64)[index]
            position = np.full(len(self.ids), -1, dtype=np.int32)
            position[kept] = np.arange(kept.size, dtype=np.int32)
            parent = np.where(parent >= 0, position[np.maximum(parent, 0)], -1).astype(np.int32)
        return CustomerTable(
            self.ids[index],
            self.created_at[index],
            self.name[index],
            self.segment.take(index),
            self.plan.take(index),
            {k: v[index] for k, v in self.attributes.items()},
            self.owner.take(index),
            parent,
            self.parent_id.take(index),
        )


def _parent_text(ids: StrArray, parent: I32Array) -> Categorical:
    """Parent ids from parent indexes (-1: none)."""
    if not (parent >= 0).any():
        return Categorical.missing(len(ids))
    return Categorical.encode(np.where(parent >= 0, ids[np.maximum(parent, 0)], ""), "parent")


@attrs.frozen(slots=True, eq=False)
class SubscriptionTable:
    """Subscriptions sorted by (customer index, start, id). ``ended_at`` is NaT while active.
    Every array is read-only."""

    ids: StrArray = attrs.field(converter=readonly_field)
    customer: I32Array = attrs.field(converter=readonly_field)
    plan: Categorical
    mrr: FloatArray = attrs.field(converter=readonly_field)
    currency: Categorical
    started_at: TimeArray = attrs.field(converter=readonly_field)
    ended_at: TimeArray = attrs.field(converter=readonly_field)
    cancel_reason: Categorical
    n_customers: int
    #: Months per billing interval (1 month, 3 quarter, 12 year); ``mrr`` is monthly.
    interval_months: npt.NDArray[np.int8] = attrs.field(
        default=attrs.Factory(lambda self: np.ones(len(self.ids), dtype=np.int8), takes_self=True),
        converter=readonly_field,
    )
    #: End of the current term (NaT when the data gives none).
    renews_at: TimeArray = attrs.field(
        default=attrs.Factory(lambda self: np.full(len(self.ids), NAT), takes_self=True),
        converter=readonly_field,
    )
    #: Whether the contract renews by itself at ``renews_at``.
    auto_renew: npt.NDArray[np.bool_] = attrs.field(
        default=attrs.Factory(lambda self: np.ones(len(self.ids), dtype=bool), takes_self=True),
        converter=readonly_field,
    )

    def __len__(self) -> int:
        return len(self.ids)

    def offsets(self) -> IntArray:
        """``offsets[c]:offsets[c + 1]`` are customer ``c``'s rows."""
        return _offsets(self.customer, self.n_customers)

    def take(
        self, index: Any, *, customer_shift: int = 0, n_customers: int | None = None
    ) -> SubscriptionTable:
        customer = self.customer[index]
        if customer_shift:
            customer = customer - np.int32(customer_shift)
        return SubscriptionTable(
            self.ids[index],
            customer,
            self.plan.take(index),
            self.mrr[index],
            self.currency.take(index),
            self.started_at[index],
            self.ended_at[index],
            self.cancel_reason.take(index),
            self.n_customers if n_customers is None else n_customers,
            self.interval_months[index],
            self.renews_at[index],
            self.auto_renew[index],
        )

    def active_at(self, at: np.datetime64) -> npt.NDArray[np.bool_]:
        """Mask of subscriptions running at ``at``: ``started_at <= at < ended_at``."""
        return (self.started_at <= at) & (np.isnat(self.ended_at) | (self.ended_at > at))


@attrs.frozen(slots=True, eq=False)
class EventTable:
    """Events sorted by (customer index, time).

    ``kind`` is a code into ``kinds``; ``value`` is NaN where an event has none; each
    property is a :class:`Categorical` aligned with the events. Every array is read-only.
    """

    customer: I32Array = attrs.field(converter=readonly_field)
    kind: npt.NDArray[np.int16] = attrs.field(converter=readonly_field)
    time: TimeArray = attrs.field(converter=readonly_field)
    value: FloatArray = attrs.field(converter=readonly_field)
    properties: Mapping[str, Categorical] = attrs.field(converter=readonly_mapping)
    kinds: tuple[str, ...]
    n_customers: int

    def __len__(self) -> int:
        return len(self.time)

    def kind_code(self, kind: EventKind | str) -> int:
        """The code of ``kind`` in this table's vocabulary, or -1 when it never occurs."""
        name = kind.value if isinstance(kind, EventKind) else kind
        try:
            return self.kinds.index(name)
        except ValueError:
            return -1

    def property(self, name: str) -> Categorical:
        """The property column ``name`` (all missing when no event has it)."""
        column = self.properties.get(name)
        return column if column is not None else Categorical.missing(len(self))

    def offsets(self) -> IntArray:
        """``offsets[c]:offsets[c + 1]`` are customer ``c``'s events."""
        return _offsets(self.customer, self.n_customers)

    def counts(self) -> IntArray:
        """Events per customer."""
        return np.bincount(self.customer, minlength=self.n_customers).astype(np.int64)

    def take(
        self,
        index: Any,
        *,
        properties: Iterable[str] | None = None,
        customer_shift: int = 0,
        n_customers: int | None = None,
    ) -> EventTable:
        names = self.properties.keys() if properties is None else properties
        customer = self.customer[index]
        if customer_shift:
            customer = customer - np.int32(customer_shift)
        return EventTable(
            customer,
            self.kind[index],
            self.time[index],
            self.value[index],
            {n: self.properties[n].take(index) for n in names if n in self.properties},
            self.kinds,
            self.n_customers if n_customers is None else n_customers,
        )


# --------------------------------------------------------------------------- dataset


@attrs.define(slots=True, eq=False)
class _Shared:
    """State shared by a dataset and all its views: per-kind event indexes, built lazily."""

    kind_index: dict[int, npt.NDArray[np.intp]] = attrs.field(factory=dict)
    latest: list[np.datetime64 | None] = attrs.field(factory=list)  # [] until computed
    #: the reports of the sources it was read from (custsuccess.io.SourceReport)
    sources: tuple[Any, ...] = ()


class Dataset:
    """Customers, subscriptions and events as numpy columns; see the module docs.

    >>> from datetime import datetime, timedelta, timezone
    >>> from custsuccess import Customer, Event
    >>> t = datetime(2024, 1, 1, tzinfo=timezone.utc)
    >>> ds = Dataset.from_records(
    ...     [Customer("b", t), Customer("a", t)],
    ...     events=[Event("b", "login", t), Event("a", "login", t), Event("b", "login", t)],
    ... )
    >>> ds.customer_ids.tolist(), ds.events.counts().tolist()
    (['a', 'b'], [1, 2])
    """

    __slots__ = (
        "_customers", "_events", "_hi", "_lo", "_observed", "_shared", "_subscriptions",
    )

    def __init__(
        self,
        customers: CustomerTable,
        subscriptions: SubscriptionTable,
        events: EventTable,
        *,
        validate: bool = True,
    ) -> None:
        """Assemble a dataset from tables that are already encoded and sorted.

        Most callers want :meth:`from_records` or :meth:`from_columns`. With ``validate``
        (the default) the tables' structure and values are checked with whole-array
        operations: sort orders, code ranges, dates and event values.
        """
        self._customers = customers
        self._subscriptions = subscriptions
        self._events = events
        self._lo: np.datetime64 | None = None
        self._hi: np.datetime64 | None = None  # exclusive upper bound
        self._observed: np.datetime64 | None = None  # set by with_observation_end
        self._shared = _Shared()
        if validate:
            _validate_tables(customers, subscriptions, events)

    # ----------------------------------------------------------------- builders

    @classmethod
    def from_records(
        cls,
        customers: Iterable[Customer],
        subscriptions: Iterable[Subscription] = (),
        events: Iterable[Event] = (),
    ) -> Dataset:
        """Build from model objects. Gives the same dataset as :meth:`from_columns`."""
        cust = list(customers)
        subs = list(subscriptions)
        evs = list(events)
        for label, items, kind in (
            ("customers", cust, Customer),
            ("subscriptions", subs, Subscription),
            ("events", evs, Event),
        ):
            for i, item in enumerate(items):
                if not isinstance(item, kind):
                    raise ValidationError(
                        f"{label}[{i}] must be a {kind.__name__}, got {type(item).__name__}"
                    )
        # The records are validated already: build unicode and int64 columns directly so
        # from_columns takes its fast path (this is the single-account hot path).
        attribute_names = sorted({k for c in cust for k in c.attributes})
        customer_columns: dict[str, Any] = {
            "id": _text([c.id for c in cust]),
            "created_at": _micros([c.created_at for c in cust]),
            "name": _text([c.name or "" for c in cust]),
            "segment": _text([c.segment or "" for c in cust]),
            "plan": _text([c.plan or "" for c in cust]),
        }
        if any(c.owner is not None for c in cust):
            customer_columns["owner"] = _text([c.owner or "" for c in cust])
        if any(c.parent_id is not None for c in cust):
            customer_columns["parent_id"] = _text([c.parent_id or "" for c in cust])
        for key in attribute_names:
            customer_columns[key] = _attribute_list([c.attributes.get(key) for c in cust])
        subscription_columns: dict[str, Any] = {
            "id": _text([s.id for s in subs]),
            "customer_id": _text([s.customer_id for s in subs]),
            "plan": _text([s.plan for s in subs]),
            "mrr": np.array([s.mrr for s in subs], dtype=np.float64),
            "currency": _text([s.currency for s in subs]),
            "started_at": _micros([s.started_at for s in subs]),
            "ended_at": _micros([s.ended_at for s in subs]),
            "cancel_reason": _text([s.cancel_reason or "" for s in subs]),
        }
        if any(s.billing_interval != "month" for s in subs):
            subscription_columns["billing_interval"] = _text([s.billing_interval for s in subs])
        if any(s.renews_at is not None for s in subs):
            subscription_columns["renews_at"] = _micros([s.renews_at for s in subs])
        if not all(s.auto_renew for s in subs):
            subscription_columns["auto_renew"] = np.array([s.auto_renew for s in subs], dtype=bool)
        property_names = sorted({k for e in evs for k in e.properties})
        event_columns: dict[str, Any] = {
            "customer_id": _text([e.customer_id for e in evs]),
            "kind": _text([e.kind for e in evs]),
            "occurred_at": _micros([e.occurred_at for e in evs]),
            "value": np.array(
                [np.nan if e.value is None else e.value for e in evs], dtype=np.float64
            ),
        }
        for key in property_names:
            event_columns[key] = _text([e.properties.get(key, "") for e in evs])
        if any(e.user_id is not None for e in evs):
            event_columns["user_id"] = _text([e.user_id or "" for e in evs])
        return cls.from_columns(
            customers=customer_columns,
            subscriptions=subscription_columns,
            events=event_columns,
        )

    @classmethod
    def from_columns(
        cls,
        *,
        customers: ColumnSource,
        subscriptions: ColumnSource | None = None,
        events: ColumnSource | None = None,
    ) -> Dataset:
        """Build from mappings of column name to array-like (dicts, or pandas DataFrames).

        Columns:

        * ``customers``: ``id``, ``created_at`` required; ``name``, ``segment``, ``plan``,
          ``owner`` and ``parent_id`` (another customer's id; no cycles) optional; any
          other column is kept as a customer attribute.
        * ``subscriptions``: ``id``, ``customer_id``, ``plan``, ``mrr``, ``currency``,
          ``started_at`` required; ``ended_at`` (missing while active),
          ``cancel_reason``, ``billing_interval`` (month, quarter, year; default month),
          ``renews_at`` (term end, missing when unknown) and ``auto_renew`` (bool,
          default True) optional. ``mrr`` is monthly whatever the billing interval.
        * ``events``: ``customer_id``, ``kind``, ``occurred_at`` required; ``value``
          optional (NaN or None for none); any other column is a string property
          (``feature``, ``channel``, ``ticket``, ``user_id``, ...), missing as None, NaN
          or ''.

        Times are timezone-aware datetimes, ISO strings with an offset, or
        ``datetime64`` values read as UTC. Inputs are read, never modified.
        """
        ccols = _read_columns(customers, "customers", ("id", "created_at"))
        scols = _read_columns(
            subscriptions,
            "subscriptions",
            ("id", "customer_id", "plan", "mrr", "currency", "started_at"),
        )
        ecols = _read_columns(events, "events", ("customer_id", "kind", "occurred_at"))
        customer_table = _encode_customers(ccols)
        subscription_table = _encode_subscriptions(scols, customer_table)
        event_table = _encode_events(ecols, customer_table)
        return cls(customer_table, subscription_table, event_table, validate=False)

    # ----------------------------------------------------------------- reading

    @property
    def customers(self) -> CustomerTable:
        """The customer table (every customer, whatever the time window)."""
        return self._customers

    @property
    def customer_ids(self) -> StrArray:
        """Customer ids in index order (sorted)."""
        return self._customers.ids

    @property
    def n_customers(self) -> int:
        return len(self._customers)

    @property
    def kinds(self) -> tuple[str, ...]:
        """The event-kind vocabulary: built-in kinds first, then custom kinds sorted."""
        return self._events.kinds

    @property
    def window(self) -> tuple[np.datetime64 | None, np.datetime64 | None]:
        """The time window ``[start, end)`` this view sees; None for an open side."""
        return self._lo, self._hi

    @property
    def as_of(self) -> np.datetime64 | None:
        """The last moment this view sees (set by :meth:`until`), or None."""
        return None if self._hi is None else self._hi - ONE_US

    @property
    def observation_end(self) -> np.datetime64 | None:
        """The last moment the data is known to cover (inclusive).

        Set with :meth:`with_observation_end`; by default the last moment recorded in the
        data (the latest event, subscription start or subscription end), None for a
        dataset with no events and no subscriptions. Views (:meth:`until`,
        :meth:`between`) and slices keep it. Churn labels need it: an account whose
        horizon ``(t, t + h]`` runs past it is censored, not retained (training frames
        and backtests leave such rows out).

        >>> from datetime import datetime, timezone
        >>> from custsuccess import Customer, Event
        >>> t = datetime(2024, 1, 1, tzinfo=timezone.utc)
        >>> ds = Dataset.from_records([Customer("a", t)], events=[Event("a", "login", t)])
        >>> ds.observation_end
        np.datetime64('2024-01-01T00:00:00.000000')
        >>> ds.with_observation_end("2024-03-01T00:00:00Z").until(t).observation_end
        np.datetime64('2024-03-01T00:00:00.000000')
        """
        if self._observed is not None:
            return self._observed
        cached = self._shared.latest
        if not cached:
            cached.append(_latest_moment(self._subscriptions, self._events))
        return cached[0]

    def with_observation_end(self, moment: datetime | np.datetime64 | str) -> Dataset:
        """A view of this dataset whose :attr:`observation_end` is ``moment``.

        ``moment`` must not be before the last moment recorded in the data (the data
        cannot stop being observed before something it records happened).
        """
        t = to_datetime64(moment, "observation_end")
        latest = _latest_moment(self._subscriptions, self._events)
        if latest is not None and t < latest:
            raise ValidationError(
                f"observation_end {t}Z is before the last moment recorded in the data "
                f"({latest}Z)"
            )
        view = self._view(None, None)
        view._observed = t
        return view

    @property
    def subscriptions(self) -> SubscriptionTable:
        """Subscriptions as they stood at the end of the window.

        Under :meth:`until` or :meth:`between`, a subscription starting after the window is
        left out, and one ending after it shows as still active, with no cancel reason.
        """
        subs = self._subscriptions
        if self._hi is None:
            return subs
        keep = np.flatnonzero(subs.started_at < self._hi)
        view = subs.take(keep) if keep.size < len(subs) else subs
        later = ~np.isnat(view.ended_at) & (view.ended_at >= self._hi)
        if not later.any():
            return view
        ended = view.ended_at.copy()
        ended[later] = NAT
        reason_codes = view.cancel_reason.codes.copy()
        reason_codes[later] = -1
        return attrs.evolve(
            view,
            ended_at=ended,
            cancel_reason=Categorical(reason_codes, view.cancel_reason.categories),
        )

    @property
    def events(self) -> EventTable:
        """All events in the window (the shared arrays themselves when there is no window)."""
        if self._lo is None and self._hi is None:
            return self._events
        return self._events.take(self._window_mask(self._events.time))

    def events_of(
        self, *kinds: EventKind | str, properties: Iterable[str] | None = None
    ) -> EventTable:
        """Events of the given kinds in the window, still sorted by (customer, time).

        ``properties`` limits which property columns are carried (all by default). Uses a
        per-kind index built once per dataset, so a rule reading a rare kind does not scan
        every event.
        """
        parts = []
        for kind in kinds:
            code = self._events.kind_code(kind)
            if code >= 0:
                parts.append(self._kind_index(code))
        if not parts:
            index: npt.NDArray[np.intp] = np.empty(0, dtype=np.intp)
        elif len(parts) == 1:
            index = parts[0]
        else:
            index = np.sort(np.concatenate(parts))
        if self._lo is not None or self._hi is not None:
            index = index[self._window_mask(self._events.time[index])]
        return self._events.take(index, properties=properties)

    def _kind_index(self, code: int) -> npt.NDArray[np.intp]:
        index = self._shared.kind_index
        cached = index.get(code)
        if cached is None:
            kind = self._events.kind
            if kind.size <= _INDEX_ALL_KINDS_UP_TO and not index:
                # small tables (one account): every kind's index from one stable sort
                order = np.argsort(kind, kind="stable")
                bounds = np.searchsorted(kind[order], np.arange(len(self._events.kinds) + 1))
                for c in range(len(self._events.kinds)):
                    index[c] = order[bounds[c] : bounds[c + 1]]
                return index[code]
            cached = np.flatnonzero(kind == code)
            index[code] = cached
        return cached

    def _window_mask(self, time: TimeArray) -> npt.NDArray[np.bool_]:
        mask = np.ones(time.shape, dtype=bool)
        if self._lo is not None:
            mask &= time >= self._lo
        if self._hi is not None:
            mask &= time < self._hi
        return mask

    # ----------------------------------------------------------------- views

    def _view(self, lo: np.datetime64 | None, hi: np.datetime64 | None) -> Dataset:
        view = Dataset.__new__(Dataset)
        view._customers = self._customers
        view._subscriptions = self._subscriptions
        view._events = self._events
        view._shared = self._shared
        view._observed = self._observed
        view._lo = lo if self._lo is None else (self._lo if lo is None else max(lo, self._lo))
        view._hi = hi if self._hi is None else (self._hi if hi is None else min(hi, self._hi))
        return view

    def until(self, as_of: datetime | np.datetime64 | str) -> Dataset:
        """A view that sees only what happened at or before ``as_of``.

        Shares every array with this dataset; see :attr:`subscriptions` for how
        subscriptions look at that moment.
        """
        return self._view(None, to_datetime64(as_of, "as_of") + ONE_US)

    def between(
        self, start: datetime | np.datetime64 | str, end: datetime | np.datetime64 | str
    ) -> Dataset:
        """A view of the half-open window ``[start, end)``."""
        lo = to_datetime64(start, "start")
        hi = to_datetime64(end, "end")
        if hi < lo:
            raise ValidationError(f"between: end {hi} is before start {lo}")
        return self._view(lo, hi)

    def index_of(self, customer_ids: str | Iterable[str]) -> npt.NDArray[np.intp]:
        """Customer indexes of ``customer_ids``; an unknown id is a ValidationError."""
        wanted = np.atleast_1d(
            np.asarray(
                [customer_ids] if isinstance(customer_ids, str) else list(customer_ids), dtype=str
            )
        )
        ids = self._customers.ids
        if ids.size == 0:
            pos = np.zeros(wanted.shape, dtype=np.intp)
            unknown = np.arange(wanted.size)
        else:
            pos = np.minimum(np.searchsorted(ids, wanted), ids.size - 1)
            unknown = np.flatnonzero(ids[pos] != wanted)
        if unknown.size:
            raise ValidationError(f"unknown customer id(s): {_first_rows(unknown, wanted)}")
        return pos.astype(np.intp)

    def slice(self, start: int, stop: int) -> Dataset:
        """The customers with index in ``[start, stop)``, as a dataset of views.

        Customer indexes are renumbered from 0; the event and subscription columns are
        slices of this dataset's arrays (the customer-index column is shifted).
        """
        n = self.n_customers
        if not 0 <= start <= stop <= n:
            raise ValidationError(f"slice [{start}, {stop}) is outside 0..{n}")
        size = stop - start
        e_off = self._events.offsets()
        s_off = self._subscriptions.offsets()
        view = Dataset.__new__(Dataset)
        view._customers = self._customers.take(slice(start, stop))
        view._subscriptions = self._subscriptions.take(
            slice(int(s_off[start]), int(s_off[stop])), customer_shift=start, n_customers=size
        )
        view._events = self._events.take(
            slice(int(e_off[start]), int(e_off[stop])), customer_shift=start, n_customers=size
        )
        view._observed = self.observation_end
        view._shared = _Shared()
        view._lo, view._hi = self._lo, self._hi
        return view

    def customer(self, customer_id: str) -> Dataset:
        """A one-customer dataset of views (see :meth:`slice`)."""
        i = int(self.index_of(customer_id)[0])
        return self.slice(i, i + 1)

    # ----------------------------------------------------------------- quality

    def describe(self, *, model: Any = None) -> DataQuality:
        """The data-quality report (:class:`custsuccess.io.quality.DataQuality`): rows
        read and rejected per source (when read through :mod:`custsuccess.io`), customers
        without events, each event kind and the rules of ``model`` (the default health
        model when None) reading it, the time range and the currencies. ``print()`` it."""
        from custsuccess.io.quality import describe

        return describe(self, model=model, sources=self._shared.sources)

    # ----------------------------------------------------------------- export

    def to_columns(self) -> dict[str, dict[str, npt.NDArray[Any]]]:
        """The data (within the window) as columns that :meth:`from_columns` reads back.

        The arrays are read-only (several share the dataset's memory): copy one to change it.
        """
        c = self._customers
        s = self.subscriptions
        e = self.events
        customers: dict[str, npt.NDArray[Any]] = {
            "id": c.ids,
            "created_at": c.created_at,
            "name": c.name,
            "segment": c.segment.decode(),
            "plan": c.plan.decode(),
            **c.attributes,
        }
        # the account columns only when the data has them, so older data reads back as it was
        if (c.owner.codes >= 0).any():
            customers["owner"] = c.owner.decode()
        if (c.parent_id.codes >= 0).any():
            customers["parent_id"] = c.parent_id.decode()
        subscriptions: dict[str, npt.NDArray[Any]] = {
            "id": s.ids,
            "customer_id": c.ids[s.customer],
            "plan": s.plan.decode(),
            "mrr": s.mrr,
            "currency": s.currency.decode(),
            "started_at": s.started_at,
            "ended_at": s.ended_at,
            "cancel_reason": s.cancel_reason.decode(),
        }
        if (s.interval_months != 1).any():
            from custsuccess.models import BILLING_INTERVALS

            by_months = {m: name for name, m in BILLING_INTERVALS.items()}
            subscriptions["billing_interval"] = np.array(
                [by_months[int(m)] for m in s.interval_months.tolist()], dtype=object
            )
        if (~np.isnat(s.renews_at)).any():
            subscriptions["renews_at"] = s.renews_at
        if not s.auto_renew.all():
            subscriptions["auto_renew"] = s.auto_renew
        events: dict[str, npt.NDArray[Any]] = {
            "customer_id": c.ids[e.customer],
            "kind": np.asarray(e.kinds, dtype=object)[e.kind] if len(e) else np.empty(0, object),
            "occurred_at": e.time,
            "value": e.value,
        }
        for name, column in e.properties.items():
            events[name] = column.decode()
        # read-only, like every array handed out (some share the dataset's memory)
        return {
            table: {name: readonly(column) for name, column in columns.items()}
            for table, columns in (
                ("customers", customers), ("subscriptions", subscriptions), ("events", events)
            )
        }

    def to_records(self) -> tuple[list[Customer], list[Subscription], list[Event]]:
        """The data (within the window) as model objects. A Python loop: not for big data."""

        def aware(t: np.datetime64) -> datetime:
            return datetime.fromisoformat(str(t.astype(DT64))).replace(tzinfo=timezone.utc)

        cols = self.to_columns()
        cc, sc, ec = cols["customers"], cols["subscriptions"], cols["events"]
        n_subs = len(sc["id"])
        interval = sc.get("billing_interval", np.full(n_subs, "month", dtype=object))
        renews = sc.get("renews_at", np.full(n_subs, NAT, dtype=DT64))
        auto_renew = sc.get("auto_renew", np.ones(n_subs, dtype=bool))
        base = {"id", "created_at", "name", "segment", "plan", "owner", "parent_id"}
        no_text = np.full(len(cc["id"]), None, dtype=object)
        owner, parent_id = cc.get("owner", no_text), cc.get("parent_id", no_text)
        customers = [
            Customer(
                str(cc["id"][i]),
                aware(cc["created_at"][i]),
                name=cc["name"][i],
                segment=cc["segment"][i],
                plan=cc["plan"][i],
                owner=owner[i],
                parent_id=parent_id[i],
                attributes={
                    k: _py(v[i]) for k, v in cc.items() if k not in base and not _is_missing(v[i])
                },
            )
            for i in range(len(cc["id"]))
        ]
        subscriptions = [
            Subscription(
                str(sc["id"][i]),
                str(sc["customer_id"][i]),
                str(sc["plan"][i]),
                float(sc["mrr"][i]),
                str(sc["currency"][i]),
                aware(sc["started_at"][i]),
                None if np.isnat(sc["ended_at"][i]) else aware(sc["ended_at"][i]),
                cancel_reason=sc["cancel_reason"][i],
                billing_interval=str(interval[i]),
                renews_at=None if np.isnat(renews[i]) else aware(renews[i]),
                auto_renew=bool(auto_renew[i]),
            )
            for i in range(len(sc["id"]))
        ]
        props = [
            k for k in ec if k not in {"customer_id", "kind", "occurred_at", "value", "user_id"}
        ]
        no_user = np.full(len(ec["customer_id"]), None, dtype=object)
        user = ec.get("user_id", no_user)
        events = [
            Event(
                str(ec["customer_id"][i]),
                str(ec["kind"][i]),
                aware(ec["occurred_at"][i]),
                None if math.isnan(ec["value"][i]) else float(ec["value"][i]),
                {k: ec[k][i] for k in props if ec[k][i] is not None},
                user_id=user[i],
            )
            for i in range(len(ec["customer_id"]))
        ]
        return customers, subscriptions, events

    def equals(self, other: Dataset) -> bool:
        """True when both hold the same data in the same window, column by column."""
        if not isinstance(other, Dataset) or self.window != other.window:
            return False
        a, b = self.to_columns(), other.to_columns()
        for table in a:
            if a[table].keys() != b[table].keys():
                return False
            for name, col in a[table].items():
                other_col = b[table][name]
                if col.dtype.kind in "fM":
                    if not np.array_equal(col, other_col, equal_nan=True):
                        return False
                elif col.shape != other_col.shape or not all(
                    x == y for x, y in zip(col.tolist(), other_col.tolist(), strict=True)
                ):
                    return False
        return True

    def __repr__(self) -> str:
        lo, hi = self.window
        window = "" if lo is None and hi is None else f", window=[{lo}, {hi})"
        return (
            f"<Dataset customers={self.n_customers} subscriptions={len(self._subscriptions)} "
            f"events={len(self._events)}{window}>"
        )

    def __len__(self) -> int:
        return self.n_customers


def _latest_moment(subs: SubscriptionTable, events: EventTable) -> np.datetime64 | None:
    """The last moment the tables record: an event, a subscription start or end."""
    candidates = []
    if len(events):
        candidates.append(events.time.max())
    if len(subs):
        candidates.append(subs.started_at.max())
        ended = subs.ended_at[~np.isnat(subs.ended_at)]
        if ended.size:
            candidates.append(ended.max())
    if not candidates:
        return None
    latest: np.datetime64 = max(candidates).astype(DT64)
    return latest


def _py(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND: Final = timedelta(microseconds=1)


def _text(values: list[str]) -> StrArray:
    """Validated strings (str subclasses such as EventKind included) as a unicode array."""
    return np.array(values, dtype=str) if values else np.empty(0, dtype="U1")


def _micros(values: list[datetime | None]) -> TimeArray:
    """Validated aware datetimes (None: NaT) as datetime64[us] UTC, by integer arithmetic."""
    nat = np.iinfo(np.int64).min  # the int64 pattern of NaT
    ticks = [nat if v is None else (v - _EPOCH) // _MICROSECOND for v in values]
    return np.array(ticks, dtype=np.int64).view(DT64)


def _attribute_list(values: list[Any]) -> npt.NDArray[Any]:
    if any(v is None for v in values):
        return np.array(values, dtype=object)
    return np.asarray(values)


# --------------------------------------------------------------------------- encoding


def _encode_customers(cols: dict[str, Any]) -> CustomerTable:
    ids = _string_column(cols.pop("id"), "customers.id", allow_missing=False)
    created = _time_column(cols.pop("created_at"), "customers.created_at", allow_missing=False)
    n = _check_lengths("customers", {"id": ids, "created_at": created})
    empty = np.full(n, "", dtype="U1")
    name, segment, plan = (
        _string_column(cols.pop(key), f"customers.{key}", allow_missing=True)
        if key in cols
        else empty
        for key in ("name", "segment", "plan")
    )
    owner, parent_id = (
        _string_column(cols.pop(key), f"customers.{key}", allow_missing=True)
        if key in cols
        else empty
        for key in ("owner", "parent_id")
    )
    attributes = {k: np.array(v, copy=True) for k, v in cols.items()}
    _check_lengths(
        "customers",
        {
            "id": ids, "name": name, "segment": segment, "plan": plan, "owner": owner,
            "parent_id": parent_id, **attributes,
        },
    )
    id_str = ids
    order = np.argsort(id_str, kind="stable")
    sorted_ids = id_str[order]
    dup = np.flatnonzero(sorted_ids[1:] == sorted_ids[:-1])
    if dup.size:
        rows = order[dup + 1]
        raise ValidationError(f"customers.id has duplicates: {_first_rows(np.sort(rows), id_str)}")
    return CustomerTable(
        sorted_ids,
        created[order],
        _optional_text(name[order]),
        Categorical.encode(segment[order], "customers.segment"),
        Categorical.encode(plan[order], "customers.plan"),
        {k: v[order] for k, v in attributes.items()},
        Categorical.encode(owner[order], "customers.owner"),
        _parents(sorted_ids, parent_id[order]),
        Categorical.encode(parent_id[order], "customers.parent_id"),
    )


def _parents(ids: StrArray, parent_id: StrArray) -> I32Array:
    """Customer index of each parent id ('' for none; -1 too for a parent that is not in
    ``ids``: a partition of a larger book); a cycle is a ValidationError naming it in
    order, e.g. ``a -> b -> a``."""
    n = len(ids)
    parent = np.full(n, -1, dtype=np.int32)
    has = np.flatnonzero(np.char.str_len(parent_id) > 0) if n else np.empty(0, np.intp)
    if not has.size:
        return parent
    wanted = parent_id[has]
    pos = np.minimum(np.searchsorted(ids, wanted), n - 1)
    known = ids[pos] == wanted
    parent[has[known]] = pos[known].astype(np.int32)
    # Pointer doubling: after k rounds jump[c] is c's 2**k-th ancestor (-1 past the root).
    # An account whose ancestor chain never ends is on a cycle or leads into one.
    jump = parent.copy()
    steps = 1
    while steps < n + 1:
        jump = np.where(jump >= 0, jump[np.maximum(jump, 0)], -1).astype(np.int32)
        steps *= 2
    looping = np.flatnonzero(jump >= 0)
    if looping.size:
        # walk from one such account until a repeat: the repeated part is the cycle
        seen: dict[int, int] = {}
        path: list[int] = []
        c = int(looping[0])
        while c not in seen:
            seen[c] = len(path)
            path.append(c)
            c = int(parent[c])
        cycle = [str(ids[k]) for k in path[seen[c]:]] + [str(ids[c])]
        raise ValidationError(
            "customers.parent_id forms a cycle: " + " -> ".join(repr(x) for x in cycle)
        )
    return parent


_FNV_OFFSET: Final = np.uint64(14695981039346656037)
_FNV_PRIME: Final = np.uint64(1099511628211)


def _char_codes(text: StrArray, width: int) -> npt.NDArray[np.uint32]:
    """The code points of each string, zero-padded to ``width``, one row per string."""
    padded = np.ascontiguousarray(text, dtype=f"<U{width}")
    return padded.view(np.uint32).reshape(len(text), width)


def _fnv_hash(codes: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint64]:
    """FNV-1a over each row of code points; the loop runs over characters, not rows."""
    h = np.full(len(codes), _FNV_OFFSET, dtype=np.uint64)
    for j in range(codes.shape[1]):
        h ^= codes[:, j].astype(np.uint64)
        h *= _FNV_PRIME  # wraps modulo 2**64, as FNV intends
    return h


def _lookup(customers: CustomerTable, ids: StrArray, field: str) -> I32Array:
    """Customer index of each id in ``ids``; unknown ids are a ValidationError."""
    pos, unknown = _positions(customers, ids)
    if unknown.size:
        raise ValidationError(
            f"{field}: {unknown.size} row(s) refer to unknown customer ids: "
            f"{_first_rows(unknown, ids)}"
        )
    return pos


def _refuse_missing(codes: I32Array, column: Any, field: str) -> None:
    """A ValidationError naming the first row of a required text column that is missing."""
    missing = np.flatnonzero(codes < 0)
    if missing.size:
        i = int(missing[0])
        got = _py(_item(column, i))
        raise ValidationError(f"{field} must be a non-empty string, got {got!r} at row {i}")


def _lookup_codes(
    customers: CustomerTable, codes: I32Array, uniques: StrArray, field: str
) -> I32Array:
    """Customer index of each row of a factorised id column (``codes`` into ``uniques``).

    Only the distinct ids are looked up; a missing or unknown id is a ValidationError
    naming the first rows.
    """
    pos, unknown = _positions(customers, uniques)
    if unknown.size:
        bad = np.zeros(uniques.size, dtype=bool)
        bad[unknown] = True
        rows = np.flatnonzero(bad[codes])
        raise ValidationError(
            f"{field}: {rows.size} row(s) refer to unknown customer ids: "
            f"{_first_rows(rows, _Labels(uniques, codes))}"
        )
    return pos[codes] if codes.size else np.empty(0, dtype=np.int32)


class _Labels:
    """Row labels of a factorised column, indexable like the column itself."""

    def __init__(self, uniques: StrArray, codes: I32Array) -> None:
        self._uniques = uniques
        self._codes = codes

    def __getitem__(self, i: int) -> str:
        return str(self._uniques[self._codes[i]])


def _positions(customers: CustomerTable, ids: StrArray) -> tuple[I32Array, IntArray]:
    """Customer index of each id in ``ids`` (0 where unknown) and the unknown rows.

    Binary search over strings misses the cache on every step once the customer table
    outgrows it, so ids are hashed to integers, looked up by integer search, and the
    candidates confirmed by comparing their code points exactly.
    """
    wanted = ids
    known = customers.ids
    if wanted.size == 0:
        return np.empty(0, dtype=np.int32), np.empty(0, dtype=np.int64)
    if known.size == 0:
        unknown = np.arange(wanted.size)
        pos = np.zeros(wanted.size, dtype=np.intp)
    else:
        width = max(known.dtype.itemsize, wanted.dtype.itemsize) // 4
        known_codes = _char_codes(known, width)
        known_hash = _fnv_hash(known_codes)
        by_hash = np.argsort(known_hash)
        sorted_hash = known_hash[by_hash]
        if np.any(sorted_hash[1:] == sorted_hash[:-1]):  # a collision: search the strings
            pos = np.minimum(np.searchsorted(known, wanted), known.size - 1)
            unknown = np.flatnonzero(known[pos] != wanted)
        else:
            wanted_codes = _char_codes(wanted, width)
            slot = np.minimum(np.searchsorted(sorted_hash, _fnv_hash(wanted_codes)), known.size - 1)
            pos = by_hash[slot]
            same = (known_codes[pos] == wanted_codes).all(axis=1)
            unknown = np.flatnonzero(~same)
    return pos.astype(np.int32), unknown.astype(np.int64)


def _encode_subscriptions(cols: dict[str, Any], customers: CustomerTable) -> SubscriptionTable:
    ids = _string_column(cols["id"], "subscriptions.id", allow_missing=False)
    cust_codes, cust_ids = _factorize(cols["customer_id"], "subscriptions.customer_id")
    _refuse_missing(cust_codes, cols["customer_id"], "subscriptions.customer_id")
    plan = _string_column(cols["plan"], "subscriptions.plan", allow_missing=False)
    mrr = _float_column(cols["mrr"], "subscriptions.mrr")
    currency = _string_column(cols["currency"], "subscriptions.currency", allow_missing=False)
    started = _time_column(cols["started_at"], "subscriptions.started_at", allow_missing=False)
    n = len(ids)
    ended = (
        _time_column(cols["ended_at"], "subscriptions.ended_at", allow_missing=True)
        if "ended_at" in cols
        else np.full(n, NAT, dtype=DT64)
    )
    reason = (
        _string_column(cols["cancel_reason"], "subscriptions.cancel_reason", allow_missing=True)
        if "cancel_reason" in cols
        else np.full(n, "", dtype="U1")
    )
    months, renews, auto_renew = _contract_columns(cols, ids, started, n)
    _check_lengths(
        "subscriptions",
        {
            "id": ids,
            "customer_id": cust_codes,
            "plan": plan,
            "mrr": mrr,
            "currency": currency,
            "started_at": started,
            "ended_at": ended,
            "cancel_reason": reason,
        },
    )
    bad = np.flatnonzero(~np.isfinite(mrr) | (mrr < 0))
    if bad.size:
        i = int(bad[0])
        raise ValidationError(
            f"subscriptions row {i} (id {str(ids[i])!r}): mrr must be a finite number >= 0, "
            f"got {float(mrr[i])!r}"
        )
    cur = currency
    bad = (
        np.flatnonzero((np.char.str_len(cur) != 3) | ~np.char.isupper(cur) | ~np.char.isalpha(cur))
        if n
        else np.empty(0, int)
    )
    if bad.size:
        i = int(bad[0])
        raise ValidationError(
            f"subscriptions row {i} (id {str(ids[i])!r}): currency must be an ISO 4217 code "
            "of three "
            f"capital letters such as 'USD', got {str(cur[i])!r}"
        )
    bad = np.flatnonzero(~np.isnat(ended) & (ended < started))
    if bad.size:
        i = int(bad[0])
        raise ValidationError(
            f"subscriptions row {i} (id {str(ids[i])!r}): ended_at {ended[i]} is before "
            f"started_at {started[i]}"
        )
    id_str = ids
    if n:
        srt = np.sort(id_str)
        dup = np.flatnonzero(srt[1:] == srt[:-1])
        if dup.size:
            raise ValidationError(f"subscriptions.id has duplicates, e.g. {str(srt[dup[0]])!r}")
    code = _lookup_codes(customers, cust_codes, cust_ids, "subscriptions.customer_id")
    order = np.lexsort((id_str, started, code)) if n else np.empty(0, dtype=np.intp)
    return SubscriptionTable(
        id_str[order],
        code[order],
        Categorical.encode(plan[order], "subscriptions.plan"),
        mrr[order],
        Categorical.encode(currency[order], "subscriptions.currency"),
        started[order],
        ended[order],
        Categorical.encode(reason[order], "subscriptions.cancel_reason"),
        len(customers),
        months[order],
        renews[order],
        auto_renew[order],
    )


_BOOL_TEXT: Final = {"true": True, "false": False, "1": True, "0": False}


def _contract_columns(
    cols: Mapping[str, Any], ids: StrArray, started: TimeArray, n: int
) -> tuple[npt.NDArray[np.int8], TimeArray, npt.NDArray[np.bool_]]:
    """The optional contract columns: months per billing interval, term end, auto-renew."""
    from custsuccess.models import BILLING_INTERVALS

    months = np.ones(n, dtype=np.int8)
    if "billing_interval" in cols:
        text = _string_column(
            cols["billing_interval"], "subscriptions.billing_interval", allow_missing=True
        )
        text = np.where(text == "", "month", text)
        names = np.array(list(BILLING_INTERVALS), dtype=str)
        found = np.isin(text, names)
        if not found.all():
            i = int(np.flatnonzero(~found)[0])
            raise ValidationError(
                f"subscriptions row {i} (id {str(ids[i])!r}): billing_interval must be one "
                f"of {tuple(BILLING_INTERVALS)}, got {str(text[i])!r}"
            )
        lookup = np.array(list(BILLING_INTERVALS.values()), dtype=np.int8)
        months = lookup[np.argsort(names)][np.searchsorted(np.sort(names), text)]
    renews = (
        _time_column(cols["renews_at"], "subscriptions.renews_at", allow_missing=True)
        if "renews_at" in cols
        else np.full(n, NAT, dtype=DT64)
    )
    bad = np.flatnonzero(~np.isnat(renews) & (renews < started)) if n else np.empty(0, np.intp)
    if bad.size:
        i = int(bad[0])
        raise ValidationError(
            f"subscriptions row {i} (id {str(ids[i])!r}): renews_at {renews[i]} is before "
            f"started_at {started[i]}"
        )
    auto_renew = np.ones(n, dtype=bool)
    if "auto_renew" in cols:
        column = cols["auto_renew"]
        # lists through object dtype, so numpy cannot quietly turn True into 'True'
        raw = (
            np.asarray(column, dtype=object)
            if isinstance(column, (list, tuple))
            else np.asarray(column)
        )
        if raw.dtype != np.bool_:
            items = raw.tolist()
            for i, item in enumerate(items):
                if _is_missing(item) or item == "":
                    items[i] = True
                elif isinstance(item, str) and item.strip().lower() in _BOOL_TEXT:
                    items[i] = _BOOL_TEXT[item.strip().lower()]  # text files: 'True', 'false'
                elif not isinstance(item, (bool, np.bool_)):
                    raise ValidationError(
                        f"subscriptions row {i} (id {str(ids[i])!r}): auto_renew must be "
                        f"True or False, got {item!r}"
                    )
            raw = np.array(items, dtype=bool) if items else np.ones(0, dtype=bool)
        auto_renew = raw.astype(bool, copy=True)
    _check_lengths(
        "subscriptions",
        {"id": ids, "billing_interval": months, "renews_at": renews, "auto_renew": auto_renew},
    )
    return months, renews, auto_renew


def _encode_kinds(
    codes: I32Array, names: StrArray, field: str
) -> tuple[npt.NDArray[np.int16], tuple[str, ...]]:
    """Kind codes into the vocabulary (built-in kinds first) from a factorised column."""
    if codes.size == 0:
        return np.empty(0, dtype=np.int16), BUILTIN_KINDS
    found = names.tolist()
    custom = sorted(set(found) - set(BUILTIN_KINDS))
    vocabulary = BUILTIN_KINDS + tuple(custom)
    position = {k: i for i, k in enumerate(vocabulary)}
    remap = np.array([position[k] for k in found], dtype=np.int16)
    return remap[codes], vocabulary


def _encode_events(cols: dict[str, Any], customers: CustomerTable) -> EventTable:
    cust_column, kind_column = cols.pop("customer_id"), cols.pop("kind")
    cust_codes, cust_ids = _factorize(cust_column, "events.customer_id")
    _refuse_missing(cust_codes, cust_column, "events.customer_id")
    kind_codes, kind_names = _factorize(kind_column, "events.kind")
    _refuse_missing(kind_codes, kind_column, "events.kind")
    time = _time_column(cols.pop("occurred_at"), "events.occurred_at", allow_missing=False)
    n = len(cust_codes)
    value = (
        _float_column(cols.pop("value"), "events.value") if "value" in cols else np.full(n, np.nan)
    )
    props = {name: Categorical.encode(col, f"events.{name}") for name, col in sorted(cols.items())}
    _check_lengths(
        "events",
        {
            "customer_id": cust_codes,
            "kind": kind_codes,
            "occurred_at": time,
            "value": value,
            **{k: v.codes for k, v in props.items()},
        },
    )
    kind, vocabulary = _encode_kinds(kind_codes, kind_names, "events.kind")
    labels = _Labels(cust_ids, cust_codes)
    _check_event_values(kind, vocabulary, value, props, labels, time)
    code = _lookup_codes(customers, cust_codes, cust_ids, "events.customer_id")
    # Sort by (customer, time); break exact ties by every other column so the result
    # does not depend on input order.
    order = _customer_time_order(code, time)
    if n > 1:
        c_s, t_s = code[order], time[order]
        if np.any((c_s[1:] == c_s[:-1]) & (t_s[1:] == t_s[:-1])):
            keys = [p.codes for _, p in sorted(props.items(), reverse=True)]
            order = np.lexsort((*keys, value, kind, time, code))
    return EventTable(
        code[order],
        kind[order],
        time[order],
        value[order],
        {k: v.take(order) for k, v in props.items()},
        vocabulary,
        len(customers),
    )


def _customer_time_order(code: I32Array, time: TimeArray) -> npt.NDArray[np.intp]:
    """An order by (customer, time).

    One argsort of a combined int64 key when customer codes and the time span fit in
    63 bits together (usual), else a two-key lexsort.
    """
    n = code.size
    if n == 0:
        return np.empty(0, dtype=np.intp)
    ticks = time.view(np.int64)
    lo = int(ticks.min())
    span = int(ticks.max()) - lo + 1
    customers = int(code.max()) + 1
    if span.bit_length() + customers.bit_length() <= 62:
        key = code.astype(np.int64) << np.int64(span.bit_length())
        key |= ticks - np.int64(lo)
        # equal keys (same customer and moment) are ordered by every column afterwards
        return np.argsort(key)
    return np.lexsort((time, code))


def _event_problem_rows(
    kind: npt.NDArray[np.int16],
    vocabulary: tuple[str, ...],
    value: FloatArray,
    props: Mapping[str, Categorical],
) -> npt.NDArray[np.bool_]:
    """Mask of events that break :func:`custsuccess.models.event_value_problem`."""

    def is_kind(k: EventKind) -> npt.NDArray[np.bool_]:
        mask: npt.NDArray[np.bool_] = kind == np.int16(vocabulary.index(k.value))
        return mask

    bad = np.isinf(value)
    needs_value = (
        is_kind(EventKind.TIME_ON_SITE)
        | is_kind(EventKind.PURCHASE)
        | is_kind(EventKind.NPS_RESPONSE)
    )
    bad |= needs_value & np.isnan(value)
    nps = is_kind(EventKind.NPS_RESPONSE)
    with np.errstate(invalid="ignore"):
        bad |= nps & ((value < 0) | (value > 10) | (value != np.round(value)))
        bad |= (is_kind(EventKind.PURCHASE) | is_kind(EventKind.TIME_ON_SITE)) & (value < 0)
    support = is_kind(EventKind.SUPPORT_REQUEST) | is_kind(EventKind.SUPPORT_REPLY)
    if support.any():
        channel = props.get("channel", Categorical.missing(len(kind)))
        named = np.array([bool(c.strip()) for c in channel.categories] + [False])
        ticket = props.get("ticket", Categorical.missing(len(kind)))
        bad |= support & (~named[channel.codes] | (ticket.codes < 0))
    feature_used = is_kind(EventKind.FEATURE_USED)
    if feature_used.any():
        feature = props.get("feature", Categorical.missing(len(kind)))
        bad |= feature_used & (feature.codes < 0)
    return bad


def _check_event_values(
    kind: npt.NDArray[np.int16],
    vocabulary: tuple[str, ...],
    value: FloatArray,
    props: Mapping[str, Categorical],
    customer_ids: Any,
    time: TimeArray,
) -> None:
    bad = np.flatnonzero(_event_problem_rows(kind, vocabulary, value, props))
    if not bad.size:
        return
    i = int(bad[0])
    name = vocabulary[int(kind[i])]
    k: EventKind | str = EventKind(name) if name in BUILTIN_KINDS else name
    v = None if math.isnan(value[i]) else float(value[i])
    row_props = {p: c.categories[c.codes[i]] for p, c in props.items() if c.codes[i] >= 0}
    problem = event_value_problem(k, v, row_props) or f"value {v!r} is not valid"
    more = f" ({bad.size} bad rows in all)" if bad.size > 1 else ""
    raise ValidationError(
        f"events row {i} (customer {str(customer_ids[i])!r}, kind {name!r} at {time[i]}): "
        f"{problem}{more}"
    )


def _validate_tables(
    customers: CustomerTable, subscriptions: SubscriptionTable, events: EventTable
) -> None:
    """Whole-array checks of tables handed straight to ``Dataset(...)``."""
    n = len(customers)
    ids = customers.ids
    if n > 1 and not np.all(ids[1:] > ids[:-1]):
        raise ValidationError("customers.ids must be unique and sorted ascending")
    if np.isnat(customers.created_at).any():
        raise ValidationError("customers.created_at has missing values")
    for label, table in (("subscriptions", subscriptions), ("events", events)):
        if table.n_customers != n:
            raise ValidationError(f"{label}.n_customers is {table.n_customers}, expected {n}")
        codes = table.customer
        if codes.size and (codes.min() < 0 or codes.max() >= n):
            raise ValidationError(f"{label}.customer has codes outside 0..{n - 1}")
        if codes.size > 1 and np.any(codes[1:] < codes[:-1]):
            raise ValidationError(f"{label} must be sorted by customer index")
    c, t = events.customer, events.time
    if len(events) > 1 and np.any((c[1:] == c[:-1]) & (t[1:] < t[:-1])):
        raise ValidationError("events must be sorted by time within each customer")
    if np.isnat(t).any():
        raise ValidationError("events.time has missing values")
    if events.kinds[: len(BUILTIN_KINDS)] != BUILTIN_KINDS:
        raise ValidationError("events.kinds must start with the built-in kinds in order")
    if len(events) and (events.kind.min() < 0 or events.kind.max() >= len(events.kinds)):
        raise ValidationError("events.kind has codes outside the vocabulary")
    bad = np.flatnonzero(
        _event_problem_rows(events.kind, events.kinds, events.value, events.properties)
    )
    if bad.size:
        i = int(bad[0])
        raise ValidationError(
            f"events row {i} (customer {str(ids[events.customer[i]])!r}, kind "
            f"{events.kinds[events.kind[i]]!r}): value {float(events.value[i])!r} or its "
            "properties "
            "break the kind's rules"
        )
    mrr = subscriptions.mrr
    if np.any(~np.isfinite(mrr) | (mrr < 0)):
        raise ValidationError("subscriptions.mrr must be finite and >= 0")
    if np.isnat(subscriptions.started_at).any():
        raise ValidationError("subscriptions.started_at has missing values")
    ended = subscriptions.ended_at
    if np.any(~np.isnat(ended) & (ended < subscriptions.started_at)):
        raise ValidationError("subscriptions.ended_at is before started_at")
